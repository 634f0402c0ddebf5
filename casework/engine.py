"""The engine loop: everything due up to a moment, in time order, each item in one transaction.

`run(app, until)` puts the calendar's events up to `until` on the agenda (idempotently), then takes the
earliest pending agenda item again and again, processing it with its own due time as "now". Several
workers may share a PostgreSQL database: each claims the earliest item with FOR UPDATE SKIP LOCKED and
processes it only if no earlier item is still pending (held by another worker), so the result is exactly
what one worker would produce. On SQLite one worker at a time is enforced with a lock file.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casework.calendar import SchoolCalendar
from casework.context import App
from casework.errors import InputError
from casework.models import Case, Mark, MarkChange, Pupil, Timer
from casework.uow import UnitOfWork, held_pupil, log
from workflows.base import Ctx, Facts
from workflows.registry import active_workflows, get

logger = logging.getLogger("casework.engine")
CODES_SLICE = 5000  # pupil ids per query (well under SQLite's limit on bound parameters)
CALENDAR_KINDS = ("register_close", "fortnight", "day_end", "week_end", "half_term_end")


# --- the environment a listener works in ---------------------------------------------------------
@dataclass
class Env:
    session: Session
    app: App
    now: dt.datetime
    errors: int = 0
    uow: UnitOfWork = field(init=False)
    _figures: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.session, self.app.config, self.app.calendar)

    def figures(self, through: dt.date, since: dt.date | None = None,
                pupil_ids: list[int] | None = None) -> dict[int, Any]:
        """Attendance figures for all pupils (one aggregate, shared by the listeners of one agenda item),
        or for a few."""
        from casework.attendance import figures_for_all

        if pupil_ids is not None:
            return figures_for_all(self.session, self.config, through, since, pupil_ids=pupil_ids)
        key = (through, since)
        if key not in self._figures:
            self._figures[key] = figures_for_all(self.session, self.config, through, since)
        return self._figures[key]

    @property
    def config(self) -> Any:
        return self.app.config

    @property
    def calendar(self) -> SchoolCalendar:
        return self.app.calendar

    @property
    def today(self) -> dt.date:
        return self.calendar.local_date(self.now)

    @property
    def on_roll(self) -> set[int]:
        """Ids of pupils on roll, looked up once per agenda item."""
        if "on_roll" not in self._figures:
            self._figures["on_roll"] = set(self.session.scalars(select(Pupil.id).where(Pupil.on_roll.is_(True))))
        return self._figures["on_roll"]

    def codes(self, pupil_id: int, sessions: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The current codes of some of a pupil's sessions, keyed by (ISO date, session)."""
        if not sessions:
            return {}
        keys = [(dt.date.fromisoformat(d), s) for d, s in sessions]
        rows = self.session.execute(select(Mark.date, Mark.session, Mark.code).where(
            Mark.pupil_id == pupil_id, tuple_(Mark.date, Mark.session).in_(keys)))
        return {(d.isoformat(), s): c for d, s, c in rows}

    def session_codes(self, pupil_ids: Iterable[int], date: dt.date, session: str) -> dict[int, str]:
        """pupil id -> code of one register session, for some pupils, by pupil id in slices. Not a join of
        cases with marks: on PostgreSQL, right after the day's marks are imported (before the statistics know the
        date), such joins were planned as a scan of the whole date per row, 60 s a register at 150,000 pupils
        (bench/RESULTS.md)."""
        ids, out = sorted(set(pupil_ids)), {}
        for i in range(0, len(ids), CODES_SLICE):
            out.update((pid, code) for pid, code in self.session.execute(select(Mark.pupil_id, Mark.code).where(
                Mark.date == date, Mark.session == session, Mark.pupil_id.in_(ids[i:i + CODES_SLICE]))))
        return out

    def is_present(self, code: str | None) -> bool:
        """In school: a present or approved-activity code, or arrived late after the register closed."""
        if code is None or code not in self.config.policy.codes.table:
            return False
        c = self.config.code(code)
        return c.category in ("present", "approved_activity") or c.late

    def ctx(self, case: Case, event: dict[str, Any] | None = None, staff: str | None = None) -> Ctx:
        wf = get(case.workflow)
        facts_of = getattr(wf, "facts", None)
        pupil = held_pupil(self.session, case.pupil_id)
        assert pupil is not None
        ctx = Ctx(now=self.now, config=self.config, calendar=self.calendar, case=case, pupil=pupil,
                  event=event or {}, staff=staff)
        ctx.facts = Facts(facts_of(self, case) if facts_of else {})
        return ctx

    def refusal(self, case: Case, trigger: str, event: dict[str, Any] | None = None,
                staff: str | None = None) -> str | None:
        return get(case.workflow).refusal(trigger, self.ctx(case, event, staff))

    def fire(self, case: Case, trigger: str, event: dict[str, Any] | None = None,
             staff: str | None = None) -> bool:
        wf = get(case.workflow)
        ctx = self.ctx(case, event, staff)
        if not wf.fire(trigger, ctx):
            return False
        self.uow.apply(ctx)
        while self.uow.starts:
            origin, start = self.uow.starts.pop(0)
            if self.session.scalar(select(Case.id).where(  # one open case of a workflow per pupil
                    Case.pupil_id == origin.pupil_id, Case.workflow == start.workflow, Case.closed_at.is_(None))):
                continue
            self.open_case(start.workflow, origin.pupil_id, f"{origin.pupil_id}:{start.occasion}",
                           {**start.data, "started_by_case": origin.id})
        return True

    def open_case(self, workflow: str, pupil_id: int, key: str, data: dict[str, Any],
                  event: dict[str, Any] | None = None, staff: str | None = None) -> Case | None:
        """Open a case (once per natural key) and fire its `open` transition."""
        if self.session.scalar(select(Case.id).where(Case.workflow == workflow, Case.key == key)):
            return None
        wf = get(workflow)
        case = Case(pupil_id=pupil_id, workflow=workflow, workflow_version=wf.version, key=key,
                    state=wf.initial, opened_at=self.now, updated_at=self.now, data=data, version=1)
        self.session.add(case)
        self.session.flush()
        log(self.session, at=self.now, pupil_id=pupil_id, category="case", case=case, staff=staff,
            summary=f"{workflow} case opened")
        self.fire(case, wf.open_trigger, event, staff=staff)
        return case

    def guarded(self, pupil_id: int, what: str, fn: Callable[[], Any]) -> Any:
        """Run one pupil's part of an item in a savepoint: a failure is logged in that pupil's chronology
        and the item goes on for everyone else."""
        try:
            with self.session.begin_nested():
                return fn()
        except DBAPIError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken case never stops the loop
            self.errors += 1
            logger.exception("%s failed for pupil %s", what, pupil_id)
            log(self.session, at=self.now, pupil_id=pupil_id, category="error",
                summary=f"{what} failed: {type(exc).__name__}: {exc}")
            return None


# --- the calendar's events ----------------------------------------------------------------------
@cache
def _calendar_items(cal: SchoolCalendar) -> list[tuple[dt.datetime, str, str, dict[str, Any]]]:
    """(due, key, kind, payload) for every calendar event of the year, in time order."""
    reg = cal.registration
    items: list[tuple[dt.datetime, str, str, dict[str, Any]]] = []
    week_ends, fortnights = set(cal.week_ends()), set(cal.fortnight_days())
    ht_last = {d: ht.name for ht, d in cal.half_term_last_days()}
    for d in cal.days:
        iso = d.isoformat()
        if d in fortnights:
            items.append((cal.at(d, reg.am.open), f"fortnight:{iso}", "fortnight", {"date": iso}))
        for s in ("AM", "PM"):
            items.append((cal.register_close(d, s), f"register_close:{iso}:{s}", "register_close",
                          {"date": iso, "session": s}))
        evening = cal.at(d, reg.nightly_evaluation)
        items.append((evening, f"day_end:{iso}", "day_end", {"date": iso}))
        if d in week_ends:
            items.append((evening, f"week_end:{iso}", "week_end", {"date": iso}))
        if d in ht_last:
            items.append((evening, f"half_term_end:{iso}", "half_term_end", {"date": iso, "name": ht_last[d]}))
    return items


def materialize_calendar(session: Session, cal: SchoolCalendar, until: dt.datetime, now: dt.datetime) -> int:
    """Put every calendar event due by `until` on the agenda; those already there are left alone. Events go on
    in time order up to a moment, so only those after the latest one on the agenda can be missing."""
    latest = session.scalar(select(func.max(Timer.due_at)).where(Timer.kind.in_(CALENDAR_KINDS)))
    rows = [{"key": k, "kind": kind, "due_at": due, "payload": p, "status": "pending", "created_at": now}
            for due, k, kind, p in _calendar_items(cal) if due <= until and (latest is None or due > latest)]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    added = 0
    for i in range(0, len(rows), 500):
        stmt = insert(Timer).values(rows[i:i + 500]).on_conflict_do_nothing(index_elements=["key"])
        added += session.execute(stmt).rowcount or 0
    return added


# --- dispatch ----------------------------------------------------------------------------------------
def dispatch(env: Env, timer: Timer) -> None:
    p = timer.payload or {}
    if timer.kind in CALENDAR_KINDS:
        args = {k: (dt.date.fromisoformat(v) if k == "date" else v) for k, v in p.items()}
        for wf in active_workflows(env.config).values():
            listener = getattr(wf, f"on_{timer.kind}", None)
            if listener:
                listener(env, **args)
    elif timer.kind == "mark_changed":
        change = env.session.get(MarkChange, p["change_id"])
        if change is not None:
            for wf in active_workflows(env.config).values():
                listener = getattr(wf, "on_mark_changed", None)
                if listener:
                    env.guarded(change.pupil_id, "mark change", lambda lis=listener: lis(env, change))
    elif timer.kind in ("task_reminder", "task_expiry"):
        from casework import tasks

        (tasks.remind if timer.kind == "task_reminder" else tasks.expire)(env, timer.task_id)
    else:  # a case's own timer: fire it as an event of the case
        case = env.session.get(Case, timer.case_id)
        if case is not None and case.closed_at is None:
            env.guarded(case.pupil_id, f"{case.workflow} timer {timer.kind}",
                        lambda: env.fire(case, timer.kind, timer.payload))


# --- the loop ----------------------------------------------------------------------------------------
@dataclass
class RunReport:
    processed: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    case_errors: int = 0

    @property
    def total(self) -> int:
        return sum(self.processed.values())


class WorkerBusy(InputError):
    pass


@contextmanager
def single_worker(app: App) -> Iterator[None]:
    """SQLite takes one writer: a second `casework run`/`serve` on the same file is refused clearly."""
    if not app.url.startswith("sqlite"):
        yield
        return
    db = app.engine.url.database
    if not db or db == ":memory:":
        yield
        return
    lock_path = Path(db).with_name(Path(db).name + ".lock")
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerBusy(f"another casework worker is running on {db}; SQLite allows one worker at a "
                             "time (use PostgreSQL to run several)") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _claim(session: Session, until: dt.datetime, pg: bool) -> tuple[Timer | None, bool]:
    """The earliest pending item due by `until`, and whether an earlier one is held by another worker."""
    q = (select(Timer).where(Timer.status == "pending", Timer.due_at <= until)
         .order_by(Timer.due_at, Timer.key).limit(1))
    if pg:
        q = q.with_for_update(skip_locked=True)
    timer = session.scalar(q)
    if timer is None or not pg:
        return timer, False
    # The earliest pending item, locked or not: an index-ordered LIMIT 1 on ix_timers_agenda. (An EXISTS of
    # "pending and earlier than this one" was planned as a scan of every pending row, once per item: the agenda
    # grows with the authority, so a day's cost grew with its square; bench/RESULTS.md.)
    first = session.scalar(select(Timer.key).where(Timer.status == "pending")
                           .order_by(Timer.due_at, Timer.key).limit(1))
    return (None, True) if first is not None and first != timer.key else (timer, False)


def pending_count(session: Session, until: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == "pending", Timer.due_at <= until)) or 0


def run(app: App, until: dt.datetime, *, progress: Callable[[int, int], None] | None = None,
        on_item: Callable[[str], None] | None = None) -> RunReport:
    """Process everything due up to `until` (an aware instant)."""
    report = RunReport()
    pg = app.engine.dialect.name == "postgresql"
    with single_worker(app):
        with app.sessions.begin() as s:
            materialize_calendar(s, app.calendar, until, until)
            total = pending_count(s, until)
        while True:
            with app.sessions() as s, s.begin():
                timer, blocked = _claim(s, until, pg)
                if timer is None:
                    if blocked:  # another worker holds an earlier item: let it finish first
                        s.rollback()
                        time.sleep(0.02)
                        continue
                    break
                _process(app, s, timer, report)
                key = timer.key
            if on_item:
                on_item(key)  # after the commit
            if progress:
                total = max(total, report.total)
                progress(report.total, total)
    return report


def _process(app: App, s: Session, timer: Timer, report: RunReport) -> None:
    env = Env(s, app, now=timer.due_at)
    try:
        with s.begin_nested():
            dispatch(env, timer)
    except DBAPIError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the loop goes on
        logger.exception("agenda item %s failed", timer.key)
        timer.status = "failed"
        timer.payload = {**(timer.payload or {}), "error": f"{type(exc).__name__}: {exc}"}
        report.failed += 1
    else:
        timer.status = "fired"
    timer.fired_at = timer.due_at
    report.processed[timer.kind] += 1
    report.case_errors += env.errors


def next_due(app: App) -> dt.datetime | None:
    """When the engine next has something to do (for the scheduler)."""
    with app.sessions() as s:
        pending = s.scalar(select(func.min(Timer.due_at)).where(Timer.status == "pending"))
        done = set(s.scalars(select(Timer.key).where(Timer.kind.in_(CALENDAR_KINDS))))
    upcoming = next((due for due, key, _, _ in _calendar_items(app.calendar) if key not in done), None)
    candidates = [t for t in (pending, upcoming) if t is not None]
    return min(candidates) if candidates else None


def case_ctx(env: Env, case: Case) -> Ctx:  # for tests and tools that inspect a case's guards
    pupil = env.session.get(Pupil, case.pupil_id)
    assert pupil is not None
    return Ctx(now=env.now, config=env.config, calendar=env.calendar, case=case, pupil=pupil)
