"""A `casework run` killed with SIGKILL at arbitrary points and run again ends exactly where an
uninterrupted run does: same cases, tasks, timers, letters, chronology and marks (no lost timer, no
duplicate letter). The kill lands wherever the process happens to be after the k-th committed item
(k drawn from a seeded RNG): between items or in the middle of one."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from casework.context import App
from tests.factories import add_pupil, add_staff, mark

TABLES = {  # every column but surrogate ids that a rolled-back transaction may have used
    "cases": "workflow, key, state, opened_at, updated_at, closed_at, data, pupil_id",
    "tasks": "key, kind, role, assignee_id, status, due_at, created_at, outcome, reminded_at, escalated_at",
    "timers": "key, kind, due_at, status, fired_at, payload",
    "letters": "key, template, channel, recipient, created_at, status",
    "chronology": "at, pupil_id, category, summary, staff, ref, rule",
    "marks": "pupil_id, date, session, code, reason",
    "mark_changes": "pupil_id, date, session, old_code, new_code, changed_at",
}
UNTIL = "2026-10-02T18:00"


def _school(db: Path, config) -> None:
    app = App(db_url=f"sqlite:///{db}", _config=config)
    app.init()
    add_staff(app)
    rng = random.Random(7)
    days = app.calendar.days[:20]
    for _ in range(30):
        p = add_pupil(app)
        for d in days:
            r = rng.random()
            mark(app, p, d, "N" if r < 0.08 else "I" if r < 0.12 else "/")
    app.engine.dispose()


def _casework(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CASEWORK_DB": f"sqlite:///{db}"}
    return subprocess.Popen([sys.executable, "-m", "casework", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    eng = create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        out = {t: sorted(map(tuple, c.execute(text(f"SELECT {cols} FROM {t}"))), key=repr)
               for t, cols in TABLES.items()}
    eng.dispose()
    return out


def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(tmp_path: Path, config) -> None:
    base = tmp_path / "base.db"
    _school(base, config)
    reference = tmp_path / "reference.db"
    shutil.copy(base, reference)
    done = _casework(reference, "run", "--until", UNTIL, "--quiet", "--log-items", "--no-deliver")
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    items = out.count("\nitem ") + out.startswith("item ")
    assert items > 100
    expected = _snapshot(reference)
    assert expected["tasks"] and expected["letters"] or expected["tasks"]

    rng = random.Random(2026)
    victim = tmp_path / "victim.db"
    shutil.copy(base, victim)
    kills = 0
    for _ in range(5):
        proc = _casework(victim, "run", "--until", UNTIL, "--quiet", "--log-items", "--no-deliver")
        assert proc.stdout is not None
        target, seen = rng.randint(1, max(2, items // 4)), 0
        for line in proc.stdout:
            seen += line.startswith("item ")
            if seen >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
        proc.wait(timeout=600)
    finish = _casework(victim, "run", "--until", UNTIL, "--quiet", "--no-deliver")
    _, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err
    assert kills >= 3
    got = _snapshot(victim)
    for table in TABLES:
        assert got[table] == expected[table], f"{table} differs after {kills} kills"
    letter_keys = [row[0] for row in got["letters"]]
    assert len(letter_keys) == len(set(letter_keys))
