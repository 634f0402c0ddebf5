"""The engine itself: live-case migration, deadlines across holidays and DST, the scheduler, and
several workers on one PostgreSQL database."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from casework import engine
from casework.context import App
from casework.migrate_cases import migrate_live_cases
from casework.models import Case, ChronologyEntry, Task, Timer
from casework.scheduler import build_scheduler
from tests.factories import add_pupil, add_staff, mark
from workflows.first_day import FirstDay

FRI_BEFORE_HALF_TERM = dt.date(2026, 10, 23)  # BST ends Sunday 25 October; school back Monday 2 November


def test_workflow_change_migrates_live_cases_and_logs_it(app: App) -> None:
    add_staff(app)
    pupil = add_pupil(app)
    mark(app, pupil, dt.date(2026, 9, 7), "N")
    engine.run(app, app.calendar.at(dt.date(2026, 9, 7), dt.time(10)))

    class FirstDayV2(FirstDay):  # a later version renames "calling" to "first_call"
        version = 2
        migrations = {1: {"calling": "first_call"}}

        def __init__(self) -> None:
            super().__init__()
            self._triggers["first_call"] = self._triggers["calling"]

    now = dt.datetime(2026, 9, 7, 12, tzinfo=dt.UTC)
    with app.sessions.begin() as s:
        assert migrate_live_cases(s, now, {"first_day": FirstDayV2()}) == 1
    with app.sessions() as s:
        case = s.scalars(select(Case)).one()
        assert (case.state, case.workflow_version) == ("first_call", 2)
        assert "calling -> first_call" in s.scalars(select(ChronologyEntry.summary).where(
            ChronologyEntry.summary.like("%upgraded%"))).one()
    with app.sessions.begin() as s:  # already current: nothing more to do
        assert migrate_live_cases(s, now, {"first_day": FirstDayV2()}) == 0


def test_fdr3_second_day_check_across_half_term_and_the_end_of_bst(app: App) -> None:
    add_staff(app)
    pupil = add_pupil(app)
    mark(app, pupil, FRI_BEFORE_HALF_TERM, "N")
    engine.run(app, app.calendar.at(FRI_BEFORE_HALF_TERM, dt.time(10)))
    with app.sessions() as s:
        timer = s.scalars(select(Timer).where(Timer.kind == "second_day_check")).one()
    # the next school day is Monday 2 November, 08:55 GMT (= 08:55 UTC; it would be 07:55 UTC in BST)
    assert timer.due_at == dt.datetime(2026, 11, 2, 8, 55, tzinfo=dt.UTC)
    with app.sessions() as s:
        call = s.scalars(select(Task).where(Task.kind == "first_day_call")).one()
    assert call.due_at == dt.datetime(2026, 10, 23, 11, 0, tzinfo=dt.UTC)  # 12:00 BST


def test_serve_scheduler_runs_the_loop_and_wakes_at_the_next_agenda_instant(app: App) -> None:
    add_staff(app)
    pupil = add_pupil(app)
    mark(app, pupil, dt.date(2026, 9, 7), "N")
    clock_now = [app.calendar.at(dt.date(2026, 9, 7), dt.time(10, 30))]
    sched = build_scheduler(app, heartbeat_seconds=60, clock=lambda: clock_now[0])
    sched.start(paused=True)  # jobs take their defaults; nothing runs by itself
    try:
        job = sched.get_job("heartbeat")
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
        job.func()  # one heartbeat, called directly
        _after_heartbeat(app, sched)
    finally:
        sched.shutdown(wait=False)


def _after_heartbeat(app: App, sched) -> None:
    with app.sessions() as s:
        assert s.scalars(select(Task.kind)).all() == ["first_day_call"]
    wake = sched.get_job("next_agenda_item")
    # the next thing due: the first-day call's reminder at 12:00 BST
    assert wake.trigger.run_date.astimezone(dt.UTC) == dt.datetime(2026, 9, 7, 11, 0, tzinfo=dt.UTC)


def test_sqlite_allows_one_worker_at_a_time(tmp_path, config) -> None:
    app = App(db_url=f"sqlite:///{tmp_path / 'one.db'}", _config=config)
    app.init()
    with engine.single_worker(app):
        with pytest.raises(engine.WorkerBusy, match="one worker at a time"):
            with engine.single_worker(app):
                pass


def _snapshot(app: App) -> list[tuple]:
    with app.sessions() as s:
        tasks = sorted((t.kind, t.pupil_id, t.role, t.due_at, t.status) for t in s.scalars(select(Task)))
        cases = sorted((c.workflow, c.pupil_id, c.state) for c in s.scalars(select(Case)))
        timers = sorted((t.key.split(":")[0], t.kind, t.due_at, t.status) for t in s.scalars(select(Timer)))
    return [tuple(tasks), tuple(cases), tuple(timers)]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_produce_exactly_what_one_would(app: App, config) -> None:
    add_staff(app)
    pupils = [add_pupil(app) for _ in range(12)]
    for i, p in enumerate(pupils):
        for d in app.calendar.days[:6]:
            mark(app, p, d, "N" if (i + d.day) % 3 == 0 else "/")
    until = app.calendar.at(app.calendar.days[8], dt.time(18))
    reports: list[engine.RunReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            reports.append(engine.run(App(db_url=app.url, _config=config), until))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    shared = _snapshot(app)
    assert sum(r.total for r in reports) > 0
    # the same school, one worker, in a fresh database of the same kind
    single = App(db_url=app.url, _config=config)
    from sqlalchemy import text

    from casework.models import Base
    with single.engine.begin() as c:
        c.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                       + " RESTART IDENTITY CASCADE"))
    single.init()
    add_staff(single)
    pupils = [add_pupil(single) for _ in range(12)]
    for i, p in enumerate(pupils):
        for d in single.calendar.days[:6]:
            mark(single, p, d, "N" if (i + d.day) % 3 == 0 else "/")
    one = engine.run(single, until)
    assert sum(r.total for r in reports) == one.total
    assert [len(x) for x in shared] == [len(x) for x in _snapshot(single)]
    assert _normalise(shared) == _normalise(_snapshot(single))


def _normalise(snap: list[tuple]) -> list[tuple]:
    """Pupil ids differ between the two databases' sequences; compare with ids mapped by first use."""
    tasks, cases, timers = snap
    order = {pid: i for i, pid in enumerate(sorted({t[1] for t in tasks} | {c[1] for c in cases}))}
    return [tuple(sorted((t[0], order[t[1]], *t[2:]) for t in tasks)),
            tuple(sorted((c[0], order[c[1]], c[2]) for c in cases)), timers]


def test_overdue_task_goes_up_the_role_ladder_after_the_default_expiry(app: App) -> None:
    staff = add_staff(app)
    pupil = add_pupil(app)
    from casework import tasks as task_service

    mark(app, pupil, dt.date(2026, 9, 7), "N")
    engine.run(app, app.calendar.at(dt.date(2026, 9, 7), dt.time(10)))
    with app.sessions() as s:
        call = s.scalars(select(Task).where(Task.kind == "first_day_call")).one()
    task_service.complete(app, call.id, "reached", reason="shopping", by=staff["office"],
                          at=app.calendar.at(dt.date(2026, 9, 7), dt.time(10, 30)))
    with app.sessions() as s:
        inform = s.scalars(select(Task).where(Task.kind == "inform_no_reason", Task.role == "form_tutor")).one()
    ladder = app.config.task_escalation
    expires = app.calendar.due(inform.due_at, ladder.after_due)
    engine.run(app, expires - dt.timedelta(minutes=1))
    with app.sessions() as s:
        assert s.get(Task, inform.id).role == "form_tutor"
    engine.run(app, expires)
    with app.sessions() as s:
        escalated = s.get(Task, inform.id)
    assert escalated.role == ladder.to["form_tutor"] and escalated.status == "open"
