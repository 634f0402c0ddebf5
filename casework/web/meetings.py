"""Meetings to arrange and record (MTG-1..3): lists for the page and API; actions call casework.meetings."""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import meetings
from casework.errors import InputError
from casework.meetings import ASKED_FOR_BY
from casework.models import Case, Pupil, Task
from casework.web.guard import NotFound, Viewer, pupil_in_scope
from casework.web.settings import Web
from casework.web.views import act

EARLIEST, LATEST = dt.timedelta(days=31), dt.timedelta(days=400)  # a meeting date outside this is a typo


def meetings_list(s: Session, web: Web, viewer: Viewer) -> dict[str, list[dict[str, Any]]]:
    cal = web.app.calendar
    rows = s.execute(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id)
                     .where(Case.workflow == "meeting", viewer.scope.condition()).order_by(Case.id.desc()))
    held = [{"id": c.id, "pupil": p.upn, "name": p.name, "form": p.form, "state": c.state,
             "at": c.data.get("at"), "at_local": _local(web, c.data.get("at")),
             "attendees": c.data.get("attendees", []), "purpose": c.data.get("purpose") or "",
             "missed": c.data.get("missed", 0)} for c, p in rows]
    asks = s.execute(select(Task, Pupil).join(Pupil, Pupil.id == Task.pupil_id)
                     .where(Task.status == "open", Task.kind.in_(ASKED_FOR_BY), viewer.scope.condition())
                     .order_by(Task.due_at))
    to_arrange = [{"task": t.id, "kind": t.kind, "title": t.title, "pupil": p.upn, "name": p.name,
                   "due_local": f"{cal.local(t.due_at):%a %d %b}"} for t, p in asks]
    return {"meetings": held, "to_arrange": to_arrange}


def _local(web: Web, iso: str | None) -> str:
    return f"{web.app.calendar.local(dt.datetime.fromisoformat(iso)):%a %d %b %Y %H:%M}" if iso else ""


def parse_when(web: Web, text: str) -> dt.datetime:
    """A date-time from a form or the API: school-local unless it carries an offset; near today."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)", column="at") from None
    return checked_when(web, value)


def checked_when(web: Web, value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=web.app.config.tz)
    now = web.now()
    if not now - EARLIEST <= value <= now + LATEST:
        raise InputError("a meeting is arranged for a date between a month ago and a year ahead", column="at")
    return value.astimezone(dt.UTC)


def _meeting(s: Session, web: Web, viewer: Viewer, request: Request, meeting_id: int) -> Case:
    case = s.get(Case, meeting_id)
    if case is None or case.workflow != "meeting":
        raise NotFound(f"no meeting with id {meeting_id}")
    pupil_in_scope(s, web, viewer, request, pupil_id=case.pupil_id)
    return case


def arrange(web: Web, viewer: Viewer, request: Request, *, upn: str | None, meeting_id: int | None,
            when: dt.datetime, attendees: list[str], purpose: str | None) -> Case:
    with web.app.sessions() as s:
        if meeting_id is not None:
            pupil_id = _meeting(s, web, viewer, request, meeting_id).pupil_id
        elif upn:
            pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
            upn, pupil_id = pupil.upn, pupil.id
        else:
            raise InputError("say which pupil (UPN) the meeting is about", column="pupil")
    return act(web, viewer, request, pupil_id, lambda: meetings.arrange(
        web.app, upn=upn, when=when, attendees=attendees, purpose=purpose, by=viewer.staff_id, now=web.now(),
        meeting_id=meeting_id))


def record(web: Web, viewer: Viewer, request: Request, meeting_id: int, outcome: str, note: str | None) -> Case:
    with web.app.sessions() as s:
        pupil_id = _meeting(s, web, viewer, request, meeting_id).pupil_id
    return act(web, viewer, request, pupil_id, lambda: meetings.record(
        web.app, meeting_id, outcome, note=note or None, by=viewer.staff_id, at=web.now()))
