"""Two staff completing the same task at the same moment: one wins, the other gets a clear message, and
nothing is half-written (optimistic locking on the task row's version)."""
from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from casework import engine, tasks
from casework.context import App
from casework.errors import InputError
from casework.models import ChronologyEntry, Task
from tests.factories import add_pupil, add_staff, mark

MON = dt.date(2026, 9, 7)


def test_two_staff_complete_the_same_task_at_once_one_wins(app: App, config, monkeypatch) -> None:
    staff = add_staff(app)
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    engine.run(app, app.calendar.at(MON, dt.time(10)))
    with app.sessions() as s:
        call = s.scalars(select(Task).where(Task.kind == "first_day_call")).one()
    both_read = threading.Barrier(2, timeout=30)
    real = tasks._may_act

    def may_act_after_both_read(task, who):  # noqa: ANN001, ANN202 - both have read the task as open here
        both_read.wait()
        return real(task, who)

    monkeypatch.setattr(tasks, "_may_act", may_act_after_both_read)
    results: list[str] = []

    def complete(outcome: str) -> None:
        worker = App(db_url=app.url, _config=config)
        try:
            tasks.complete(worker, call.id, outcome, reason="illness" if outcome == "reached" else None,
                           by=staff["office"], at=app.calendar.at(MON, dt.time(10, 30)))
            results.append(f"won:{outcome}")
        except InputError as exc:
            results.append(f"lost:{exc}")
        finally:
            worker.engine.dispose()

    threads = [threading.Thread(target=complete, args=(o,)) for o in ("no_contact", "reached")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r.startswith("won:")]
    lost = [r for r in results if r.startswith("lost:")]
    assert len(won) == 1 and len(lost) == 1, results
    assert "someone else" in lost[0] or "already done" in lost[0]
    with app.sessions() as s:
        task = s.get(Task, call.id)
        completions = s.scalar(select(func.count()).select_from(ChronologyEntry).where(
            ChronologyEntry.summary.like("Task first_day_call completed%")))
        followups = set(s.scalars(select(Task.kind).where(Task.id != call.id)))
    assert task.outcome == won[0].split(":")[1] and completions == 1
    # only the winner's consequence exists: a second call, or the headteacher's decision, never both
    assert followups in ({"second_call"}, {"authorise_absence"})
