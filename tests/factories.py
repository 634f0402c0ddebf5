"""Small builders for tests: a school with one member of staff per role, pupils, contacts and marks."""
from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select

from casework import agenda
from casework.context import App
from casework.models import Contact, Mark, MarkChange, Pupil, Staff
from casework.upn import make_upn

_serial = itertools.count(1)


def add_staff(app: App) -> dict[str, str]:
    """One member per role; the form tutor has form 7H, the pastoral manager year 7. Returns role -> id."""
    ids = {}
    with app.sessions.begin() as s:
        for i, role in enumerate(app.config.roles, 1):
            sid = f"S{i:03d}"
            s.add(Staff(staff_id=sid, name=f"{role.replace('_', ' ').title()} {i}", email=f"{sid}@heys.example.org",
                        roles=[role], forms=["7H"] if role == "form_tutor" else [],
                        year_groups=[7] if role in ("pastoral_manager", "head_of_key_stage") else []))
            ids[role] = sid
    return ids


def add_pupil(app: App, *, form: str = "7H", year: int = 7, parents: int = 2, email: bool = True) -> Pupil:
    with app.sessions.begin() as s:
        n = next(_serial)
        p = Pupil(upn=make_upn(357, 4001, 15, n), given_name=f"Pupil{n}", family_name="Test",
                  date_of_birth=dt.date(2015, 1, 1), year_group=year, form=form)
        s.add(p)
        s.flush()
        for k in range(parents):
            s.add(Contact(pupil_id=p.id, contact_id=f"C{n}{k}", name=f"Parent {k + 1} of {n}", relationship="parent",
                          parental_responsibility=True, phone="07700 900000",
                          email=f"p{n}{k}@example.org" if email else None, address="1 High St, Ashton",
                          priority=k + 1))
        return p


def mark(app: App, pupil: Pupil, day: dt.date, code: str, sessions: tuple[str, ...] = ("AM", "PM")) -> None:
    with app.sessions.begin() as s:
        for sess in sessions:
            s.add(Mark(pupil_id=pupil.id, date=day, session=sess, code=code))


def change_mark(app: App, pupil: Pupil, day: dt.date, session: str, code: str, at: dt.datetime,
                by: str | None = None, reason: str = "reason recorded") -> None:
    """As the import does it: the mark changes, the history keeps the old code, the engine hears of it."""
    with app.sessions.begin() as s:
        m = s.scalar(select(Mark).where(Mark.pupil_id == pupil.id, Mark.date == day, Mark.session == session))
        assert m is not None
        change = MarkChange(pupil_id=pupil.id, date=day, session=session, old_code=m.code, new_code=code,
                            reason=reason, changed_by=by, changed_at=at)
        m.code = code
        s.add(change)
        s.flush()
        agenda.enqueue_mark_change(s, change)


def fill(app: App, pupil: Pupil, days: list[dt.date], absent: dict[int, str | tuple[str, str]] | None = None,
         late: set[int] | None = None, present: tuple[str, str] = ("/", "\\")) -> None:
    """Marks for `days`: present, except day index -> absence code (both sessions, or an (AM, PM) pair) and
    late (L in the AM)."""
    absent, late = absent or {}, late or set()
    with app.sessions.begin() as s:
        for i, d in enumerate(days):
            code = absent.get(i)
            am, pm = present if code is None else (code, code) if isinstance(code, str) else code
            if i in late:
                am = "L"
            s.add(Mark(pupil_id=pupil.id, date=d, session="AM", code=am, minutes_late=10 if am == "L" else None))
            s.add(Mark(pupil_id=pupil.id, date=d, session="PM", code=pm))
