"""A letter's render context from the database: `letter_context(session, app, letter)`.

Figures are recomputed from the marks as of the letter's own date (school-local), so a letter rendered
again later (a reprint, the evidence pack) shows what the parent was told, not today's figures.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from casework.attendance import figures_for_all
from casework.context import App
from casework.models import Case, Contact, Letter, Pupil
from notifications.context import Facts, build_context


def pupil_facts(pupil: Pupil) -> dict[str, Any]:
    return {"upn": pupil.upn, "given_name": pupil.given_name, "family_name": pupil.family_name,
            "form": pupil.form, "year_group": pupil.year_group,
            "date_of_birth": pupil.date_of_birth.isoformat()}


def letter_facts(session: Session, app: App, letter: Letter) -> Facts:
    pupil = session.get(Pupil, letter.pupil_id)
    if pupil is None:  # a foreign key makes this impossible; say so plainly if it ever happens
        raise LookupError(f"letter {letter.id}: pupil {letter.pupil_id} not found")
    contact = session.get(Contact, letter.contact_id) if letter.contact_id is not None else None
    case = session.get(Case, letter.case_id) if letter.case_id is not None else None
    created = app.calendar.local_date(letter.created_at)
    figures = figures_for_all(session, app.config, created, pupil_ids=[pupil.id])[pupil.id]
    # the postal address printed on the letter: the contact's, else the outbox row's if it went by post
    postal = contact.address if contact is not None else letter.address if letter.channel == "post" else None
    return Facts(letter_id=letter.template, letter_ref=f"{pupil.upn}/{letter.id}", channel=letter.channel,
                 created=created, pupil=pupil_facts(pupil), recipient_name=letter.recipient,
                 recipient_address=postal, figures=figures, extra=dict(letter.context or {}),
                 case_data=dict(case.data or {}) if case is not None else {})


def letter_context(session: Session, app: App, letter: Letter) -> dict[str, Any]:
    """Everything the letter's templates use (see notifications.context.build_context)."""
    return build_context(letter_facts(session, app, letter), app.config, app.calendar)
