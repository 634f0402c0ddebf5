"""Rendering pages: one Jinja environment over templates/web/, autoescaped, and what every page shows."""
from __future__ import annotations

import secrets
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from casework.config import resource_dir
from casework.web.access import LEADERS, MEETINGS
from casework.web.guard import FORM_COOKIE, Viewer, web_of

NOTICES = {
    "completed": "Task done.", "claimed": "Task claimed: it is in your tasks now.",
    "reassigned": "Task reassigned.", "arranged": "Meeting arranged.", "recorded": "Meeting outcome recorded.",
    "reason": "Reason recorded.", "password_set": "Password set: sign in with it now.",
    "signed_out": "Signed out.",
}


@cache
def templates() -> Jinja2Templates:
    # autoescape everywhere: the templates are .html.j2, which Jinja's extension test would not escape
    env = Environment(loader=FileSystemLoader(str(resource_dir("templates") / "web")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["svg"] = lambda text: Markup(text)  # our own matplotlib output, never user text
    env.filters["label"] = lambda text: str(text or "").replace("_", " ")
    return Jinja2Templates(env=env)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def page(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """A page; forms on it carry the CSRF token of the session (or, signed out, of the form cookie)."""
    web = web_of(request)
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    form_token = None if viewer else request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    ctx = {
        "viewer": viewer, "csrf": viewer.csrf if viewer else form_token,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "school": web.app.config.school.name, "leader": bool(viewer and viewer.has(*LEADERS)),
        "meetings_ok": bool(viewer and viewer.has(*MEETINGS)), "path": request.url.path,
        "roles": web.app.config.roles, **(context or {}),
    }
    response = templates().TemplateResponse(request, name, ctx, status_code=status)
    if form_token and request.cookies.get(FORM_COOKIE) != form_token:
        response.set_cookie(FORM_COOKIE, form_token, httponly=True, samesite="strict", secure=secure(request),
                            path="/")
    response.headers["Cache-Control"] = "no-store"  # pupil data stays out of shared and back-button caches
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return page(request, "error.html.j2", {"status": status, "title": title, "message": message}, status)
