"""Recording a penalty notice payment (PN-3) from the pupil page or the API: scope is checked here, the rule
(the amount due on the day it was paid) is casework.penalties.pay."""
from __future__ import annotations

import datetime as dt

from fastapi import Request

from casework import penalties
from casework.errors import InputError
from casework.models import PenaltyNotice
from casework.web.guard import Viewer, pupil_in_scope
from casework.web.settings import Web
from casework.web.views import act


def record_payment(web: Web, viewer: Viewer, request: Request, upn: str, notice_id: int, amount: int,
                   paid_on: dt.date) -> PenaltyNotice:
    with web.app.sessions() as s:
        pupil = pupil_in_scope(s, web, viewer, request, upn=upn)
        notice = s.get(PenaltyNotice, notice_id)
        if notice is None or notice.pupil_id != pupil.id:
            raise InputError(f"{pupil.name} has no penalty notice {notice_id}", column="notice")
    return act(web, viewer, request, pupil.id, lambda: penalties.pay(
        web.app, notice_id, amount, paid_on, viewer.staff_id, web.now()))
