"""The outbox's delivery state: where a letter goes, what its attempts add up to, and a person's decision.

Letter.status: pending (to send; after a failure, not before next_attempt_at), sending (claimed by a
delivery run), sent, failed (rejected, or out of retries), unknown (perhaps sent: a person checks),
no_address (nothing on file to reach the contact by).

Where a letter goes (its legs): the channel chosen when it was written if the contact can still be
reached that way, else the letter's channels in config order, else post (no email or phone: post).
Bulk parent messages (config delivery.bulk_message_letters, ParentMail-style) go by every channel of the
letter the contact can receive, e.g. email and SMS; each channel is delivered, and retried, on its own.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.config import Config
from casework.context import App
from casework.errors import InputError
from casework.models import Case, Contact, DeliveryAttempt, Letter
from casework.uow import log

FINAL = ("sent", "failed", "unknown", "no_address")


@dataclass(frozen=True)
class Leg:
    channel: str
    address: str


def legs_for(letter: Letter, contact: Contact | None, config: Config) -> list[Leg]:
    spec = config.letters.get(letter.template)
    channels = list(spec.channels) if spec else [letter.channel]
    reach: dict[str, str | None] = ({"post": contact.address, "email": contact.email, "sms": contact.phone}
                                    if contact is not None else {letter.channel: letter.address})
    if letter.template in config.delivery.bulk_message_letters:
        every = [Leg(ch, str(reach[ch])) for ch in channels if reach.get(ch)]
        if every:
            return every
    for ch in [letter.channel, *channels, "post"]:
        if reach.get(ch):
            return [Leg(ch, str(reach[ch]))]
    return []


def attempts_of(s: Session, letter_id: int, channel: str | None = None) -> list[DeliveryAttempt]:
    q = select(DeliveryAttempt).where(DeliveryAttempt.letter_id == letter_id)
    if channel is not None:
        q = q.where(DeliveryAttempt.channel == channel)
    return list(s.scalars(q.order_by(DeliveryAttempt.channel, DeliveryAttempt.attempt)))


def chronicle(s: Session, letter: Letter, at: dt.datetime, summary: str, staff: str | None = None) -> None:
    """A delivery event in the pupil's chronology (DAT-1), linked to the letter and its case."""
    case = s.get(Case, letter.case_id) if letter.case_id is not None else None
    log(s, at=at, pupil_id=letter.pupil_id, category="letter", summary=summary, staff=staff, case=case,
        ref=f"letter:{letter.id}", rule=letter.rule)


def settle(s: Session, app: App, letter: Letter, now: dt.datetime) -> str:
    """The letter's status from its legs' attempts (after a run, or when reconciling a dead one)."""
    cfg = app.config.delivery
    contact = s.get(Contact, letter.contact_id) if letter.contact_id is not None else None
    legs = legs_for(letter, contact, app.config)
    tries = attempts_of(s, letter.id)
    bulk = letter.template in app.config.delivery.bulk_message_letters
    if not bulk and any(a.outcome == "sent" for a in tries):  # one channel is enough; never a second one
        legs = []
    elif not legs:
        letter.status = "no_address"
        chronicle(s, letter, now, f"Letter {letter.template} to {letter.recipient} NOT SENT: no address, "
                  "email or phone on file; a person must find one")
        return letter.status
    states, retry_at = [], now
    for leg in legs:
        mine = [a for a in tries if a.channel == leg.channel]
        last = mine[-1].outcome if mine else "untried"
        failures = sum(a.outcome in ("failed", "rejected") for a in mine)
        if last == "failed" and failures >= cfg.retry.max_attempts:
            last = "rejected"  # out of retries
        elif last == "failed":
            backoff = cfg.retry.backoff_minutes[min(failures, len(cfg.retry.backoff_minutes)) - 1]
            retry_at = max(retry_at, now + dt.timedelta(minutes=backoff))
        states.append(last)
    status = ("unknown" if "unknown" in states else "sending" if None in states
              else "failed" if "rejected" in states else "pending" if set(states) - {"sent"} else "sent")
    letter.status = status
    letter.next_attempt_at = retry_at if status == "pending" else None
    if status == "sent":
        letter.sent_at = max((a.finished_at for a in tries if a.outcome == "sent" and a.finished_at),
                             default=now)
    elif status in ("failed", "unknown"):
        why = "perhaps sent: check with the provider, then `casework outbox resolve`" if status == "unknown" \
            else "could not be delivered"
        last_error = next((a.error for a in reversed(tries) if a.error), "")
        chronicle(s, letter, now, f"Letter {letter.template} to {letter.recipient}: {why} ({last_error})")
    return status


def resolve(app: App, letter_id: int, action: str, by: str | None, now: dt.datetime) -> Letter:
    """A person's decision on a letter that is unknown or failed: it was `sent` after all, or `retry`."""
    if action not in ("sent", "retry"):
        raise InputError(f"--as must be sent or retry, not {action!r}", column="--as")
    with app.sessions.begin() as s:
        letter = s.get(Letter, letter_id)
        if letter is None:
            raise InputError(f"no letter with id {letter_id}")
        if letter.status not in ("unknown", "failed", "no_address"):
            raise InputError(f"letter {letter_id} is {letter.status}; only unknown, failed or no_address "
                             "letters are resolved by hand")
        if action == "sent":
            letter.status, letter.sent_at, letter.next_attempt_at = "sent", now, None
            chronicle(s, letter, now, f"Letter {letter.template} to {letter.recipient} confirmed as received",
                      staff=by)
        else:
            letter.status, letter.next_attempt_at = "pending", None
            chronicle(s, letter, now, f"Letter {letter.template} to {letter.recipient} to be sent again",
                      staff=by)
        return letter


def outbox_rows(app: App, status: str | None = None) -> list[dict[str, Any]]:
    """`casework outbox`: each letter with its delivery state and its last attempt."""
    from casework.models import Pupil

    tz = app.config.tz

    def iso(x: dt.datetime | None) -> str | None:
        return x.astimezone(tz).isoformat() if x else None

    with app.sessions() as s:
        q = (select(Letter, Pupil.upn).join(Pupil, Pupil.id == Letter.pupil_id)
             .order_by(Letter.created_at, Letter.id))
        if status:
            q = q.where(Letter.status == status)
        out = []
        for le, upn in s.execute(q).all():
            tries = attempts_of(s, le.id)
            last = max(tries, key=lambda a: (a.started_at, a.id), default=None)
            out.append({"id": le.id, "pupil": upn, "template": le.template, "channel": le.channel,
                        "recipient": le.recipient, "created": iso(le.created_at), "status": le.status,
                        "attempts": len(tries), "sent_at": iso(le.sent_at),
                        "next_attempt_at": iso(le.next_attempt_at),
                        "last_outcome": last.outcome if last else None,
                        "last_error": last.error if last else None,
                        "channels_sent": sorted({a.channel for a in tries if a.outcome == "sent"})})
    return out
