"""Delivery ports: post (a print queue), email over SMTP, SMS through an HTTP gateway.

A transport's `send` returns on success and raises one of three errors, which decide what happens next:
- `DeliveryFailed`: certainly not delivered (could not connect, a 4xx/5xx reply before the message was
  accepted): retried with backoff.
- `Rejected`: the provider refused this message for good (a 5xx to the recipient, an HTTP 4xx): not retried.
- `OutcomeUnknown`: the message may have gone (the connection dropped after the content was sent): never
  retried automatically, because retrying could reach a parent twice; a person checks with the provider.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol

from casework.config import SmsGateway, Smtp


class DeliveryFailed(Exception):
    """Not delivered; worth trying again later."""


class Rejected(DeliveryFailed):
    """Not delivered, and trying again will not help."""


class OutcomeUnknown(Exception):
    """Perhaps delivered: a person must check before anything is sent again."""


@dataclass(frozen=True)
class Message:
    letter_id: int
    key: str  # the letter's natural key and the channel: the idempotency key providers may dedup on
    channel: str
    to: str  # email address, phone number or postal address
    recipient: str
    subject: str
    html: str
    text: str
    sms: str | None
    at: dt.datetime  # when it is sent (the run's `now`)
    day: dt.date  # the school-local day, for the print queue


class Transport(Protocol):
    channel: str

    def send(self, message: Message) -> str:
        """Deliver; returns a reference (file, message id, provider id) for the attempt's record."""
        ...


def message_id(message: Message, domain: str) -> str:
    digest = hashlib.sha256(message.key.encode()).hexdigest()[:24]
    return f"<letter-{message.letter_id}-{digest}@{domain}>"


class PrintQueue:
    """Post: each letter's HTML is queued under <dir>/<day>/; `flush` merges a day into <dir>/<day>.pdf.

    Queuing is idempotent (the file is named after the letter), so even a letter queued twice is printed once.
    """

    channel = "post"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.days: set[dt.date] = set()

    def send(self, message: Message) -> str:
        day_dir = self.folder / message.day.isoformat()
        day_dir.mkdir(parents=True, exist_ok=True)
        target = day_dir / f"letter-{message.letter_id:08d}.html"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(message.html, encoding="utf-8")
        tmp.replace(target)  # atomic: the merge never sees half a letter
        self.days.add(message.day)
        return str(target)

    def flush(self) -> list[Path]:
        """One merged PDF per day touched, every letter queued that day, in letter order. A day a run that
        died before its print run left behind (letters newer than the day's PDF, or no PDF) is merged too:
        its letters are recorded as queued for printing and would otherwise never reach the printer."""
        from notifications.pdf import merge_to_pdf

        out = []
        for day in sorted(self.days | self._unmerged_days()):
            files = sorted((self.folder / day.isoformat()).glob("letter-*.html"))
            pdf = self.folder / f"{day.isoformat()}.pdf"
            tmp = pdf.with_suffix(".tmp")
            tmp.write_bytes(merge_to_pdf(f.read_text(encoding="utf-8") for f in files))
            tmp.replace(pdf)
            out.append(pdf)
        self.days.clear()
        return out

    def _unmerged_days(self) -> set[dt.date]:
        days = set()
        for day_dir in self.folder.glob("????-??-??"):
            pdf = self.folder / f"{day_dir.name}.pdf"
            newest = max((f.stat().st_mtime_ns for f in day_dir.glob("letter-*.html")), default=None)
            if newest is not None and (not pdf.exists() or pdf.stat().st_mtime_ns < newest):
                try:
                    days.add(dt.date.fromisoformat(day_dir.name))
                except ValueError:
                    continue
        return days


class SmtpTransport:
    channel = "email"

    def __init__(self, cfg: Smtp, environ: Mapping[str, str] | None = None):
        if not cfg.host:
            raise ValueError("delivery.smtp.host is not set")
        self.cfg, self.environ = cfg, environ  # None: the process environment, read at send time

    def _email(self, m: Message) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"] = self.cfg.from_address, formataddr((m.recipient, m.to))
        msg["Subject"] = m.subject
        msg["Date"] = format_datetime(m.at)
        msg["Message-ID"] = message_id(m, self.cfg.from_address.rsplit("@", 1)[-1])
        msg.set_content(m.text)
        msg.add_alternative(m.html, subtype="html")
        return msg

    def send(self, message: Message) -> str:
        cfg, msg = self.cfg, self._email(message)
        try:
            with smtplib.SMTP(cfg.host or "", cfg.port, timeout=cfg.timeout_seconds) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=cfg.ca_file))
                if cfg.username:
                    password = _env(self.environ, cfg.password_env, "SMTP password")
                    smtp.login(cfg.username, password)
                smtp.ehlo_or_helo_if_needed()
                _expect_ok("MAIL", *smtp.mail(cfg.from_address))
                _expect_ok("RCPT", *smtp.rcpt(message.to))
                self._data(smtp, msg)
        except (DeliveryFailed, OutcomeUnknown):
            raise
        except smtplib.SMTPResponseException as exc:  # a definite reply before the message was accepted
            raise (Rejected if exc.smtp_code >= 500 and exc.smtp_code != 535 else DeliveryFailed)(
                f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        return str(msg["Message-ID"])

    @staticmethod
    def _data(smtp: smtplib.SMTP, msg: EmailMessage) -> None:
        """DATA: a reply code is definite; losing the connection while waiting for it is not."""
        try:
            code, reply = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        except smtplib.SMTPDataError as exc:
            raise (Rejected if exc.smtp_code >= 500 else DeliveryFailed)(f"DATA {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise OutcomeUnknown(f"connection lost during DATA: {exc}") from exc
        if code != 250:
            raise (Rejected if code >= 500 else DeliveryFailed)(f"DATA {code} {reply!r}")


def _env(environ: Mapping[str, str] | None, name: str, what: str) -> str:
    """A secret from the environment (config names the variable; the secret never sits in config.yaml)."""
    value = (environ if environ is not None else os.environ).get(name)
    if value is None:
        raise DeliveryFailed(f"environment variable {name} ({what}) is not set")
    return value


def _expect_ok(verb: str, code: int, reply: bytes) -> None:
    if code not in (250, 251):
        raise (Rejected if code >= 500 else DeliveryFailed)(f"{verb} {code} {reply!r}")


class SmsHttpGateway:
    """POST {to, from, message, reference} as JSON with `Authorization: Bearer <key>` and an
    Idempotency-Key header (the letter's key and channel), the shape most SMS HTTP APIs take."""

    channel = "sms"

    def __init__(self, cfg: SmsGateway, environ: Mapping[str, str] | None = None):
        if not cfg.url:
            raise ValueError("delivery.sms.url is not set")
        self.cfg, self.environ = cfg, environ  # None: the process environment, read at send time

    def send(self, message: Message) -> str:
        key = _env(self.environ, self.cfg.api_key_env, "SMS API key")
        body = json.dumps({"to": message.to, "from": self.cfg.sender, "message": message.sms or message.text,
                           "reference": message.key}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}",
                   "Idempotency-Key": message.key}
        req = urllib.request.Request(self.cfg.url or "", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_seconds) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:  # the gateway answered: it did not take the message
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise (Rejected if permanent else DeliveryFailed)(f"HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:  # urllib wraps errors up to sending the request: not sent
            raise DeliveryFailed(f"gateway unreachable: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:  # request sent, no answer: perhaps delivered
            raise OutcomeUnknown(f"no answer from the gateway: {exc}") from exc
        try:
            return str(json.loads(data or b"{}").get("id", ""))
        except (ValueError, AttributeError):
            return ""
