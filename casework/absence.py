"""Absence decisions from the command line or the web (ABS-1 to ABS-7): the logic, one transaction each."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from casework.context import App
from casework.errors import InputError
from casework.models import Case, Mark, Pupil, Staff

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
        _absent_sessions_only(app, s, pupil, slots, reason)
        data = {"reason": reason, "code": reasons[reason], "sessions": slots}
        is_head = staff is not None and HEADTEACHER in staff.roles
        case = _open(app, s, "authorisation", pupil, data, {"by_headteacher": is_head}, by, at)
        return case


def _absent_sessions_only(app: App, s, pupil: Pupil, slots: list[list[str]], reason: str) -> None:  # type: ignore[no-untyped-def]
    """A reason explains an absence: a session the pupil attended (or was not expected at) keeps its mark,
    except for REG-4 (present on site but truanting from lessons) and REG-2's U (arrived after the register
    closed): config policy.absence.reasons_on_attended_sessions. A session with no mark yet (a reason given in
    advance) is fine."""
    codes = app.config.policy.codes
    if reason in app.config.policy.absence.reasons_on_attended_sessions:
        return
    days = sorted({dt.date.fromisoformat(d) for d, _ in slots})
    marks = {(m.date.isoformat(), m.session): m.code for m in s.scalars(select(Mark).where(
        Mark.pupil_id == pupil.id, Mark.date >= days[0], Mark.date <= days[-1]))}
    for day, sess in slots:
        current = marks.get((day, sess))
        if current is not None and codes.table[current].category not in ("authorised", "unauthorised"):
            raise InputError(f"{pupil.name} ({pupil.upn}) is marked {current!r} "
                             f"({codes.table[current].description.lower()}) on {day} {sess}: a reason for absence "
                             "can only be recorded for a session the pupil missed (give --date/--session for the "
                             "absent sessions only)", column="--date")


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
