"""Moves live cases to their workflow's current version (states renamed or merged), logged per case."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Case
from casework.uow import log
from workflows.base import Workflow
from workflows.registry import all_workflows, optional_workflows


def migrate_live_cases(session: Session, now: dt.datetime, workflows: dict[str, Workflow] | None = None) -> int:
    moved = 0
    for name, wf in (workflows or {**all_workflows(), **optional_workflows()}).items():
        stale = session.scalars(select(Case).where(
            Case.workflow == name, Case.closed_at.is_(None), Case.workflow_version < wf.version))
        for case in stale:
            old_state, old_version = case.state, case.workflow_version
            case.state = wf.migrate(case.state, case.workflow_version)
            case.workflow_version = wf.version
            log(session, at=now, pupil_id=case.pupil_id, category="case", case=case,
                summary=f"{name} workflow upgraded v{old_version} -> v{wf.version}: state {old_state} -> "
                f"{case.state}")
            moved += 1
    return moved
