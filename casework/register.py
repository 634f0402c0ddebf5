"""Deletion from the register and attempts to locate a missing pupil (CME-1): the commands' logic."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, Pupil, Staff
from casework.uow import deregister, log

AUTHORISING_ROLE = "headteacher"  # CME-1: deletion is the headteacher's decision


def _pupil(s, upn: str) -> Pupil:  # type: ignore[no-untyped-def]
    pupil = s.scalar(select(Pupil).where(Pupil.upn == upn))
    if pupil is None:
        raise InputError(f"no pupil with UPN {upn!r}")
    return pupil


def record_attempt(app: App, upn: str, by_whom: str, note: str, staff: str | None, at: dt.datetime) -> Case:
    """An attempt to locate the pupil, by the school or the local authority, on their open CME case."""
    from casework.engine import Env

    allowed = app.config.policy.missing_education.locate_attempts_by
    if by_whom not in allowed:
        raise InputError(f"--by-whom must be one of: {', '.join(allowed)}", column="--by-whom")
    if not note.strip():
        raise InputError("say what was tried (--note)", column="--note")
    with app.sessions.begin() as s:
        pupil = _pupil(s, upn)
        case = s.scalar(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == "missing_education",
                                           Case.closed_at.is_(None)))
        if case is None:
            raise InputError(f"{pupil.name} ({upn}) has no open children-missing-education case")
        Env(s, app, now=at).fire(case, "attempt", {"by": by_whom, "note": note}, staff=staff)
        return case


def delete(app: App, upn: str, ground: str, evidence: str, by: str | None, at: dt.datetime) -> int:
    """Delete a pupil on a ground other than missing education (transfer, death, ...): the headteacher only,
    with the evidence recorded. Missing education goes through the CME case, which checks the attempts."""
    grounds = app.config.policy.missing_education.grounds
    if ground not in grounds:
        raise InputError(f"unknown ground {ground!r}; one of: {', '.join(grounds)}", column="--ground")
    if ground == "missing_education":
        raise InputError("a pupil missing education is deleted through their CME case: complete its "
                         "delete_from_register task once the school and the local authority have tried to "
                         "locate them", column="--ground")
    if not evidence.strip():
        raise InputError("record the evidence for the ground (--evidence)", column="--evidence")
    with app.sessions.begin() as s:
        pupil = _pupil(s, upn)
        staff = s.scalar(select(Staff).where(Staff.staff_id == by)) if by else None
        if by and staff is None:
            raise InputError(f"no staff member with id {by!r}", column="--by")
        pupil_id = pupil.id
        refused = staff is None or AUTHORISING_ROLE not in staff.roles
        if not refused:
            if not pupil.on_roll:
                raise InputError(f"{pupil.name} ({upn}) was already deleted on {pupil.deleted_on}")
            return deregister(s, pupil, ground, evidence, by, at)
    message = f"only the headteacher may delete a pupil from the register; {by or 'nobody (no --by)'} is not"
    with app.sessions.begin() as s:
        log(s, at=at, pupil_id=pupil_id, category="refused", staff=by, rule="CME-1", summary=f"Refused: {message}")
    raise Refused(message)
