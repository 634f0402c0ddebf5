"""Sign-in: argon2 password hashes, one-time set-password links, lockout, sessions, CSRF tokens.

Sessions and set-password links are random tokens; only their SHA-256 is stored, so a copy of the
database does not let anyone in, and signing out (deleting the row) ends a session at once. A CSRF token
is an HMAC of the session token: a page from elsewhere cannot read the cookie, so it cannot forge it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from casework.chronology import audit
from casework.context import App
from casework.errors import InputError
from casework.models import Staff, StaffToken, WebSession
from casework.web.settings import WebSettings


class SignInFailed(InputError):
    """Wrong id or password, or a locked account: the message never says which id exists."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"casework-csrf", hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@cache
def _hasher(params: tuple[tuple[str, int], ...]) -> PasswordHasher:
    return PasswordHasher(**dict(params))  # type: ignore[arg-type]  # integer cost parameters only


def hasher(settings: WebSettings) -> PasswordHasher:
    return _hasher(tuple(sorted(settings.argon2.items())))


def _staff(s: Session, staff_id: str) -> Staff:
    staff = s.scalar(select(Staff).where(Staff.staff_id == staff_id))
    if staff is None:
        raise InputError(f"no staff member with id {staff_id!r} (import staff first)")
    return staff


def check_password(settings: WebSettings, password: str) -> None:
    if len(password) < settings.min_password_length:
        raise InputError(f"a password needs at least {settings.min_password_length} characters")
    if "\x00" in password or len(password) > 256:
        raise InputError("a password has at most 256 characters and no NUL character")


def _store(s: Session, staff: Staff, password: str, settings: WebSettings, at: dt.datetime, how: str,
           hashed: str | None = None) -> None:
    check_password(settings, password)
    staff.password_hash = hashed or hasher(settings).hash(password)
    staff.failed_sign_ins, staff.locked_until = 0, None
    s.execute(delete(WebSession).where(WebSession.staff_id == staff.id))  # a new password ends old sessions
    audit(s, at=at, staff=staff.staff_id, action="password_set", pupil_id=None, detail=how)


def set_password(app: App, staff_id: str, password: str, settings: WebSettings, at: dt.datetime) -> None:
    with app.sessions.begin() as s:
        _store(s, _staff(s, staff_id), password, settings, at, "set by an administrator")


def set_shared_password(app: App, staff_ids: list[str], password: str, settings: WebSettings,
                        at: dt.datetime) -> None:
    """One password for several accounts (the demo's): argon2 runs once and the accounts share its salted hash,
    which is what each would verify against anyway; one transaction for all."""
    if not staff_ids:
        return
    check_password(settings, password)
    hashed = hasher(settings).hash(password)
    with app.sessions.begin() as s:
        for staff_id in staff_ids:
            _store(s, _staff(s, staff_id), password, settings, at, "demo account", hashed)


# --- one-time set-password links ---------------------------------------------------------------------
def invite(app: App, staff_id: str, settings: WebSettings, at: dt.datetime) -> str:
    """A new one-time token for `staff_id`; earlier unused ones stop working."""
    token = secrets.token_urlsafe(32)
    with app.sessions.begin() as s:
        staff = _staff(s, staff_id)
        for old in s.scalars(select(StaffToken).where(StaffToken.staff_id == staff.id,
                                                      StaffToken.used_at.is_(None))):
            old.used_at = at
        s.add(StaffToken(staff_id=staff.id, token_hash=token_hash(token), created_at=at,
                         expires_at=at + dt.timedelta(hours=settings.invite_hours)))
        audit(s, at=at, staff=staff.staff_id, action="invite", pupil_id=None,
              detail=f"set-password link valid {settings.invite_hours} hours")
    return token


def _live_token(s: Session, token: str, at: dt.datetime) -> StaffToken | None:
    row = s.scalar(select(StaffToken).where(StaffToken.token_hash == token_hash(token)))
    return row if row is not None and row.used_at is None and row.expires_at > at else None


def invited(app: App, token: str, at: dt.datetime) -> Staff | None:
    with app.sessions() as s:
        row = _live_token(s, token, at)
        return s.get(Staff, row.staff_id) if row else None


def redeem(app: App, token: str, password: str, settings: WebSettings, at: dt.datetime) -> Staff:
    with app.sessions.begin() as s:
        row = _live_token(s, token, at)
        staff = s.get(Staff, row.staff_id) if row else None
        if row is None or staff is None:
            raise InputError("this link has expired or was already used: ask for a new one")
        _store(s, staff, password, settings, at, "set with a one-time link")
        row.used_at = at
        return staff


# --- signing in and out -----------------------------------------------------------------------------
_DUMMY: dict[int, str] = {}


def _verify(settings: WebSettings, stored: str | None, password: str) -> bool:
    """Always does one argon2 verification, so a missing account takes as long as a wrong password."""
    ph = hasher(settings)
    if stored is None:
        key = id(ph)
        _DUMMY.setdefault(key, ph.hash(secrets.token_hex(8)))
        stored = _DUMMY[key]
        password = ""
    try:
        return ph.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_in(app: App, login: str, password: str, settings: WebSettings, at: dt.datetime) -> tuple[str, Staff]:
    """A new session token for the staff member whose id or email is `login`. Failures are audited and
    committed before the refusal is raised."""
    login, refusal = login.strip(), "wrong staff id or password"
    with app.sessions.begin() as s:
        staff = s.scalar(select(Staff).where(or_(Staff.staff_id == login,
                                                 func.lower(Staff.email) == login.lower())).limit(1))
        if staff is not None and staff.locked_until is not None and staff.locked_until > at:
            audit(s, at=at, staff=staff.staff_id, action="sign_in_locked", pupil_id=None)
            until = app.calendar.local(staff.locked_until)
            refusal = f"too many failed attempts: this account is locked until {until:%H:%M}"
        elif staff is None or not staff.active or not _verify(settings, staff.password_hash, password):
            if staff is None:
                _verify(settings, None, password)  # as long as a real check takes
                audit(s, at=at, staff=None, action="sign_in_failed", pupil_id=None, detail=login[:100])
            else:
                _failed(s, staff, settings, at)
        else:
            staff.failed_sign_ins, staff.locked_until = 0, None
            token = secrets.token_urlsafe(32)
            s.add(WebSession(token_hash=token_hash(token), staff_id=staff.id, created_at=at,
                             expires_at=at + dt.timedelta(hours=settings.session_hours)))
            audit(s, at=at, staff=staff.staff_id, action="sign_in", pupil_id=None)
            return token, staff
    raise SignInFailed(refusal)


def _failed(s: Session, staff: Staff, settings: WebSettings, at: dt.datetime) -> None:
    staff.failed_sign_ins = (staff.failed_sign_ins or 0) + 1
    detail = f"{staff.failed_sign_ins} in a row"
    if staff.failed_sign_ins >= settings.lockout_after:
        staff.locked_until = at + dt.timedelta(minutes=settings.lockout_minutes)
        staff.failed_sign_ins = 0
        detail += f"; locked for {settings.lockout_minutes} minutes"
    audit(s, at=at, staff=staff.staff_id, action="sign_in_failed", pupil_id=None, detail=detail)


def start_session(app: App, staff_id: str, settings: WebSettings, at: dt.datetime) -> str:
    """A session without a password check: for tests and tools that act as a known member of staff."""
    token = secrets.token_urlsafe(32)
    with app.sessions.begin() as s:
        staff = _staff(s, staff_id)
        s.add(WebSession(token_hash=token_hash(token), staff_id=staff.id, created_at=at,
                         expires_at=at + dt.timedelta(hours=settings.session_hours)))
    return token


def session_staff(s: Session, token: str, at: dt.datetime) -> Staff | None:
    row = s.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.expires_at <= at:
        return None
    staff = s.get(Staff, row.staff_id)
    return staff if staff is not None and staff.active else None


def sign_out(app: App, token: str, at: dt.datetime) -> None:
    with app.sessions.begin() as s:
        row = s.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
        if row is not None:
            staff = s.get(Staff, row.staff_id)
            s.delete(row)
            audit(s, at=at, staff=staff.staff_id if staff else None, action="sign_out", pupil_id=None)
