"""First-day response scenarios (FDR-1 to FDR-5, ABS-1), on SQLite and PostgreSQL.

Every step runs in its own transaction and the case is read back from the database between steps.
Time is controlled: the engine runs to explicit school-local instants; tasks are completed at explicit
instants. Monday 2026-09-07 is day 1 (British Summer Time: 10:00 local is 09:00 UTC).
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from casework import engine, tasks
from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, ChronologyEntry, Letter, Mark, Task, Timer
from tests.factories import add_pupil, add_staff, change_mark, mark

MON, TUE, WED = dt.date(2026, 9, 7), dt.date(2026, 9, 8), dt.date(2026, 9, 9)


def at(app: App, day: dt.date, hhmm: str) -> dt.datetime:
    return app.calendar.at(day, dt.time.fromisoformat(hhmm))


def run(app: App, day: dt.date, hhmm: str) -> engine.RunReport:
    return engine.run(app, at(app, day, hhmm))


def case_of(app: App, pupil_id: int) -> Case:
    with app.sessions() as s:
        return s.scalars(select(Case).where(Case.pupil_id == pupil_id, Case.workflow == "first_day")).one()


def open_tasks(app: App, pupil_id: int) -> dict[str, Task]:
    with app.sessions() as s:
        rows = s.scalars(select(Task).where(Task.pupil_id == pupil_id, Task.status == "open")).all()
    return {f"{t.kind}/{t.role}": t for t in rows}


def codes(app: App, pupil_id: int) -> dict[tuple[dt.date, str], str]:
    with app.sessions() as s:
        return {(m.date, m.session): m.code for m in s.scalars(select(Mark).where(Mark.pupil_id == pupil_id))}


@pytest.fixture
def school(app: App) -> dict[str, str]:
    return add_staff(app)


def test_fdr1_no_reason_at_register_close_opens_case_and_first_day_call_due_noon(app: App, school) -> None:
    pupil, present = add_pupil(app), add_pupil(app)
    mark(app, pupil, MON, "N")
    mark(app, present, MON, "/")
    run(app, MON, "09:59")
    with app.sessions() as s:
        assert s.scalar(select(Case)) is None  # nothing before the register closes
    run(app, MON, "10:00")
    case = case_of(app, pupil.id)
    assert case.state == "calling"
    task = open_tasks(app, pupil.id)["first_day_call/office"]
    assert task.due_at == at(app, MON, "12:00")
    assert open_tasks(app, present.id) == {}


def test_fdr2_no_contact_morning_then_second_call_due_1600(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    run(app, MON, "10:00")
    call = open_tasks(app, pupil.id)["first_day_call/office"]
    tasks.complete(app, call.id, "no_contact", by=school["office"], at=at(app, MON, "10:30"))
    assert case_of(app, pupil.id).state == "second_call"
    second = open_tasks(app, pupil.id)["second_call/office"]
    assert second.due_at == at(app, MON, "16:00")


def test_fdr3_second_day_without_contact_alerts_lead_and_home_visit_no_answer_posts_slip(app: App, school) -> None:
    pupil = add_pupil(app, email=False)
    mark(app, pupil, MON, "N")
    run(app, MON, "10:00")
    tasks.complete(app, open_tasks(app, pupil.id)["first_day_call/office"].id, "no_contact",
                   by=school["office"], at=at(app, MON, "10:30"))
    tasks.complete(app, open_tasks(app, pupil.id)["second_call/office"].id, "no_contact",
                   by=school["office"], at=at(app, MON, "15:00"))
    assert case_of(app, pupil.id).state == "no_contact"
    mark(app, pupil, TUE, "N")
    run(app, TUE, "08:54")
    assert case_of(app, pupil.id).state == "no_contact"
    run(app, TUE, "08:55")
    assert case_of(app, pupil.id).state == "visiting"
    inbox = open_tasks(app, pupil.id)
    assert inbox["alert_attendance_lead/office"].due_at == at(app, TUE, "09:30")
    visit = inbox["home_visit/attendance_lead"]
    assert app.calendar.local_date(visit.due_at) == TUE
    tasks.complete(app, visit.id, "no_answer", by=school["attendance_lead"], at=at(app, TUE, "11:00"))
    with app.sessions() as s:
        slips = s.scalars(select(Letter).where(Letter.template == "absence_enquiry_slip")).all()
    assert [(le.channel, le.rule) for le in slips] == [("post", "FDR-3"), ("post", "FDR-3")]  # both parents
    assert case_of(app, pupil.id).state == "awaiting_reason"


def test_fdr3_home_visit_concern_opens_report_for_safeguarding_lead_within_an_hour(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    mark(app, pupil, TUE, "N")
    run(app, TUE, "09:00")
    visit = open_tasks(app, pupil.id)["home_visit/attendance_lead"]
    tasks.complete(app, visit.id, "concern", note="curtains drawn, dog alone", by=school["attendance_lead"],
                   at=at(app, TUE, "11:00"))
    report = open_tasks(app, pupil.id)["report_concern/safeguarding_lead"]
    assert report.due_at == at(app, TUE, "12:00")
    assert case_of(app, pupil.id).state == "safeguarding"


def test_fdr1_reason_reached_needs_headteacher_and_abs1_refuses_anyone_else(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    run(app, MON, "10:00")
    call = open_tasks(app, pupil.id)["first_day_call/office"]
    with pytest.raises(InputError, match="needs --reason"):
        tasks.complete(app, call.id, "reached", by=school["office"], at=at(app, MON, "10:20"))
    tasks.complete(app, call.id, "reached", reason="illness", by=school["office"], at=at(app, MON, "10:30"))
    decide = open_tasks(app, pupil.id)["authorise_absence/headteacher"]
    assert decide.due_at == app.calendar.due(at(app, MON, "10:30"), app.config.tasks["authorise_absence"].due)
    assert codes(app, pupil.id)[(MON, "AM")] == "N"  # a parent's reason authorises nothing by itself
    for who in (school["office"], school["senior_leader"], None):
        with pytest.raises(Refused, match="only the headteacher"):
            tasks.complete(app, decide.id, "authorised", by=who, at=at(app, MON, "11:00"))
    with app.sessions() as s:
        refusals = s.scalars(select(ChronologyEntry).where(ChronologyEntry.category == "refused")).all()
        assert len(refusals) == 3
        assert s.get(Task, decide.id).status == "open"
    tasks.complete(app, decide.id, "authorised", by=school["headteacher"], at=at(app, MON, "11:05"))
    assert codes(app, pupil.id) == {(MON, "AM"): "I", (MON, "PM"): "I"}
    assert case_of(app, pupil.id).state == "resolved"


def test_fdr4_unacceptable_reason_makes_sessions_o_and_informs_tutor_and_pastoral_manager(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    run(app, MON, "14:00")  # both registers closed
    call = open_tasks(app, pupil.id)["first_day_call/office"]
    tasks.complete(app, call.id, "reached", reason="shopping", by=school["office"], at=at(app, MON, "14:30"))
    assert codes(app, pupil.id) == {(MON, "AM"): "O", (MON, "PM"): "O"}
    case = case_of(app, pupil.id)
    assert case.state == "unauthorised" and case.closed_at is not None
    inform = open_tasks(app, pupil.id)
    assert set(inform) == {"inform_no_reason/form_tutor", "inform_no_reason/pastoral_manager"}
    assert inform["inform_no_reason/form_tutor"].assignee_id is not None  # the pupil's own tutor (7H)


def test_fdr5_pupil_arriving_cancels_calls_then_fdr4_deadline_makes_o(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N", ("AM",))
    mark(app, pupil, MON, "L", ("PM",))  # arrived at lunchtime, no reason yet
    run(app, MON, "14:00")
    case = case_of(app, pupil.id)
    assert case.state == "awaiting_reason"
    assert open_tasks(app, pupil.id) == {}
    deadline = app.calendar.due(at(app, MON, "14:00"), app.config.policy.first_day.reason_within)
    engine.run(app, deadline - dt.timedelta(minutes=1))
    assert case_of(app, pupil.id).state == "awaiting_reason"
    engine.run(app, deadline)
    assert case_of(app, pupil.id).state == "unauthorised"
    assert codes(app, pupil.id)[(MON, "AM")] == "O"


def test_fdr5_reason_recorded_by_office_closes_case_and_cancels_tasks(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    run(app, MON, "14:00")
    change_mark(app, pupil, MON, "AM", "M", at(app, MON, "14:10"), by=school["office"])
    run(app, MON, "14:15")
    assert case_of(app, pupil.id).state != "resolved"  # the PM session still has no reason
    change_mark(app, pupil, MON, "PM", "M", at(app, MON, "14:20"), by=school["office"])
    run(app, MON, "14:30")
    case = case_of(app, pupil.id)
    assert case.state == "resolved"
    assert open_tasks(app, pupil.id) == {}
    with app.sessions() as s:
        pending = s.scalars(select(Timer).where(Timer.case_id == case.id, Timer.status == "pending")).all()
        assert [t.kind for t in pending if t.kind not in ("task_reminder",)] == []


def test_fdr_running_twice_to_the_same_moment_does_nothing(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    mark(app, pupil, TUE, "N")
    first = run(app, TUE, "18:00")
    assert first.total > 0
    with app.sessions() as s:
        before = (s.query(Task).count(), s.query(Letter).count(), s.query(ChronologyEntry).count())
    again = run(app, TUE, "18:00")
    assert again.total == 0
    with app.sessions() as s:
        assert (s.query(Task).count(), s.query(Letter).count(), s.query(ChronologyEntry).count()) == before


def test_task_outcome_not_allowed_lists_the_allowed_ones(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N")
    run(app, MON, "10:00")
    call = open_tasks(app, pupil.id)["first_day_call/office"]
    with pytest.raises(InputError, match="reached, no_contact"):
        tasks.complete(app, call.id, "gone_fishing", by=school["office"], at=at(app, MON, "10:30"))


def test_overdue_task_is_reminded_then_escalated_at_expiry(app: App, school) -> None:
    pupil = add_pupil(app)
    mark(app, pupil, MON, "N", ("AM",))
    mark(app, pupil, MON, "N", ("PM",))
    run(app, MON, "12:00")
    with app.sessions() as s:
        task = s.scalars(select(Task).where(Task.kind == "first_day_call")).one()
        assert task.reminded_at == at(app, MON, "12:00")
        assert task.role == "office"
    spec = app.config.tasks["first_day_call"]
    expiry = app.calendar.due(at(app, MON, "12:00"), spec.expires_after_due)
    engine.run(app, expiry)
    with app.sessions() as s:
        task = s.get(Task, task.id)
        assert task.role == spec.escalate_to and task.escalated_at == expiry and task.status == "open"
