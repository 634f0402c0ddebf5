"""The unit of work: applies a decision's effects inside the caller's one transaction.

Natural keys (task, timer and letter keys) make every effect idempotent: applying the same effect twice
leaves one row. Nothing here commits; the caller's `session.begin()` does.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, cast, event, select, update
from sqlalchemy.orm import Session

from casework import agenda
from casework.calendar import SchoolCalendar
from casework.config import Config
from casework.db import insert_new
from casework.models import (
    Case,
    ChronologyEntry,
    Contact,
    Letter,
    Mark,
    MarkChange,
    Pupil,
    Staff,
    Task,
    Timer,
)
from workflows.base import (
    CancelTasks,
    CancelTimers,
    ChangeMarks,
    CompleteTasks,
    Ctx,
    Deregister,
    Effect,
    IssuePenaltyNotices,
    Log,
    OpenTask,
    SafeguardingLog,
    SendLetter,
    SetData,
    SetTimer,
    StartCase,
)


def held_pupil(session: Session, pupil_id: int) -> Pupil | None:
    """The pupil, read once per transaction. The identity map holds objects weakly, so without a strong
    reference every chronology entry of a unit of work read the pupil row again (a third of the engine's
    reads in the 300-pupil simulation). Held until the outermost transaction ends."""
    held = session.info.setdefault(_HELD, {})
    pupil = held.get(pupil_id)
    if pupil is None:
        pupil = session.get(Pupil, pupil_id)
        if pupil is not None:
            held[pupil_id] = pupil
    return pupil


_HELD = "casework.held_pupils"


@event.listens_for(Session, "after_transaction_end")
def _release_pupils(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction: the next one reads afresh
        session.info.pop(_HELD, None)


def log(session: Session, *, at: dt.datetime, pupil_id: int, category: str, summary: str,
        staff: str | None = None, case: Case | None = None, ref: str | None = None, rule: str | None = None,
        safeguarding: bool | None = None) -> None:
    """Append to the pupil's chronology (DAT-1). From STG-4 on, every entry of the pupil is also marked as a
    safeguarding-log entry."""
    pupil = held_pupil(session, pupil_id)
    flag = bool(safeguarding) or bool(pupil is not None and pupil.safeguarding_log)
    # A plain INSERT, written at once in the caller's transaction (a rolled-back savepoint takes it back):
    # an ORM object per entry cost a unit-of-work flush each, the largest single cost of a simulated day.
    session.execute(_CHRONOLOGY_INSERT, {
        "at": at, "pupil_id": pupil_id, "category": category, "summary": summary, "staff": staff,
        "case_id": case.id if case is not None else None, "ref": ref, "rule": rule, "safeguarding": flag})


_CHRONOLOGY_INSERT = ChronologyEntry.__table__.insert()


@dataclass(frozen=True)
class Assignee:
    """Who a task goes to: enough of a staff row to assign, name and notify."""
    id: int
    name: str
    email: str | None


class UnitOfWork:
    def __init__(self, session: Session, config: Config, calendar: SchoolCalendar):
        self.session, self.config, self.calendar = session, config, calendar
        self._staff: dict[tuple[str, str, Any], Assignee | None] = {}
        self._opened: set[int] = set()  # tasks opened by the decision being applied
        self.starts: list[tuple[Case, StartCase]] = []  # other cases to open once this decision is applied

    # --- entry point ------------------------------------------------------------------------------
    def apply(self, ctx: Ctx) -> None:
        case = ctx.case
        if case.id is None:
            self.session.add(case)
            self.session.flush()
        self._opened = set()
        # New rows are written together at the next flush rather than one by one before every lookup
        # (no autoflush): lookups below filter on the in-memory state, which is the newer one.
        with self.session.no_autoflush:
            # the safeguarding flag first: the decision's own entries (its transition included) are then flagged
            for effect in sorted(ctx.effects, key=lambda e: not (isinstance(e, SafeguardingLog) and e.on)):
                self._apply_one(effect, ctx)
        ctx.effects.clear()
        case.updated_at = ctx.now
        if case.state in _final_states(case.workflow) and case.closed_at is None:
            case.closed_at = ctx.now
            # tasks the closing decision itself opened (e.g. FDR-4's inform_no_reason) stay open
            self.cancel_tasks(case, ctx.now, f"case closed ({case.state})", ctx.staff, keep=self._opened)
            self.cancel_timers(case, ())
            log(self.session, at=ctx.now, pupil_id=case.pupil_id, category="case", case=case,
                summary=f"{case.workflow} case closed: {case.state}", staff=ctx.staff)

    def _apply_one(self, effect: Effect, ctx: Ctx) -> None:
        case, now = ctx.case, ctx.now
        if isinstance(effect, Log):
            log(self.session, at=now, pupil_id=case.pupil_id, category=effect.category, summary=effect.summary,
                staff=effect.staff, case=case, rule=effect.rule)
        elif isinstance(effect, OpenTask):
            self.open_task(case, ctx.pupil, effect, now)
        elif isinstance(effect, CancelTasks):
            self.cancel_tasks(case, now, effect.reason, ctx.staff, effect.kinds)
        elif isinstance(effect, CompleteTasks):
            self.complete_tasks(case, effect, now, ctx.staff)
        elif isinstance(effect, SetTimer):
            agenda.enqueue(self.session, key=f"timer:{case.id}:{effect.kind}:{effect.occasion}",
                           kind=effect.kind, due_at=effect.due_at, now=now, case_id=case.id,
                           payload=effect.payload)
        elif isinstance(effect, CancelTimers):
            self.cancel_timers(case, effect.kinds)
        elif isinstance(effect, SendLetter):
            self.send_letter(case, ctx.pupil, effect, now)
        elif isinstance(effect, ChangeMarks):
            self.change_marks(case, effect, now)
        elif isinstance(effect, SetData):
            case.data = {**(case.data or {}), **effect.updates}
        elif isinstance(effect, SafeguardingLog):
            ctx.pupil.safeguarding_log = effect.on
            log(self.session, at=now, pupil_id=case.pupil_id, category="safeguarding", case=case,
                safeguarding=True, summary="Safeguarding log " + ("started: every entry is now also a "
                                                                "safeguarding entry" if effect.on else "ended"))
        elif isinstance(effect, StartCase):
            self.starts.append((case, effect))
        elif isinstance(effect, IssuePenaltyNotices):
            self.issue_notices(case, effect, now, ctx.staff)
        elif isinstance(effect, Deregister):
            deregister(self.session, ctx.pupil, effect.ground, effect.evidence, ctx.staff, now, keep=case)
        else:  # pragma: no cover - a new effect type must be handled here
            raise TypeError(f"unknown effect {effect!r}")

    # --- tasks ------------------------------------------------------------------------------------
    def assignee_for(self, role: str, pupil: Pupil) -> Assignee | None:
        """The named person where the policy names one (the pupil's form tutor, the pastoral manager of
        the year group): the first active member of staff (by staff id) holding the role for that form or
        year; otherwise None: the task waits in the role's queue. One query per (role, form or year) per
        unit of work, for only the staff who match: loading every staff row for every unit of work made a
        local authority's day grow with the square of its size (bench/RESULTS.md)."""
        scope = self.config.roles[role].scope
        if scope not in ("form", "year_group"):
            return None  # a role that sees every pupil has a queue, not a named person
        value = pupil.form if scope == "form" else pupil.year_group
        key = (role, scope, value)
        if key not in self._staff:
            col = Staff.forms if scope == "form" else Staff.year_groups
            rows = self.session.execute(  # the LIKEs narrow in SQL; membership is checked exactly below
                select(Staff.id, Staff.name, Staff.email, Staff.roles, col).where(
                    Staff.active.is_(True), cast(Staff.roles, String).contains(json.dumps(role), autoescape=True),
                    cast(col, String).contains(json.dumps(value), autoescape=True)).order_by(Staff.staff_id))
            self._staff[key] = next((Assignee(sid, name, email) for sid, name, email, roles, values in rows
                                     if role in (roles or []) and value in (values or [])), None)
        return self._staff[key]

    def open_task(self, case: Case, pupil: Pupil, effect: OpenTask, now: dt.datetime) -> list[int]:
        spec = self.config.tasks[effect.kind]
        start = effect.due_from or now
        due = self.calendar.due(start, spec.due)
        opened = []
        for role in [spec.role, *spec.copies_to]:
            assignee = self.assignee_for(role, pupil)
            task_id = insert_new(self.session, Task, {
                "key": f"{case.id}:{effect.kind}:{effect.occasion}:{role}", "kind": effect.kind,
                "title": spec.title, "rule": spec.rule, "pupil_id": case.pupil_id, "case_id": case.id,
                "role": role, "assignee_id": assignee.id if assignee else None, "status": "open", "due_at": due,
                "created_at": now, "data": dict(effect.data), "version": 1})
            if task_id is None:  # this occasion's task exists already
                continue
            who = assignee.name if assignee else f"{self.config.roles[role].name} queue"
            log(self.session, at=now, pupil_id=case.pupil_id, category="task", case=case, rule=spec.rule,
                ref=f"task:{task_id}", summary=f"Task {effect.kind} opened for {who}, due "
                f"{self.calendar.local(due):%a %d %b %H:%M}")
            remind = due if spec.reminder_after_due is None else self.calendar.due(due, spec.reminder_after_due)
            agenda.enqueue(self.session, key=f"task_reminder:{task_id}", kind="task_reminder",
                           due_at=remind, now=now, case_id=case.id, task_id=task_id, fresh=True)
            expires, _ = expiry(self.config, effect.kind, role)
            if expires is not None:
                agenda.enqueue(self.session, key=f"task_expiry:{task_id}", kind="task_expiry",
                               due_at=self.calendar.due(due, expires), now=now, case_id=case.id, task_id=task_id,
                               fresh=True)
            opened.append(task_id)
            self._opened.add(task_id)
        return opened

    def cancel_tasks(self, case: Case, now: dt.datetime, reason: str, staff: str | None,
                     kinds: tuple[str, ...] = (), keep: set[int] | None = None) -> None:
        q = select(Task).where(Task.case_id == case.id, Task.status == "open")
        if keep:
            q = q.where(Task.id.not_in(keep))
        if kinds:
            q = q.where(Task.kind.in_(kinds))
        for task in self.session.scalars(q):
            if task.status != "open":  # done or withdrawn in this transaction, not yet written
                continue
            task.status = "cancelled"
            task.completed_at = now
            task.note = reason
            drop_task_timers(self.session, task.id)
            log(self.session, at=now, pupil_id=case.pupil_id, category="task", case=case, rule=task.rule,
                ref=f"task:{task.id}", staff=staff, summary=f"Task {task.kind} withdrawn: {reason}")

    def complete_tasks(self, case: Case, effect: CompleteTasks, now: dt.datetime, staff: str | None) -> None:
        q = select(Task).where(Task.case_id == case.id, Task.status == "open", Task.kind.in_(effect.kinds))
        for task in self.session.scalars(q):
            if task.status != "open":
                continue
            task.status, task.outcome, task.completed_at, task.completed_by = "done", effect.outcome, now, staff
            task.note = effect.note or None
            drop_task_timers(self.session, task.id)
            log(self.session, at=now, pupil_id=case.pupil_id, category="task", case=case, rule=task.rule,
                ref=f"task:{task.id}", staff=staff, summary=f"Task {task.kind} completed: {effect.outcome}"
                + (f" - {effect.note}" if effect.note else ""))

    def cancel_timers(self, case: Case, kinds: tuple[str, ...]) -> None:
        q = select(Timer).where(Timer.case_id == case.id, Timer.status == "pending",
                                Timer.kind.not_in(("task_reminder", "task_expiry")))
        if kinds:
            q = q.where(Timer.kind.in_(kinds))
        for timer in self.session.scalars(q):
            if timer.status == "pending":
                timer.status = "cancelled"

    def issue_notices(self, case: Case, effect: IssuePenaltyNotices, now: dt.datetime, staff: str | None) -> None:
        from casework.models import PenaltyNotice

        parents = self.session.scalars(select(Contact).where(
            Contact.pupil_id == case.pupil_id, Contact.parental_responsibility.is_(True)).order_by(Contact.priority))
        for contact in parents:
            if effect.contact_ids is not None and contact.id not in effect.contact_ids:
                continue
            if self.session.scalar(select(PenaltyNotice.id).where(PenaltyNotice.case_id == case.id,
                                                                  PenaltyNotice.contact_id == contact.id)):
                continue
            notice = PenaltyNotice(pupil_id=case.pupil_id, contact_id=contact.id, case_id=case.id,
                                   counter=effect.counter, issued_at=now, issued_on=self.calendar.local_date(now),
                                   status="issued", recorded_by=staff)
            self.session.add(notice)
            self.session.flush()
            log(self.session, at=now, pupil_id=case.pupil_id, category="penalty_notice", case=case, staff=staff,
                rule=effect.rule, ref=f"penalty_notice:{notice.id}",
                summary=f"Penalty notice {notice.id} issued to {contact.name} ({effect.counter.replace('_', ' ')})")

    # --- letters ----------------------------------------------------------------------------------
    def send_letter(self, case: Case, pupil: Pupil, effect: SendLetter, now: dt.datetime) -> None:
        """One outbox row per contact with parental responsibility, on the first channel they can
        receive (post needs an address, email an email address, sms a phone number)."""
        spec = self.config.letters[effect.template]
        contacts = self.session.scalars(select(Contact).where(
            Contact.pupil_id == pupil.id, Contact.parental_responsibility.is_(True)).order_by(Contact.priority))
        for contact in contacts:
            if effect.contact_ids is not None and contact.id not in effect.contact_ids:
                continue
            channel, address = _channel(spec.channels, contact)
            letter_id = insert_new(self.session, Letter, {
                "key": f"{effect.template}:{pupil.id}:{effect.occasion}:{contact.id}", "template": effect.template,
                "rule": spec.rule, "pupil_id": pupil.id, "case_id": case.id, "contact_id": contact.id,
                "recipient": contact.name, "channel": channel, "address": address, "created_at": now,
                "status": "pending", "context": dict(effect.context)})
            if letter_id is None:  # sent for this occasion already: never twice
                continue
            log(self.session, at=now, pupil_id=pupil.id, category="letter", case=case, rule=spec.rule,
                ref=f"letter:{letter_id}", summary=f"Letter {effect.template} ({spec.title}) to "
                f"{contact.name} by {channel}" + ("" if address else " - NO ADDRESS ON FILE"))

    # --- marks ------------------------------------------------------------------------------------
    def change_marks(self, case: Case, effect: ChangeMarks, now: dt.datetime) -> None:
        for iso, sess in effect.sessions:
            mark = self.session.scalar(select(Mark).where(
                Mark.pupil_id == case.pupil_id, Mark.date == dt.date.fromisoformat(iso), Mark.session == sess))
            if mark is None:  # not registered yet: pre-enter the code (no history to keep)
                self.session.add(Mark(pupil_id=case.pupil_id, date=dt.date.fromisoformat(iso), session=sess,
                                      code=effect.code, reason=effect.reason, recorded_by=effect.by,
                                      recorded_at=now))
                self.session.flush()  # a later session of this effect looks marks up
                log(self.session, at=now, pupil_id=case.pupil_id, category="mark", case=case, staff=effect.by,
                    summary=f"{iso} {sess}: {effect.code} entered in advance ({effect.reason})")
                continue
            if mark.code == effect.code or (effect.only_from and mark.code not in effect.only_from):
                continue
            change = MarkChange(pupil_id=case.pupil_id, date=mark.date, session=sess, old_code=mark.code,
                                new_code=effect.code, reason=effect.reason, changed_by=effect.by, changed_at=now)
            mark.code, mark.reason = effect.code, effect.reason
            self.session.add(change)
            self.session.flush()
            agenda.enqueue_mark_change(self.session, change)
            log(self.session, at=now, pupil_id=case.pupil_id, category="mark", case=case, staff=effect.by,
                ref=f"mark_change:{change.id}", summary=f"{iso} {sess}: {change.old_code} -> {effect.code} "
                f"({effect.reason})")


def deregister(session: Session, pupil: Pupil, ground: str, evidence: str, staff: str | None,
               now: dt.datetime, keep: Case | None = None) -> int:
    """Delete a pupil from the register (CME-1): off roll from today with the ground recorded; every
    other open case of the pupil is closed and its tasks and timers withdrawn. Returns cases closed."""
    pupil.on_roll, pupil.deleted_on, pupil.deletion_ground = False, now.date(), ground
    log(session, at=now, pupil_id=pupil.id, category="register", staff=staff, rule="CME-1",
        summary=f"Deleted from the register: {ground} ({evidence})")
    closed = 0
    for case in session.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.closed_at.is_(None))):
        if (keep is not None and case.id == keep.id) or case.closed_at is not None:
            continue
        uow = UnitOfWork(session, None, None)  # type: ignore[arg-type] - cancelling needs no config
        uow.cancel_tasks(case, now, "pupil deleted from the register", staff)
        uow.cancel_timers(case, ())
        case.closed_at, case.updated_at = now, now
        log(session, at=now, pupil_id=pupil.id, category="case", case=case, staff=staff, rule="CME-1",
            summary=f"{case.workflow} case closed ({case.state}): pupil deleted from the register")
        closed += 1
    return closed


def expiry(config: Config, kind: str, role: str) -> tuple[Any, str | None]:
    """(how long past due, the role it then goes to) for a task: its kind's own setting, else the default
    ladder by role; (None, None) when it never escalates."""
    spec = config.tasks[kind]
    if spec.escalate_to and spec.expires_after_due is not None:
        return spec.expires_after_due, spec.escalate_to
    to = config.task_escalation.to.get(role)
    return (config.task_escalation.after_due, to) if to else (None, None)


def drop_task_timers(session: Session, task_id: int) -> None:
    """A task that is done or withdrawn needs no reminder or expiry. One plain UPDATE: task timers are written
    as plain INSERTs (agenda.enqueue), so no ORM copy of them is held that could write a stale status back."""
    session.execute(_DROP_TASK_TIMERS, {"of_task": task_id})


_DROP_TASK_TIMERS = (update(Timer.__table__).where(Timer.__table__.c.task_id == bindparam("of_task"),
                                                   Timer.__table__.c.status == "pending")
                     .values(status="cancelled"))


def _channel(channels: list[str], contact: Contact) -> tuple[str, str | None]:
    """The contact's preferred channel where the letter may go that way and the contact can be reached by it,
    else the letter's channels in order, else post."""
    reach: dict[str, Any] = {"post": contact.address, "email": contact.email, "sms": contact.phone}
    preferred = [contact.channel] if contact.channel in channels else []
    for ch in (*preferred, *channels):
        if reach.get(ch):
            return ch, reach[ch]
    if contact.address:  # no email or phone on file: post (the school always holds an address)
        return "post", contact.address
    return channels[0], None


def _final_states(workflow: str) -> frozenset[str]:
    from workflows.registry import get

    return get(workflow).final
