"""A letter as PDF, linked from the pupil page: the letter as it was printed or sent, rendered again by
notifications (its context is rebuilt as of the letter's own date, so a reprint shows what the parent was
told) and set on A4 by WeasyPrint, like the print queue."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from casework.web import pupils
from casework.web.guard import viewer_of, web_of

router = APIRouter(include_in_schema=False)


@router.get("/letters/{letter_id}.pdf")
def letter_pdf(request: Request, letter_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    from notifications.gather import letter_context
    from notifications.pdf import html_to_pdf
    from notifications.render import render

    web, viewer = web_of(request), viewer_of(request)
    with web.app.sessions() as s:
        letter, _ = pupils.letter_in_scope(s, web, viewer, request, letter_id)
        html = render(letter.template, letter_context(s, web.app, letter)).html
    return Response(html_to_pdf(html), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="letter-{letter.id}.pdf"', "Cache-Control": "no-store"})
