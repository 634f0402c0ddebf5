"""The database: SQLAlchemy 2 typed mappings. Instants are stored as UTC; dates are school-local dates.

Natural keys carry unique constraints (a case per workflow and occasion, a task, a timer, a letter per
recipient per occasion), which is what makes running the engine twice harmless.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Pupil(Base):
    __tablename__ = "pupils"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), default=1)
    upn: Mapped[str] = mapped_column(String(13), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    year_group: Mapped[int] = mapped_column(Integer, index=True)
    form: Mapped[str] = mapped_column(String(20), index=True)
    sen: Mapped[str | None] = mapped_column(String(20))
    fsm: Mapped[bool] = mapped_column(Boolean, default=False)
    looked_after: Mapped[bool] = mapped_column(Boolean, default=False)
    on_roll: Mapped[bool] = mapped_column(Boolean, default=True)
    # STG-4: while set, every chronology entry of the pupil is also a safeguarding-log (CPOMS-style) entry
    safeguarding_log: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    deleted_on: Mapped[dt.date | None] = mapped_column(Date)
    deletion_ground: Mapped[str | None] = mapped_column(String(200))

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("pupil_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    contact_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(60))
    parental_responsibility: Mapped[bool] = mapped_column(Boolean)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str | None] = mapped_column(String(10))  # how the parent prefers letters: post, email, sms


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    forms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    year_groups: Mapped[list[Any]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # web sign-in: consecutive failures and the lockout they caused (casework.web.auth)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None]


class StaffToken(Base):
    """A one-time set-password link (`casework staff invite`): only the token's SHA-256 is kept."""

    __tablename__ = "staff_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A signed-in browser or API client: the cookie or bearer token is random, only its SHA-256 is kept,
    so signing out (deleting the row) ends it at once."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class Mark(Base):
    """The current mark of a pupil for a session; every change also writes a MarkChange (REG, ABS-1)."""

    __tablename__ = "marks"
    __table_args__ = (
        UniqueConstraint("pupil_id", "date", "session"),
        Index("ix_marks_date_code", "date", "code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(2))
    code: Mapped[str] = mapped_column(String(3))
    minutes_late: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str | None] = mapped_column(String(40))
    recorded_at: Mapped[dt.datetime | None]


class MarkChange(Base):
    """History: the old code is kept here when a mark changes (who, when, why)."""

    __tablename__ = "mark_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(2))
    old_code: Mapped[str] = mapped_column(String(3))
    new_code: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(200))
    changed_by: Mapped[str | None] = mapped_column(String(40))
    changed_at: Mapped[dt.datetime]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("workflow", "key"), Index("ix_cases_open", "workflow", "closed_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    workflow: Mapped[str] = mapped_column(String(40))
    workflow_version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_inbox", "status", "role", "due_at"),
        Index("ix_tasks_assignee", "assignee_id", "status"),
        Index("ix_tasks_done_by", "completed_by", "status", "completed_at"),  # the inbox's "done by me"
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(10))
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open, done, cancelled
    due_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    outcome: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    completed_by: Mapped[str | None] = mapped_column(String(40))
    completed_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Timer(Base):
    """The agenda: every time-driven item (calendar events, case timers, task reminders and expiries,
    mark events) is a row with a unique key; processing marks it fired in the same transaction."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_agenda", "status", "due_at", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[dt.datetime]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, fired, cancelled
    fired_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class Letter(Base):
    """The outbox: one row per letter per recipient. The key (occasion + recipient) makes a letter
    impossible to produce twice."""

    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(60), index=True)
    rule: Mapped[str] = mapped_column(String(10))
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # delivery (notifications.deliver): when the next try is due after a failure, and when it went out
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]


class DeliveryAttempt(Base):
    """One try at delivering a letter on one channel. The row is committed before the send, so a process
    that dies between the send and recording its outcome leaves an attempt with no outcome: reconciled as
    'unknown' and never retried automatically (a person checks), so nothing reaches a parent twice."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("letter_id", "channel", "attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per letter and channel
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(10))  # None while in flight; sent, failed, unknown
    error: Mapped[str | None] = mapped_column(Text)


class StaffNotice(Base):
    """Messages to staff (task reminders and escalations), kept apart from letters to parents."""

    __tablename__ = "staff_notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # reminder, escalation
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    role: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    address: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), default="pending")


class ChronologyEntry(Base):
    """Append-only (DAT-1): nothing in the code updates or deletes these rows."""

    __tablename__ = "chronology"
    __table_args__ = (Index("ix_chronology_pupil_at", "pupil_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"))
    category: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    ref: Mapped[str | None] = mapped_column(String(200))
    rule: Mapped[str | None] = mapped_column(String(10))
    safeguarding: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    staff: Mapped[str | None] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(40))
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupils.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


class PenaltyNotice(Base):
    """The penalty notice ledger (PN-3): one notice per parent with parental responsibility per child,
    keyed by the case (child and occasion) and the contact (parent)."""

    __tablename__ = "penalty_notices"
    __table_args__ = (UniqueConstraint("case_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    counter: Mapped[str] = mapped_column(String(40))  # PN-1: which count of unauthorised sessions
    issued_at: Mapped[dt.datetime]
    issued_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="issued")  # issued, paid, unpaid
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    amount_paid: Mapped[int | None] = mapped_column(Integer)
    recorded_by: Mapped[str | None] = mapped_column(String(40))
