"""Requests made before an absence, decided by the headteacher (task decide_leave_request, 5 school days).

Religious observance (ABS-4): in writing at least one school day before; at most one day per observance is
authorised (R), further days are unauthorised (O); a late request is refused with that reason.
Leave of absence (ABS-7): refused unless exceptional; an approval must say what is exceptional and the days
are entered as C. Decisions enter the codes in advance through the normal mark-change path."""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from workflows.base import ChangeMarks, Ctx, Effect, Log, OpenTask, T, Workflow


class S(str, Enum):
    new = "new"
    awaiting_decision = "awaiting_decision"
    approved = "approved"
    refused = "refused"


def late(ctx: Ctx) -> bool:
    return ctx.case.data["kind"] == "religious" and ctx.case.data["notice_school_days"] < \
        ctx.config.policy.absence.religious_notice_school_days


def in_time(ctx: Ctx) -> bool:
    return not late(ctx)


def refuse_late(ctx: Ctx) -> Iterable[Effect]:
    need = ctx.config.policy.absence.religious_notice_school_days
    yield Log("absence", f"Religious observance request refused: made {ctx.case.data['notice_school_days']} school "
              f"day(s) before; at least {need} required", "ABS-4", ctx.staff)


def ask(ctx: Ctx) -> Iterable[Effect]:
    d = ctx.case.data
    rule = "ABS-4" if d["kind"] == "religious" else "ABS-7"
    yield Log("absence", f"{d['kind'].title()} request for {', '.join(d['days'])}: {d['reason']}", rule, ctx.staff)
    yield OpenTask("decide_leave_request", "", data={"kind": d["kind"], "days": d["days"]})


def _codes(ctx: Ctx) -> list[tuple[str, str]]:
    """(day, code) the approval enters: religious, the first N days R and the rest O (no limit configured: every
    day R, NAT-ABS-2); leave, C."""
    codes, d = ctx.config.policy.codes, ctx.case.data
    if d["kind"] == "religious":
        n = ctx.config.policy.absence.religious_days_per_observance
        return [(day, codes.religious_observance if n is None or i < n else codes.unauthorised_other)
                for i, day in enumerate(d["days"])]
    return [(day, codes.exceptional) for day in d["days"]]


def approve(ctx: Ctx) -> Iterable[Effect]:
    for day, code in _codes(ctx):
        yield ChangeMarks(((day, "AM"), (day, "PM")), code, f"{ctx.case.data['kind']} request approved", ctx.staff)


class AbsenceRequest(Workflow):
    name = "absence_request"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.approved.value, S.refused.value})
    outcomes = {"decide_leave_request": ("approved", "refused")}
    table = [
        T("open", S.new, S.refused, "ABS-4", late, refuse_late),
        T("open", S.new, S.awaiting_decision, "ABS-7", in_time, ask),
        T("decide_leave_request.approved", S.awaiting_decision, S.approved, "ABS-7", effects=approve),
        T("decide_leave_request.refused", S.awaiting_decision, S.refused, "ABS-7"),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        if (trigger == "decide_leave_request.approved" and ctx.case.data["kind"] == "leave"
                and not (ctx.event.get("note") or "").strip()):
            return "leave in term time is refused unless exceptional: say what is exceptional in --note (ABS-7)"
        return None
