"""The guard every route goes through: who is asking (cookie or bearer token), CSRF, the access matrix.

It runs as a dependency of both routers, before a handler sees the request. A route missing from the
matrix is refused (fail closed). Refusals of signed-in staff are audited; the handlers then check scope on
the pupil, task, case or meeting they were asked about (`pupil_in_scope`), which is audited the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from casework.chronology import audit
from casework.models import Pupil, Staff
from casework.web import auth
from casework.web.access import ACCESS, PUBLIC, Scope, allowed, scope_of
from casework.web.settings import Web

SESSION_COOKIE = "casework_session"
FORM_COOKIE = "casework_csrf"  # double-submit token for forms shown before signing in
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Viewer:
    id: int
    staff_id: str
    name: str
    roles: tuple[str, ...]
    scope: Scope
    token: str
    via: str  # "cookie" or "bearer"

    @property
    def csrf(self) -> str:
        return auth.csrf_for(self.token)

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class NotSignedIn(Exception):
    def __init__(self, api: bool):
        self.api = api


class Denied(Exception):
    def __init__(self, message: str, status: int = 403):
        self.message, self.status = message, status
        super().__init__(message)


class NotFound(Exception):
    pass


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    return method, str(getattr(route, "path", request.url.path))


def _token(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


def _viewer(web: Web, token: str | None, via: str) -> Viewer | None:
    if not token or len(token) > 200:
        return None
    with web.app.sessions() as s:
        staff = auth.session_staff(s, token, web.now())
        if staff is None:
            return None
        return Viewer(id=staff.id, staff_id=staff.staff_id, name=staff.name, roles=tuple(staff.roles or ()),
                      scope=scope_of(staff, web.app.config), token=token, via=via)


def refuse(web: Web, viewer: Viewer | None, request: Request, message: str,
           pupil_id: int | None = None) -> Denied:
    """Audit a refused attempt (DAT-2) and return the exception to raise."""
    method, path = route_key(request)
    with web.app.sessions.begin() as s:
        audit(s, at=web.now(), staff=viewer.staff_id if viewer else None, action="refused", pupil_id=pupil_id,
              detail=f"{method} {request.url.path} ({path}): {message}"[:1000])
    return Denied(message)


async def guard(request: Request) -> None:
    web = web_of(request)
    key = route_key(request)
    roles = ACCESS.get(key)
    api = is_api(request)
    form = None if api or key[0] in SAFE else await request.form()
    request.state.form = form
    request.state.viewer = None
    if roles is None:  # fail closed: a route nobody listed
        raise await run_in_threadpool(refuse, web, None, request, "this route is not in the access matrix")
    if roles is PUBLIC:
        if form is not None and not auth.same(str(form.get(CSRF_FIELD) or ""), request.cookies.get(FORM_COOKIE)):
            raise Denied("this form has expired or did not come from this site: reload the page and try again")
        return
    token, via = _token(request)
    viewer = await run_in_threadpool(_viewer, web, token, via)
    if viewer is None:
        raise NotSignedIn(api)
    request.state.viewer = viewer
    if key[0] not in SAFE and via == "cookie":
        sent = request.headers.get(CSRF_HEADER) if api else str(form.get(CSRF_FIELD) or "") if form else None
        if not auth.same(sent, viewer.csrf):
            raise await run_in_threadpool(refuse, web, viewer, request, "missing or wrong CSRF token")
    if not allowed(roles, list(viewer.roles)):
        raise await run_in_threadpool(
            refuse, web, viewer, request, f"{viewer.staff_id} ({', '.join(viewer.roles) or 'no role'}) may not "
            f"use {key[0]} {key[1]}")


def viewer_of(request: Request) -> Viewer:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:  # only public routes run without one, and they never ask
        raise NotSignedIn(is_api(request))
    return viewer


def form_of(request: Request) -> Any:
    return getattr(request.state, "form", None) or {}


# --- scope checks on the thing asked about ---------------------------------------------------------
def pupil_in_scope(s: Any, web: Web, viewer: Viewer, request: Request, *, upn: str | None = None,
                   pupil_id: int | None = None) -> Pupil:
    """The pupil, if the viewer's scope covers them; else an audited refusal (403)."""
    if upn is not None:
        pupil = s.scalar(select(Pupil).where(Pupil.upn == upn.strip().upper()))
    else:
        pupil = s.get(Pupil, pupil_id) if pupil_id is not None else None
    if pupil is None:
        raise NotFound(f"no pupil with UPN {upn}" if upn else "no such pupil")
    if not viewer.scope.sees(pupil):
        raise refuse(web, viewer, request, f"{pupil.upn} (form {pupil.form}, year {pupil.year_group}) is outside "
                     f"{viewer.staff_id}'s scope ({viewer.scope.describe()})", pupil.id)
    return pupil


def staff_named(s: Any, staff_id: str) -> Staff | None:
    return s.scalar(select(Staff).where(Staff.staff_id == staff_id))
