"""The JSON API: the same operations as the pages, described by /api/openapi.json.

Sign in with POST /api/session and send the token as `Authorization: Bearer ...` (a browser session
cookie works too, with the X-CSRF-Token header on changes). Errors: 400 bad input, 401 not signed in,
403 refused (audited), 404 not found, 501 not built yet; the body is {"detail": "..."}.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, Security
from fastapi.security import HTTPBearer

from casework.web import auth, dashboard, meetings, pupils, views
from casework.web.absence import record_reason
from casework.web.guard import Denied, viewer_of, web_of
from casework.web.schemas import (
    AbsenceReason,
    Arrange,
    Complete,
    Done,
    Id,
    Me,
    PenaltyPayment,
    Rearrange,
    Reassign,
    Record,
    SessionOut,
    SignIn,
    TaskOut,
    Upn,
)

bearer = HTTPBearer(auto_error=False, description="the token from POST /api/session")
ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": d} for c, d in ((400, "bad input"), (401, "not signed in"), (403, "refused (audited)"),
                                       (404, "not found"))}
public = APIRouter(prefix="/api", tags=["session"], responses=ERRORS)
router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Security(bearer)])

# --- session ---------------------------------------------------------------------------------------
@public.post("/session", response_model=SessionOut, responses={401: {"description": "wrong id or password"}})
def sign_in(request: Request, body: SignIn) -> SessionOut:
    web = web_of(request)
    try:
        token, staff = auth.sign_in(web.app, body.staff_id, body.password, web.settings, web.now())
    except auth.SignInFailed as exc:
        raise Denied(str(exc), 401) from None
    return SessionOut(token=token, staff_id=staff.staff_id, name=staff.name, roles=list(staff.roles))


@router.delete("/session", status_code=204, tags=["session"])
def sign_out(request: Request) -> Response:
    auth.sign_out(web_of(request).app, viewer_of(request).token, web_of(request).now())
    return Response(status_code=204)


@router.get("/me", response_model=Me, tags=["session"])
def me(request: Request) -> Me:
    v = viewer_of(request)
    return Me(staff_id=v.staff_id, name=v.name, roles=list(v.roles), scope=v.scope.describe())


# --- tasks -----------------------------------------------------------------------------------------
@router.get("/tasks", response_model=list[TaskOut], tags=["tasks"])
def list_tasks(request: Request, status: Literal["open", "done", "cancelled", "all"] = "open",
               role: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
               pupil: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,13}$")] = None) -> list[dict[str, Any]]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return views.visible_tasks(s, web, viewer, status=status, role=role, upn=pupil.upper() if pupil else None)


@router.get("/tasks/{task_id}", tags=["tasks"])
def get_task(request: Request, task_id: Id) -> dict[str, Any]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        detail = views.task_detail(s, web, viewer, request, task_id)
    return {k: v for k, v in detail.items() if k != "staff"}


@router.post("/tasks/{task_id}/complete", response_model=Done, tags=["tasks"])
def complete_task(request: Request, task_id: Id, body: Complete) -> Done:
    t = views.complete(web_of(request), viewer_of(request), request, task_id, body.outcome, body.reason, body.note)
    return Done(id=t.id, state=t.status)


@router.post("/tasks/{task_id}/claim", response_model=Done, tags=["tasks"])
def claim_task(request: Request, task_id: Id) -> Done:
    t = views.claim(web_of(request), viewer_of(request), request, task_id)
    return Done(id=t.id, state=t.status)


@router.post("/tasks/{task_id}/reassign", response_model=Done, tags=["tasks"])
def reassign_task(request: Request, task_id: Id, body: Reassign) -> Done:
    t = views.reassign(web_of(request), viewer_of(request), request, task_id, body.to, body.reason)
    return Done(id=t.id, state=t.status)


# --- pupils and cases (every read audited) -------------------------------------------------------------
@router.get("/pupils", tags=["pupils"])
def list_pupils(request: Request, q: Annotated[str | None, Query(max_length=60, pattern=r"^[^\x00]*$")] = None
                ) -> list[dict[str, Any]]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return pupils.pupils_list(s, web, viewer, q)


@router.get("/pupils/{upn}", tags=["pupils"])
def get_pupil(request: Request, upn: Upn) -> dict[str, Any]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return pupils.pupil_json(s, web, viewer, request, upn)


@router.get("/pupils/{upn}/chronology", tags=["pupils"])
def get_chronology(request: Request, upn: Upn,
                   category: Annotated[str | None, Query(pattern=r"^[a-z_]{1,30}$")] = None) -> list[dict[str, Any]]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return pupils.chronology_json(s, web, viewer, request, upn, category)


@router.post("/pupils/{upn}/absence-reason", response_model=Done, tags=["pupils"])
def absence_reason(request: Request, upn: Upn, body: AbsenceReason) -> Done:
    case = record_reason(web_of(request), viewer_of(request), request, upn, body.start, body.end or body.start,
                         list(body.sessions) or ["AM", "PM"], body.reason)
    return Done(id=case.id, state=case.state)


@router.post("/pupils/{upn}/penalty-payment", response_model=Done, tags=["pupils"])
def penalty_payment(request: Request, upn: Upn, body: PenaltyPayment) -> Done:
    """PN-3: a payment; the amount must be the one due on the day it was paid (422 says which)."""
    from casework.web.penalties import record_payment

    notice = record_payment(web_of(request), viewer_of(request), request, upn, body.notice, body.amount,
                            body.paid_on)
    return Done(id=notice.id, state=notice.status)


@router.get("/cases/{case_id}", tags=["pupils"])
def get_case(request: Request, case_id: Id) -> dict[str, Any]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return pupils.case_page(s, web, viewer, request, case_id, action="view_case:api")


@router.get("/dashboard", tags=["leaders"])
def get_dashboard(request: Request) -> dict[str, Any]:
    web = web_of(request)
    with web.app.sessions() as s:
        data = dashboard.dashboard(s, web)
    data.pop("band_counts")
    return data


# --- meetings ----------------------------------------------------------------------------------------
@router.get("/meetings", tags=["meetings"])
def list_meetings(request: Request) -> dict[str, list[dict[str, Any]]]:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        return meetings.meetings_list(s, web, viewer)


@router.post("/meetings", response_model=Done, tags=["meetings"])
def arrange_meeting(request: Request, body: Arrange) -> Done:
    web = web_of(request)
    case = meetings.arrange(web, viewer_of(request), request, upn=body.pupil.upper(), meeting_id=None,
                            when=meetings.checked_when(web, body.at), attendees=list(body.attendees),
                            purpose=body.purpose)
    return Done(id=case.id, state=case.state)


@router.post("/meetings/{meeting_id}/arrange", response_model=Done, tags=["meetings"])
def rearrange_meeting(request: Request, meeting_id: Id, body: Rearrange) -> Done:
    web = web_of(request)
    case = meetings.arrange(web, viewer_of(request), request, upn=None, meeting_id=meeting_id,
                            when=meetings.checked_when(web, body.at), attendees=list(body.attendees),
                            purpose=body.purpose)
    return Done(id=case.id, state=case.state)


@router.post("/meetings/{meeting_id}/record", response_model=Done, tags=["meetings"])
def record_meeting(request: Request, meeting_id: Id, body: Record) -> Done:
    case = meetings.record(web_of(request), viewer_of(request), request, meeting_id, body.outcome, body.note)
    return Done(id=case.id, state=case.state)
