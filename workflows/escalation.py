"""Stage escalation by year-to-date attendance (STG-2 to STG-5, STG-R; STG-1 is in recognition).

Evaluated at the end of each school day for every pupil in one aggregate query. A pupil whose band is
worse than their case's stage goes straight to the band reached (stages passed over are named in the
chronology); each stage's letters and tasks happen once per entry. A case never steps down on a good day:
only a review (4 weeks after the stage started) steps it down, when attendance since the stage started is
at or above the band's upper bound.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.models import Case
from workflows.base import (
    CancelTasks,
    CancelTimers,
    Ctx,
    Effect,
    Log,
    OpenTask,
    SafeguardingLog,
    SendLetter,
    SetData,
    SetTimer,
    StartCase,
    T,
    Workflow,
    improved,
)
from workflows.meetings import meeting_needed

if TYPE_CHECKING:
    from casework.engine import Env

STAGES = ("stage_2", "stage_3", "stage_4", "stage_5")  # least to most severe
RULE = {"stage_2": "STG-2", "stage_3": "STG-3", "stage_4": "STG-4", "stage_5": "STG-5"}
# What each stage does on entry (POLICY.md STG): letters to parents, tasks to roles.
ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "stage_2": {"letters": ("concern_letter_1",), "tasks": ("stage2_conversation",)},
    "stage_3": {"letters": ("concern_letter_2",),
                "tasks": ("stage3_student_meeting", "stage3_phone_home", "parent_meeting", "consider_support")},
    "stage_4": {"letters": ("risk_of_pa_letter_3",), "tasks": ("governor_panel", "attendance_support_plan")},
    "stage_5": {"letters": ("final_warning",), "tasks": ("records_check",)},
}


class S(str, Enum):
    new = "new"
    monitoring = "monitoring"  # stepped down from stage 2 while YTD is still low: no actions, watched
    stage_2 = "stage_2"
    stage_3 = "stage_3"
    stage_4 = "stage_4"
    stage_5 = "stage_5"
    closed = "closed"


def severity(stage: str | None) -> int:
    return STAGES.index(stage) + 1 if stage in STAGES else 0


def _stage_number(stage: str) -> int:
    return int(stage.rsplit("_", 1)[1])


def _band_upper(ctx: Ctx, stage: str) -> float:
    upper = getattr(ctx.config.policy.stages, stage).upper
    assert upper is not None
    return upper


def _next_day(ctx: Ctx) -> str:
    """Attendance "since the stage started" is measured from the next school day: the day that caused the
    stage (evaluated that evening) is not part of the recovery."""
    return ctx.calendar.add_school_days(ctx.today, 1).isoformat()


def _reached(stage: str) -> Any:
    """The band reached is this stage, and worse than the floor left by a review's step-down (a pupil
    stepped down at review is not re-escalated while their YTD band is still where it was then)."""
    return lambda ctx: ctx.event.get("band") == stage and severity(stage) > severity(ctx.case.data.get("floor"))


def _enter(stage: str) -> Any:
    def effects(ctx: Ctx) -> Iterable[Effect]:
        previous = ctx.case.data.get("stage") or ctx.event.get("from_band") or "monitor"
        entries = dict(ctx.case.data.get("entries", {}))
        entries[stage] = entries.get(stage, 0) + 1
        occasion = f"{stage}#{entries[stage]}"
        skipped = [s for s in STAGES if severity(previous) < severity(s) < severity(stage)]
        figures = ctx.event.get("figures", {})
        if _stage_number(stage) >= ctx.config.policy.stages.safeguarding_log_from_stage:
            yield SafeguardingLog(True)  # first, so the escalation itself is a safeguarding entry
        # the previous stage's review and action plan are superseded by this stage's
        yield CancelTimers(("stage_review", "action_plan_end"))
        yield CancelTasks(f"superseded by {stage}", ("stage_review",))
        yield Log("stage", f"Escalated from {previous} to {stage} at {figures.get('attendance_pct')}% YTD"
                  + (f"; passed over {', '.join(skipped)}" if skipped else ""), RULE[stage], ctx.staff)
        yield SetData({"stage": stage, "started": _next_day(ctx), "entries": entries,
                       "occasion": occasion, "reviews": 0})
        for letter in ACTIONS[stage]["letters"]:
            yield SendLetter(letter, occasion, {"figures": figures, "stage": stage,
                                                "illness": figures.get("illness_sessions", 0) > 0})
        for kind in ACTIONS[stage]["tasks"]:
            yield OpenTask(kind, occasion, data={"figures": figures})
        if stage == "stage_3":  # STG-3: a 4-week attendance action plan; MTG-3 if it has not worked
            yield SetTimer("action_plan_end", ctx.calendar.due(ctx.now, ctx.config.policy.stages.action_plan),
                           occasion)
        if stage == "stage_5":
            if not ctx.facts.get("family_assessment_done"):
                yield OpenTask("family_assessment", occasion)
            yield StartCase("lead_casework", f"stg5:{ctx.today.isoformat()}")  # CW-1
        yield SetTimer("stage_review", ctx.calendar.due(ctx.now, ctx.config.policy.stages.review_after),
                       f"{occasion}:0")
    return effects


def _improved(ctx: Ctx) -> bool:
    return improved(ctx, "attendance", line=_band_upper(ctx, ctx.case.state))


def open_review(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("stage_review", f"{ctx.case.data['occasion']}:{ctx.case.data.get('reviews', 0)}",
                   data={"since": ctx.facts.get("since"), "stage": ctx.case.state})


def _step_down(frm: str) -> Any:
    to = STAGES[STAGES.index(frm) - 1] if severity(frm) > 1 else S.monitoring.value

    def effects(ctx: Ctx) -> Iterable[Effect]:
        since = ctx.facts.get("since", {})
        yield Log("stage", f"Review: attendance since {ctx.case.data['started']} is {since.get('attendance')}%, "
                  f"at or above {_band_upper(ctx, frm)}%: stepped down to {to}", "STG-R", ctx.staff)
        threshold = ctx.config.policy.stages.safeguarding_log_from_stage
        if _stage_number(frm) >= threshold > (_stage_number(to) if to in STAGES else 0):
            yield SafeguardingLog(False)
        occasion = f"{to}-down#{ctx.today.isoformat()}"
        yield SetData({"stage": to, "started": _next_day(ctx), "occasion": occasion, "reviews": 0,
                       "floor": ctx.facts.get("ytd_band")})
        if to in STAGES:
            yield SetTimer("stage_review", ctx.calendar.due(ctx.now, ctx.config.policy.stages.review_after),
                           f"{occasion}:0")
    return effects


def lower_floor(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"floor": ctx.event.get("band")})


def recovered(ctx: Ctx) -> Iterable[Effect]:
    pct = ctx.event.get("figures", {}).get("attendance_pct")
    yield Log("stage", f"YTD attendance {pct}% is out of the stage bands: case closed", "STG-R", ctx.staff)


def stay(ctx: Ctx) -> Iterable[Effect]:
    since = ctx.facts.get("since", {})
    reviews = ctx.case.data.get("reviews", 0) + 1
    yield Log("stage", f"Review: attendance since {ctx.case.data['started']} is {since.get('attendance')}%, "
              f"below {_band_upper(ctx, ctx.case.state)}%: stays at {ctx.case.state}", "STG-R", ctx.staff)
    yield SetData({"reviews": reviews})
    yield SetTimer("stage_review", ctx.calendar.due(ctx.now, ctx.config.policy.stages.review_after),
                   f"{ctx.case.data['occasion']}:{reviews}")


def action_plan_failed(ctx: Ctx) -> Iterable[Effect]:
    yield Log("stage", "The 4-week action plan ended without improvement", "MTG-3", ctx.staff)
    yield OpenTask("central_referral", f"plan:{ctx.case.data['occasion']}")


def _not(guard: Any) -> Any:
    return lambda ctx: not guard(ctx)


class Escalation(Workflow):
    name = "escalation"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.closed.value})
    letter_ids = tuple(le for a in ACTIONS.values() for le in a["letters"])
    outcomes = {
        "stage2_conversation": ("illness", "holiday", "other_authorised", "unauthorised"),
        "stage_review": ("reviewed",),
        "parent_meeting": ("arranged", "declined"),
        "family_assessment": ("done", "declined"),
    }
    open_trigger = "evaluate"
    table = [
        *[T("evaluate", [S.new.value, S.monitoring.value, *STAGES[:i]], stage, RULE[stage], _reached(stage),
            _enter(stage)) for i, stage in enumerate(STAGES)],
        T("band_improved", [S.monitoring.value, *STAGES], "=", "STG-R", effects=lower_floor),
        T("recovered", S.monitoring.value, S.closed.value, "STG-R", effects=recovered),
        *[T("stage_review", stage, stage, "STG-R", effects=open_review) for stage in STAGES],
        *[T("stage_review.reviewed", stage, STAGES[i - 1] if i else S.monitoring.value, "STG-R", _improved,
            _step_down(stage)) for i, stage in enumerate(STAGES)],
        *[T("stage_review.reviewed", stage, stage, "STG-R", _not(_improved), stay) for stage in STAGES],
        T("action_plan_end", S.stage_3.value, S.stage_3.value, "MTG-3", _not(_improved), action_plan_failed),
        *[T(f"family_assessment.{o}", [S.monitoring.value, *STAGES], "=", "STG-5",
            effects=lambda ctx, o=o: [SetData({"family_assessment_done": o == "done"}),
                                      Log("stage", f"Family assessment {o}", "STG-5", ctx.staff)])
          for o in ("done", "declined")],
    ]

    # --- listeners and facts ---------------------------------------------------------------------
    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        return meeting_needed(trigger, ctx)

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        started = case.data.get("started")

        def since() -> dict[str, Any]:
            f = env.figures(env.today, dt.date.fromisoformat(started), pupil_ids=[case.pupil_id]).get(
                case.pupil_id) if started else None
            return {"attendance": f.attendance_exact if f else None, "lates": f.lates if f else 0}

        def ytd_band() -> str | None:
            f = env.figures(env.today, pupil_ids=[case.pupil_id]).get(case.pupil_id)
            return f.band if f else None
        return {"since": since, "ytd_band": ytd_band,
                "family_assessment_done": lambda: bool(case.data.get("family_assessment_done"))}

    def on_day_end(self, env: Env, date: dt.date) -> None:
        """The nightly evaluation: every pupil's YTD band in one query, then only the worsened act."""
        figures = env.figures(date)
        open_cases = {c.pupil_id: c for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None)))}
        on_roll = env.on_roll
        for pid in sorted(figures):
            f = figures[pid]
            case = open_cases.get(pid)
            if pid not in on_roll or (case is None and f.band not in STAGES):
                continue
            event = {"band": f.band, "figures": figure_dict(f)}
            if case is None:
                env.guarded(pid, "escalation", lambda p=pid, e=event: env.open_case(
                    self.name, p, f"{p}:{date.isoformat()}", {}, e))
            elif severity(f.band) > severity(case.state):
                env.guarded(pid, "escalation", lambda c=case, e=event: env.fire(c, "evaluate", e))
            elif case.state == S.monitoring.value and f.band not in STAGES:
                env.guarded(pid, "escalation", lambda c=case, e=event: env.fire(c, "recovered", e))
            elif case.data.get("floor") and severity(f.band) < severity(case.data["floor"]):
                env.guarded(pid, "escalation", lambda c=case, e=event: env.fire(c, "band_improved", e))


def figure_dict(f: Any) -> dict[str, Any]:
    """The figures a letter or task shows (JSON-safe)."""
    return {"attendance_pct": f.attendance_pct, "possible": f.possible, "attended": f.attended,
            "authorised": f.authorised, "unauthorised": f.unauthorised, "lates": f.lates, "band": f.band,
            "grade": f.grade, "days_missed": f.days_missed, "lessons_missed": f.lessons_missed,
            "illness_sessions": f.illness}
