"""Attendance lead casework (CW-1 to CW-4): starts at stage 5 or by the attendance lead's decision.

A pre-referral meeting (action plan, consent for a family assessment), a review 4 to 6 weeks later that
closes the case if attendance has improved; otherwise three meetings over 12 weeks with a parenting
contract, then an attendance review meeting that may decide on court papers (s444(1A) Education Act 1996).
"Improved" is the shared rule (workflows.base.improved): attendance since casework started at or above the
persistent-absence line.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from casework.models import Case
from workflows.base import Ctx, Effect, Log, OpenTask, SetData, SetTimer, T, Workflow, improved
from workflows.meetings import meeting_needed

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    pre_referral = "pre_referral"  # CW-1
    reviewing = "reviewing"  # CW-1: action plan running, review at 4-6 weeks
    phased = "phased"  # CW-2, CW-3: meetings over 12 weeks, parenting contract
    review_meeting = "review_meeting"  # CW-4
    court = "court"  # CW-4: court papers being prepared
    closed = "closed"
    referred_to_court = "referred_to_court"


def _improved(ctx: Ctx) -> bool:
    return improved(ctx, "attendance", line=ctx.config.policy.figures.persistent_absence_below)


def _not_improved(ctx: Ctx) -> bool:
    return not _improved(ctx)


def start(ctx: Ctx) -> Iterable[Effect]:
    why = ctx.event.get("why") or "stage 5"
    yield SetData({"since": ctx.calendar.add_school_days(ctx.today, 1).isoformat(), "phase": 0})
    yield Log("casework", f"Attendance lead casework started ({why})", "CW-1", ctx.staff)
    yield OpenTask("cw_pre_referral_meeting", "")


def pre_referral_held(ctx: Ctx) -> Iterable[Effect]:
    consent = ctx.event.get("task_outcome") == "held_with_consent"
    yield SetData({"action_plan": ctx.event.get("note") or "", "family_assessment_consent": consent})
    yield Log("casework", "Pre-referral meeting held; action plan agreed; consent for a family assessment "
              + ("given" if consent else "not given"), "CW-1", ctx.staff)
    yield SetTimer("cw_review", ctx.calendar.due(ctx.now, ctx.config.policy.casework.review_after))


def pre_referral_missed(ctx: Ctx) -> Iterable[Effect]:
    n = int(ctx.case.data.get("missed", 0)) + 1
    yield SetData({"missed": n})
    yield Log("casework", "Pre-referral meeting missed; rearranging", "CW-1", ctx.staff)
    yield OpenTask("cw_pre_referral_meeting", f"again:{n}")


def open_review(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("cw_review", ctx.event.get("occasion", "review"), data={"since": ctx.case.data.get("since")})


def closed_improved(ctx: Ctx) -> Iterable[Effect]:
    att = ctx.facts.get("since", {}).get("attendance")
    yield Log("casework", f"Improved: attendance since casework started {att:.1f}%; case closed", "CW-1", ctx.staff)


def start_phase(ctx: Ctx) -> Iterable[Effect]:
    cw = ctx.config.policy.casework
    phase = int(ctx.case.data.get("phase", 0)) + 1
    att = ctx.facts.get("since", {}).get("attendance")
    yield SetData({"phase": phase})
    yield Log("casework", f"Not improved ({att if att is None else round(att, 1)}% since casework started): "
              f"phase {phase}, {len(cw.meeting_weeks)} meetings over {max(cw.meeting_weeks)} weeks and a "
              "parenting contract", "CW-2", ctx.staff)
    for i, week in enumerate(cw.meeting_weeks, 1):
        day = ctx.calendar.add_school_days(ctx.today + dt.timedelta(weeks=week), 0)
        yield SetTimer("cw_meeting_due", ctx.calendar.at(day, cw.meeting_time), f"{phase}:{i}",
                       {"meeting": i, "phase": phase})
    end = ctx.calendar.add_school_days(ctx.today + dt.timedelta(weeks=max(cw.meeting_weeks)), 0)
    yield SetTimer("phase_end", ctx.calendar.at(end, ctx.config.policy.registration.nightly_evaluation), str(phase))
    if phase == 1:
        yield OpenTask("parenting_contract", "")


def meeting_due(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("cw_meeting", f"{ctx.event['phase']}:{ctx.event['meeting']}", data={"meeting": ctx.event["meeting"]})


def contract_agreed(ctx: Ctx) -> Iterable[Effect]:
    review = ctx.calendar.due(ctx.now, ctx.config.policy.casework.contract_review_after)
    yield SetData({"contract": {"actions": ctx.event.get("note") or "", "agreed": ctx.today.isoformat(),
                                "review": ctx.calendar.local_date(review).isoformat()}})
    yield Log("casework", f"Parenting contract agreed: {ctx.event.get('note') or '(actions on file)'}; review on "
              f"{ctx.calendar.local_date(review):%d %B %Y}", "CW-3", ctx.staff)
    yield SetTimer("contract_review", review)


def contract_reviewed(ctx: Ctx) -> Iterable[Effect]:
    outcome = ctx.event["task_outcome"]
    contract = {**ctx.case.data.get("contract", {}), "outcome": outcome, "reviewed": ctx.today.isoformat()}
    yield SetData({"contract": contract})
    yield Log("casework", f"Parenting contract reviewed: {outcome.replace('_', ' ')}"
              + (f" ({ctx.event['note']})" if ctx.event.get("note") else ""), "CW-3", ctx.staff)


def review_meeting(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("attendance_review_meeting", str(ctx.case.data.get("phase", 1)))


def court_papers(ctx: Ctx) -> Iterable[Effect]:
    pack = {"contents": list(ctx.config.policy.casework.evidence_pack), "decided": ctx.today.isoformat(),
            "by": ctx.staff}
    yield SetData({"evidence_pack": pack})
    yield Log("casework", "Attendance review meeting: court papers to be prepared (s444(1A) Education Act "
              f"1996); evidence pack: {', '.join(pack['contents'])}", "CW-4", ctx.staff)
    yield OpenTask("prepare_court_papers", "")


def _log(rule: str, text: str) -> Any:
    return lambda ctx: [Log("casework", text + (f": {ctx.event['note']}" if ctx.event.get("note") else ""), rule,
                            ctx.staff)]


class LeadCasework(Workflow):
    name = "lead_casework"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.closed.value, S.referred_to_court.value})
    outcomes = {
        "cw_pre_referral_meeting": ("held_with_consent", "held_without_consent", "missed"),
        "cw_review": ("reviewed",),
        "cw_meeting": ("arranged",),  # by arranging the meeting (MTG): held or missed is the meeting's outcome
        "parenting_contract": ("agreed", "refused"),
        "cw_contract_review": ("kept", "partly_kept", "not_kept"),  # CW-3: the contract's outcome
        "attendance_review_meeting": ("court_papers", "continue", "close"),
        "prepare_court_papers": ("prepared",),
    }
    table = [
        T("open", S.new, S.pre_referral, "CW-1", effects=start),
        *[T(f"cw_pre_referral_meeting.{o}", S.pre_referral, S.reviewing, "CW-1", effects=pre_referral_held)
          for o in ("held_with_consent", "held_without_consent")],
        T("cw_pre_referral_meeting.missed", S.pre_referral, "=", "CW-1", effects=pre_referral_missed),
        T("cw_review", [S.reviewing, S.phased], "=", "CW-1", effects=open_review),
        T("cw_review.reviewed", [S.reviewing, S.phased], S.closed, "CW-1", _improved, closed_improved),
        T("cw_review.reviewed", S.reviewing, S.phased, "CW-2", _not_improved, start_phase),
        T("cw_review.reviewed", S.phased, "=", "CW-2", _not_improved, _log("CW-2", "Review: not improved yet")),
        T("cw_meeting_due", S.phased, "=", "CW-2", effects=meeting_due),
        T("parenting_contract.agreed", [S.phased, S.review_meeting], "=", "CW-3", effects=contract_agreed),
        T("parenting_contract.refused", [S.phased, S.review_meeting], "=", "CW-3",
          effects=_log("CW-3", "Parenting contract refused")),
        T("contract_review", [S.phased, S.review_meeting], "=", "CW-3",
          effects=lambda ctx: [OpenTask("cw_contract_review", "")]),
        *[T(f"cw_contract_review.{o}", [S.phased, S.review_meeting, S.court], "=", "CW-3", effects=contract_reviewed)
          for o in ("kept", "partly_kept", "not_kept")],
        T("phase_end", S.phased, S.review_meeting, "CW-4", effects=review_meeting),
        T("attendance_review_meeting.court_papers", S.review_meeting, S.court, "CW-4", effects=court_papers),
        T("attendance_review_meeting.continue", S.review_meeting, S.phased, "CW-4", effects=start_phase),
        T("attendance_review_meeting.close", S.review_meeting, S.closed, "CW-4",
          effects=_log("CW-4", "Attendance review meeting: case closed")),
        T("prepare_court_papers.prepared", S.court, S.referred_to_court, "CW-4",
          effects=_log("CW-4", "Court papers prepared and sent to the local authority")),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        return meeting_needed(trigger, ctx)

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        since = case.data.get("since")

        def since_figures() -> dict[str, Any]:
            start = dt.date.fromisoformat(since) if since else env.calendar.first_day
            f = env.figures(env.today, start, pupil_ids=[case.pupil_id]).get(case.pupil_id)
            return {"attendance": f.attendance_exact if f else None, "lates": f.lates if f else 0}
        return {"since": since_figures}
