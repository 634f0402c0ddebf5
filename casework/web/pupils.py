"""What the pupil and case pages show. Every view of a pupil, their chronology or a case is audited (DAT-2).

Figures come from casework.attendance (pupil_summary, marks_by_day, figures_from_codes); the chronology
from casework.chronology. This module only gathers them for a page or the API.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import attendance, chronology
from casework.calendar import SESSIONS
from casework.models import Case, ChronologyEntry, Letter, Pupil, Task, Timer
from casework.web.guard import NotFound, Viewer, pupil_in_scope
from casework.web.settings import Web

SEVERITY = ("unauthorised", "authorised", "late", "approved_activity", "present", "not_counted")


def seen(s: Session, web: Web, viewer: Viewer, action: str, pupil_id: int, detail: str | None = None) -> None:
    chronology.audit(s, at=web.now(), staff=viewer.staff_id, action=action, pupil_id=pupil_id, detail=detail)


def pupils_list(s: Session, web: Web, viewer: Viewer, query: str | None) -> list[dict[str, Any]]:
    q = select(Pupil).where(Pupil.on_roll.is_(True), viewer.scope.condition())
    if query:
        like = f"%{query.strip().lower()}%"
        q = q.where(Pupil.upn.ilike(like) | Pupil.given_name.ilike(like) | Pupil.family_name.ilike(like)
                    | Pupil.form.ilike(like))
    pupils = list(s.scalars(q.order_by(Pupil.year_group, Pupil.form, Pupil.family_name, Pupil.given_name)
                            .limit(500)))
    figures = attendance.figures_for_all(s, web.app.config, web.today(), pupil_ids=[p.id for p in pupils])
    return [{"upn": p.upn, "name": p.name, "form": p.form, "year_group": p.year_group,
             "attendance_pct": figures[p.id].attendance_pct, "band": figures[p.id].band} for p in pupils]


def day_category(codes: dict[str, str], web: Web) -> str | None:
    """The worst thing that happened that day, for the heatmap."""
    table = web.app.config.policy.codes.table
    cats = {("late" if table[c].late and table[c].category == "present" else table[c].category)
            for c in codes.values() if c in table}
    return next((c for c in SEVERITY if c in cats), None)


def weekly(web: Web, marks: dict[dt.date, dict[str, str]], through: dt.date) -> list[dict[str, Any]]:
    """Week by week: that week's attendance and the year to date at its end (percent, unrounded)."""
    config = web.app.config
    year: list[str] = []
    weeks: dict[dt.date, list[str]] = {}
    for day in web.app.calendar.days:
        if day > through:
            break
        codes = [marks[day][s] for s in SESSIONS if s in marks.get(day, {})]
        weeks.setdefault(day - dt.timedelta(days=day.weekday()), []).extend(codes)
    out = []
    for monday, codes in weeks.items():
        year.extend(codes)
        week_f, ytd_f = (attendance.figures_from_codes(c, config) for c in (codes, year))
        out.append({"week": monday, "week_pct": week_f.attendance_exact, "ytd_pct": ytd_f.attendance_exact})
    return out


def pupil_page(s: Session, web: Web, viewer: Viewer, request: Request, upn: str,
               category: str | None = None) -> dict[str, Any]:
    pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
    today, cal = web.today(), web.app.calendar
    summary = attendance.pupil_summary(s, web.app.config, cal, pupil.upn, today)
    marks = attendance.marks_by_day(s, pupil.id, cal.first_day, today)
    entries = chronology.entries(s, pupil, web.app.config.tz, category=category or None)
    categories = sorted(set(s.scalars(select(ChronologyEntry.category).where(ChronologyEntry.pupil_id == pupil.id))))
    letters = [{"id": le.id, "template": le.template, "title": _letter_title(web, le.template),
                "channel": le.channel, "recipient": le.recipient, "status": le.status,
                "created": f"{cal.local(le.created_at):%d %b %Y %H:%M}"}
               for le in s.scalars(select(Letter).where(Letter.pupil_id == pupil.id).order_by(Letter.created_at))]
    open_fdr = s.scalar(select(Task.id).where(Task.pupil_id == pupil.id, Task.status == "open",
                                              Task.kind.in_(("first_day_call", "second_call"))).limit(1))
    seen(s, web, viewer, "view_pupil", pupil.id, f"category={category}" if category else None)
    s.commit()
    return {"pupil": pupil, "summary": summary, "entries": entries, "categories": categories,
            "category": category or "", "letters": letters, "weeks": weekly(web, marks, today),
            "days": {d: day_category(c, web) for d, c in marks.items()}, "open_call_task": open_fdr}


def _letter_title(web: Web, template: str) -> str:
    letter = web.app.config.letters.get(template)
    return letter.title if letter else template


def chronology_json(s: Session, web: Web, viewer: Viewer, request: Request, upn: str,
                    category: str | None) -> list[dict[str, Any]]:
    pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
    rows = chronology.entries(s, pupil, web.app.config.tz, category=category or None)
    seen(s, web, viewer, "chronology:api", pupil.id, f"category={category}" if category else None)
    s.commit()
    return rows


def pupil_json(s: Session, web: Web, viewer: Viewer, request: Request, upn: str) -> dict[str, Any]:
    pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
    summary = attendance.pupil_summary(s, web.app.config, web.app.calendar, pupil.upn, web.today())
    seen(s, web, viewer, "view_pupil:api", pupil.id)
    s.commit()
    return summary


def case_page(s: Session, web: Web, viewer: Viewer, request: Request, case_id: int,
              action: str = "view_case") -> dict[str, Any]:
    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id}")
    pupil = pupil_in_scope(s, web, viewer, request, pupil_id=case.pupil_id)
    tz, cal = web.app.config.tz, web.app.calendar
    history = [e for e in chronology.entries(s, pupil, tz) if e["case"] == case.id]
    timers = [{"kind": t.kind, "due": cal.local(t.due_at).isoformat(),
               "due_local": f"{cal.local(t.due_at):%a %d %b %Y %H:%M}"}
              for t in s.scalars(select(Timer).where(Timer.case_id == case.id, Timer.status == "pending")
                                 .order_by(Timer.due_at))]
    case_tasks = [{"id": t.id, "kind": t.kind, "title": t.title, "role": t.role, "status": t.status,
                   "outcome": t.outcome, "due_local": f"{cal.local(t.due_at):%a %d %b %H:%M}"}
                  for t in s.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.created_at, Task.id))]
    seen(s, web, viewer, action, pupil.id, f"case {case.id}")
    s.commit()
    return {"case": {"id": case.id, "pupil": pupil.upn, "workflow": case.workflow, "state": case.state,
                     "opened": cal.local(case.opened_at).isoformat(), "updated": cal.local(case.updated_at).isoformat(),
                     "closed": cal.local(case.closed_at).isoformat() if case.closed_at else None,
                     "data": case.data or {}},
            "pupil": {"upn": pupil.upn, "name": pupil.name, "form": pupil.form, "year_group": pupil.year_group},
            "history": history, "timers": timers, "tasks": case_tasks}


def letter_in_scope(s: Session, web: Web, viewer: Viewer, request: Request, letter_id: int) -> tuple[Letter, Pupil]:
    letter = s.get(Letter, letter_id)
    if letter is None:
        raise NotFound(f"no letter with id {letter_id}")
    pupil = pupil_in_scope(s, web, viewer, request, pupil_id=letter.pupil_id)
    seen(s, web, viewer, "view_letter", pupil.id, f"letter {letter.id}")
    s.commit()
    return letter, pupil
