"""Absence decisions from the command line or the web (ABS-1 to ABS-7): the logic, one transaction each."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from casework.context import App
from casework.errors import InputError
from casework.models import Case, Pupil, Staff

HEADTEACHER = "headteacher"  # ABS-1: the only role that authorises


def _pupil(s, upn: str) -> Pupil:  # type: ignore[no-untyped-def]
    pupil = s.scalar(select(Pupil).where(Pupil.upn == upn))
    if pupil is None:
        raise InputError(f"no pupil with UPN {upn!r}")
    return pupil


def _staff(s, by: str | None) -> Staff | None:  # type: ignore[no-untyped-def]
    if by is None:
        return None
    staff = s.scalar(select(Staff).where(Staff.staff_id == by))
    if staff is None:
        raise InputError(f"no staff member with id {by!r}", column="--by")
    return staff


def school_days(app: App, start: dt.date, end: dt.date, option: str = "--date") -> list[dt.date]:
    if end < start:
        raise InputError(f"{end} is before {start}", column="--to")
    days = [d for d in app.calendar.days if start <= d <= end]
    if not days:
        raise InputError(f"no school day between {start} and {end}", column=option)
    return days


def _open(app: App, s, workflow: str, pupil: Pupil, data: dict, event: dict, by: str | None,  # type: ignore[no-untyped-def]
          at: dt.datetime) -> Case:
    from casework.engine import Env

    n = (s.scalar(select(func.count()).select_from(Case).where(Case.workflow == workflow,
                                                              Case.pupil_id == pupil.id)) or 0) + 1
    env = Env(s, app, now=at)
    case = env.open_case(workflow, pupil.id, f"{pupil.id}:{n}", data, event, staff=by)
    assert case is not None
    return case


def record_reason(app: App, upn: str, start: dt.date, end: dt.date, sessions: tuple[str, ...], reason: str,
                  by: str | None, at: dt.datetime) -> Case:
    """ABS-1/3/6: a reason for an absence; an authorisable code waits for the headteacher."""
    reasons = app.config.policy.absence.reasons
    if reason not in reasons:
        raise InputError(f"unknown reason {reason!r}; one of: {', '.join(reasons)}", column="--reason")
    with app.sessions.begin() as s:
        pupil, staff = _pupil(s, upn), _staff(s, by)
        slots = [[d.isoformat(), sess] for d in school_days(app, start, end) for sess in sessions]
        data = {"reason": reason, "code": reasons[reason], "sessions": slots}
        is_head = staff is not None and HEADTEACHER in staff.roles
        case = _open(app, s, "authorisation", pupil, data, {"by_headteacher": is_head}, by, at)
        return case


def record_evidence(app: App, upn: str, note: str, by: str | None, at: dt.datetime) -> Case:
    """ABS-2: medical evidence received for the pupil's open illness case."""
    from casework.engine import Env

    with app.sessions.begin() as s:
        pupil = _pupil(s, upn)
        _staff(s, by)
        case = s.scalar(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == "illness",
                                           Case.closed_at.is_(None)))
        if case is None:
            raise InputError(f"{pupil.name} ({upn}) has no open request for medical evidence")
        if not Env(s, app, now=at).fire(case, "evidence", {"note": note}, staff=by):
            raise InputError(f"the illness case {case.id} is {case.state}; evidence can no longer be recorded")
        return case


def request(app: App, kind: str, upn: str, start: dt.date, end: dt.date, reason: str, requested_on: dt.date,
            by: str | None, at: dt.datetime) -> Case:
    """ABS-4 (kind religious) and ABS-7 (kind leave): a request in advance, for the headteacher to decide."""
    if kind not in ("religious", "leave"):
        raise InputError(f"unknown request kind {kind!r}")
    if not reason.strip():
        raise InputError("say what the request is for (--reason)", column="--reason")
    with app.sessions.begin() as s:
        pupil = _pupil(s, upn)
        _staff(s, by)
        days = school_days(app, start, end, "--from")
        notice = app.calendar.school_days_between(requested_on, days[0]) - (0 if app.calendar.is_school_day(
            days[0]) else 0)
        data = {"kind": kind, "reason": reason, "days": [d.isoformat() for d in days],
                "requested_on": requested_on.isoformat(), "notice_school_days": notice}
        return _open(app, s, "absence_request", pupil, data, {}, by, at)
