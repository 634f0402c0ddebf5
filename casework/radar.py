"""The weekly radar-meeting list (ONG-4): pupils with an open case or whose band changed this week."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.attendance import figures_for_all
from casework.calendar import SchoolCalendar
from casework.config import Config
from casework.models import Case, Pupil

QUIET = ("ongoing", "recognition")  # routine cases that alone do not put a pupil on the list


def radar_meeting(s: Session, config: Config, calendar: SchoolCalendar, on: dt.date) -> list[dict[str, Any]]:
    """Bands now against bands at the end of the previous school week; open cases by workflow."""
    monday = on - dt.timedelta(days=on.weekday())
    before = calendar.previous_school_day(monday)
    now_f = figures_for_all(s, config, on)
    then_f = figures_for_all(s, config, before) if before else {}
    cases: dict[int, list[str]] = {}
    for c in s.scalars(select(Case).where(Case.closed_at.is_(None), Case.workflow.not_in(QUIET))):
        cases.setdefault(c.pupil_id, []).append(f"{c.workflow}:{c.state}")
    rows = []
    for p in s.scalars(select(Pupil).where(Pupil.on_roll.is_(True)).order_by(Pupil.year_group, Pupil.form,
                                                                             Pupil.family_name)):
        f, old = now_f.get(p.id), then_f.get(p.id)
        band, old_band = (f.band if f else None), (old.band if old else None)
        changed = band != old_band and old is not None
        if p.id in cases or changed:
            rows.append({"upn": p.upn, "name": p.name, "form": p.form, "year_group": p.year_group,
                         "attendance_pct": f.attendance_pct if f else None, "band": band,
                         "band_last_week": old_band, "band_changed": changed,
                         "open_cases": sorted(cases.get(p.id, []))})
    return rows
