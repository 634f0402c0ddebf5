"""The web inbox: `create_app(app)` builds the FastAPI application (pages, JSON API, one guard for both).

Run it with `casework serve` (uvicorn on 127.0.0.1:8000 plus the scheduler). Tests build it with their
own clock and cheap argon2 settings: `create_app(app, clock=lambda: t, settings=WebSettings(...))`.
"""
from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from casework.context import App
from casework.errors import InputError, Refused
from casework.web.guard import Denied, NotFound, NotSignedIn, guard, is_api, refuse, web_of
from casework.web.settings import Clock, Web, WebSettings, system_clock

TITLES = {400: "Not done", 401: "Sign in", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
          422: "Not done", 501: "Not built yet"}


def create_app(app: App, *, clock: Clock = system_clock, settings: WebSettings | None = None) -> FastAPI:
    from casework.web import api, letters, pages, signin

    web = FastAPI(title="casework", version="1", summary="The Heys School attendance casework: tasks, pupils, "
                  "cases and meetings", openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  dependencies=[Depends(guard)])
    web.state.web = Web(app=app, clock=clock, settings=settings or WebSettings())
    for router in (signin.router, pages.router, letters.router, api.public, api.router):
        web.include_router(router)
    _errors(web)
    return web


def _reply(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    from casework.web.render import error_page

    return error_page(request, status, TITLES.get(status, "Error"), message)


def _errors(web: FastAPI) -> None:
    @web.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if exc.api:
            return JSONResponse({"detail": "sign in first (POST /api/session)"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        from casework.web.render import redirect
        from casework.web.signin import safe_next

        target = safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        response = redirect(f"/sign-in?next={_quote(target)}")
        return response

    @web.exception_handler(Denied)
    def denied(request: Request, exc: Denied) -> Response:
        return _reply(request, exc.status, exc.message)

    @web.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> Response:
        return _reply(request, 404, str(exc))

    @web.exception_handler(InputError)
    def input_error(request: Request, exc: InputError) -> Response:
        if isinstance(exc, Refused):  # a policy refusal not already turned into Denied: audit it too
            viewer = getattr(request.state, "viewer", None)
            return _reply(request, 403, refuse(web_of(request), viewer, request, str(exc)).message)
        return _reply(request, 400, str(exc))

    @web.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": _jsonable(exc.errors())}, status_code=422)
        return _reply(request, 404 if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()) else 400,
                      "; ".join(str(e.get("msg")) for e in exc.errors()))

    @web.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        return _reply(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _jsonable(errors: Any) -> Any:
    """Validation errors can carry the offending input (bytes, exceptions): keep what JSON can say."""
    out = []
    for e in errors:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))})
    return out
