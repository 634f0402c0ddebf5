"""The leaders' dashboard and the RADAR download (ONG-1): whole-school figures from one aggregate each."""
from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from casework.attendance import figures_for_all
from casework.models import Letter, Pupil, Task
from casework.web.guard import Viewer
from casework.web.settings import Web

FORTNIGHT = dt.timedelta(days=14)
BAND_ORDER: list[str | None] = ["stage_1", "monitor", "stage_2", "stage_3", "stage_4", "stage_5", None]


def _bands(s: Session, web: Web, through: dt.date) -> tuple[dict[int, dict[str | None, int]], Counter[str]]:
    pupils = list(s.execute(select(Pupil.id, Pupil.year_group).where(Pupil.on_roll.is_(True))))
    figures = figures_for_all(s, web.app.config, through, pupil_ids=[pid for pid, _ in pupils])
    by_year: dict[int, dict[str | None, int]] = {}
    flags: Counter[str] = Counter()
    for pid, year in pupils:
        f = figures[pid]
        row = by_year.setdefault(year, {})
        row[f.band] = row.get(f.band, 0) + 1
        flags["pa"] += f.persistent_absentee
        flags["sa"] += f.severe_absentee
    return by_year, flags


def _tasks_per_role(s: Session, now: dt.datetime) -> list[dict[str, Any]]:
    overdue = func.sum(case((Task.due_at < now, 1), else_=0))
    rows = s.execute(select(Task.role, func.count(), overdue)
                     .where(Task.status == "open").group_by(Task.role).order_by(Task.role))
    return [{"role": role, "open": n, "overdue": int(overdue or 0)} for role, n, overdue in rows]


def _letters_this_week(s: Session, web: Web) -> list[dict[str, Any]]:
    today = web.today()
    monday = web.app.calendar.at(today - dt.timedelta(days=today.weekday()), dt.time(0, 0))
    # sent this week, or produced this week and not sent yet (by its status): when it reached the family
    rows = s.execute(select(Letter.template, Letter.status, func.count())
                     .where(func.coalesce(Letter.sent_at, Letter.created_at) >= monday)
                     .group_by(Letter.template, Letter.status).order_by(Letter.template, Letter.status))
    return [{"template": t, "status": st, "count": n} for t, st, n in rows]


def dashboard(s: Session, web: Web) -> dict[str, Any]:
    today = web.today()
    bands, now_flags = _bands(s, web, today)
    _, then_flags = _bands(s, web, today - FORTNIGHT)
    roles = web.app.config.roles
    per_role = [{**r, "name": roles[r["role"]].name if r["role"] in roles else r["role"]}
                for r in _tasks_per_role(s, web.now())]
    return {
        "through": today.isoformat(),
        "bands_by_year": {str(y): {str(b): n for b, n in row.items()} for y, row in sorted(bands.items())},
        "band_counts": bands,
        "persistent_absence": {"now": now_flags["pa"], "fortnight_ago": then_flags["pa"]},
        "severe_absence": {"now": now_flags["sa"], "fortnight_ago": then_flags["sa"]},
        "tasks_per_role": per_role,
        "letters_this_week": _letters_this_week(s, web),
    }


def radar_file(s: Session, web: Web, viewer: Viewer, suffix: str) -> bytes:
    """ONG-1's RADAR sheet (notifications.radar_sheet) as .csv or .xlsx, with the rows of the reader's scope."""
    from notifications.radar_sheet import radar_rows, write_csv, write_xlsx

    through = web.today()
    rows = [r for r in radar_rows(s, web.app.config, through) if viewer.scope.sees_place(r["form"], r["year_group"])]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"radar{suffix}"
        if suffix == ".xlsx":
            write_xlsx(rows, path, web.app.config, through)
        else:
            write_csv(rows, path)
        return path.read_bytes()
