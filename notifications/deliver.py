"""Delivering the outbox after commit: `deliver_pending(app, now, transports) -> DeliveryReport`.

At most once, even if the process dies between a send and its record:
1. claim the letter (pending -> sending, a conditional UPDATE, so two workers never both win) and record
   the attempt (no outcome yet) in one committed transaction, before anything is sent;
2. send, outside any transaction;
3. record the outcome and settle the letter's status in a second transaction.
A run that dies in step 2 leaves an attempt with no outcome. The next run (after `delivery.in_flight_minutes`,
so a live worker is not second-guessed) marks it `unknown` and the letter `unknown`: it is never retried
automatically, it is listed by `casework outbox` for a person to check with the provider and resolve
(`casework outbox resolve ID --as sent|retry`). Providers are also given the letter's key as an
idempotency key and a stable Message-ID, which helps that check; we do not rely on them deduplicating.
A failure that certainly sent nothing is retried with the configured backoff, up to max_attempts.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from casework.context import App
from casework.models import Contact, DeliveryAttempt, Letter
from notifications.gather import letter_context
from notifications.outbox import Leg, attempts_of, chronicle, legs_for, settle
from notifications.render import render, render_sms
from notifications.transports import (
    DeliveryFailed,
    Message,
    OutcomeUnknown,
    PrintQueue,
    Rejected,
    SmsHttpGateway,
    SmtpTransport,
    Transport,
)

logger = logging.getLogger("notifications.deliver")
SENT_BY = {"post": "queued for printing", "email": "emailed", "sms": "sent by SMS"}


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)  # letter ids, fully delivered by this run
    retrying: list[int] = field(default_factory=list)  # failed, will be tried again
    failed: list[int] = field(default_factory=list)  # rejected, out of retries, no address: a person acts
    unknown: list[int] = field(default_factory=list)  # perhaps sent: a person checks (incl. reconciled)
    waiting: Counter[str] = field(default_factory=Counter)  # channel -> letters left: no transport for it
    attempts: int = 0
    print_files: list[str] = field(default_factory=list)  # the day's merged PDF(s) to print

    def note(self, letter_id: int, status: str) -> None:
        buckets = {"sent": self.sent, "pending": self.retrying, "unknown": self.unknown}
        bucket = buckets.get(status, self.failed)
        if status != "sending":
            bucket.append(letter_id)

    def summary(self) -> str:
        waiting = ", ".join(f"{n} waiting for {ch} (not configured)"
                            for ch, n in sorted(self.waiting.items()))
        return (f"{len(self.sent)} sent, {len(self.retrying)} to retry, {len(self.failed)} failed, "
                f"{len(self.unknown)} unknown (check by hand), {self.attempts} attempts"
                + (f"; {waiting}" if waiting else ""))


def default_transports(app: App) -> dict[str, Transport]:
    """Post always (the print queue); email and SMS when config.delivery configures them."""
    d = app.config.delivery
    out: dict[str, Transport] = {"post": PrintQueue(d.print_queue_dir)}
    if d.smtp.host:
        out["email"] = SmtpTransport(d.smtp)
    if d.sms.url:
        out["sms"] = SmsHttpGateway(d.sms)
    return out


def deliver_pending(app: App, now: dt.datetime, transports: Mapping[str, Transport] | None = None, *,
                    limit: int | None = None) -> DeliveryReport:
    """Deliver every pending letter due by `now` (created by then, and past any retry backoff).

    Call it after the engine has committed (it opens its own transactions). `now` is the real time of the
    run: it stamps attempts and decides backoff. `transports` maps channel -> port (default: from config).
    """
    transports = default_transports(app) if transports is None else transports
    report = DeliveryReport()
    reconcile(app, now, report)
    with app.sessions() as s:
        q = (select(Letter.id).where(Letter.status == "pending", Letter.created_at <= now,
                                     or_(Letter.next_attempt_at.is_(None), Letter.next_attempt_at <= now))
             .order_by(Letter.created_at, Letter.id).limit(limit))
        due = list(s.scalars(q))
    for letter_id in due:
        _deliver(app, letter_id, now, transports, report)
    for transport in transports.values():
        if isinstance(transport, PrintQueue):
            report.print_files += [str(p) for p in transport.flush()]
    return report


def reconcile(app: App, now: dt.datetime, report: DeliveryReport | None = None) -> list[int]:
    """Letters left `sending` by a run that died: attempts with no outcome become `unknown` (never resent);
    legs never started go back to pending. Returns the letter ids settled."""
    stale = now - dt.timedelta(minutes=app.config.delivery.in_flight_minutes)
    done = []
    with app.sessions.begin() as s:
        for letter in s.scalars(select(Letter).where(Letter.status == "sending")).all():
            tries = attempts_of(s, letter.id)
            if any(a.started_at > stale for a in tries):
                continue  # perhaps a live worker is sending it right now
            for a in tries:
                if a.outcome is None:
                    a.outcome, a.finished_at = "unknown", now
                    a.error = "the run stopped between sending and recording the outcome"
            status = settle(s, app, letter, now)
            done.append(letter.id)
            if report is not None:
                report.note(letter.id, status)
    return done


def _deliver(app: App, letter_id: int, now: dt.datetime, transports: Mapping[str, Transport],
             report: DeliveryReport) -> None:
    with app.sessions.begin() as s:  # 1. claim, render, record the first attempt
        letter = s.get(Letter, letter_id)
        if letter is None or letter.status != "pending":
            return
        contact = s.get(Contact, letter.contact_id) if letter.contact_id is not None else None
        sent = {a.channel for a in attempts_of(s, letter.id) if a.outcome == "sent"}
        legs = [leg for leg in legs_for(letter, contact, app.config) if leg.channel not in sent]
        missing = sorted({leg.channel for leg in legs} - set(transports))
        if missing:
            report.waiting[missing[0]] += 1  # stays pending until the school configures that channel
            return
        if not _claim(s, letter_id):
            return  # another worker took it
        try:
            messages = _messages(s, app, letter, legs, now)
        except Exception as exc:  # noqa: BLE001 - a letter that cannot be rendered must not stop the others
            logger.exception("letter %s cannot be rendered", letter_id)
            letter.status = "failed"
            chronicle(s, letter, now, f"Letter {letter.template} NOT SENT: it cannot be written ({exc})")
            report.failed.append(letter_id)
            return
        attempt_ids = [_start(s, letter.id, messages[0], now)] if messages else []
    for i, message in enumerate(messages):  # 2. send each channel; its attempt is committed first
        if i:
            with app.sessions.begin() as s:
                attempt_ids.append(_start(s, letter_id, message, now))
        outcome, detail = _send(transports[message.channel], message)
        report.attempts += 1
        _record(app, attempt_ids[i], message, outcome, detail, now)  # 3. the outcome
    with app.sessions.begin() as s:
        letter = s.get(Letter, letter_id)
        assert letter is not None
        report.note(letter_id, settle(s, app, letter, now))


def _record(app: App, attempt_id: int, message: Message, outcome: str, detail: str, now: dt.datetime) -> None:
    with app.sessions.begin() as s:
        attempt, letter = s.get(DeliveryAttempt, attempt_id), s.get(Letter, message.letter_id)
        assert attempt is not None and letter is not None
        attempt.outcome, attempt.finished_at = outcome, now
        attempt.error = None if outcome == "sent" else detail
        if outcome == "sent":
            how = SENT_BY.get(message.channel, "sent")
            chronicle(s, letter, now, f"Letter {letter.template} {how} to {letter.recipient} ({message.to})")


def _claim(s: Session, letter_id: int) -> bool:
    """pending -> sending, only if still pending: on PostgreSQL a second worker waits for the row and then
    finds it no longer pending; on SQLite writers are serialised anyway."""
    res = s.execute(update(Letter).where(Letter.id == letter_id, Letter.status == "pending")
                    .values(status="sending").execution_options(synchronize_session="fetch"))
    return bool(getattr(res, "rowcount", 0) == 1)


def _start(s: Session, letter_id: int, message: Message, now: dt.datetime) -> int:
    n = len(attempts_of(s, letter_id, message.channel)) + 1
    attempt = DeliveryAttempt(letter_id=letter_id, channel=message.channel, address=message.to, attempt=n,
                              started_at=now)
    s.add(attempt)
    s.flush()
    return attempt.id


def _send(transport: Transport, message: Message) -> tuple[str, str]:
    try:
        return "sent", transport.send(message)
    except OutcomeUnknown as exc:
        return "unknown", str(exc)
    except Rejected as exc:
        return "rejected", str(exc)
    except DeliveryFailed as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug in a port: nothing was confirmed, and nothing is lost
        logger.exception("transport %s failed", message.channel)
        return "unknown", f"{type(exc).__name__}: {exc}"


def _messages(s: Session, app: App, letter: Letter, legs: list[Leg], now: dt.datetime) -> list[Message]:
    ctx = letter_context(s, app, letter)
    html, text = render(letter.template, ctx)
    return [Message(letter_id=letter.id, key=f"{letter.key}:{leg.channel}", channel=leg.channel,
                    to=leg.address, recipient=letter.recipient, subject=ctx["letter"]["subject"], html=html,
                    text=text, sms=render_sms(letter.template, ctx) if leg.channel == "sms" else None, at=now,
                    day=app.calendar.local_date(now)) for leg in legs]
