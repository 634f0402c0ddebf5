"""Attendance lead casework (CW-1 to CW-4): starts at stage 5 or by the attendance lead's decision."""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from workflows.base import Ctx, Effect, Log, OpenTask, T, Workflow


class S(str, Enum):
    new = "new"
    pre_referral = "pre_referral"  # CW-1
    closed = "closed"


def start(ctx: Ctx) -> Iterable[Effect]:
    yield Log("casework", "Attendance lead casework started", "CW-1", ctx.staff)
    yield OpenTask("cw_pre_referral_meeting", "")


class LeadCasework(Workflow):
    name = "lead_casework"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.closed.value})
    table = [T("open", S.new, S.pre_referral, "CW-1", effects=start)]
