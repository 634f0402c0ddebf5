"""Tasks and the inbox: complete, claim, reassign, reminders and expiries.

Completing a task is an event its case reacts to ("<kind>.<outcome>"), in the same transaction. Only the
headteacher may complete headteacher tasks (ABS-1: only a headteacher authorises); a refusal changes
nothing but is itself logged. Two people completing one task at once: the task row's version makes the
second fail cleanly.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, Pupil, Staff, StaffNotice, Task
from casework.uow import drop_task_timers, expiry, held_pupil, log
from workflows.registry import needs_reason, outcomes_for

if TYPE_CHECKING:
    from casework.engine import Env

AUTHORISING_ROLE = "headteacher"  # ABS-1: the role, not a number; the policy names it


def _task(s: Session, task_id: int) -> Task:
    task = s.get(Task, task_id)
    if task is None:
        raise InputError(f"no task with id {task_id}")
    return task


def _staff(s: Session, staff_id: str | None) -> Staff | None:
    if staff_id is None:
        return None
    staff = s.scalar(select(Staff).where(Staff.staff_id == staff_id))
    if staff is None:
        raise InputError(f"no staff member with id {staff_id!r} (import staff first)")
    return staff


def _may_act(task: Task, staff: Staff | None) -> str | None:
    """Why `staff` may not act on `task`, or None."""
    if task.role == AUTHORISING_ROLE and (staff is None or AUTHORISING_ROLE not in staff.roles):
        who = staff.staff_id if staff else "an unnamed user (no --by)"
        return (f"only the headteacher may decide task {task.id} ({task.kind}); {who} does not hold the "
                "headteacher role (ABS-1)")
    roles = {task.role, *(task.data or {}).get("escalated_from", [])}  # escalated: the first owner may still do it
    if staff is not None and not roles & set(staff.roles) and task.assignee_id != staff.id:
        return f"{staff.staff_id} does not hold the {task.role} role and is not assigned task {task.id}"
    return None


class _Refusal(Exception):
    def __init__(self, task: Task, message: str):
        self.pupil_id, self.task_id, self.rule, self.message = task.pupil_id, task.id, task.rule, message


def _refuse(app: App, r: _Refusal, staff: str | None, at: dt.datetime) -> Refused:
    """Log the refused attempt in its own transaction (the attempt itself changed nothing)."""
    with app.sessions.begin() as s:
        log(s, at=at, pupil_id=r.pupil_id, category="refused", staff=staff, ref=f"task:{r.task_id}",
            rule=r.rule, summary=f"Refused: {r.message}")
    return Refused(r.message)


def complete(app: App, task_id: int, outcome: str, *, reason: str | None = None, note: str | None = None,
             by: str | None = None, at: dt.datetime) -> Task:
    from casework.engine import Env

    try:
        with app.sessions.begin() as s:
            task = _task(s, task_id)
            if task.status != "open":
                raise InputError(f"task {task_id} is already {task.status}"
                                 + (f" ({task.outcome} by {task.completed_by})" if task.outcome else ""))
            allowed = outcomes_for(task.kind)
            if outcome not in allowed:
                raise InputError(f"outcome {outcome!r} is not one of {task.kind}'s: {', '.join(allowed)}")
            reasons = app.config.policy.absence.reasons
            if needs_reason(task.kind, outcome) and not reason:
                raise InputError(f"{task.kind} {outcome} needs --reason, one of: {', '.join(reasons)}")
            if reason and task.kind in _reason_kinds() and reason not in reasons:
                raise InputError(f"unknown reason {reason!r}; one of: {', '.join(reasons)}")
            staff = _staff(s, by)
            why_not = _may_act(task, staff)
            case = s.get(Case, task.case_id) if task.case_id else None
            event = {"reason": reason, "note": note, "task_data": dict(task.data or {}), "task_outcome": outcome}
            if not why_not and case is not None and case.closed_at is None:
                why_not = Env(s, app, now=at).refusal(case, f"{task.kind}.{outcome}", event, staff=by)
            if why_not:
                raise _Refusal(task, why_not)
            task.status, task.outcome, task.reason, task.note = "done", outcome, reason, note
            task.completed_by, task.completed_at = by, at
            drop_task_timers(s, task.id)
            if staff is not None and task.assignee_id is None:
                task.assignee_id = staff.id
            log(s, at=at, pupil_id=task.pupil_id, category="task", staff=by, case=case, rule=task.rule,
                ref=f"task:{task.id}", summary=f"Task {task.kind} completed: {outcome}"
                + (f" (reason: {reason})" if reason else "") + (f" - {note}" if note else ""))
            if case is not None and case.closed_at is None:
                Env(s, app, now=at).fire(case, f"{task.kind}.{outcome}", event, staff=by)
            return task
    except _Refusal as r:
        raise _refuse(app, r, by, at) from None
    except (StaleDataError, OperationalError) as exc:
        # PostgreSQL: the row's version moved under us. SQLite: another writer committed after we read, so
        # our snapshot may not write ("database is locked"). Either way nothing of ours was saved.
        if isinstance(exc, OperationalError) and "locked" not in str(exc):
            raise
        raise InputError(f"task {task_id} was changed by someone else at the same moment; nothing was saved, "
                         "look at it again") from None


def _reason_kinds() -> set[str]:
    return {"first_day_call", "second_call", "home_visit"}


def claim(app: App, task_id: int, by: str, at: dt.datetime) -> Task:
    with app.sessions.begin() as s:
        task, staff = _task(s, task_id), _staff(s, by)
        assert staff is not None
        if task.status != "open":
            raise InputError(f"task {task_id} is {task.status}")
        if task.role not in staff.roles:
            raise Refused(f"{by} does not hold the {task.role} role, so cannot claim task {task_id}")
        task.assignee_id = staff.id
        log(s, at=at, pupil_id=task.pupil_id, category="task", staff=by, ref=f"task:{task.id}",
            summary=f"Task {task.kind} claimed by {staff.name}")
        return task


def reassign(app: App, task_id: int, to: str, reason: str, by: str | None, at: dt.datetime) -> Task:
    if not reason.strip():
        raise InputError("a reassignment needs a reason (--reason)")
    with app.sessions.begin() as s:
        task, target = _task(s, task_id), _staff(s, to)
        assert target is not None
        _staff(s, by)
        if task.status != "open":
            raise InputError(f"task {task_id} is {task.status}")
        task.assignee_id = target.id
        log(s, at=at, pupil_id=task.pupil_id, category="task", staff=by, ref=f"task:{task.id}",
            summary=f"Task {task.kind} reassigned to {target.name}: {reason}")
        return task


# --- reminders and expiries (agenda items) ---------------------------------------------------------------
def remind(env: Env, task_id: int | None) -> None:
    """Overdue: the task stays open and its assignee (or role queue) is nudged once."""
    task = env.session.get(Task, task_id) if task_id else None
    if task is None or task.status != "open" or task.reminded_at is not None:
        return
    task.reminded_at = env.now
    staff = env.session.get(Staff, task.assignee_id) if task.assignee_id else None
    who = staff.name if staff else f"{env.config.roles[task.role].name} queue"
    env.session.add(StaffNotice(
        key=f"reminder:{task.id}", kind="reminder", task_id=task.id, staff_id=staff.id if staff else None,
        role=task.role, address=staff.email if staff else None, created_at=env.now, status="pending",
        text=f"Overdue: {task.title} (task {task.id}), due {env.calendar.local(task.due_at):%a %d %b %H:%M}"))
    log(env.session, at=env.now, pupil_id=task.pupil_id, category="reminder", ref=f"task:{task.id}",
        rule=task.rule, summary=f"Reminder: task {task.kind} is overdue; {who} reminded")


def expire(env: Env, task_id: int | None) -> None:
    """Past expiry: the task is escalated to the role the config names (it stays open)."""
    task = env.session.get(Task, task_id) if task_id else None
    if task is None or task.status != "open" or task.escalated_at is not None:
        return
    _, target = expiry(env.config, task.kind, task.role)
    if target is None:
        return
    pupil = held_pupil(env.session, task.pupil_id)
    assert pupil is not None
    old = task.role
    assignee = env.uow.assignee_for(target, pupil)
    task.role, task.assignee_id, task.escalated_at = target, assignee.id if assignee else None, env.now
    task.data = {**(task.data or {}), "escalated_from": [*(task.data or {}).get("escalated_from", []), old]}
    env.session.add(StaffNotice(
        key=f"escalation:{task.id}", kind="escalation", task_id=task.id, staff_id=assignee.id if assignee else None,
        role=target, address=assignee.email if assignee else None, created_at=env.now, status="pending",
        text=f"Escalated to you: {task.title} (task {task.id}) was not done by {old} in time"))
    log(env.session, at=env.now, pupil_id=task.pupil_id, category="escalation", ref=f"task:{task.id}",
        rule=task.rule, summary=f"Task {task.kind} not done in time: escalated from {old} to {target}")


# --- the inbox ------------------------------------------------------------------------------------------
def inbox(s: Session, *, role: str | None = None, upn: str | None = None, status: str = "open",
          assignee: str | None = None, completed_by: str | None = None, kind: str | None = None,
          limit: int | None = None, newest_first: bool = False) -> list[tuple[Task, Pupil, Staff | None]]:
    """Overdue first (earliest due first), then the rest; filtered by role, pupil, status, assignee, who
    completed it and kind. `newest_first`: the most recently completed first (a history, with `limit`)."""
    q = (select(Task, Pupil, Staff).join(Pupil, Pupil.id == Task.pupil_id)
         .outerjoin(Staff, Staff.id == Task.assignee_id))
    if status != "all":
        q = q.where(Task.status == status)
    if role:
        q = q.where(Task.role == role)
    if upn:
        q = q.where(Pupil.upn == upn)
    if assignee:
        q = q.where(Staff.staff_id == assignee)
    if completed_by:
        q = q.where(Task.completed_by == completed_by)
    if kind:
        q = q.where(Task.kind == kind)
    if newest_first:
        q = q.order_by(Task.completed_at.desc(), Task.id.desc())
    else:
        q = q.order_by(sql_case((Task.status == "open", 0), else_=1), Task.due_at, Task.id)
    if limit:
        q = q.limit(limit)
    return [(t, p, st) for t, p, st in s.execute(q)]


def task_json(task: Task, pupil: Pupil, staff: Staff | None, tz: Any) -> dict[str, Any]:
    """The CONTRACT's task shape."""
    return {"id": task.id, "kind": task.kind, "title": task.title, "pupil": pupil.upn, "pupil_name": pupil.name,
            "role": task.role, "assignee": staff.staff_id if staff else None,
            "due": task.due_at.astimezone(tz).isoformat(), "status": task.status, "outcome": task.outcome,
            "case": task.case_id, "created": task.created_at.astimezone(tz).isoformat(), "rule": task.rule,
            "reason": task.reason, "note": task.note, "completed_by": task.completed_by}
