"""Sign-in, set-password (from a one-time link) and sign-out pages."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from casework.errors import InputError
from casework.web import auth
from casework.web.guard import SESSION_COOKIE, form_of, viewer_of, web_of
from casework.web.render import page, redirect, secure

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/") -> Response:
    return page(request, "sign_in.html.j2", {"next": safe_next(next), "error": None, "login": ""})


@router.post("/sign-in")
def sign_in(request: Request) -> Response:
    web, form = web_of(request), form_of(request)
    login, target = str(form.get("login") or ""), safe_next(str(form.get("next") or "/"))
    try:
        token, _ = auth.sign_in(web.app, login[:200], str(form.get("password") or ""), web.settings, web.now())
    except InputError as exc:
        return page(request, "sign_in.html.j2", {"next": target, "error": str(exc), "login": login[:200]}, 400)
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure(request), path="/",
                        max_age=int(web.settings.session_hours * 3600))
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    web, viewer = web_of(request), viewer_of(request)
    auth.sign_out(web.app, viewer.token, web.now())
    response = redirect("/sign-in?notice=signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))
    return response


@router.get("/set-password")
def set_password_page(request: Request, token: str = "") -> Response:
    web = web_of(request)
    staff = auth.invited(web.app, token[:200], web.now()) if token else None
    return page(request, "set_password.html.j2", {"token": token[:200], "error": None,
                                                  "who": staff.name if staff else None},
                200 if staff else 400)


@router.post("/set-password")
def set_password(request: Request) -> Response:
    web, form = web_of(request), form_of(request)
    token, password = str(form.get("token") or "")[:200], str(form.get("password") or "")
    staff = auth.invited(web.app, token, web.now())
    try:
        if password != str(form.get("password2") or ""):
            raise InputError("the two passwords are not the same")
        auth.redeem(web.app, token, password, web.settings, web.now())
    except InputError as exc:
        return page(request, "set_password.html.j2", {"token": token, "error": str(exc),
                                                      "who": staff.name if staff else None}, 400)
    return redirect("/sign-in?notice=password_set")
