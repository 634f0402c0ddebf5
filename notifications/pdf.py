"""HTML to PDF with WeasyPrint (A4 and print CSS come from the templates' own @page rules)."""
from __future__ import annotations

import logging
from collections.abc import Iterable

# WeasyPrint logs every CSS property it does not know at WARNING; letters do not need that noise
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported late: loading pango costs time every command would pay

    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]


def merge_to_pdf(htmls: Iterable[str]) -> bytes:
    """Several documents as one PDF, each starting on a new page (the day's print run)."""
    from weasyprint import HTML

    docs = [HTML(string=h).render() for h in htmls]
    if not docs:
        raise ValueError("nothing to merge")
    pages = [page for doc in docs for page in doc.pages]
    return docs[0].copy(pages).write_pdf()  # type: ignore[no-any-return]
