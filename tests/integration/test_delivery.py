"""Delivering the outbox (DESIGN "Out"): email over a real SMTP server (STARTTLS + AUTH) and SMS through a
real HTTP gateway, both on loopback; the print queue; retries with backoff; and a delivery run killed
between sending and recording that resumes without sending anything twice.

The rule for a run that died mid-send (notifications.deliver): the attempt was recorded before the send,
so the next run finds it without an outcome, marks it `unknown` and does not retry it automatically; a
person checks with the provider and resolves it (`casework outbox resolve ID --as sent|retry`)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from casework.config import Delivery
from casework.context import App
from casework.models import ChronologyEntry, Contact, DeliveryAttempt, Letter, Pupil
from notifications.deliver import default_transports, deliver_pending
from notifications.outbox import resolve
from notifications.transports import Message, SmtpTransport
from tests.conftest import utc
from tests.factories import add_pupil, fill
from tests.integration.servers import (
    SMS_KEY,
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    free_port,
    sms_gateway,
    smtp_server,
)

NOW = utc(2026, 10, 5, 17)  # Monday 5 October 2026, 18:00 school-local


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    monkeypatch.setenv("CASEWORK_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    with smtp_server(tmp_path) as server:
        yield server


def configure(app: App, tmp_path: Path, smtp: SmtpServer | None = None, sms_url: str | None = None,
              **extra: Any) -> None:
    """The school's delivery settings, as config.yaml would give them (the password only by env var name)."""
    smtp_cfg = {"host": "127.0.0.1", "port": smtp.port if smtp else free_port(), "starttls": True,
                "username": SMTP_USER, "password_env": "CASEWORK_TEST_SMTP_PASSWORD",
                "from_address": "attendance@heys.example.org", "ca_file": smtp.ca_file if smtp else None,
                "timeout_seconds": 5}
    delivery = Delivery.model_validate({
        "print_queue_dir": str(tmp_path / "print-queue"), "smtp": smtp_cfg,
        "sms": {"url": sms_url, "api_key_env": "CASEWORK_TEST_SMS_KEY", "sender": "HeysSchool",
                "timeout_seconds": 5},
        "bulk_message_letters": ["punctuality_parentmail"], **extra})
    app._config = app.config.model_copy(update={"delivery": delivery})


def pupil_with_marks(app: App, **kw: Any) -> Pupil:
    p = add_pupil(app, **kw)
    fill(app, p, app.calendar.days[:20], absent={3: "I", 7: "O", 8: "O"})  # through Tue 29 Sep
    return p


def make_letter(app: App, pupil: Pupil, template: str, channel: str, *, contact: int = 0,
                context: dict[str, Any] | None = None, created: dt.datetime = NOW - dt.timedelta(hours=1)
                ) -> int:
    """An outbox row as the unit of work writes it (casework.uow.send_letter)."""
    with app.sessions.begin() as s:
        contacts = s.scalars(select(Contact).where(Contact.pupil_id == pupil.id).order_by(Contact.priority))
        c = contacts.all()[contact]
        le = Letter(key=f"{template}:{pupil.id}:test:{c.id}", template=template,
                    rule=app.config.letters[template].rule, pupil_id=pupil.id, contact_id=c.id,
                    recipient=c.name, channel=channel,
                    address={"post": c.address, "email": c.email, "sms": c.phone}[channel],
                    created_at=created, status="pending", context=context or {})
        s.add(le)
        s.flush()
        return le.id


def letter(app: App, letter_id: int) -> Letter:
    with app.sessions() as s:
        row = s.get(Letter, letter_id)
        assert row is not None
        return row


def attempts(app: App, letter_id: int) -> list[tuple[str, int, str | None]]:
    with app.sessions() as s:
        rows = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.letter_id == letter_id)
                         .order_by(DeliveryAttempt.channel, DeliveryAttempt.attempt))
        return [(a.channel, a.attempt, a.outcome) for a in rows]


def parsed(envelope: Any) -> EmailMessage:
    msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_stg2_letter_is_emailed_over_starttls_with_auth(app: App, smtp: SmtpServer, tmp_path: Path) -> None:
    configure(app, tmp_path, smtp)
    p = pupil_with_marks(app)
    lid = make_letter(app, p, "concern_letter_1", "email", context={"stage": "stage_2"})
    report = deliver_pending(app, NOW)
    assert report.sent == [lid] and report.attempts == 1
    assert smtp.logins == [SMTP_USER] and len(smtp.messages) == 1
    msg = parsed(smtp.messages[0])
    assert smtp.messages[0].rcpt_tos == [letter(app, lid).address]
    assert p.name in msg["Subject"] and msg["Message-ID"].startswith(f"<letter-{lid}-")
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    text, html = plain.get_content(), rich.get_content()
    assert "attendance this school year has fallen below 98%" in text and p.given_name in html
    assert "85%" in text  # 34 of 40 sessions attended (the figures as of the letter's date)
    row = letter(app, lid)
    assert row.status == "sent" and row.sent_at == NOW
    assert attempts(app, lid) == [("email", 1, "sent")]
    assert deliver_pending(app, NOW + dt.timedelta(days=1)).attempts == 0  # nothing twice


def test_refused_recipient_fails_at_once_without_retry(app: App, smtp: SmtpServer, tmp_path: Path) -> None:
    configure(app, tmp_path, smtp)
    p = pupil_with_marks(app)
    with app.sessions.begin() as s:
        contact = s.scalars(select(Contact).where(Contact.pupil_id == p.id)).first()
        assert contact is not None
        contact.email = "bounce@example.org"
    lid = make_letter(app, p, "concern_letter_1", "email")
    report = deliver_pending(app, NOW)
    assert report.failed == [lid] and letter(app, lid).status == "failed"
    assert attempts(app, lid) == [("email", 1, "rejected")] and smtp.messages == []
    assert deliver_pending(app, NOW + dt.timedelta(days=2)).attempts == 0


def test_unreachable_server_is_retried_with_backoff_then_given_up(app: App, tmp_path: Path) -> None:
    configure(app, tmp_path, None, retry={"max_attempts": 3, "backoff_minutes": [5, 30]})  # nothing listens
    lid = make_letter(app, pupil_with_marks(app), "concern_letter_1", "email")
    assert deliver_pending(app, NOW).retrying == [lid]
    assert letter(app, lid).next_attempt_at == NOW + dt.timedelta(minutes=5)
    assert deliver_pending(app, NOW + dt.timedelta(minutes=4)).attempts == 0  # still backing off
    assert deliver_pending(app, NOW + dt.timedelta(minutes=5)).retrying == [lid]
    assert letter(app, lid).next_attempt_at == NOW + dt.timedelta(minutes=35)
    assert deliver_pending(app, NOW + dt.timedelta(minutes=35)).failed == [lid]
    assert attempts(app, lid) == [("email", n, "failed") for n in (1, 2, 3)]
    assert letter(app, lid).status == "failed"


def test_bulk_parent_message_goes_by_email_and_sms(app: App, smtp: SmtpServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PUN-1: the ParentMail-style message reaches the parent by email and by SMS."""
    monkeypatch.setenv("CASEWORK_TEST_SMS_KEY", SMS_KEY)
    with sms_gateway() as gw:
        configure(app, tmp_path, smtp, sms_url=f"http://127.0.0.1:{gw.server_port}/v1/messages")
        p = pupil_with_marks(app, parents=1)
        lid = make_letter(app, p, "punctuality_parentmail", "email", context={"lates": 3, "threshold": 3})
        report = deliver_pending(app, NOW)
    assert report.sent == [lid] and report.attempts == 2
    assert attempts(app, lid) == [("email", 1, "sent"), ("sms", 1, "sent")]
    assert len(smtp.messages) == 1 and len(gw.requests) == 1
    req = gw.requests[0]
    assert req["path"] == "/v1/messages" and req["headers"]["Authorization"] == f"Bearer {SMS_KEY}"
    assert req["headers"]["Idempotency-Key"] == f"{letter(app, lid).key}:sms"
    body = req["body"]
    assert body["to"] == "07700 900000" and body["from"] == "HeysSchool"
    assert f"{p.given_name} has been late 3 times" in body["message"] and len(body["message"]) <= 160


def test_sms_gateway_error_is_retried_and_sent_once(app: App, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_TEST_SMS_KEY", SMS_KEY)
    with sms_gateway() as gw:
        configure(app, tmp_path, None, sms_url=f"http://127.0.0.1:{gw.server_port}/send")
        gw.statuses = [503]
        p = pupil_with_marks(app, parents=1, email=False)
        lid = make_letter(app, p, "punctuality_parentmail", "sms", context={"lates": 5, "threshold": 5})
        transports = default_transports(app)
        assert deliver_pending(app, NOW, transports).retrying == [lid]
        assert deliver_pending(app, NOW + dt.timedelta(minutes=5), transports).sent == [lid]
    assert [r["body"]["reference"] for r in gw.requests] == [f"{letter(app, lid).key}:sms"] * 2
    assert attempts(app, lid) == [("sms", 1, "failed"), ("sms", 2, "sent")]


class Killed(BaseException):
    """The process dies here: nothing after this point runs (a SIGKILL between two statements)."""


class DiesAfterSend:
    channel = "email"

    def __init__(self, inner: SmtpTransport):
        self.inner = inner

    def send(self, message: Message) -> str:
        self.inner.send(message)
        raise Killed  # sent, but the outcome is never recorded


class DiesBeforeSend(DiesAfterSend):
    def send(self, message: Message) -> str:
        raise Killed  # the attempt is recorded, nothing went


@pytest.mark.parametrize("dying", [DiesAfterSend, DiesBeforeSend])
def test_killed_delivery_run_resumes_without_a_duplicate(app: App, smtp: SmtpServer, tmp_path: Path,
                                                         dying: type[DiesAfterSend]) -> None:
    configure(app, tmp_path, smtp)
    p = pupil_with_marks(app)
    first = make_letter(app, p, "concern_letter_1", "email", contact=0)
    second = make_letter(app, p, "concern_letter_1", "email", contact=1)
    real = default_transports(app)
    with pytest.raises(Killed):
        deliver_pending(app, NOW, {**real, "email": dying(real["email"])})  # type: ignore[arg-type]
    delivered = len(smtp.messages)
    assert delivered == (1 if dying is DiesAfterSend else 0)
    assert letter(app, first).status == "sending" and attempts(app, first) == [("email", 1, None)]

    # restarted at once: the dead run's letter may still be in flight, so it is left alone; others go out
    assert deliver_pending(app, NOW + dt.timedelta(minutes=1), real).sent == [second]
    # restarted later: reconciled as unknown, reported, and still not sent again
    report = deliver_pending(app, NOW + dt.timedelta(minutes=20), real)
    assert report.unknown == [first] and report.attempts == 0
    assert letter(app, first).status == "unknown" and attempts(app, first) == [("email", 1, "unknown")]
    assert deliver_pending(app, NOW + dt.timedelta(days=1), real).attempts == 0
    assert len(smtp.messages) == delivered + 1  # the second letter, once; the first never twice
    with app.sessions() as s:
        assert s.scalar(select(ChronologyEntry.summary).where(
            ChronologyEntry.ref == f"letter:{first}", ChronologyEntry.summary.contains("perhaps sent")))

    # a person checks with the provider and decides
    resolve(app, first, "sent" if delivered else "retry", "S001", NOW + dt.timedelta(days=1))
    deliver_pending(app, NOW + dt.timedelta(days=1, minutes=1), real)
    assert letter(app, first).status == "sent" and len(smtp.messages) == 2


def test_no_email_on_file_goes_by_post_in_the_days_print_run(app: App, tmp_path: Path) -> None:
    """The letter was meant for email, but the contact has none now: it is posted (one merged PDF a day)."""
    configure(app, tmp_path)
    pupils = [pupil_with_marks(app, parents=1, email=False) for _ in range(2)]
    ids = [make_letter(app, p, "concern_letter_2", "post", context={"stage": "stage_3"}) for p in pupils]
    with app.sessions.begin() as s:  # the first was written when the parent still had an email address
        row = s.get(Letter, ids[0])
        row.channel, row.address = "email", "old@example.org"  # type: ignore[union-attr]
    report = deliver_pending(app, NOW, {"post": default_transports(app)["post"]})
    assert sorted(report.sent) == sorted(ids) and attempts(app, ids[0]) == [("post", 1, "sent")]
    day_pdf = tmp_path / "print-queue" / "2026-10-05.pdf"
    assert report.print_files == [str(day_pdf)]
    reader = PdfReader(io.BytesIO(day_pdf.read_bytes()))
    assert len(reader.pages) == 2  # one page per letter
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert all(p.name in text for p in pupils) and "85%" in text and "1 High St" in text


def test_no_address_at_all_is_reported_not_lost(app: App, tmp_path: Path) -> None:
    configure(app, tmp_path)
    p = pupil_with_marks(app, parents=1)
    with app.sessions.begin() as s:
        c = s.scalars(select(Contact).where(Contact.pupil_id == p.id)).one()
        c.address = c.email = c.phone = None
    lid = make_letter(app, p, "final_warning", "post")
    assert deliver_pending(app, NOW).failed == [lid] and letter(app, lid).status == "no_address"
    with app.sessions() as s:
        assert "no address" in (s.scalar(select(ChronologyEntry.summary).where(
            ChronologyEntry.ref == f"letter:{lid}")) or "")


def test_a_channel_not_configured_leaves_the_letter_waiting(app: App, tmp_path: Path) -> None:
    configure(app, tmp_path)
    lid = make_letter(app, pupil_with_marks(app), "congratulations_100", "email")
    later = make_letter(app, pupil_with_marks(app), "final_warning", "post",
                        created=NOW + dt.timedelta(hours=1))
    report = deliver_pending(app, NOW, {"post": default_transports(app)["post"]})
    assert report.waiting == {"email": 1} and report.sent == []  # `later` is not due yet
    assert letter(app, lid).status == "pending" and attempts(app, lid) == []
    assert letter(app, later).status == "pending"


def test_two_workers_cannot_both_claim_a_letter(app: App, tmp_path: Path) -> None:
    """At most once across workers: the claim is a conditional UPDATE; a second worker racing for the same
    letter waits for the first one's row lock (PostgreSQL) or write lock (SQLite), then finds it taken."""
    import threading

    from notifications.deliver import _claim

    configure(app, tmp_path)
    lid = make_letter(app, pupil_with_marks(app), "final_warning", "post")
    results: list[bool] = []
    with app.sessions.begin() as first:
        assert _claim(first, lid)
        second = threading.Thread(target=lambda: results.append(_claim_in_new_session(app, lid)))
        second.start()  # blocks on the first worker's lock until the first commits, whichever comes first
    second.join()
    assert results == [False] and letter(app, lid).status == "sending"


def _claim_in_new_session(app: App, letter_id: int) -> bool:
    from notifications.deliver import _claim

    with app.sessions.begin() as s:
        return _claim(s, letter_id)
