"""Illness of 5 or more consecutive school days needs medical evidence (ABS-2): on the 5th day a task for
the office and a letter to parents; no evidence by the task's deadline and the absences go to the
headteacher to review, who may make them unauthorised."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import select

from casework.attendance import consecutive_days_for_all
from casework.models import Case
from workflows.base import (
    CancelTimers,
    ChangeMarks,
    CompleteTasks,
    Ctx,
    Effect,
    Log,
    OpenTask,
    SendLetter,
    SetTimer,
    T,
    Workflow,
)

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    awaiting_evidence = "awaiting_evidence"
    headteacher_review = "headteacher_review"
    evidenced = "evidenced"
    authorised = "authorised"
    unauthorised = "unauthorised"


def request(ctx: Ctx) -> Iterable[Effect]:
    days = ctx.event["days"]
    yield Log("absence", f"{days} consecutive school days of illness: medical evidence needed", "ABS-2")
    yield OpenTask("request_medical_evidence", "")
    yield SendLetter("medical_evidence_request", ctx.case.data["from"], {"days": days, "from": ctx.case.data["from"]})
    due = ctx.calendar.due(ctx.now, ctx.config.tasks["request_medical_evidence"].due)
    yield SetTimer("evidence_due", due)


def evidenced(ctx: Ctx) -> Iterable[Effect]:
    yield CompleteTasks(("request_medical_evidence",), "evidence_received", ctx.event.get("note") or "")
    yield CancelTimers(("evidence_due",))
    yield Log("absence", f"Medical evidence received: {ctx.event.get('note') or 'on file'}", "ABS-2", ctx.staff)


def _illness_sessions(ctx: Ctx) -> tuple[tuple[str, str], ...]:
    start = dt.date.fromisoformat(ctx.case.data["from"])
    days = [d for d in ctx.calendar.days if start <= d <= ctx.today]
    return tuple((d.isoformat(), s) for d in days for s in ("AM", "PM"))


def unauthorise(ctx: Ctx) -> Iterable[Effect]:
    yield ChangeMarks(_illness_sessions(ctx), ctx.config.policy.codes.unauthorised_other,
                      "illness without medical evidence, unauthorised by the headteacher", ctx.staff,
                      only_from=(ctx.config.policy.codes.illness,))


class Illness(Workflow):
    name = "illness"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.evidenced.value, S.authorised.value, S.unauthorised.value})
    letter_ids = ("medical_evidence_request",)
    outcomes = {"request_medical_evidence": ("evidence_received", "requested"),
                "review_unevidenced_illness": ("authorise", "unauthorise")}
    table = [
        T("open", S.new, S.awaiting_evidence, "ABS-2", effects=request),
        T("request_medical_evidence.evidence_received", S.awaiting_evidence, S.evidenced, "ABS-2",
          effects=lambda ctx: [Log("absence", "Medical evidence received", "ABS-2", ctx.staff)]),
        T("request_medical_evidence.requested", S.awaiting_evidence, "=", "ABS-2",
          effects=lambda ctx: [Log("absence", "Evidence requested from the family", "ABS-2", ctx.staff)]),
        T("evidence", [S.awaiting_evidence, S.headteacher_review], S.evidenced, "ABS-2", effects=evidenced),
        T("evidence_due", S.awaiting_evidence, S.headteacher_review, "ABS-2",
          effects=lambda ctx: [OpenTask("review_unevidenced_illness", "")], note="no medical evidence by the deadline"),
        T("review_unevidenced_illness.authorise", S.headteacher_review, S.authorised, "ABS-2"),
        T("review_unevidenced_illness.unauthorise", S.headteacher_review, S.unauthorised, "ABS-2", effects=unauthorise),
    ]

    def on_day_end(self, env: Env, date: dt.date) -> None:
        need = env.config.policy.absence.illness_evidence_after_school_days
        if need is None:  # NAT-ABS-1: medical evidence is not requested routinely
            return
        runs = consecutive_days_for_all(env.session, env.calendar, date, [env.config.policy.codes.illness], need)
        if not runs:
            return
        open_ = set(env.session.scalars(select(Case.pupil_id).where(Case.workflow == self.name,
                                                                   Case.closed_at.is_(None))))
        on_roll = env.on_roll
        for pid, n in sorted(runs.items()):
            if n >= need and pid in on_roll and pid not in open_:
                first = env.calendar.add_school_days(date, -(n - 1))
                env.guarded(pid, "illness evidence", lambda p=pid, f=first, k=n: env.open_case(
                    self.name, p, f"{p}:{f.isoformat()}", {"from": f.isoformat()}, {"days": k}))
