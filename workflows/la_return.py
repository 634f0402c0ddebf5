"""Returns to the local authority (NAT-LA-1, NAT-LA-2; config policy.la_returns): a task for the attendance lead
to notify the LA, with the figures, at the nightly evaluation.

NAT-LA-1 (the 10-day return): a pupil absent without authorisation for a continuous period of 10 school days
(every session unauthorised and not late: G, N, O). One case per run of absence; it stays open while the run
goes on, so a run is reported once, and closes when the run has ended and the LA has been notified.
NAT-LA-2 (the 15-day return): a pupil who has missed 15 school days through illness (code I), cumulative over
the year (a continuous illness counts in it; one return a year), or consecutive (config
`illness_counted: consecutive`: one return per run, as for NAT-LA-1).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from casework.attendance import consecutive_days_for_all
from casework.models import Case, Mark
from workflows.base import Ctx, Effect, Log, OpenTask, T, Workflow

if TYPE_CHECKING:
    from casework.engine import Env

UNAUTHORISED, HEALTH = "unauthorised", "health"
TASK = {UNAUTHORISED: "la_return_unauthorised", HEALTH: "la_return_health"}
RULE = {UNAUTHORISED: "NAT-LA-1", HEALTH: "NAT-LA-2"}
SESSIONS_PER_DAY = 2


class S(str, Enum):
    new = "new"
    reporting = "reporting"  # the task to notify the LA is open; the absence goes on
    back = "back"  # the run of absence has ended; the LA still to be notified
    notified = "notified"  # the LA notified; the run of absence goes on
    closed = "closed"


def _kind(kind: str) -> Any:
    return lambda ctx: ctx.case.data["kind"] == kind


def _run(ctx: Ctx) -> bool:
    return bool(ctx.case.data.get("run"))


def _not_run(ctx: Ctx) -> bool:
    return not _run(ctx)


def report(ctx: Ctx) -> Iterable[Effect]:
    d = ctx.case.data
    what = {UNAUTHORISED: f"absent without authorisation for {d['days']} consecutive school days (since {d['from']})",
            HEALTH: f"absent through illness for {d['days']} school days "
                    + (f"in a row (since {d['from']})" if d.get("run") else f"this year (since {d['from']})")}
    yield Log("la_return", f"Pupil {what[d['kind']]}: the local authority must be notified", RULE[d["kind"]])
    yield OpenTask(TASK[d["kind"]], "", data={"days": d["days"], "from": d["from"], "kind": d["kind"]})


def _rows(kind: str) -> list[T]:
    task, rule, k = TASK[kind], RULE[kind], _kind(kind)
    rows = [T("open", S.new, S.reporting, rule, k, report),
            T(f"{task}.notified", S.reporting, S.notified, rule, _run),
            T(f"{task}.notified", S.reporting, S.closed, rule, _not_run, note="local authority notified"),
            T(f"{task}.notified", S.back, S.closed, rule, note="local authority notified"),
            T("run_ended", S.reporting, S.back, rule, k, note="the pupil is no longer absent"),
            T("run_ended", S.notified, S.closed, rule, k, note="the pupil is no longer absent")]
    return rows


class LaReturn(Workflow):
    name = "la_return"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.closed.value})
    outcomes = {TASK[UNAUTHORISED]: ("notified",), TASK[HEALTH]: ("notified",)}
    table = [*_rows(UNAUTHORISED), *_rows(HEALTH)]

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        return {}

    @staticmethod
    def codes(env: Env, kind: str) -> list[str]:
        if kind == HEALTH:
            return [env.config.policy.codes.illness]
        return [c for c, v in env.config.policy.codes.table.items() if v.category == "unauthorised" and not v.late]

    def on_day_end(self, env: Env, date: dt.date) -> None:
        la = env.config.policy.la_returns
        if la is None:
            return
        open_ = {(c.pupil_id, c.data.get("kind")) for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None)))}
        if la.unauthorised_consecutive_school_days:
            self._runs(env, date, UNAUTHORISED, la.unauthorised_consecutive_school_days, open_)
        if la.illness_school_days and la.illness_counted == "consecutive":
            self._runs(env, date, HEALTH, la.illness_school_days, open_)
        elif la.illness_school_days:
            self._cumulative(env, date, la.illness_school_days)

    def _runs(self, env: Env, date: dt.date, kind: str, days: int, open_: set[tuple[int, Any]]) -> None:
        runs = consecutive_days_for_all(env.session, env.calendar, date, self.codes(env, kind), days)
        on_roll = env.on_roll
        for pid, n in sorted(runs.items()):
            if n >= days and pid in on_roll and (pid, kind) not in open_:
                first = env.calendar.add_school_days(date, -(n - 1))
                data = {"kind": kind, "days": n, "from": first.isoformat(), "run": True}
                env.guarded(pid, "LA return", lambda p=pid, d=data: env.open_case(
                    self.name, p, f"{p}:{kind}:{d['from']}", d))

    def _cumulative(self, env: Env, date: dt.date, days: int) -> None:
        year = env.calendar.first_day
        rows = env.session.execute(select(Mark.pupil_id, func.count(), func.min(Mark.date)).where(
            Mark.date >= year, Mark.date <= date, Mark.code.in_(self.codes(env, HEALTH)))
            .group_by(Mark.pupil_id).having(func.count() >= days * SESSIONS_PER_DAY)).all()
        if not rows:
            return
        keys = {f"{pid}:{HEALTH}:{year.isoformat()}" for pid, _, _ in rows}
        done = set(env.session.scalars(select(Case.key).where(Case.workflow == self.name, Case.key.in_(keys))))
        on_roll = env.on_roll
        for pid, n, first in sorted(rows):
            key = f"{pid}:{HEALTH}:{year.isoformat()}"
            if pid in on_roll and key not in done:
                whole, half = divmod(n, SESSIONS_PER_DAY)
                data = {"kind": HEALTH, "days": whole + half / SESSIONS_PER_DAY if half else whole,
                        "from": first.isoformat(), "run": False}
                env.guarded(pid, "LA return", lambda p=pid, k=key, d=data: env.open_case(self.name, p, k, d))

    def on_register_close(self, env: Env, date: dt.date, session: str) -> None:
        """A run of absence being reported ends with the first session not in its codes."""
        cases = env.session.scalars(select(Case).where(Case.workflow == self.name, Case.closed_at.is_(None))).all()
        codes = env.session_codes((c.pupil_id for c in cases), date, session)
        for case, code in ((c, codes[c.pupil_id]) for c in cases if c.pupil_id in codes):
            if case.data.get("run") and code not in self.codes(env, case.data["kind"]):
                env.guarded(case.pupil_id, "LA return", lambda c=case: env.fire(c, "run_ended"))
