"""The agenda: every time-driven item is a Timer row with a unique key (see models.Timer).

Other modules put items on it through these functions; the engine loop (casework.engine) takes them off
in time order.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from casework.db import insert_new
from casework.models import MarkChange, Timer


def enqueue(session: Session, *, key: str, kind: str, due_at: dt.datetime, now: dt.datetime,
            case_id: int | None = None, task_id: int | None = None,
            payload: dict[str, Any] | None = None, fresh: bool = False) -> None:
    """Add an agenda item unless one with this key exists (then nothing changes), as one plain INSERT in the
    caller's transaction. `fresh`: the key names a row created in this transaction (a new task's reminder), so
    it cannot exist yet."""
    row = {"key": key, "kind": kind, "due_at": due_at, "case_id": case_id, "task_id": task_id,
           "payload": payload or {}, "status": "pending", "created_at": now}
    if fresh:
        session.execute(_TIMER_INSERT, row)
    else:
        insert_new(session, Timer, row)


_TIMER_INSERT = Timer.__table__.insert()


def enqueue_mark_change(session: Session, change: MarkChange) -> None:
    """A mark's code changed (ABS-1): the workflows react to it at the moment it was made.
    The change must be flushed (it needs its id)."""
    if change.id is None:
        session.flush()
    enqueue(session, key=f"mark_changed:{change.id}", kind="mark_changed", due_at=change.changed_at,
            now=change.changed_at, payload={"change_id": change.id, "pupil_id": change.pupil_id}, fresh=True)
