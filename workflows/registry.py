"""Every workflow, built once (one `transitions` machine each).

`all_workflows()` are the workflows of ../shared/POLICY.md (The Heys School's rules, every config runs them);
`optional_workflows()` are those a config switches on (the 2024 national framework's, rule ids NAT-..., see
policies/national-2024.md); `active_workflows(config)` is what the engine runs for a config.
"""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from workflows.base import Workflow

if TYPE_CHECKING:
    from casework.config import Config


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


@cache
def optional_workflows() -> dict[str, Workflow]:
    from workflows.la_return import LaReturn
    from workflows.no_reason_code import NoReasonCode
    from workflows.penalty_notice_2024 import NationalPenaltyNotice

    return {wf.name: wf for wf in (NationalPenaltyNotice(), NoReasonCode(), LaReturn())}


def _switches(config: Config) -> tuple[bool, bool, bool]:
    p = config.policy
    return (p.penalty_notices.procedure == "notice_to_improve", p.first_day.no_reason_max_school_days is not None,
            p.la_returns is not None)


@cache
def _active(switches: tuple[bool, bool, bool]) -> dict[str, Workflow]:
    national_pn, no_reason, la = switches
    out = dict(all_workflows())
    opt = optional_workflows()
    if national_pn:  # NAT-PN-1..4 replace PN-1..4
        del out["penalty_notice"]
        out["penalty_notice_2024"] = opt["penalty_notice_2024"]
    if no_reason:
        out["no_reason_code"] = opt["no_reason_code"]
    if la:
        out["la_return"] = opt["la_return"]
    return out


def active_workflows(config: Config) -> dict[str, Workflow]:
    """The workflows the engine runs for this config (for config.yaml: exactly all_workflows())."""
    return _active(_switches(config))


def get(name: str) -> Workflow:
    wf = all_workflows().get(name) or optional_workflows().get(name)
    if wf is None:
        raise KeyError(name)
    return wf


def _every() -> list[Workflow]:
    return [*all_workflows().values(), *optional_workflows().values()]


def outcomes_for(kind: str) -> tuple[str, ...]:
    """The outcomes staff may record for a task kind; kinds no workflow reacts to take 'done'."""
    for wf in _every():
        if kind in wf.outcomes:
            return wf.outcomes[kind]
    return ("done",)


def needs_reason(kind: str, outcome: str) -> bool:
    return any(f"{kind}.{outcome}" in getattr(wf, "needs_reason", ()) for wf in _every())
