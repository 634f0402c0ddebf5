"""Starting attendance-lead casework by the attendance lead's decision (CW-1)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, Pupil, Staff

LEAD_ROLE = "attendance_lead"  # CW-1 names the attendance lead


def start(app: App, upn: str, why: str, by: str, at: dt.datetime) -> Case:
    from casework.engine import Env

    with app.sessions.begin() as s:
        pupil = s.scalar(select(Pupil).where(Pupil.upn == upn))
        if pupil is None:
            raise InputError(f"no pupil with UPN {upn!r}")
        staff = s.scalar(select(Staff).where(Staff.staff_id == by))
        if staff is None:
            raise InputError(f"no staff member with id {by!r}", column="--by")
        if LEAD_ROLE not in staff.roles:
            raise Refused(f"{by} is not the attendance lead; only the attendance lead starts casework (CW-1)")
        if s.scalar(select(Case.id).where(Case.pupil_id == pupil.id, Case.workflow == "lead_casework",
                                          Case.closed_at.is_(None))):
            raise InputError(f"{pupil.name} ({upn}) already has open attendance lead casework")
        case = Env(s, app, now=at).open_case("lead_casework", pupil.id, f"{pupil.id}:lead:{at.date().isoformat()}",
                                             {}, {"why": why}, staff=by)
        if case is None:
            raise InputError(f"casework for {upn} was already started today")
        return case
