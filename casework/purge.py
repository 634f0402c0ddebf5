"""`casework purge`: data protection's storage limitation for pupils who have left the roll.

A pupil deleted from the register (pupils.on_roll false, deleted_on set) longer ago than
config.data_protection.retention_years is erased with every row about them: marks and their history,
contacts, cases with their tasks, timers, letters and delivery attempts, the chronology, penalty notices
and the audit entries about them. Pupils off roll without a deletion date are kept: nobody can say when
their retention period ends.

Everything goes in one transaction, children before parents (the foreign keys), and the transaction
writes one audit entry that counts what went and names nobody. A dry run does the same deletes to count
them and then rolls back, so what it reports is exactly what a real run would remove.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Delete, delete, select
from sqlalchemy.orm import Session

from casework.chronology import audit
from casework.context import App
from casework.errors import InputError, Refused
from casework.models import (
    AuditEntry,
    Case,
    ChronologyEntry,
    Contact,
    DeliveryAttempt,
    Letter,
    Mark,
    MarkChange,
    PenaltyNotice,
    Pupil,
    Staff,
    StaffNotice,
    Task,
    Timer,
)

AUTHORISING_ROLE = "headteacher"  # erasing records is the data controller's decision, taken by the head
ACTION = "purge"
CHUNK = 500  # pupils per IN (...) list: well under SQLite's bound-parameter limit, few round trips


@dataclass
class PurgeReport:
    cutoff: dt.date  # pupils deleted from the register before this day are purged
    upns: list[str]
    dry_run: bool
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted (or that would be)

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        tables = ", ".join(f"{t} {n}" for t, n in self.rows.items() if n)
        return (f"{verb} {len(self.upns)} pupil(s) deleted from the register before {self.cutoff}"
                + (f" ({tables})" if tables else ""))


def retention_cutoff(before: dt.date, years: int) -> dt.date:
    """`before` moved back `years` calendar years; 29 February becomes 28 February in a common year."""
    try:
        return before.replace(year=before.year - years)
    except ValueError:
        return before.replace(year=before.year - years, day=before.day - 1)


def _authorise(s: Session, by: str) -> None:
    staff = s.scalar(select(Staff).where(Staff.staff_id == by))
    if staff is None:
        raise InputError(f"no staff member with id {by!r}", column="--by")
    if AUTHORISING_ROLE not in staff.roles:
        raise Refused(f"only the headteacher may purge pupils' records; {by} is not")


def _due(s: Session, cutoff: dt.date) -> list[tuple[int, str]]:
    """(id, UPN) of every pupil off roll whose deletion from the register is older than the cutoff."""
    rows = s.execute(select(Pupil.id, Pupil.upn).where(Pupil.on_roll.is_(False), Pupil.deleted_on.is_not(None),
                                                       Pupil.deleted_on < cutoff).order_by(Pupil.id))
    return [(pid, upn) for pid, upn in rows]


def _deletes(s: Session, pupils: Sequence[int]) -> Iterator[tuple[str, Delete]]:
    """The deletes for a chunk of pupils, every child table before the table it refers to."""
    cases = select(Case.id).where(Case.pupil_id.in_(pupils))
    tasks = select(Task.id).where(Task.pupil_id.in_(pupils))
    letters = select(Letter.id).where(Letter.pupil_id.in_(pupils))
    # agenda.enqueue_mark_change keys a mark change's timer by the change's id and sets neither case nor task
    changes = s.scalars(select(MarkChange.id).where(MarkChange.pupil_id.in_(pupils))).all()
    yield "delivery_attempts", delete(DeliveryAttempt).where(DeliveryAttempt.letter_id.in_(letters))
    yield "penalty_notices", delete(PenaltyNotice).where(PenaltyNotice.pupil_id.in_(pupils))
    yield "staff_notices", delete(StaffNotice).where(StaffNotice.task_id.in_(tasks))
    yield "timers", delete(Timer).where(Timer.case_id.in_(cases) | Timer.task_id.in_(tasks))
    for start in range(0, len(changes), CHUNK):  # a pupil can have many changes: bounded parameter lists
        keys = [f"mark_changed:{c}" for c in changes[start:start + CHUNK]]
        yield "timers", delete(Timer).where(Timer.kind == "mark_changed", Timer.case_id.is_(None), Timer.key.in_(keys))
    yield "letters", delete(Letter).where(Letter.pupil_id.in_(pupils))
    yield "chronology", delete(ChronologyEntry).where(ChronologyEntry.pupil_id.in_(pupils))
    yield "tasks", delete(Task).where(Task.pupil_id.in_(pupils))
    yield "cases", delete(Case).where(Case.pupil_id.in_(pupils))
    yield "mark_changes", delete(MarkChange).where(MarkChange.pupil_id.in_(pupils))
    yield "marks", delete(Mark).where(Mark.pupil_id.in_(pupils))
    yield "contacts", delete(Contact).where(Contact.pupil_id.in_(pupils))
    yield "audit_log", delete(AuditEntry).where(AuditEntry.pupil_id.in_(pupils))
    yield "pupils", delete(Pupil).where(Pupil.id.in_(pupils))


def _erase(s: Session, pupils: Sequence[int], rows: dict[str, int]) -> None:
    for start in range(0, len(pupils), CHUNK):
        for table, stmt in _deletes(s, pupils[start:start + CHUNK]):
            result = s.execute(stmt, execution_options={"synchronize_session": False})
            rows[table] = rows.get(table, 0) + (result.rowcount or 0)  # type: ignore[attr-defined]


def _log_refusal(app: App, by: str, at: dt.datetime, message: str) -> None:
    """A refused purge is kept in the audit log, in a transaction of its own (the purge's rolled back)."""
    with app.sessions.begin() as s:
        audit(s, at=at, staff=by, action="refused", pupil_id=None, detail=f"{ACTION}: {message}")


def purge(app: App, *, by: str, before: dt.date, dry_run: bool, at: dt.datetime) -> PurgeReport:
    """Erase the pupils whose retention period has run out by `before`; see the module docstring."""
    years = app.config.data_protection.retention_years
    cutoff = retention_cutoff(before, years)
    try:
        with app.sessions.begin() as s:
            _authorise(s, by)
            due = _due(s, cutoff)
            report = PurgeReport(cutoff, [upn for _, upn in due], dry_run)
            _erase(s, [pid for pid, _ in due], report.rows)
            if dry_run:
                s.rollback()  # counted, not committed
                return report
            audit(s, at=at, staff=by, action=ACTION, pupil_id=None,
                  detail=f"{len(due)} pupil(s) deleted from the register before {cutoff} "
                         f"(retention {years} years): {len(set(report.upns))} UPN(s) erased, "
                         f"{sum(report.rows.values())} rows")
    except Refused as exc:
        _log_refusal(app, by, at, str(exc))
        raise
    return report
