"""Every workflow, built once (one `transitions` machine each)."""
from __future__ import annotations

from functools import cache

from workflows.base import Workflow


@cache
def all_workflows() -> dict[str, Workflow]:
    from workflows.absence_requests import AbsenceRequest
    from workflows.authorisation import Authorisation
    from workflows.escalation import Escalation
    from workflows.first_day import FirstDay
    from workflows.illness import Illness
    from workflows.lead_casework import LeadCasework
    from workflows.meetings import Meeting
    from workflows.missing_education import MissingEducation
    from workflows.ongoing import Ongoing
    from workflows.penalty_notice import PenaltyNoticeWorkflow
    from workflows.punctuality import Punctuality
    from workflows.recognition import Recognition
    from workflows.suspension import Suspension

    return {wf.name: wf for wf in (FirstDay(), Escalation(), Meeting(), Ongoing(), Punctuality(), Recognition(),
                                   LeadCasework(), MissingEducation(), Authorisation(), Illness(), AbsenceRequest(),
                                   Suspension(), PenaltyNoticeWorkflow())}


def get(name: str) -> Workflow:
    return all_workflows()[name]


def outcomes_for(kind: str) -> tuple[str, ...]:
    """The outcomes staff may record for a task kind; kinds no workflow reacts to take 'done'."""
    for wf in all_workflows().values():
        if kind in wf.outcomes:
            return wf.outcomes[kind]
    return ("done",)


def needs_reason(kind: str, outcome: str) -> bool:
    return any(f"{kind}.{outcome}" in getattr(wf, "needs_reason", ()) for wf in all_workflows().values())
