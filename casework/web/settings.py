"""What the web app is given: the engine's App, a clock, and its security settings.

Security numbers live here rather than in config.yaml: config.yaml is the school's attendance policy,
these are how the software protects it. Tests pass cheap argon2 parameters and a clock they move.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from casework.context import App

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebSettings:
    session_hours: float = 10.0  # a school day and an evening's casework, then sign in again
    lockout_after: int = 5  # consecutive failed sign-ins ...
    lockout_minutes: int = 15  # ... lock the account for this long
    invite_hours: int = 72  # a set-password link is valid this long, once
    min_password_length: int = 10
    argon2: dict[str, Any] = field(default_factory=dict)  # PasswordHasher parameters (default: argon2's)


@dataclass
class Web:
    """Everything a request handler needs, kept on `fastapi_app.state.web`."""

    app: App
    clock: Clock
    settings: WebSettings

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        return self.app.calendar.local_date(self.clock())
