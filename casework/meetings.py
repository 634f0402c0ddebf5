"""Arranging and recording parent meetings (MTG): the commands' logic, one transaction each."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from casework.context import App
from casework.errors import InputError
from casework.models import Case, Pupil, Staff, Task
from casework.uow import drop_task_timers, log

OUTCOMES = ("held", "cancelled_by_parent", "no_show")
ASKED_FOR_BY = ("parent_meeting", "cw_meeting")  # tasks that an arranged meeting completes


def _pupil(s, upn: str) -> Pupil:  # type: ignore[no-untyped-def]
    pupil = s.scalar(select(Pupil).where(Pupil.upn == upn))
    if pupil is None:
        raise InputError(f"no pupil with UPN {upn!r}", column="--pupil")
    return pupil


def _check_staff(s, by: str | None) -> None:  # type: ignore[no-untyped-def]
    if by is not None and s.scalar(select(Staff.id).where(Staff.staff_id == by)) is None:
        raise InputError(f"no staff member with id {by!r}", column="--by")


def arrange(app: App, *, upn: str | None, when: dt.datetime, attendees: list[str], purpose: str | None,
            by: str | None, now: dt.datetime, meeting_id: int | None = None) -> Case:
    """A new meeting for a pupil, or (with meeting_id) a new date for one being rearranged (MTG-2)."""
    from casework.engine import Env

    event = {"at": when.isoformat(), "at_local": app.calendar.local(when).strftime("%A %d %B %Y at %H:%M"),
             "attendees": attendees, "purpose": purpose or ""}
    with app.sessions.begin() as s:
        _check_staff(s, by)
        env = Env(s, app, now=now)
        if meeting_id is not None:
            case = s.get(Case, meeting_id)
            if case is None or case.workflow != "meeting":
                raise InputError(f"no meeting with id {meeting_id}", column="--meeting")
            if case.state != "rearranging":
                raise InputError(f"meeting {meeting_id} is {case.state}; only a cancelled or missed meeting is "
                                 "rearranged (record its outcome first)", column="--meeting")
            env.fire(case, "arrange", event, staff=by)
            return case
        if upn is None:
            raise InputError("say which pupil (--pupil UPN) or which meeting to rearrange (--meeting ID)")
        pupil = _pupil(s, upn)
        n = (s.scalar(select(func.count()).select_from(Case).where(
            Case.workflow == "meeting", Case.pupil_id == pupil.id)) or 0) + 1
        case = env.open_case("meeting", pupil.id, f"{pupil.id}:{n}", {}, event, staff=by)
        assert case is not None
        for task in s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.status == "open",
                                                 Task.kind.in_(ASKED_FOR_BY))):
            task.status, task.outcome, task.completed_by, task.completed_at = "done", "arranged", by, now
            task.note = f"meeting {case.id} on {event['at_local']}"
            drop_task_timers(s, task.id)
            log(s, at=now, pupil_id=pupil.id, category="task", staff=by, ref=f"task:{task.id}", rule=task.rule,
                summary=f"Task {task.kind} completed: arranged (meeting {case.id})")
        return case


def record(app: App, meeting_id: int, outcome: str, *, note: str | None, by: str | None,
           at: dt.datetime) -> Case:
    from casework.engine import Env

    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}", column="--outcome")
    with app.sessions.begin() as s:
        _check_staff(s, by)
        case = s.get(Case, meeting_id)
        if case is None or case.workflow != "meeting":
            raise InputError(f"no meeting with id {meeting_id}")
        if case.state != "arranged":
            raise InputError(f"meeting {meeting_id} is {case.state}, not arranged; nothing recorded")
        Env(s, app, now=at).fire(case, f"record.{outcome}", {"note": note}, staff=by)
        return case
