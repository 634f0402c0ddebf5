"""Punctuality (PUN-1 to PUN-3), on lates (L and U marks) since the start of the year, evaluated nightly.
Messages at each configured number of lates (once each); at the letter threshold a letter, a meeting
with the form tutor and a punctuality report for N school days; no late during the report is an
improvement (letter); any late after reaching that stage opens a senior leader meeting."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.models import Case
from workflows.base import Ctx, Effect, Log, OpenTask, SendLetter, SetData, T, Workflow, improved
from workflows.reports import report_task, schedule_report

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    message_1 = "message_1"  # PUN-1, first threshold
    message_2 = "message_2"  # PUN-1, second threshold
    on_report = "on_report"  # PUN-2
    after_report = "after_report"  # PUN-3 applies


def _lates(ctx: Ctx) -> int:
    return int(ctx.event.get("lates", 0))


def reached_message(i: int) -> Any:
    return lambda ctx: (len(ctx.config.policy.punctuality.parentmail_at_lates) > i
                        and _lates(ctx) >= ctx.config.policy.punctuality.parentmail_at_lates[i])


def reached_letter(ctx: Ctx) -> bool:
    return _lates(ctx) >= ctx.config.policy.punctuality.letter_at_lates


def message(i: int) -> Any:
    def effects(ctx: Ctx) -> Iterable[Effect]:
        at = ctx.config.policy.punctuality.parentmail_at_lates[i]
        yield SendLetter("punctuality_parentmail", str(at), {"lates": _lates(ctx), "threshold": at})
        yield SetData({"lates_seen": _lates(ctx)})
    return effects


def start_report(ctx: Ctx) -> Iterable[Effect]:
    days = ctx.config.policy.punctuality.report_school_days
    yield SendLetter("punctuality_letter", str(ctx.config.policy.punctuality.letter_at_lates),
                     {"lates": _lates(ctx), "days": days})
    yield OpenTask("punctuality_meeting", "")
    yield SetData({"lates_seen": _lates(ctx), "report_from": ctx.calendar.add_school_days(ctx.today, 1).isoformat()})
    yield from schedule_report(ctx, days, "pun")


def end_report(ctx: Ctx) -> Iterable[Effect]:
    lates = ctx.facts.get("since", {}).get("lates", 0)
    yield Log("punctuality", f"Punctuality report ended with {lates} late(s) during it; progress sent to the "
              "pastoral manager and head of key stage", "PUN-2", ctx.staff)
    if improved(ctx, "punctuality"):
        yield SendLetter("punctuality_congratulations", ctx.event["to"], {"lates_during_report": lates})


def late_again(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"lates_seen": _lates(ctx)})
    yield OpenTask("slt_meeting", ctx.today.isoformat(), data={"lates": _lates(ctx)})


def more_lates(ctx: Ctx) -> bool:
    return _lates(ctx) > int(ctx.case.data.get("lates_seen", 0))


class Punctuality(Workflow):
    name = "punctuality"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset()  # one case a year: after the report, PUN-3 goes on applying
    letter_ids = ("punctuality_parentmail", "punctuality_letter", "punctuality_congratulations")
    outcomes = {"punctuality_meeting": ("held",), "punctuality_report": ("on_time", "late"),
                "slt_meeting": ("held",)}
    table = [
        T("lates", S.new, S.message_1, "PUN-1", reached_message(0), message(0)),
        T("lates", S.message_1, S.message_2, "PUN-1", reached_message(1), message(1)),
        T("lates", [S.new, S.message_1, S.message_2], S.on_report, "PUN-2", reached_letter, start_report),
        T("report_day", S.on_report, "=", "PUN-2", effects=report_task("punctuality_report")),
        T("report_end", S.on_report, S.after_report, "PUN-2", effects=end_report),
        T("lates", [S.on_report, S.after_report], "=", "PUN-3", more_lates, late_again),
    ]

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        start = case.data.get("report_from")

        def since() -> dict[str, Any]:
            if not start:
                return {"lates": 0}
            f = env.figures(env.today, since=dt.date.fromisoformat(start), pupil_ids=[case.pupil_id])
            return {"lates": f[case.pupil_id].lates if case.pupil_id in f else 0}
        return {"since": since}

    def on_day_end(self, env: Env, date: dt.date) -> None:
        first = env.config.policy.punctuality.parentmail_at_lates[:1] or [
            env.config.policy.punctuality.letter_at_lates]
        cases = {c.pupil_id: c for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None)))}
        on_roll = env.on_roll
        for pid, f in sorted(env.figures(date).items()):
            if pid not in on_roll or f.lates < first[0]:
                continue
            case = cases.get(pid)
            if case is not None and f.lates <= int(case.data.get("lates_seen", 0)):
                continue
            env.guarded(pid, "punctuality", lambda p=pid, c=case, n=f.lates: self._evaluate(env, p, c, n, date))

    def _evaluate(self, env: Env, pid: int, case: Case | None, lates: int, date: dt.date) -> None:
        if case is None:
            case = env.open_case(self.name, pid, f"{pid}:{env.calendar.first_day.isoformat()}", {})
            if case is None:
                return
        for _ in range(len(S)):  # each threshold reached tonight, once, in order
            if not env.fire(case, "lates", {"lates": lates}):
                break
