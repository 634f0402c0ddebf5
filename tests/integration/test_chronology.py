"""The chronology (DAT-1, DAT-2): append-only, exported as CSV and JSON, every read audited."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

from click.testing import CliRunner
from sqlalchemy import select

from casework import engine, tasks
from casework.cli import main
from casework.context import App
from casework.models import AuditEntry, ChronologyEntry, Task
from tests.factories import add_pupil, add_staff, mark

MON = dt.date(2026, 9, 7)


def _rows(app: App) -> list[tuple]:
    with app.sessions() as s:
        return [(e.id, e.at, e.category, e.summary, e.staff, e.ref) for e in
                s.scalars(select(ChronologyEntry).order_by(ChronologyEntry.id))]


def test_dat1_chronology_only_grows_and_exports_csv_and_json(app: App) -> None:
    staff = add_staff(app)
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    engine.run(app, app.calendar.at(MON, dt.time(10)))
    before = _rows(app)
    with app.sessions() as s:
        call = s.scalars(select(Task).where(Task.kind == "first_day_call")).one()
    tasks.complete(app, call.id, "no_contact", by=staff["office"], at=app.calendar.at(MON, dt.time(10, 30)))
    engine.run(app, app.calendar.at(MON, dt.time(23)))
    after = _rows(app)
    assert after[:len(before)] == before and len(after) > len(before)  # earlier entries untouched
    runner = CliRunner()
    out = runner.invoke(main, ["--db", app.url, "chronology", pupil.upn, "--format", "csv", "--by", staff["office"]])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert len(rows) == len(after) and rows[0]["pupil"] == pupil.upn
    assert any(r["summary"].startswith("Task first_day_call completed: no_contact") and r["staff"] == staff["office"]
               for r in rows)
    js = runner.invoke(main, ["--db", app.url, "chronology", pupil.upn, "--format", "json"])
    assert [e["category"] for e in json.loads(js.output)] == [r["category"] for r in rows]
    with app.sessions() as s:  # DAT-2: both reads audited
        audits = s.scalars(select(AuditEntry).where(AuditEntry.pupil_id == pupil.id)).all()
    assert [a.action for a in audits] == ["chronology:csv", "chronology:json"]
    assert audits[0].staff == staff["office"]
