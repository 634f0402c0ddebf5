"""Daily reports shared by the fortnightly routine (ONG-3) and punctuality (PUN-2): a task each school
day for N school days, each opened by its own durable timer on the morning of its day."""
from __future__ import annotations

from collections.abc import Iterable

from workflows.base import Ctx, Effect, OpenTask, SetTimer


def schedule_report(ctx: Ctx, days: int, label: str) -> Iterable[Effect]:
    """Timers for each report day (from the next school day) and one for the report's end."""
    first = ctx.calendar.add_school_days(ctx.today, 1)
    morning = ctx.config.policy.registration.am.open
    for i in range(days):
        day = ctx.calendar.add_school_days(first, i)
        yield SetTimer("report_day", ctx.calendar.at(day, morning), f"{label}:{i + 1}",
                       {"day": i + 1, "date": day.isoformat()})
    last = ctx.calendar.add_school_days(first, days - 1)
    yield SetTimer("report_end", ctx.calendar.at(last, ctx.config.policy.registration.nightly_evaluation), label,
                   {"from": first.isoformat(), "to": last.isoformat()})


def report_task(kind: str) -> object:
    def effects(ctx: Ctx) -> Iterable[Effect]:
        yield OpenTask(kind, ctx.event["date"], data={"day": ctx.event["day"]})
    return effects
