"""Absence decisions (ABS-1 to ABS-7), children missing education (CME-1), attendance lead casework (CW-1 to
CW-4) and recognition lists (REW-1 to REW-3), on SQLite and PostgreSQL, with the clock controlled."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from casework import absence, engine, lead, register, rewards, tasks
from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, ChronologyEntry, Letter, Mark, Pupil, Task
from tests.factories import add_pupil, add_staff, fill


@pytest.fixture
def school(app: App) -> dict[str, str]:
    return add_staff(app)


def day(app: App, i: int) -> dt.date:
    return app.calendar.days[i]


def at(app: App, i: int, hhmm: str = "18:00") -> dt.datetime:
    return app.calendar.at(day(app, i), dt.time.fromisoformat(hhmm))


def case_of(app: App, pupil: Pupil, workflow: str) -> Case | None:
    with app.sessions() as s:
        return s.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == workflow)
                         .order_by(Case.id.desc())).first()


def open_task(app: App, pupil: Pupil, kind: str) -> Task:
    with app.sessions() as s:
        return s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.kind == kind,
                                            Task.status == "open")).one()


def codes(app: App, pupil: Pupil) -> dict[tuple[dt.date, str], str]:
    with app.sessions() as s:
        return {(m.date, m.session): m.code for m in s.scalars(select(Mark).where(Mark.pupil_id == pupil.id))}


# --- CME-1 ---------------------------------------------------------------------------------------------
def _missing(app: App) -> Pupil:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:45], absent={i: "O" for i in range(20, 45)})
    return pupil


def test_cme1_twenty_days_unauthorised_opens_referral_and_deletion_refused_without_la(app: App, school) -> None:
    pupil = _missing(app)
    n = app.config.policy.missing_education.consecutive_unauthorised_school_days
    engine.run(app, at(app, 20 + n - 2))
    assert case_of(app, pupil, "missing_education") is None  # 19 days
    engine.run(app, at(app, 20 + n - 1))
    assert case_of(app, pupil, "missing_education").state == "referral"
    tasks.complete(app, open_task(app, pupil, "cme_referral").id, "referred", by=school["attendance_lead"],
                   at=at(app, 20 + n, "10:00"))
    register.record_attempt(app, pupil.upn, "school", "home visit, no answer; neighbours not seen them",
                            school["attendance_lead"], at(app, 20 + n, "11:00"))
    delete = open_task(app, pupil, "delete_from_register")
    with pytest.raises(Refused, match="local_authority"):
        tasks.complete(app, delete.id, "deleted", by=school["headteacher"], at=at(app, 20 + n, "12:00"))
    with app.sessions() as s:
        assert s.get(Pupil, pupil.id).on_roll  # nothing changed
        assert s.get(Task, delete.id).status == "open"
        assert s.scalars(select(ChronologyEntry).where(ChronologyEntry.category == "refused")).one()
    register.record_attempt(app, pupil.upn, "local_authority", "CME officer checked addresses and health records",
                            school["attendance_lead"], at(app, 20 + n + 1, "10:00"))
    tasks.complete(app, delete.id, "deleted", by=school["headteacher"], at=at(app, 20 + n + 1, "12:00"))
    with app.sessions() as s:
        p = s.get(Pupil, pupil.id)
        assert (p.on_roll, p.deletion_ground) == (False, "missing_education")
        still_open = s.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.closed_at.is_(None))).all()
        open_tasks = s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.status == "open")).all()
    assert still_open == [] and open_tasks == []  # deletion closes every case of the pupil


def test_cme1_other_ground_only_by_headteacher_with_evidence(app: App, school) -> None:
    pupil = add_pupil(app)
    with pytest.raises(Refused, match="only the headteacher"):
        register.delete(app, pupil.upn, "transfer", "CTF received from Ashton Academy", school["office"],
                        at(app, 3))
    with pytest.raises(InputError, match="unknown ground"):
        register.delete(app, pupil.upn, "moved", "x", school["headteacher"], at(app, 3))
    assert register.delete(app, pupil.upn, "transfer", "CTF received", school["headteacher"], at(app, 3)) == 0
    with app.sessions() as s:
        assert s.get(Pupil, pupil.id).deleted_on == at(app, 3).date()


# --- CW ------------------------------------------------------------------------------------------------
def test_cw1_cw2_cw3_cw4_not_improved_through_meetings_and_contract_to_court_papers(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:120], absent={i: "O" for i in range(0, 120) if i % 3 == 0})  # ~67%
    lead_id = school["attendance_lead"]
    with pytest.raises(Refused, match="not the attendance lead"):
        lead.start(app, pupil.upn, "persistent absence", school["office"], at(app, 3, "10:00"))
    case = lead.start(app, pupil.upn, "persistent absence", lead_id, at(app, 3, "10:00"))
    tasks.complete(app, open_task(app, pupil, "cw_pre_referral_meeting").id, "held_with_consent",
                   note="targets: attend every day", by=lead_id, at=at(app, 5, "10:00"))
    review_at = app.calendar.due(at(app, 5, "10:00"), app.config.policy.casework.review_after)
    engine.run(app, review_at)
    tasks.complete(app, open_task(app, pupil, "cw_review").id, "reviewed", by=lead_id, at=review_at)
    assert case_of(app, pupil, "lead_casework").state == "phased"
    tasks.complete(app, open_task(app, pupil, "parenting_contract").id, "agreed", note="parent walks to school",
                   by=lead_id, at=review_at + dt.timedelta(days=1))
    weeks = app.config.policy.casework.meeting_weeks
    end = review_at + dt.timedelta(weeks=max(weeks) + 4)  # week 12 falls in the Christmas holiday here
    engine.run(app, end)
    with app.sessions() as s:
        meetings = s.scalars(select(Task).where(Task.kind == "cw_meeting")).all()
        contract = s.get(Case, case.id).data["contract"]
    assert len(meetings) == len(weeks)  # CW-2: one per meeting week
    assert contract["actions"] == "parent walks to school" and contract["review"]  # CW-3
    review = open_task(app, pupil, "cw_contract_review")  # CW-3: on the contract's review date, its outcome
    with pytest.raises(InputError, match="kept, partly_kept, not_kept"):
        tasks.complete(app, review.id, "reviewed", by=lead_id, at=end)
    tasks.complete(app, review.id, "partly_kept", note="mornings better", by=lead_id, at=end)
    with app.sessions() as s:
        assert s.get(Case, case.id).data["contract"]["outcome"] == "partly_kept"
    assert case_of(app, pupil, "lead_casework").state == "review_meeting"
    tasks.complete(app, open_task(app, pupil, "attendance_review_meeting").id, "court_papers", by=lead_id, at=end)
    papers = open_task(app, pupil, "prepare_court_papers")
    with app.sessions() as s:
        pack = s.get(Case, case.id).data["evidence_pack"]
    assert pack["contents"] == app.config.policy.casework.evidence_pack
    tasks.complete(app, papers.id, "prepared", by=lead_id, at=end + dt.timedelta(days=1))
    assert case_of(app, pupil, "lead_casework").state == "referred_to_court"


def test_cw1_review_closes_the_case_when_attendance_has_improved(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:60], absent={i: "O" for i in range(0, 4)})
    lead.start(app, pupil.upn, "poor start", school["attendance_lead"], at(app, 4, "10:00"))
    tasks.complete(app, open_task(app, pupil, "cw_pre_referral_meeting").id, "held_without_consent",
                   by=school["attendance_lead"], at=at(app, 5, "10:00"))
    review_at = app.calendar.due(at(app, 5, "10:00"), app.config.policy.casework.review_after)
    engine.run(app, review_at)
    tasks.complete(app, open_task(app, pupil, "cw_review").id, "reviewed", by=school["attendance_lead"],
                   at=review_at)
    assert case_of(app, pupil, "lead_casework").state == "closed"


# --- ABS -----------------------------------------------------------------------------------------------
def test_abs2_five_days_of_illness_without_evidence_goes_to_headteacher_who_unauthorises(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:20], absent={i: "I" for i in range(10, 15)})
    engine.run(app, at(app, 13))
    assert case_of(app, pupil, "illness") is None  # 4 days
    engine.run(app, at(app, 14))
    assert open_task(app, pupil, "request_medical_evidence").role == "office"
    with app.sessions() as s:
        assert len(s.scalars(select(Letter).where(Letter.template == "medical_evidence_request")).all()) == 2
    due = app.calendar.due(at(app, 14), app.config.tasks["request_medical_evidence"].due)
    engine.run(app, due)
    review = open_task(app, pupil, "review_unevidenced_illness")
    with pytest.raises(Refused):
        tasks.complete(app, review.id, "unauthorise", by=school["office"], at=due)
    tasks.complete(app, review.id, "unauthorise", by=school["headteacher"], at=due + dt.timedelta(hours=1))
    marks = codes(app, pupil)
    assert all(marks[(day(app, i), s)] == "O" for i in range(10, 15) for s in ("AM", "PM"))
    assert marks[(day(app, 9), "AM")] == "/"


def test_abs2_five_days_of_illness_with_evidence_closes(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:20], absent={i: "I" for i in range(10, 15)})
    engine.run(app, at(app, 14))
    absence.record_evidence(app, pupil.upn, "GP letter", school["office"], at(app, 15, "09:00"))
    assert case_of(app, pupil, "illness").state == "evidenced"
    engine.run(app, at(app, 19))
    with app.sessions() as s:
        assert s.scalars(select(Task).where(Task.kind == "review_unevidenced_illness")).all() == []
    assert codes(app, pupil)[(day(app, 12), "AM")] == "I"


def test_abs4_religious_request_made_the_same_morning_is_refused_with_reason(app: App, school) -> None:
    pupil = add_pupil(app)
    case = absence.request(app, "religious", pupil.upn, day(app, 10), day(app, 10), "Eid al-Fitr", day(app, 10),
                           school["office"], at(app, 10, "08:30"))
    assert case.state == "refused"
    with app.sessions() as s:
        summary = s.scalars(select(ChronologyEntry.summary).where(ChronologyEntry.rule == "ABS-4")).all()
    assert any("at least 1 required" in x for x in summary)


def test_abs4_religious_request_in_time_authorises_one_day_and_not_the_second(app: App, school) -> None:
    pupil = add_pupil(app)
    absence.request(app, "religious", pupil.upn, day(app, 10), day(app, 11), "Diwali", day(app, 8),
                    school["office"], at(app, 8, "09:00"))
    decide = open_task(app, pupil, "decide_leave_request")
    tasks.complete(app, decide.id, "approved", by=school["headteacher"], at=at(app, 8, "12:00"))
    marks = codes(app, pupil)
    assert marks[(day(app, 10), "AM")] == "R" and marks[(day(app, 11), "PM")] == "O"


def test_abs7_leave_request_approval_needs_exceptional_reason_and_only_headteacher(app: App, school) -> None:
    pupil = add_pupil(app)
    absence.request(app, "leave", pupil.upn, day(app, 30), day(app, 34), "family holiday", day(app, 5),
                    school["office"], at(app, 5, "09:00"))
    decide = open_task(app, pupil, "decide_leave_request")
    assert decide.role == "headteacher"
    with pytest.raises(Refused, match="unless exceptional"):
        tasks.complete(app, decide.id, "approved", by=school["headteacher"], at=at(app, 6, "09:00"))
    tasks.complete(app, decide.id, "refused", by=school["headteacher"], at=at(app, 6, "09:05"))
    assert case_of(app, pupil, "absence_request").state == "refused"
    assert (day(app, 30), "AM") not in codes(app, pupil)


def test_abs1_reason_recorded_by_office_waits_for_headteacher(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:5], absent={3: "N"})
    case = absence.record_reason(app, pupil.upn, day(app, 3), day(app, 3), ("AM", "PM"), "medical_appointment",
                                 school["office"], at(app, 4, "09:00"))
    assert case.state == "awaiting_headteacher"
    assert codes(app, pupil)[(day(app, 3), "AM")] == "N"
    decide = open_task(app, pupil, "authorise_absence")
    with pytest.raises(Refused, match="only the headteacher"):
        tasks.complete(app, decide.id, "authorised", by=school["pastoral_manager"], at=at(app, 4, "10:00"))
    tasks.complete(app, decide.id, "authorised", by=school["headteacher"], at=at(app, 4, "10:05"))
    assert codes(app, pupil)[(day(app, 3), "PM")] == "M"
    with app.sessions() as s:
        assert s.scalars(select(ChronologyEntry).where(ChronologyEntry.category == "mark",
                                                       ChronologyEntry.staff == school["headteacher"])).all()


def test_abs6_unacceptable_reason_is_entered_unauthorised_at_once(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:5], absent={3: "N"})
    case = absence.record_reason(app, pupil.upn, day(app, 3), day(app, 3), ("AM", "PM"), "birthday",
                                 school["office"], at(app, 4, "09:00"))
    assert case.state == "unauthorised" and codes(app, pupil)[(day(app, 3), "AM")] == "O"


def test_abs5_suspension_of_more_than_half_a_day_asks_for_work_home_same_day(app: App, school) -> None:
    half, full = add_pupil(app), add_pupil(app)
    fill(app, half, app.calendar.days[:6], absent={4: ("E", "\\")})
    fill(app, full, app.calendar.days[:6], absent={4: "E"})
    engine.run(app, at(app, 4, "23:00"))
    assert case_of(app, half, "suspension") is None
    task = open_task(app, full, "arrange_work_home")
    assert task.role == "community_support" and app.calendar.local_date(task.due_at) == day(app, 4)
    engine.run(app, at(app, 5, "23:00"))
    assert case_of(app, full, "suspension").state == "ended"


# --- REW -----------------------------------------------------------------------------------------------
def test_rew1_rew2_rew3_term_and_week_lists(app: App, school) -> None:
    perfect, good, improved = add_pupil(app), add_pupil(app), add_pupil(app)
    autumn_end = app.calendar.half_term_last_days()[1][1]
    autumn = [d for d in app.calendar.days if d <= autumn_end]
    spring = [d for d in app.calendar.days if autumn_end < d <= app.calendar.half_term_last_days()[3][1]]
    fill(app, perfect, autumn + spring)
    fill(app, good, autumn + spring, absent={5: "I", 80: "I"})
    fill(app, improved, autumn + spring, absent={i: "O" for i in range(0, 71, 7)})
    with app.sessions() as s:
        lists = rewards.term_lists(s, app.config, app.calendar, "spring")
        week = rewards.full_week_100(s, app.config, app.calendar, autumn[5])
    assert sorted(r["upn"] for r in lists["perfect_100"]) == sorted([perfect.upn, improved.upn])
    assert [r["upn"] for r in lists["certificate"]] == [good.upn]
    assert [r["upn"] for r in lists["improved"]] == [improved.upn]
    assert {r["upn"] for r in week} == {perfect.upn, improved.upn}


def test_reg4_lesson_truancy_turns_a_present_session_unauthorised_and_is_logged(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:5])
    case = absence.record_reason(app, pupil.upn, day(app, 2), day(app, 2), ("PM",), "truancy", school["form_tutor"],
                                 at(app, 2, "15:00"))
    assert case.state == "unauthorised"
    assert codes(app, pupil)[(day(app, 2), "PM")] == app.config.policy.codes.truancy
    with app.sessions() as s:
        entry = s.scalars(select(ChronologyEntry).where(ChronologyEntry.category == "mark")).one()
    assert entry.staff == school["form_tutor"] and "-> O" in entry.summary


def test_abs3_abs6_reasons_map_to_authorised_and_never_authorised_codes(config) -> None:
    cat = {r: config.code(c).category for r, c in config.policy.absence.reasons.items()}
    for reason in ("illness", "medical_appointment", "religious_observance", "funeral", "traumatic_event",
                   "hospital_visit", "exceptional_circumstances"):
        assert cat[reason] == "authorised", reason  # ABS-3
    for reason in ("shopping", "birthday", "looking_after_family", "waiting_for_tradespeople", "haircut",
                   "dentist_appointment", "holiday", "truancy", "no_reason_given", "late_after_register_closed"):
        assert cat[reason] == "unauthorised", reason  # ABS-6


def test_abs1_a_reason_for_a_session_the_pupil_attended_is_refused_and_changes_nothing(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:5], absent={3: ("N", "\\")})  # absent in the AM only
    with pytest.raises(InputError, match=r"marked '\\\\'.* on .* PM: a reason for absence can only be recorded"):
        absence.record_reason(app, pupil.upn, day(app, 3), day(app, 3), ("AM", "PM"), "shopping",
                              school["office"], at(app, 4, "09:00"))
    with app.sessions() as s:
        assert s.scalars(select(Case).where(Case.workflow == "authorisation")).all() == []
    assert codes(app, pupil)[(day(app, 3), "PM")] == "\\"
    absence.record_reason(app, pupil.upn, day(app, 3), day(app, 3), ("AM",), "shopping", school["office"],
                          at(app, 4, "09:05"))  # the absent session alone is fine
    assert codes(app, pupil)[(day(app, 3), "AM")] == "O"
