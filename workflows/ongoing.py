"""The fortnightly routine (ONG-1 to ONG-4): every second Monday, a tutor review for each pupil below the
review line; a review at which the pupil's RAG is amber or red is an amber warning; two consecutive amber
warnings put the pupil on a two-week report (a task for the form tutor each day, letter to parents)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.models import Case
from workflows.base import Ctx, Effect, Log, OpenTask, SendLetter, SetData, T, Workflow
from workflows.reports import report_task, schedule_report

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    watching = "watching"  # reviews under way
    on_report = "on_report"  # ONG-3
    closed = "closed"  # a green review: nothing more until the next fortnight finds the pupil below the line


def rag(pct: float | None, ctx: Ctx) -> str:
    ong = ctx.config.policy.ongoing
    if pct is None or pct >= ong.rag_green_from:
        return "green"
    return "amber" if pct >= ong.rag_amber_from else "red"


def _rag(ctx: Ctx) -> str:
    return rag(ctx.facts.get("attendance"), ctx)


def _streak(ctx: Ctx) -> int:
    return int(ctx.case.data.get("amber_warnings", 0)) + 1


def green(ctx: Ctx) -> bool:
    return _rag(ctx) == "green"


def warning(ctx: Ctx) -> bool:
    return _rag(ctx) != "green" and _streak(ctx) < ctx.config.policy.ongoing.amber_warnings_for_report


def second_warning(ctx: Ctx) -> bool:
    return _rag(ctx) != "green" and _streak(ctx) >= ctx.config.policy.ongoing.amber_warnings_for_report


def review(ctx: Ctx) -> Iterable[Effect]:
    yield OpenTask("tutor_review", ctx.event["date"], data={"attendance_pct": ctx.event.get("attendance_pct")})


def record_green(ctx: Ctx) -> Iterable[Effect]:
    yield Log("review", f"Tutor review: RAG green ({ctx.facts.get('attendance'):.1f}%)", "ONG-2", ctx.staff)


def record_warning(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"amber_warnings": _streak(ctx)})
    yield Log("review", f"Tutor review: RAG {_rag(ctx)} ({ctx.facts.get('attendance'):.1f}%): amber warning "
              f"{_streak(ctx)}", "ONG-2", ctx.staff)


def place_on_report(ctx: Ctx) -> Iterable[Effect]:
    days = ctx.config.policy.ongoing.report_school_days
    yield SetData({"amber_warnings": 0, "reports": int(ctx.case.data.get("reports", 0)) + 1})
    yield Log("review", f"Second consecutive amber warning (RAG {_rag(ctx)}): on report for {days} school days",
              "ONG-3", ctx.staff)
    yield SendLetter("report_placed", ctx.today.isoformat(), {"days": days})
    yield from schedule_report(ctx, days, f"ong{ctx.case.data.get('reports', 0) + 1}")


def report_over(ctx: Ctx) -> Iterable[Effect]:
    yield Log("review", f"Two-week report ended ({ctx.event['from']} to {ctx.event['to']})", "ONG-3", ctx.staff)


class Ongoing(Workflow):
    name = "ongoing"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.closed.value})
    letter_ids = ("report_placed",)
    outcomes = {"tutor_review": ("reviewed",), "daily_report_sign": ("signed", "not_signed")}
    table = [
        T("open", S.new, S.watching, "ONG-2", effects=review, note="below the review line at the fortnight"),
        T("fortnight", [S.watching, S.on_report], "=", "ONG-2", effects=review),
        T("tutor_review.reviewed", S.watching, S.closed, "ONG-2", green, record_green),
        T("tutor_review.reviewed", S.watching, "=", "ONG-2", warning, record_warning),
        T("tutor_review.reviewed", S.watching, S.on_report, "ONG-3", second_warning, place_on_report),
        T("tutor_review.reviewed", S.on_report, "=", "ONG-2", effects=lambda ctx: [Log(
            "review", f"Tutor review while on report: RAG {_rag(ctx)}", "ONG-2", ctx.staff)]),
        T("report_day", S.on_report, "=", "ONG-3", effects=report_task("daily_report_sign")),
        T("report_end", S.on_report, S.watching, "ONG-3", effects=report_over),
    ]

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        def attendance() -> float | None:
            f = env.figures(env.today, pupil_ids=[case.pupil_id]).get(case.pupil_id)
            return f.attendance_exact if f else None
        return {"attendance": attendance}

    def on_fortnight(self, env: Env, date: dt.date) -> None:
        """ONG-2: reviews for pupils below the line, on figures to the previous school day."""
        through = env.calendar.previous_school_day(date)
        if through is None:
            return
        line = env.config.policy.ongoing.tutor_review_below
        figures = env.figures(through)
        cases = {c.pupil_id: c for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None)))}
        on_roll = env.on_roll
        for pid in sorted(figures):
            f = figures[pid]
            if pid not in on_roll or f.attendance_exact is None or f.attendance_exact >= line:
                continue
            event = {"date": date.isoformat(), "attendance_pct": f.attendance_pct}
            if pid in cases:
                env.guarded(pid, "fortnightly review", lambda c=cases[pid], e=event: env.fire(c, "fortnight", e))
            else:
                env.guarded(pid, "fortnightly review", lambda p=pid, e=event: env.open_case(
                    self.name, p, f"{p}:{date.isoformat()}", {}, e))
