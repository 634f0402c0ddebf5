"""Recognition lists (REW-1 to REW-3): certificates and prize draw per term (96% and over, 100% separately),
improved attendance on the previous term, and 100% in a full school week (ClassChart points)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.attendance import figures_for_all
from casework.calendar import SchoolCalendar
from casework.config import Config
from casework.errors import InputError
from casework.models import Pupil


def terms(calendar: SchoolCalendar) -> dict[str, tuple[dt.date, dt.date]]:
    """Terms are half terms that share a first word (Autumn 1 + Autumn 2 = Autumn), in order."""
    out: dict[str, tuple[dt.date, dt.date]] = {}
    for ht in calendar.half_terms:
        name = ht.name.split()[0]
        start, _ = out.get(name, (ht.start, ht.end))
        out[name] = (start, ht.end)
    return out


def _row(p: Pupil, pct: float | None, **extra: Any) -> dict[str, Any]:
    return {"upn": p.upn, "name": p.name, "form": p.form, "year_group": p.year_group, "attendance_pct": pct, **extra}


def term_lists(s: Session, config: Config, calendar: SchoolCalendar, term: str) -> dict[str, list[dict[str, Any]]]:
    all_terms = terms(calendar)
    key = next((t for t in all_terms if t.lower() == term.lower()), None)
    if key is None:
        raise InputError(f"unknown term {term!r}; one of: {', '.join(all_terms)}", column="--term")
    start, end = all_terms[key]
    names = list(all_terms)
    prev = all_terms[names[names.index(key) - 1]] if names.index(key) else None
    now = figures_for_all(s, config, end, start)
    before = figures_for_all(s, config, prev[1], prev[0]) if prev else {}
    rew = config.policy.recognition
    out: dict[str, list[dict[str, Any]]] = {"perfect_100": [], "certificate": [], "improved": []}
    for p in s.scalars(select(Pupil).where(Pupil.on_roll.is_(True)).order_by(Pupil.form, Pupil.family_name)):
        f = now.get(p.id)
        if f is None or f.attendance_exact is None:
            continue
        if f.attendance_exact == 100:
            out["perfect_100"].append(_row(p, f.attendance_pct))
        elif f.attendance_exact >= rew.term_certificate_from:
            out["certificate"].append(_row(p, f.attendance_pct))
        b = before.get(p.id)
        if b is not None and b.attendance_exact is not None and \
                f.attendance_exact - b.attendance_exact >= rew.improvement_points:
            out["improved"].append(_row(p, f.attendance_pct, previous_pct=b.attendance_pct,
                                        points=round(f.attendance_exact - b.attendance_exact, 1)))
    return out


def full_week_100(s: Session, config: Config, calendar: SchoolCalendar, day: dt.date) -> list[dict[str, Any]]:
    """REW-3: pupils present at every possible session of the school week containing `day`."""
    week = [d for d in calendar.days if d.isocalendar()[:2] == day.isocalendar()[:2]]
    if not week:
        raise InputError(f"no school days in the week of {day}", column="--week")
    figs = figures_for_all(s, config, week[-1], week[0])
    full = 2 * len(week)
    rows = []
    for p in s.scalars(select(Pupil).where(Pupil.on_roll.is_(True)).order_by(Pupil.form, Pupil.family_name)):
        f = figs.get(p.id)
        if f is not None and f.possible == full and f.attended == full:
            rows.append(_row(p, f.attendance_pct))
    return rows
