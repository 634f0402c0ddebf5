"""`casework simulate`: staff act on tasks (on time, late, never), reports per half term; same seed, same
result, down to every row of the engine's tables."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from casework.cli import main

UNTIL = "2026-09-25"  # three school weeks: past the minimum sessions, so stages, reviews and tasks happen


def _simulate(db: Path, seed: int) -> list[dict]:
    out = CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "simulate", "--pupils", "40", "--seed", str(seed),
                                    "--until", UNTIL, "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def _rows(db: Path) -> dict[str, list[tuple]]:
    eng = create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        rows = {t: sorted(map(tuple, c.execute(text(f"SELECT {cols} FROM {t}"))), key=repr) for t, cols in (
            ("tasks", "key, status, outcome, completed_at, completed_by"), ("cases", "key, state, closed_at"),
            ("letters", "key, created_at"), ("chronology", "at, category, summary, staff"))}
    eng.dispose()
    return rows


def test_simulate_same_seed_same_result_and_staff_act(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.db" for n in "abc")
    first, again, other = _simulate(a, 3), _simulate(b, 3), _simulate(c, 4)
    assert first == again and _rows(a) == _rows(b)
    assert first != other
    [report] = first
    totals = {k: sum(c.get(k, 0) for c in report["tasks"].values()) for k in ("on_time", "late", "not done")}
    assert totals["on_time"] > totals["late"] > 0 and totals["not done"] > 0  # most on time, some late, some never
    assert report["cases_opened"]["first_day"] > 0 and report["cases_opened"]["escalation"] > 0
    assert sum(report["bands"].values()) == 40


def test_abs4_abs7_abs1_simulated_parents_make_requests_and_send_notes_the_office_records(app, monkeypatch) -> None:
    """The simulated parents exercise the request and authorisation workflows the demo shows."""
    import datetime as dt

    from sqlalchemy import select

    from casework import engine, simulate
    from casework.models import Case, Task
    from tests.factories import add_pupil, add_staff, fill

    add_staff(app)
    asking, absent = add_pupil(app), add_pupil(app)
    fill(app, asking, app.calendar.days[:30])
    fill(app, absent, app.calendar.days[:30], absent={3: "N"})
    day = app.calendar.days[4]
    engine.run(app, app.calendar.at(day, dt.time(10, 0)))  # absent came back on day 4 without a reason
    staff = simulate.Staffroom(app, seed=1)
    monkeypatch.setattr(simulate, "REQUEST_RATE", 1.0)
    monkeypatch.setattr(simulate, "NOTE_RATE", 1.0)
    done = staff.parents(day, app.calendar.at(day, dt.time(10, 30)))
    assert done["religious request"] + done["leave request"] == 2 and done["note from parent"] == 1
    with app.sessions() as s:
        workflows = {c.workflow for c in s.scalars(select(Case))}
        kinds = {t.kind for t in s.scalars(select(Task).where(Task.status == "open"))}
    assert {"absence_request", "authorisation"} <= workflows
    assert "decide_leave_request" in kinds
