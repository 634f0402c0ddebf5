"""The access matrix (DAT-2: access by role and scope), on SQLite and PostgreSQL.

Every route of the app must be listed in casework.web.access.ACCESS; each listed route is then called as
every role and signed out: a role the matrix allows gets through the guard (never 401/403, never a server
error), any other role gets 403, and signed out gets 401 (API) or the sign-in page (pages). GET routes are
called on real objects of a pupil in every role's scope, so they must answer 200. Changes are called on
objects that do not exist or with input that is refused, so nothing changes while the matrix runs.
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from starlette.routing import Route

from casework.context import App
from casework.models import AuditEntry
from casework.web.access import ACCESS, PUBLIC, ROLES
from tests.web_support import School, seed

MISSING = 2**31 - 2  # an id no row has: changes reach the handler and stop there (404)


def _walk(routes: Any) -> Any:
    """Every route, through included routers (FastAPI keeps them nested) and mounts."""
    for route in routes:
        inner = getattr(route, "original_router", None) or route
        if hasattr(inner, "routes") and not isinstance(inner, Route):
            yield from _walk(inner.routes)
        else:
            yield route


def _routes(school: School) -> set[tuple[str, str]]:
    out = set()
    for route in _walk(school.web.routes):
        assert isinstance(route, Route), f"not a plain route: {route!r}"
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method, route.path))
    return out


def _url(school: School, method: str, path: str) -> str:
    real = method == "GET"
    values = {"task_id": school.task_id if real else MISSING, "case_id": school.case_id,
              "meeting_id": school.meeting_id if real else MISSING, "letter_id": school.letter_id,
              "upn": school.pupil.upn}
    return path.format(**values)


def _body(path: str) -> dict[str, Any]:
    """Refused or harmless input, per route (only POSTs to routes without an id need one)."""
    if path == "/api/session":
        return {"json": {"staff_id": "nobody", "password": "wrong password"}}
    if path == "/api/meetings":
        return {"json": {"pupil": "X00000000000", "at": "2026-09-10T15:30:00"}}
    if path.endswith("/absence-reason"):
        return {"json": {"reason": "no_such_reason", "from": "2026-09-07"}} if path.startswith("/api") else {}
    if path.startswith("/api/") and path.endswith(("/complete", "/reassign", "/record", "/arrange")):
        return {"json": {"outcome": "held", "to": "S001", "reason": "x", "at": "2026-09-10T15:30:00"}}
    return {}


def _call(school: School, role: str | None, method: str, path: str) -> int:
    url = _url(school, method, path)
    if path.startswith("/api/"):
        client = school.client()
        headers = school.bearer(role) if role else {}
        if (method, path) == ("DELETE", "/api/session") and role:  # signing out: a session of its own
            headers = {"Authorization": f"Bearer {school.token(role + ':api-out')}"}
        return client.request(method, url, headers=headers, **_body(path)).status_code
    client = school.client(role if (method, path) != ("POST", "/sign-out") or not role else None)
    data: dict[str, str] = {}
    if method == "POST":
        if role and path == "/sign-out":
            client.cookies.set("casework_session", school.token(role + ":page-out"))
            data["csrf_token"] = school.csrf(role + ":page-out")
        elif role and ACCESS[(method, path)] is not PUBLIC:
            data["csrf_token"] = school.csrf(role)
        else:
            client.cookies.set("casework_csrf", "public-form-token")
            data["csrf_token"] = "public-form-token"
    return client.request(method, url, data=data or None).status_code


@pytest.fixture
def school(app: App) -> School:
    return seed(app)


def test_dat2_every_route_is_in_the_access_matrix_and_nothing_else(school: School) -> None:
    routes = _routes(school)
    unlisted = routes - set(ACCESS)
    assert not unlisted, f"routes nobody listed in casework.web.access.ACCESS: {sorted(unlisted)}"
    assert not set(ACCESS) - routes, f"matrix entries without a route: {sorted(set(ACCESS) - routes)}"


def test_dat2_access_matrix_every_route_for_every_role(school: School) -> None:
    failures = []
    for (method, path), allowed in sorted(ACCESS.items()):
        for role in [None, *sorted(ROLES)]:
            status = _call(school, role, method, path)
            if allowed is PUBLIC:
                ok = status != 403 and status < 500
            elif role is None:
                ok = status == (401 if path.startswith("/api/") else 303)
            elif role in allowed and method == "GET":
                ok = status == 200
            elif role in allowed:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == 403
            if not ok:
                failures.append(f"{method} {path} as {role or 'signed out'}: {status}")
    assert not failures, "\n".join(failures)
    with school.app.sessions() as s:  # every refusal was audited
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert len(refused) == sum(len(ROLES - allowed) for allowed in ACCESS.values() if allowed is not PUBLIC)


def test_dat2_a_route_missing_from_the_matrix_is_refused(school: School) -> None:
    @school.web.get("/not-listed")
    def not_listed() -> dict[str, str]:
        return {"ok": "no"}

    response = school.client("headteacher").get("/not-listed")
    assert response.status_code == 403


def test_dat2_form_tutor_sees_only_their_form(school: School) -> None:
    tutor = school.client("form_tutor")
    assert tutor.get(f"/pupils/{school.pupil.upn}").status_code == 200
    refused = tutor.get(f"/pupils/{school.other.upn}")
    assert refused.status_code == 403
    assert "outside" in refused.text and "form 7H" in refused.text
    api = school.client()
    assert api.get(f"/api/pupils/{school.other.upn}", headers=school.bearer("form_tutor")).status_code == 403
    listed = api.get("/api/pupils", headers=school.bearer("form_tutor")).json()
    assert [p["upn"] for p in listed] == [school.pupil.upn]
    with school.app.sessions() as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.pupil_id == school.other.id)).all()
    assert [a.action for a in audits] == ["refused", "refused"]
    assert all(a.staff == school.staff["form_tutor"] for a in audits)


def test_dat2_pastoral_manager_sees_their_year_groups_and_leaders_everyone(school: School) -> None:
    api = school.client()
    pm = {p["upn"] for p in api.get("/api/pupils", headers=school.bearer("pastoral_manager")).json()}
    assert pm == {school.pupil.upn}
    for role in ("attendance_lead", "safeguarding_lead", "senior_leader", "headteacher"):
        seen = {p["upn"] for p in api.get("/api/pupils", headers=school.bearer(role)).json()}
        assert seen == {school.pupil.upn, school.other.upn}, role
    assert api.get(f"/api/pupils/{school.other.upn}/chronology",
                   headers=school.bearer("pastoral_manager")).status_code == 403


def test_ong1_radar_download_has_the_rows_of_the_readers_scope(school: School) -> None:
    tutor = school.client("form_tutor").get("/radar.csv")
    assert tutor.status_code == 200 and tutor.headers["content-disposition"].startswith("attachment")
    assert school.pupil.upn in tutor.text and school.other.upn not in tutor.text
    lead = school.client("attendance_lead").get("/radar.csv").text
    assert school.pupil.upn in lead and school.other.upn in lead
    xlsx = school.client("attendance_lead").get("/radar.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # a zip: the xlsx container
