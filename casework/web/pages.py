"""The HTML pages: plain forms that work without JavaScript. Handlers translate HTTP to casework calls
(through views, pupils, meetings, dashboard) and back; they hold no rules of their own."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from casework import chronology
from casework.errors import InputError
from casework.web import charts, dashboard, meetings, pupils, views
from casework.web.absence import parse_day, record_reason
from casework.web.access import ABSENCE_REASONS
from casework.web.guard import form_of, viewer_of, web_of
from casework.web.render import page, redirect

router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Upn = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,13}$")]


def _text(request: Request, name: str, limit: int = 2000) -> str:
    value = str(form_of(request).get(name) or "").strip()
    if "\x00" in value or len(value) > limit:
        raise InputError(f"{name}: at most {limit} characters, no NUL", column=name)
    return value


@router.get("/")
def inbox(request: Request, role: str = "", pupil: str = "", kind: str = "", overdue: str = "") -> Response:
    web, viewer = web_of(request), viewer_of(request)
    f = views.InboxFilter(role=role or None, pupil=pupil.strip().upper()[:13] or None, kind=kind[:40] or None,
                          overdue_only=bool(overdue))
    with web.app.sessions() as s:
        sections = views.inbox(s, web, viewer, f)
    kinds = sorted({t["kind"] for rows in sections.values() for t in rows}
                   | {k for k, spec in web.app.config.tasks.items() if spec.role in viewer.roles})
    return page(request, "inbox.html.j2", {"sections": sections, "filter": f, "kinds": kinds})


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: Id) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        detail = views.task_detail(s, web, viewer, request, task_id)
    return page(request, "task.html.j2", detail)


@router.post("/tasks/{task_id}/complete")
def task_complete(request: Request, task_id: Id) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    views.complete(web, viewer, request, task_id, _text(request, "outcome", 40), _text(request, "reason", 60),
                   _text(request, "note"))
    return redirect(f"/?notice=completed&task={task_id}")


@router.post("/tasks/{task_id}/claim")
def task_claim(request: Request, task_id: Id) -> Response:
    views.claim(web_of(request), viewer_of(request), request, task_id)
    return redirect(f"/tasks/{task_id}?notice=claimed")


@router.post("/tasks/{task_id}/reassign")
def task_reassign(request: Request, task_id: Id) -> Response:
    views.reassign(web_of(request), viewer_of(request), request, task_id, _text(request, "to", 40),
                   _text(request, "reason", 200))
    return redirect(f"/tasks/{task_id}?notice=reassigned")


@router.get("/pupils")
def pupils_page(request: Request, q: str = "") -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        rows = pupils.pupils_list(s, web, viewer, q[:60] or None)
    return page(request, "pupils.html.j2", {"pupils": rows, "q": q[:60]})


@router.get("/pupils/{upn}")
def pupil_page(request: Request, upn: Upn, category: str = "") -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        data = pupils.pupil_page(s, web, viewer, request, upn, category[:30] or None)
    data["weekly_svg"] = charts.weekly_attendance(data["weeks"], web.app.config)
    year = [d for d in web.app.calendar.days if d <= web.today()] or web.app.calendar.days[:1]
    data["heatmap_svg"] = charts.marks_heatmap(data["days"], year)
    data["reasons"] = list(web.app.config.policy.absence.reasons)
    data["may_record_reason"] = viewer.has(*ABSENCE_REASONS)
    data["today"] = web.today().isoformat()
    return page(request, "pupil.html.j2", data)


@router.post("/pupils/{upn}/absence-reason")
def absence_reason(request: Request, upn: Upn) -> Response:
    web, viewer, form = web_of(request), viewer_of(request), form_of(request)
    start = parse_day(_text(request, "from", 10), "from")
    end = parse_day(_text(request, "to", 10) or start.isoformat(), "to")
    sessions = [s for s in ("AM", "PM") if s in form.getlist("session")] or ["AM", "PM"]
    record_reason(web, viewer, request, upn, start, end, sessions, _text(request, "reason", 60))
    return redirect(f"/pupils/{upn.upper()}?notice=reason")


@router.post("/pupils/{upn}/penalty-payment")
def penalty_payment(request: Request, upn: Upn) -> Response:
    """PN-3: a payment; the amount must be the one due on the day it was paid."""
    from casework.web.penalties import record_payment

    try:
        notice, amount = int(_text(request, "notice", 12)), int(_text(request, "amount", 6))
    except ValueError:
        raise InputError("notice and amount are whole numbers", column="amount") from None
    record_payment(web_of(request), viewer_of(request), request, upn, notice, amount,
                   parse_day(_text(request, "paid_on", 10), "paid_on"))
    return redirect(f"/pupils/{upn.upper()}?notice=payment")


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: Id) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        data = pupils.case_page(s, web, viewer, request, case_id)
    return page(request, "case.html.j2", data)


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    web = web_of(request)
    with web.app.sessions() as s:
        data = dashboard.dashboard(s, web)
    data["chart"] = charts.bands_by_year(data["band_counts"], dashboard.BAND_ORDER)
    return page(request, "dashboard.html.j2", data)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/radar.csv")
def radar_csv(request: Request) -> Response:
    return _radar(request, ".csv", "text/csv; charset=utf-8")


@router.get("/radar.xlsx")
def radar_xlsx(request: Request) -> Response:
    return _radar(request, ".xlsx", XLSX)


def _radar(request: Request, suffix: str, media_type: str) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        body = dashboard.radar_file(s, web, viewer, suffix)
        chronology.audit(s, at=web.now(), staff=viewer.staff_id, action="radar", pupil_id=None,
                         detail=f"{suffix[1:]}: {viewer.scope.describe()}")
        s.commit()
    name = f"radar-{web.today():%Y-%m-%d}{suffix}"
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/meetings")
def meetings_page(request: Request) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        data = meetings.meetings_list(s, web, viewer)
    default = web.app.calendar.local(web.now() + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    return page(request, "meetings.html.j2", {**data, "default_at": f"{default:%Y-%m-%dT%H:%M}"})


def _attendees(request: Request) -> list[str]:
    return [a.strip() for a in _text(request, "attendees", 500).split(",") if a.strip()]


@router.post("/meetings")
def meeting_arrange(request: Request) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    meetings.arrange(web, viewer, request, upn=_text(request, "pupil", 13).upper(), meeting_id=None,
                     when=meetings.parse_when(web, _text(request, "at", 40)), attendees=_attendees(request),
                     purpose=_text(request, "purpose", 200) or None)
    return redirect("/meetings?notice=arranged")


@router.post("/meetings/{meeting_id}/arrange")
def meeting_rearrange(request: Request, meeting_id: Id) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    meetings.arrange(web, viewer, request, upn=None, meeting_id=meeting_id,
                     when=meetings.parse_when(web, _text(request, "at", 40)), attendees=_attendees(request),
                     purpose=_text(request, "purpose", 200) or None)
    return redirect("/meetings?notice=arranged")


@router.post("/meetings/{meeting_id}/record")
def meeting_record(request: Request, meeting_id: Id) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    meetings.record(web, viewer, request, meeting_id, _text(request, "outcome", 40), _text(request, "note"))
    return redirect("/meetings?notice=recorded")
