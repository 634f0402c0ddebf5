"""`casework purge` (data protection): pupils deleted from the register longer ago than
data_protection.retention_years are erased with every row about them, in one transaction, by the
headteacher only, with one audit entry that names nobody."""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from casework.cli import main
from casework.context import App
from casework.errors import Refused
from casework.models import (
    AuditEntry,
    Base,
    Case,
    ChronologyEntry,
    Contact,
    DeliveryAttempt,
    Letter,
    Mark,
    MarkChange,
    PenaltyNotice,
    Pupil,
    StaffNotice,
    Task,
    Timer,
)
from casework.purge import purge, retention_cutoff
from tests.conftest import ROOT, utc
from tests.factories import add_pupil, add_staff, fill

TODAY = dt.date(2033, 9, 1)
AT = utc(2033, 9, 1, 9)
PER_PUPIL = ("contacts", "marks", "mark_changes", "cases", "tasks", "timers", "letters", "delivery_attempts",
             "staff_notices", "chronology", "audit_log", "penalty_notices")


def _with_records(app: App, deleted_on: dt.date | None, on_roll: bool = False) -> Pupil:
    """A pupil with a row in every table that refers to a pupil, a case, a task or a letter."""
    pupil = add_pupil(app)
    fill(app, pupil, [dt.date(2026, 9, 3), dt.date(2026, 9, 4)], absent={0: "O"})
    with app.sessions.begin() as s:
        p = s.get(Pupil, pupil.id)
        assert p is not None
        p.on_roll, p.deleted_on = on_roll, deleted_on
        contact = s.scalars(select(Contact).where(Contact.pupil_id == p.id)).first()
        assert contact is not None
        case = Case(pupil_id=p.id, workflow="escalation", workflow_version=1, key=f"esc:{p.id}", state="stage_1",
                    opened_at=AT, updated_at=AT)
        s.add(case)
        s.flush()
        task = Task(key=f"t:{p.id}", kind="parent_meeting", title="Meet", rule="STG-3", pupil_id=p.id,
                    case_id=case.id, role="form_tutor", due_at=AT, created_at=AT)
        letter = Letter(key=f"l:{p.id}", template="concern_letter_1", rule="STG-2", pupil_id=p.id, case_id=case.id,
                        contact_id=contact.id, recipient=contact.name, channel="post", created_at=AT)
        change = MarkChange(pupil_id=p.id, date=dt.date(2026, 9, 3), session="AM", old_code="N", new_code="O",
                            changed_at=AT)
        s.add_all([task, letter, change])
        s.flush()
        s.add_all([
            Timer(key=f"timer:{case.id}:x", kind="case_timer", due_at=AT, case_id=case.id, created_at=AT),
            Timer(key=f"task_reminder:{task.id}", kind="task_reminder", due_at=AT, task_id=task.id, created_at=AT),
            Timer(key=f"mark_changed:{change.id}", kind="mark_changed", due_at=AT, created_at=AT,
                  payload={"change_id": change.id, "pupil_id": p.id}),
            DeliveryAttempt(letter_id=letter.id, channel="post", attempt=1, started_at=AT),
            StaffNotice(key=f"n:{task.id}", kind="reminder", task_id=task.id, role="form_tutor", text="due",
                        created_at=AT),
            ChronologyEntry(at=AT, pupil_id=p.id, category="case", summary="opened", case_id=case.id),
            AuditEntry(at=AT, staff="S001", action="view_pupil", pupil_id=p.id),
            PenaltyNotice(pupil_id=p.id, contact_id=contact.id, case_id=case.id, counter="sessions", issued_at=AT,
                          issued_on=AT.date()),
        ])
    return pupil


def _counts(app: App) -> dict[str, int]:
    with app.sessions() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def _rows_of(app: App, pupil_id: int) -> int:
    with app.sessions() as s:
        return sum(s.scalar(select(func.count()).select_from(m).where(m.pupil_id == pupil_id)) or 0
                   for m in (Contact, Mark, MarkChange, Case, Task, Letter, ChronologyEntry, AuditEntry,
                             PenaltyNotice))


def test_retention_cutoff_counts_back_calendar_years() -> None:
    assert retention_cutoff(dt.date(2033, 9, 1), 6) == dt.date(2027, 9, 1)
    assert retention_cutoff(dt.date(2032, 2, 29), 6) == dt.date(2026, 2, 28)


def test_purge_erases_pupils_past_retention_with_every_row_and_keeps_the_rest(app: App) -> None:
    staff = add_staff(app)
    years = app.config.data_protection.retention_years
    cutoff = retention_cutoff(TODAY, years)
    gone = _with_records(app, deleted_on=cutoff - dt.timedelta(days=1))
    recent = _with_records(app, deleted_on=cutoff)  # exactly the retention period: not older, kept
    undated = _with_records(app, deleted_on=None)  # off roll with no deletion date: cannot tell, kept
    current = _with_records(app, deleted_on=None, on_roll=True)
    before = _counts(app)

    report = purge(app, by=staff["headteacher"], before=TODAY, dry_run=False, at=AT)

    assert report.upns == [gone.upn]
    after = _counts(app)
    assert before["pupils"] - after["pupils"] == 1
    for table in PER_PUPIL:  # each pupil had rows in every one; exactly one pupil's went
        purge_entry = 1 if table == "audit_log" else 0  # the purge's own entry replaces one about the pupil
        assert before[table] - after[table] == report.rows[table] - purge_entry, table
        assert report.rows[table] >= 1, table
    assert _rows_of(app, gone.id) == 0
    for kept in (recent, undated, current):
        assert _rows_of(app, kept.id) > 0
    with app.sessions() as s:
        assert s.get(Pupil, gone.id) is None
        assert not [t for t in s.scalars(select(Timer)) if t.payload.get("pupil_id") == gone.id]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).one()
    assert (entry.pupil_id, entry.staff) == (None, staff["headteacher"])
    assert entry.detail is not None and "1 pupil(s)" in entry.detail and "1 UPN(s)" in entry.detail
    assert gone.given_name not in entry.detail and gone.family_name not in entry.detail
    assert gone.upn not in entry.detail


def test_dry_run_reports_the_same_and_changes_nothing(app: App) -> None:
    staff = add_staff(app)
    gone = _with_records(app, deleted_on=retention_cutoff(TODAY, app.config.data_protection.retention_years)
                         - dt.timedelta(days=30))
    before = _counts(app)
    dry = purge(app, by=staff["headteacher"], before=TODAY, dry_run=True, at=AT)
    assert dry.upns == [gone.upn] and dry.rows["pupils"] == 1
    assert _counts(app) == before
    real = purge(app, by=staff["headteacher"], before=TODAY, dry_run=False, at=AT)
    assert real.rows == dry.rows


@pytest.mark.parametrize("role", ["attendance_lead", "form_tutor"])
def test_only_the_headteacher_may_purge(app: App, role: str) -> None:
    staff = add_staff(app)
    _with_records(app, deleted_on=dt.date(2020, 1, 1))
    before = _counts(app)
    with pytest.raises(Refused, match="only the headteacher"):
        purge(app, by=staff[role], before=TODAY, dry_run=False, at=AT)
    after = _counts(app)
    assert after["audit_log"] == before["audit_log"] + 1  # the refusal is audited
    assert {k: v for k, v in after.items() if k != "audit_log"} == \
        {k: v for k, v in before.items() if k != "audit_log"}


def test_purge_command(app: App) -> None:
    staff = add_staff(app)
    gone = _with_records(app, deleted_on=dt.date(2020, 1, 1))
    base = ["--db", app.url, "--config", str(ROOT / "config.yaml"), "purge", "--before", TODAY.isoformat()]
    refused = CliRunner().invoke(main, [*base, "--by", staff["form_tutor"]])
    assert refused.exit_code == 2 and "only the headteacher" in refused.stderr
    dry = CliRunner().invoke(main, [*base, "--dry-run", "--by", staff["headteacher"]])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith(f"{gone.upn}\nwould purge 1 pupil(s)")
    assert _rows_of(app, gone.id) > 0
    done = CliRunner().invoke(main, [*base, "--by", staff["headteacher"]])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("purged 1 pupil(s)") and gone.given_name not in done.stdout
    assert _rows_of(app, gone.id) == 0
    again = CliRunner().invoke(main, [*base, "--by", staff["headteacher"]])
    assert again.stdout.startswith("purged 0 pupil(s)")
