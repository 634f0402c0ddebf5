"""A no-reason code left on the register too long (NAT-REG-2; config policy.first_day.no_reason_max_school_days).

The 2024 framework: N (no reason yet) is a holding code; the reason must be established and the code replaced
within 5 school days. At each nightly evaluation, an N still on the register that many school days after its
session opens a case for the pupil with a task for the office per day concerned (replace_no_reason_code).
Replacing the codes (a reason recorded, or FDR-4's O) closes the case and completes its tasks; the office
cannot mark a task done while its sessions still hold N.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.models import Case, Mark, MarkChange, Pupil
from workflows.base import CompleteTasks, Ctx, Effect, Log, OpenTask, SetData, T, Workflow

if TYPE_CHECKING:
    from casework.engine import Env

KIND = "replace_no_reason_code"


class S(str, Enum):
    new = "new"
    overdue = "overdue"  # some N older than the limit is still on the register
    replaced = "replaced"


def _outstanding(ctx: Ctx) -> int:
    return int(ctx.facts["outstanding"])


def none_outstanding(ctx: Ctx) -> bool:
    return _outstanding(ctx) == 0


def some_outstanding(ctx: Ctx) -> bool:
    return _outstanding(ctx) > 0


def flag(ctx: Ctx) -> Iterable[Effect]:
    """One task per day whose N has stayed too long (the task's natural key is the day: never twice)."""
    limit = ctx.config.policy.first_day.no_reason_max_school_days
    known = [tuple(s) for s in ctx.case.data.get("sessions", [])]
    new = [tuple(s) for s in ctx.event.get("sessions", []) if tuple(s) not in known]
    days = sorted({d for d, _ in new})
    yield SetData({"sessions": [list(s) for s in sorted({*known, *new})]})
    for day in days:
        sessions = sorted(s for d, s in new if d == day)
        yield Log("mark", f"{day} {'/'.join(sessions)}: no reason (N) still on the register after {limit} school "
                  "days; the office must establish the reason and replace the code", "NAT-REG-2")
        yield OpenTask(KIND, day, data={"date": day, "sessions": sessions})


def done(ctx: Ctx) -> Iterable[Effect]:
    yield CompleteTasks((KIND,), "replaced", "every overdue no-reason code has been replaced")


class NoReasonCode(Workflow):
    name = "no_reason_code"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.replaced.value})
    outcomes = {KIND: ("replaced",)}
    table = [
        T("open", S.new, S.overdue, "NAT-REG-2", effects=flag, note="a no-reason code stayed too long"),
        T("overdue", S.overdue, "=", "NAT-REG-2", effects=flag),
        T("replaced", S.overdue, S.replaced, "NAT-REG-2", none_outstanding, done,
          note="every overdue no-reason code replaced"),
        T(f"{KIND}.replaced", S.overdue, S.replaced, "NAT-REG-2", none_outstanding, done),
        T(f"{KIND}.replaced", S.overdue, "=", "NAT-REG-2", some_outstanding),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        if trigger != f"{KIND}.replaced":
            return None
        data = ctx.event.get("task_data") or {}
        left = [s for s in data.get("sessions", []) if ctx.facts["codes"].get((data.get("date"), s)) ==
                ctx.config.policy.codes.no_reason]
        if left:
            return (f"{data.get('date')} {'/'.join(left)} still has the no-reason code: record the reason first "
                    "(`casework absence reason`) (NAT-REG-2)")
        return None

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        sessions = [tuple(s) for s in case.data.get("sessions", [])]

        def codes() -> dict[Any, str]:
            return env.codes(case.pupil_id, sessions)  # type: ignore[arg-type]

        n = env.config.policy.codes.no_reason
        return {"codes": codes, "outstanding": lambda: sum(1 for c in codes().values() if c == n)}

    def on_day_end(self, env: Env, date: dt.date) -> None:
        limit = env.config.policy.first_day.no_reason_max_school_days
        last = env.calendar.school_days_through(date) - 1 - (limit or 0)
        if limit is None or last < 0:
            return
        cutoff = env.calendar.days[last]  # a session on this day has had `limit` school days since
        rows = env.session.execute(select(Mark.pupil_id, Mark.date, Mark.session).join(
            Pupil, Pupil.id == Mark.pupil_id).where(Mark.code == env.config.policy.codes.no_reason,
                                                    Mark.date <= cutoff, Pupil.on_roll.is_(True)))
        overdue: dict[int, list[list[str]]] = {}
        for pid, day, session in rows:
            overdue.setdefault(pid, []).append([day.isoformat(), session])
        if not overdue:
            return
        cases = {c.pupil_id: c for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None), Case.pupil_id.in_(list(overdue))))}
        for pid in sorted(overdue):
            sessions = sorted(overdue[pid])
            case = cases.get(pid)
            if case is None:
                env.guarded(pid, "no-reason code", lambda p=pid, s=sessions: env.open_case(
                    self.name, p, f"{p}:{s[0][0]}:{date.isoformat()}", {}, {"sessions": s}))
            elif any(s not in case.data.get("sessions", []) for s in sessions):
                env.guarded(pid, "no-reason code", lambda c=case, s=sessions: env.fire(c, "overdue",
                                                                                     {"sessions": s}))

    def on_mark_changed(self, env: Env, change: MarkChange) -> None:
        if change.old_code != env.config.policy.codes.no_reason:
            return
        case = env.session.scalar(select(Case).where(
            Case.workflow == self.name, Case.pupil_id == change.pupil_id, Case.closed_at.is_(None)))
        if case is not None and [change.date.isoformat(), change.session] in case.data.get("sessions", []):
            env.fire(case, "replaced", {"date": change.date.isoformat(), "session": change.session},
                     staff=change.changed_by)
