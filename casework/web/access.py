"""Who may use which route (the access matrix), and whose pupils a member of staff sees (scope).

Every route of the app is listed here by (method, path). The guard in casework.web.guard refuses any
route that is not listed, and tests/integration/test_web_access.py fails on one, so a new route cannot
be reachable by accident. Scope follows POLICY.md (DAT-2, "access to pupil data is by role and scope"):
a role with scope `all` sees everyone; `form` the staff member's forms; `year_group` their year groups.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from casework.config import Config
from casework.models import Pupil, Staff

ROLES = frozenset({"office", "form_tutor", "pastoral_manager", "head_of_key_stage", "attendance_lead", "rsi",
                   "senior_leader", "headteacher", "safeguarding_lead", "community_support", "governor_panel"})
PUBLIC = frozenset({"(public)"})  # no sign-in needed
EVERYONE = ROLES  # any signed-in member of staff; what they then see is limited by scope
# the leaders' dashboard: whole-school figures, no pupil names
LEADERS = frozenset({"attendance_lead", "senior_leader", "headteacher", "safeguarding_lead", "governor_panel"})
# MTG: parent meetings are arranged by pastoral staff, tutors, the attendance lead and senior staff
MEETINGS = frozenset({"form_tutor", "pastoral_manager", "head_of_key_stage", "attendance_lead", "rsi",
                      "senior_leader", "headteacher"})
# ABS-1: reasons are recorded by the office and the attendance lead (and the headteacher, who authorises)
ABSENCE_REASONS = frozenset({"office", "attendance_lead", "headteacher"})
# PN-3: payments are recorded by the office and the attendance lead
PENALTY_PAYMENTS = frozenset({"office", "attendance_lead"})
# reassigning someone else's task (besides its role and its assignee)
REASSIGN_ANY = frozenset({"attendance_lead", "senior_leader", "headteacher"})

ACCESS: dict[tuple[str, str], frozenset[str]] = {
    # sign-in
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("GET", "/set-password"): PUBLIC,
    ("POST", "/set-password"): PUBLIC,
    ("POST", "/sign-out"): EVERYONE,
    # pages
    ("GET", "/"): EVERYONE,
    ("GET", "/tasks/{task_id}"): EVERYONE,
    ("POST", "/tasks/{task_id}/complete"): EVERYONE,
    ("POST", "/tasks/{task_id}/claim"): EVERYONE,
    ("POST", "/tasks/{task_id}/reassign"): EVERYONE,
    ("GET", "/pupils"): EVERYONE,
    ("GET", "/pupils/{upn}"): EVERYONE,
    ("POST", "/pupils/{upn}/absence-reason"): ABSENCE_REASONS,
    ("POST", "/pupils/{upn}/penalty-payment"): PENALTY_PAYMENTS,
    ("GET", "/cases/{case_id}"): EVERYONE,
    ("GET", "/letters/{letter_id}.pdf"): EVERYONE,
    ("GET", "/dashboard"): LEADERS,
    ("GET", "/radar.csv"): EVERYONE,  # ONG-1: every reader gets the rows of their own scope
    ("GET", "/radar.xlsx"): EVERYONE,
    ("GET", "/meetings"): MEETINGS,
    ("POST", "/meetings"): MEETINGS,
    ("POST", "/meetings/{meeting_id}/arrange"): MEETINGS,
    ("POST", "/meetings/{meeting_id}/record"): MEETINGS,
    # the JSON API
    ("GET", "/api/openapi.json"): PUBLIC,
    ("POST", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/tasks"): EVERYONE,
    ("GET", "/api/tasks/{task_id}"): EVERYONE,
    ("POST", "/api/tasks/{task_id}/complete"): EVERYONE,
    ("POST", "/api/tasks/{task_id}/claim"): EVERYONE,
    ("POST", "/api/tasks/{task_id}/reassign"): EVERYONE,
    ("GET", "/api/pupils"): EVERYONE,
    ("GET", "/api/pupils/{upn}"): EVERYONE,
    ("GET", "/api/pupils/{upn}/chronology"): EVERYONE,
    ("POST", "/api/pupils/{upn}/absence-reason"): ABSENCE_REASONS,
    ("POST", "/api/pupils/{upn}/penalty-payment"): PENALTY_PAYMENTS,
    ("GET", "/api/cases/{case_id}"): EVERYONE,
    ("GET", "/api/dashboard"): LEADERS,
    ("GET", "/api/meetings"): MEETINGS,
    ("POST", "/api/meetings"): MEETINGS,
    ("POST", "/api/meetings/{meeting_id}/arrange"): MEETINGS,
    ("POST", "/api/meetings/{meeting_id}/record"): MEETINGS,
}


def allowed(roles: frozenset[str], staff_roles: list[Any]) -> bool:
    return roles is PUBLIC or bool(roles & set(staff_roles))


# --- scope -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    everyone: bool
    forms: frozenset[str]
    years: frozenset[int]

    def sees(self, pupil: Pupil) -> bool:
        return self.sees_place(pupil.form, pupil.year_group)

    def sees_place(self, form: str, year_group: int) -> bool:
        return self.everyone or form in self.forms or year_group in self.years

    def condition(self) -> ColumnElement[bool]:
        """The same test as SQL, for lists."""
        if self.everyone:
            return true()
        parts = []
        if self.forms:
            parts.append(Pupil.form.in_(sorted(self.forms)))
        if self.years:
            parts.append(Pupil.year_group.in_(sorted(self.years)))
        return or_(*parts) if parts else false()

    def describe(self) -> str:
        if self.everyone:
            return "all pupils"
        parts = ([f"form {', '.join(sorted(self.forms))}"] if self.forms else []) + (
            [f"year {', '.join(str(y) for y in sorted(self.years))}"] if self.years else [])
        return " and ".join(parts) or "no pupils"


def scope_of(staff: Staff, config: Config) -> Scope:
    """The union of what each of the staff member's roles lets them see."""
    kinds = {config.roles[r].scope for r in staff.roles if r in config.roles}
    years = set()
    for y in staff.year_groups or []:
        try:
            years.add(int(y))
        except (TypeError, ValueError):
            continue
    return Scope(everyone="all" in kinds,
                 forms=frozenset(str(f) for f in staff.forms or []) if "form" in kinds else frozenset(),
                 years=frozenset(years) if "year_group" in kinds else frozenset())
