"""Recording a reason for an absence (ABS-1, ABS-3, ABS-6) from the pupil page or the API.

The reason proposes its code; an authorisable one waits for the headteacher's decision (the only role
that authorises). The logic is casework.absence.record_reason; this module checks scope and dates.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from casework.errors import InputError
from casework.web.guard import Denied, Viewer, pupil_in_scope
from casework.web.settings import Web
from casework.web.views import act


def parse_day(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date (YYYY-MM-DD)", column=field) from None


def record_reason(web: Web, viewer: Viewer, request: Request, upn: str, start: dt.date, end: dt.date,
                  sessions: list[str], reason: str) -> Any:
    try:
        from casework import absence
    except ModuleNotFoundError:  # pragma: no cover - the absence workflows ship with the engine
        raise Denied("recording a reason is not available in this version", 501) from None
    cal = web.app.calendar
    if not (cal.first_day <= start <= cal.last_day and cal.first_day <= end <= cal.last_day):
        raise InputError(f"dates must fall in this school year ({cal.first_day} to {cal.last_day})", column="from")
    with web.app.sessions() as s:
        pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
    return act(web, viewer, request, pupil.id, lambda: absence.record_reason(
        web.app, pupil.upn, start, end, tuple(sessions), reason, viewer.staff_id, web.now()))
