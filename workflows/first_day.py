"""First-day response (FDR-1 to FDR-5, ABS-1): one case per absence episode with no reason given.

Opens at a register close for a pupil marked with the no-reason code. Calls, then on the second school
day a home visit; a reason obtained is proposed as a code and, if authorisable, only the headteacher's
decision authorises it. The pupil arriving ends the calls and visits; sessions still without a reason by
the FDR-4 deadline become unauthorised and the tutor and pastoral manager are told.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.models import Case, Mark, MarkChange
from workflows.base import (
    CancelTasks,
    ChangeMarks,
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

CALLS = ("first_day_call", "second_call", "alert_attendance_lead", "home_visit")


class S(str, Enum):
    new = "new"
    calling = "calling"  # FDR-1: first-day call open
    second_call = "second_call"  # FDR-2
    no_contact = "no_contact"  # FDR-2: two calls, nobody reached; FDR-3 tomorrow if still absent
    visiting = "visiting"  # FDR-3: home visit open
    safeguarding = "safeguarding"  # FDR-3: concern reported to the safeguarding lead
    awaiting_reason = "awaiting_reason"  # back in school or visited; FDR-4 deadline running
    awaiting_authorisation = "awaiting_authorisation"  # ABS-1: headteacher decides
    resolved = "resolved"
    unauthorised = "unauthorised"  # FDR-4


# --- guards (pure, over ctx.event and ctx.facts) -----------------------------------------------------
def _proposed(ctx: Ctx) -> str | None:
    reason = ctx.event.get("reason")
    return ctx.config.policy.absence.reasons.get(reason) if reason else None


def authorisable(ctx: Ctx) -> bool:
    code = _proposed(ctx)
    return code is not None and ctx.config.code(code).category == "authorised"


def unacceptable(ctx: Ctx) -> bool:
    code = _proposed(ctx)
    return code is not None and ctx.config.code(code).category != "authorised"


def no_reason_given(ctx: Ctx) -> bool:
    return _proposed(ctx) is None


def still_absent(ctx: Ctx) -> bool:
    return not ctx.facts.get("present_today", False)


def present_today(ctx: Ctx) -> bool:
    return bool(ctx.facts.get("present_today", False))


def reasons_outstanding(ctx: Ctx) -> bool:
    return ctx.facts.get("unresolved", 0) > 0


def all_reasons_recorded(ctx: Ctx) -> bool:
    return ctx.facts.get("unresolved", 0) == 0


# --- effects ------------------------------------------------------------------------------------------
def _sessions(ctx: Ctx) -> tuple[tuple[str, str], ...]:
    """Both sessions of every day of the episode: a reason given for a day covers the whole day, so the
    afternoon is pre-entered as the office would (a pupil who then turns up changes it as usual)."""
    days = sorted({d for d, _ in ctx.case.data.get("sessions", [])})
    return tuple((d, s) for d in days for s in ("AM", "PM"))


def open_case(ctx: Ctx) -> Iterable[Effect]:
    next_day = ctx.calendar.add_school_days(ctx.today, 1)
    check = ctx.calendar.at(next_day, ctx.config.policy.first_day.second_day_check)
    yield OpenTask("first_day_call", ctx.today.isoformat())
    yield SetTimer("second_day_check", check, next_day.isoformat())


def second_call(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("second_call", ctx.today.isoformat())


def two_calls_failed(ctx: Ctx) -> Iterable[Effect]:
    yield Log("contact", "No contact after two calls; home visit on the next school day if still absent",
              "FDR-2", ctx.staff)


def start_visit(ctx: Ctx) -> Iterable[Effect]:
    yield CancelTasks("superseded by the second-day alert", ("first_day_call", "second_call"))
    yield OpenTask("alert_attendance_lead", ctx.today.isoformat())
    yield OpenTask("home_visit", ctx.today.isoformat())


def ask_headteacher(ctx: Ctx) -> Iterable[Effect]:
    code = _proposed(ctx)
    yield CancelTasks("reason obtained", CALLS)
    yield Log("contact", f"Reason given: {ctx.event['reason']} (proposed code {code}); awaiting the "
              "headteacher's decision", "FDR-1", ctx.staff)
    yield OpenTask("authorise_absence", "", data={"proposed_code": code, "reason": ctx.event["reason"],
                                                  "sessions": [list(s) for s in _sessions(ctx)]})


def _unauthorised(ctx: Ctx, code: str, why: str) -> Iterable[Effect]:
    yield CancelTasks(why, CALLS)
    yield ChangeMarks(_sessions(ctx), code, why, ctx.staff, only_from=(ctx.config.policy.codes.no_reason,))
    yield OpenTask("inform_no_reason", "", data={"why": why})


def reason_unacceptable(ctx: Ctx) -> Iterable[Effect]:
    code = _proposed(ctx)
    assert code is not None
    return _unauthorised(ctx, code, f"reason not acceptable: {ctx.event['reason']}")


def no_reason_by_deadline(ctx: Ctx) -> Iterable[Effect]:
    return _unauthorised(ctx, ctx.config.policy.codes.unauthorised_other, "no acceptable reason obtained")


def headteacher_refused(ctx: Ctx) -> Iterable[Effect]:
    return _unauthorised(ctx, ctx.config.policy.codes.unauthorised_other,
                         f"authorisation refused by the headteacher: {ctx.event.get('reason') or 'no reason'}")


def headteacher_authorised(ctx: Ctx) -> Iterable[Effect]:
    task = ctx.event.get("task_data", {})
    yield ChangeMarks(_sessions(ctx), task["proposed_code"], f"authorised: {task['reason']}", ctx.staff,
                      only_from=(ctx.config.policy.codes.no_reason,))


def arrived(ctx: Ctx) -> Iterable[Effect]:
    yield CancelTasks("pupil arrived in school", CALLS)
    deadline = ctx.calendar.due(ctx.now, ctx.config.policy.first_day.reason_within)
    yield SetTimer("reason_deadline", deadline)


def after_visit(ctx: Ctx) -> Iterable[Effect]:
    deadline = ctx.calendar.due(ctx.now, ctx.config.policy.first_day.reason_within)
    yield SetTimer("reason_deadline", deadline)


def no_answer(ctx: Ctx) -> Iterable[Effect]:
    yield SendLetter("absence_enquiry_slip", ctx.today.isoformat())
    yield from after_visit(ctx)


def concern(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("report_concern", "", data={"note": ctx.event.get("note")})
    yield Log("safeguarding", f"Concern at home visit: {ctx.event.get('note') or 'see task'}", "FDR-3", ctx.staff)


def recorded(ctx: Ctx) -> Iterable[Effect]:
    yield CancelTasks("reason recorded", (*CALLS, "authorise_absence"))


OPEN = [S.calling, S.second_call, S.no_contact, S.visiting, S.safeguarding, S.awaiting_reason]
CALLING = [S.calling, S.second_call, S.no_contact]


class FirstDay(Workflow):
    name = "first_day"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.resolved.value, S.unauthorised.value})
    letter_ids = ("absence_enquiry_slip",)
    outcomes = {
        "first_day_call": ("reached", "no_contact"),
        "second_call": ("reached", "no_contact"),
        "alert_attendance_lead": ("done",),
        "home_visit": ("seen_safe", "concern", "no_answer"),
        "report_concern": ("referred",),
        "authorise_absence": ("authorised", "refused"),
        "inform_no_reason": ("seen",),
    }
    needs_reason = {"first_day_call.reached", "second_call.reached"}

    table = [
        T("open", S.new, S.calling, "FDR-1", effects=open_case, note="no reason given at register close"),
        T("first_day_call.no_contact", S.calling, S.second_call, "FDR-2", effects=second_call),
        T("second_call.no_contact", S.second_call, S.no_contact, "FDR-2", effects=two_calls_failed),
        *[T(f"{k}.reached", src, S.awaiting_authorisation, "FDR-1", authorisable, ask_headteacher)
          for k, src in (("first_day_call", S.calling), ("second_call", S.second_call))],
        *[T(f"{k}.reached", src, S.unauthorised, "FDR-4", unacceptable, reason_unacceptable)
          for k, src in (("first_day_call", S.calling), ("second_call", S.second_call))],
        T("second_day_check", CALLING, S.visiting, "FDR-3", still_absent, start_visit,
          note="still no contact on the second school day"),
        T("home_visit.seen_safe", S.visiting, S.awaiting_authorisation, "FDR-3", authorisable, ask_headteacher),
        T("home_visit.seen_safe", S.visiting, S.unauthorised, "FDR-4", unacceptable, reason_unacceptable),
        T("home_visit.seen_safe", S.visiting, S.awaiting_reason, "FDR-3", no_reason_given, after_visit),
        T("home_visit.concern", S.visiting, S.safeguarding, "FDR-3", effects=concern),
        T("home_visit.no_answer", S.visiting, S.awaiting_reason, "FDR-3", effects=no_answer),
        T("report_concern.referred", S.safeguarding, S.awaiting_reason, "FDR-3", effects=after_visit),
        T("authorise_absence.authorised", S.awaiting_authorisation, S.resolved, "ABS-1",
          effects=headteacher_authorised),
        T("authorise_absence.refused", S.awaiting_authorisation, S.unauthorised, "ABS-1",
          effects=headteacher_refused),
        T("pupil_present", OPEN, S.resolved, "FDR-5", all_reasons_recorded, recorded,
          note="pupil in school, reasons recorded"),
        T("pupil_present", [*CALLING, S.visiting], S.awaiting_reason, "FDR-5", reasons_outstanding, arrived,
          note="pupil arrived in school"),
        T("reason_recorded", [*OPEN, S.awaiting_authorisation], S.resolved, "FDR-5", all_reasons_recorded,
          recorded, note="a reason was recorded for every session"),
        T("reason_deadline", S.awaiting_reason, S.unauthorised, "FDR-4", reasons_outstanding,
          no_reason_by_deadline),
        T("reason_deadline", S.awaiting_reason, S.resolved, "FDR-4", all_reasons_recorded, recorded),
    ]

    # --- what the engine looks up before firing (pure data for the guards) ------------------------
    @staticmethod
    def episode_key(pupil_id: int, day: dt.date, session: str) -> str:
        return f"{pupil_id}:{day.isoformat()}:{session}"

    # --- listeners: which cases an event concerns (queries only; decisions stay in the table) ------
    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        n = env.config.policy.codes.no_reason
        sessions = [tuple(s) for s in case.data.get("sessions", [])]
        today = env.today.isoformat()

        @cache  # one read of the marks per decision, however many guards ask
        def codes() -> dict[Any, str]:
            return env.codes(case.pupil_id, [*sessions, (today, "AM"), (today, "PM")])
        return {"unresolved": lambda: sum(1 for s in sessions if codes().get(s) == n),
                "present_today": lambda: any(env.is_present(codes().get((today, s))) for s in ("AM", "PM"))}

    def on_register_close(self, env: Env, date: dt.date, session: str) -> None:
        """FDR-1: a no-reason absence opens a case; open cases follow the pupil's new mark (FDR-5)."""
        n = env.config.policy.codes.no_reason
        open_cases = env.session.scalars(select(Case).where(Case.workflow == self.name, Case.closed_at.is_(None))
                                         .order_by(Case.id)).all()
        codes = env.session_codes((c.pupil_id for c in open_cases), date, session)
        busy = set()
        for case in open_cases:
            busy.add(case.pupil_id)
            code = codes.get(case.pupil_id)
            if code is None:
                continue
            env.guarded(case.pupil_id, "first-day response", lambda c=case, k=code: self._follow(env, c, k, date,
                                                                                             session))
        # the session's no-reason marks, then the roll in Python: no join, like the read above
        new = env.session.scalars(select(Mark.pupil_id).where(Mark.date == date, Mark.session == session,
                                                              Mark.code == n).order_by(Mark.pupil_id)).all()
        on_roll = env.on_roll
        for pid in new:
            if pid not in busy and pid in on_roll:
                env.guarded(pid, "first-day response", lambda p=pid: env.open_case(
                    self.name, p, self.episode_key(p, date, session),
                    {"sessions": [[date.isoformat(), session]], "started": date.isoformat()}))

    def _follow(self, env: Env, case: Case, code: str, date: dt.date, session: str) -> None:
        if code == env.config.policy.codes.no_reason:
            key = [date.isoformat(), session]
            if key not in case.data.get("sessions", []):
                case.data = {**case.data, "sessions": [*case.data.get("sessions", []), key]}
        elif env.is_present(code):
            env.fire(case, "pupil_present")
        else:
            env.fire(case, "reason_recorded", {"code": code})

    def on_mark_changed(self, env: Env, change: MarkChange) -> None:
        """A reason recorded for a session of the episode (the N replaced) may end the case (FDR-5)."""
        if change.new_code == env.config.policy.codes.no_reason:
            return
        case = env.session.scalar(select(Case).where(
            Case.workflow == self.name, Case.pupil_id == change.pupil_id, Case.closed_at.is_(None)))
        if case is not None and [change.date.isoformat(), change.session] in case.data.get("sessions", []):
            env.fire(case, "reason_recorded", {"code": change.new_code}, staff=change.changed_by)
