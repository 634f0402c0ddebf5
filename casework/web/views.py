"""What the inbox and task pages show, shared by the HTML pages and the JSON API.

The inbox is three lists, as in DESIGN.md: my tasks (assigned to me), my roles' queue (unassigned tasks
of my roles, to claim) and done (tasks I completed). Each comes from casework.tasks.inbox, overdue first,
narrowed to the viewer's scope. Actions call casework.tasks; a policy refusal is audited and becomes 403.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import tasks
from casework.errors import Refused
from casework.models import Pupil, Staff, Task
from casework.web.access import REASSIGN_ANY
from casework.web.guard import NotFound, Viewer, pupil_in_scope, refuse
from casework.web.settings import Web
from workflows.registry import needs_reason, outcomes_for

T = TypeVar("T")
DONE_SHOWN = 20


@dataclass(frozen=True)
class InboxFilter:
    role: str | None = None
    pupil: str | None = None  # UPN
    kind: str | None = None
    overdue_only: bool = False


def task_row(web: Web, task: Task, pupil: Pupil, staff: Staff | None) -> dict[str, Any]:
    row = tasks.task_json(task, pupil, staff, web.app.config.tz)
    row["overdue"] = task.status == "open" and task.due_at < web.now()
    row["due_local"] = f"{web.app.calendar.local(task.due_at):%a %d %b %H:%M}"
    row["form"], row["year_group"] = pupil.form, pupil.year_group
    return row


def _keep(web: Web, viewer: Viewer, f: InboxFilter, task: Task, pupil: Pupil) -> bool:
    return (viewer.scope.sees(pupil) and (f.kind is None or task.kind == f.kind)
            and (not f.overdue_only or (task.status == "open" and task.due_at < web.now())))


def inbox(s: Session, web: Web, viewer: Viewer, f: InboxFilter) -> dict[str, list[dict[str, Any]]]:
    roles = [r for r in viewer.roles if f.role is None or r == f.role]
    mine = [(t, p, st) for t, p, st in tasks.inbox(s, upn=f.pupil, assignee=viewer.staff_id)
            if f.role is None or t.role == f.role]
    queue = [(t, p, st) for r in roles for t, p, st in tasks.inbox(s, role=r, upn=f.pupil) if t.assignee_id is None]
    queue.sort(key=lambda row: (row[0].due_at, row[0].id))
    # the latest few, found in SQL: a history grows all year and only DONE_SHOWN are shown (over-fetched a
    # little for rows the scope or the overdue filter then drops)
    done = tasks.inbox(s, status="done", upn=f.pupil, completed_by=viewer.staff_id, kind=f.kind,
                       role=f.role, newest_first=True, limit=DONE_SHOWN * 2)
    out = {}
    for name, rows in (("mine", mine), ("queue", queue), ("done", done)):
        kept = [(t, p, st) for t, p, st in rows if _keep(web, viewer, f, t, p)]
        out[name] = [task_row(web, t, p, st) for t, p, st in (kept[:DONE_SHOWN] if name == "done" else kept)]
    return out


def visible_tasks(s: Session, web: Web, viewer: Viewer, *, status: str, role: str | None,
                  upn: str | None) -> list[dict[str, Any]]:
    """Every task of pupils in the viewer's scope (the API's list), overdue first."""
    return [task_row(web, t, p, st) for t, p, st in tasks.inbox(s, role=role, upn=upn, status=status)
            if viewer.scope.sees(p)]


def task_in_scope(s: Session, web: Web, viewer: Viewer, request: Request, task_id: int) -> tuple[Task, Pupil]:
    task = s.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task, pupil_in_scope(s, web, viewer, request, pupil_id=task.pupil_id)


def task_detail(s: Session, web: Web, viewer: Viewer, request: Request, task_id: int) -> dict[str, Any]:
    task, pupil = task_in_scope(s, web, viewer, request, task_id)
    staff = s.get(Staff, task.assignee_id) if task.assignee_id else None
    outcomes = outcomes_for(task.kind)
    return {
        "task": task_row(web, task, pupil, staff),
        "data": dict(task.data or {}),
        "outcomes": list(outcomes),
        "reason_for": [o for o in outcomes if needs_reason(task.kind, o)],
        # calls and visits take a reason id from config (casework.tasks checks it); others a free note
        "reason_field": any(needs_reason(task.kind, o) for o in outcomes) or task.kind in tasks._reason_kinds(),
        "reasons": list(web.app.config.policy.absence.reasons),
        "may_complete": task.status == "open" and (task.role in viewer.roles or task.assignee_id == viewer.id),
        "may_claim": task.status == "open" and task.assignee_id is None and task.role in viewer.roles,
        "may_reassign": task.status == "open" and may_reassign(viewer, task),
        "staff": [{"staff_id": sid, "name": name} for sid, name in
                  s.execute(select(Staff.staff_id, Staff.name).where(Staff.active.is_(True)).order_by(Staff.name))],
        "pupil": {"upn": pupil.upn, "name": pupil.name, "form": pupil.form, "year_group": pupil.year_group},
    }


def may_reassign(viewer: Viewer, task: Task) -> bool:
    return task.role in viewer.roles or task.assignee_id == viewer.id or viewer.has(*REASSIGN_ANY)


def act(web: Web, viewer: Viewer, request: Request, pupil_id: int, fn: Callable[[], T]) -> T:
    """Run an action of casework.tasks/meetings; the policy's refusals (ABS-1 and the like) are audited."""
    try:
        return fn()
    except Refused as exc:
        raise refuse(web, viewer, request, str(exc), pupil_id) from None


def complete(web: Web, viewer: Viewer, request: Request, task_id: int, outcome: str, reason: str | None,
             note: str | None) -> Task:
    with web.app.sessions() as s:
        task, pupil = task_in_scope(s, web, viewer, request, task_id)
    return act(web, viewer, request, pupil.id, lambda: tasks.complete(
        web.app, task_id, outcome, reason=reason or None, note=note or None, by=viewer.staff_id, at=web.now()))


def claim(web: Web, viewer: Viewer, request: Request, task_id: int) -> Task:
    with web.app.sessions() as s:
        _, pupil = task_in_scope(s, web, viewer, request, task_id)
    return act(web, viewer, request, pupil.id, lambda: tasks.claim(web.app, task_id, viewer.staff_id, web.now()))


def reassign(web: Web, viewer: Viewer, request: Request, task_id: int, to: str, reason: str) -> Task:
    with web.app.sessions() as s:
        task, pupil = task_in_scope(s, web, viewer, request, task_id)
        if not may_reassign(viewer, task):
            raise refuse(web, viewer, request, f"{viewer.staff_id} does not hold the {task.role} role, is not "
                         f"assigned task {task_id} and is not a senior leader", pupil.id)
    return act(web, viewer, request, pupil.id, lambda: tasks.reassign(
        web.app, task_id, to.strip(), reason, viewer.staff_id, web.now()))


def local_now(web: Web) -> dt.datetime:
    return web.app.calendar.local(web.now())
