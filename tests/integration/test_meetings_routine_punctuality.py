"""Parent meetings (MTG-1 to MTG-3), the fortnightly routine (ONG-1 to ONG-4) and punctuality (PUN-1 to
PUN-3), on SQLite and PostgreSQL, with the clock controlled."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from casework import engine, meetings, tasks
from casework.context import App
from casework.errors import InputError
from casework.models import Case, Letter, Pupil, Task
from casework.radar import radar_meeting
from tests.factories import add_pupil, add_staff, fill


@pytest.fixture
def school(app: App) -> dict[str, str]:
    return add_staff(app)


def at(app: App, i: int, hhmm: str) -> dt.datetime:
    return app.calendar.at(app.calendar.days[i], dt.time.fromisoformat(hhmm))


def letters(app: App, pupil: Pupil, template: str) -> list[Letter]:
    with app.sessions() as s:
        return list(s.scalars(select(Letter).where(Letter.pupil_id == pupil.id, Letter.template == template)))


def open_tasks(app: App, pupil: Pupil, kind: str) -> list[Task]:
    with app.sessions() as s:
        return list(s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.kind == kind,
                                                 Task.status == "open").order_by(Task.due_at)))


# --- MTG ------------------------------------------------------------------------------------------------
def test_mtg2_mtg3_meeting_cancelled_twice_leads_to_central_referral(app: App, school) -> None:
    pupil = add_pupil(app)
    pm = school["pastoral_manager"]
    m = meetings.arrange(app, upn=pupil.upn, when=at(app, 5, "15:30"), attendees=["parent", "PM"],
                         purpose="stage 3", by=pm, now=at(app, 2, "10:00"))
    assert m.state == "arranged"
    meetings.record(app, m.id, "cancelled_by_parent", note="rang in", by=pm, at=at(app, 5, "09:00"))
    rearrange = open_tasks(app, pupil, "rearrange_meeting")
    assert len(rearrange) == 1
    assert rearrange[0].due_at == app.calendar.due(at(app, 5, "09:00"), app.config.tasks["rearrange_meeting"].due)
    assert app.calendar.local_date(rearrange[0].due_at) == app.calendar.days[5] + dt.timedelta(days=7)  # MTG-2
    meetings.arrange(app, upn=None, meeting_id=m.id, when=at(app, 8, "15:30"), attendees=["parent", "PM"],
                     purpose=None, by=pm, now=at(app, 5, "11:00"))
    assert [le.channel for le in letters(app, pupil, "meeting_confirmation")] == ["post", "post"]  # by letter
    assert open_tasks(app, pupil, "rearrange_meeting") == []  # done by rearranging
    meetings.record(app, m.id, "cancelled_by_parent", note=None, by=pm, at=at(app, 8, "09:00"))
    with app.sessions() as s:
        assert s.get(Case, m.id).state == "referred"
    assert [t.role for t in open_tasks(app, pupil, "central_referral")] == ["pastoral_manager"]


def test_mtg1_held_closes_and_a_second_record_is_refused(app: App, school) -> None:
    pupil = add_pupil(app)
    m = meetings.arrange(app, upn=pupil.upn, when=at(app, 5, "15:30"), attendees=["parent"], purpose=None,
                         by=None, now=at(app, 2, "10:00"))
    meetings.record(app, m.id, "held", note="targets agreed", by=None, at=at(app, 5, "16:30"))
    with pytest.raises(InputError, match="is held, not arranged"):
        meetings.record(app, m.id, "no_show", note=None, by=None, at=at(app, 5, "16:40"))
    with pytest.raises(InputError, match="not one of"):
        meetings.record(app, m.id, "maybe", note=None, by=None, at=at(app, 5, "16:40"))


def test_mtg_arranging_completes_the_stage3_parent_meeting_task(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:12], absent={10: ("O", "\\"), 11: "O"})  # 3 of 24 = 87.5%... stage 4
    # a pupil at stage 3: 2 sessions off of 24 (91.7%)
    other = add_pupil(app)
    fill(app, other, app.calendar.days[:12], absent={11: "O"})
    engine.run(app, at(app, 11, "18:00"))
    [task] = open_tasks(app, other, "parent_meeting")
    meetings.arrange(app, upn=other.upn, when=at(app, 14, "15:30"), attendees=["mum"], purpose="stage 3",
                     by=school["pastoral_manager"], now=at(app, 12, "09:00"))
    with app.sessions() as s:
        assert (s.get(Task, task.id).status, s.get(Task, task.id).outcome) == ("done", "arranged")


# --- ONG ------------------------------------------------------------------------------------------------
def test_ong2_ong3_two_consecutive_amber_reviews_put_pupil_on_two_week_report(app: App, school) -> None:
    low, fine = add_pupil(app), add_pupil(app)
    days = app.calendar.days[:60]
    fill(app, low, days, absent={i: ("I", "\\") for i in range(0, 60, 9)})  # about 94%: amber
    fill(app, fine, days)
    fortnights = app.calendar.fortnight_days()
    second, third = fortnights[1], fortnights[2]
    engine.run(app, app.calendar.at(second, dt.time(9)))
    [review] = open_tasks(app, low, "tutor_review")
    assert open_tasks(app, fine, "tutor_review") == []  # 100%: no review
    assert review.role == "form_tutor" and review.assignee_id is not None
    tasks.complete(app, review.id, "reviewed", by=school["form_tutor"], at=app.calendar.at(second, dt.time(12)))
    engine.run(app, app.calendar.at(third, dt.time(9)))
    [review2] = open_tasks(app, low, "tutor_review")
    tasks.complete(app, review2.id, "reviewed", by=school["form_tutor"], at=app.calendar.at(third, dt.time(12)))
    assert len(letters(app, low, "report_placed")) == 2  # both parents
    report_days = app.config.policy.ongoing.report_school_days
    last = app.calendar.add_school_days(third, report_days)
    engine.run(app, app.calendar.at(last, dt.time(20)))
    with app.sessions() as s:
        signs = s.scalars(select(Task).where(Task.kind == "daily_report_sign")).all()
        case = s.scalars(select(Case).where(Case.workflow == "ongoing", Case.pupil_id == low.id)).one()
    assert len(signs) == report_days
    assert sorted(app.calendar.local_date(t.due_at) for t in signs) == [
        app.calendar.add_school_days(third, i) for i in range(1, report_days + 1)]
    assert case.state == "watching"


def test_ong4_radar_meeting_lists_open_cases_and_band_changes_this_week(app: App, school) -> None:
    steady, dropped = add_pupil(app), add_pupil(app)
    days = app.calendar.days[:15]
    fill(app, steady, days)
    fill(app, dropped, days, absent={13: ("O", "\\")})  # 100% at the end of week 2, 29/30 in week 3
    engine.run(app, app.calendar.at(days[14], dt.time(18)))
    with app.sessions() as s:
        rows = radar_meeting(s, app.config, app.calendar, days[14])
    assert [r["upn"] for r in rows] == [dropped.upn]
    assert rows[0]["band_changed"] and rows[0]["band"] == "stage_2"


# --- PUN ------------------------------------------------------------------------------------------------
def _lates(app: App, pupil: Pupil, late_days: list[int], n_days: int = 60) -> None:
    fill(app, pupil, app.calendar.days[:n_days], late=set(late_days))


def test_pun1_messages_at_3_and_5_lates_once_each(app: App, school) -> None:
    pupil = add_pupil(app)
    _lates(app, pupil, [1, 3, 5, 7, 9, 11])
    engine.run(app, at(app, 4, "18:00"))
    assert letters(app, pupil, "punctuality_parentmail") == []  # 2 lates
    engine.run(app, at(app, 5, "18:00"))
    assert len(letters(app, pupil, "punctuality_parentmail")) == 2  # 3 lates: both parents
    engine.run(app, at(app, 8, "18:00"))
    assert len(letters(app, pupil, "punctuality_parentmail")) == 2  # 4 lates: nothing new
    engine.run(app, at(app, 9, "18:00"))
    assert len(letters(app, pupil, "punctuality_parentmail")) == 4  # 5 lates
    engine.run(app, at(app, 12, "18:00"))
    assert len(letters(app, pupil, "punctuality_parentmail")) == 4


def test_pun2_ten_lates_letter_meeting_and_report_then_congratulations_when_no_late(app: App, school) -> None:
    pupil = add_pupil(app)
    _lates(app, pupil, list(range(10)))  # 10 lates on the first ten days, then on time
    engine.run(app, at(app, 9, "18:00"))
    assert len(letters(app, pupil, "punctuality_parentmail")) == 4  # 3 and 5 passed the same evening
    assert len(letters(app, pupil, "punctuality_letter")) == 2
    assert len(open_tasks(app, pupil, "punctuality_meeting")) == 1
    days = app.config.policy.punctuality.report_school_days
    engine.run(app, at(app, 9 + days, "20:00"))
    with app.sessions() as s:
        reports = s.scalars(select(Task).where(Task.kind == "punctuality_report")).all()
    assert len(reports) == days
    assert len(letters(app, pupil, "punctuality_congratulations")) == 2


def test_pun3_eleventh_late_opens_slt_meeting_and_no_congratulations(app: App, school) -> None:
    pupil = add_pupil(app)
    _lates(app, pupil, [*range(10), 12])  # the 11th late comes during the report
    engine.run(app, at(app, 9 + app.config.policy.punctuality.report_school_days, "20:00"))
    [slt] = open_tasks(app, pupil, "slt_meeting")
    assert slt.role == "senior_leader" and app.calendar.local_date(slt.created_at) == app.calendar.days[12]
    assert letters(app, pupil, "punctuality_congratulations") == []


def test_pun_u_mark_counts_as_late_and_unauthorised(app: App, school, config) -> None:
    from casework.attendance import figures_from_codes

    f = figures_from_codes(["U", "/", "L", "\\"], config)
    assert (f.lates, f.unauthorised, f.present) == (2, 1, 3)


# --- MTG: a meeting is arranged with its date, never ticked off in the inbox ------------------------------
def _stage3_pupil(app: App) -> Pupil:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:12], absent={11: "O"})  # 22 of 24 sessions: 91.7%, stage 3
    engine.run(app, at(app, 11, "18:00"))
    return pupil


def test_mtg1_the_inbox_refuses_arranged_without_a_meeting_and_says_how(app: App, school) -> None:
    pupil = _stage3_pupil(app)
    [task] = open_tasks(app, pupil, "parent_meeting")
    with pytest.raises(InputError, match=f"casework meeting arrange --pupil {pupil.upn}"):
        tasks.complete(app, task.id, "arranged", by=school["pastoral_manager"], at=at(app, 12, "09:00"))
    assert [t.id for t in open_tasks(app, pupil, "parent_meeting")] == [task.id]  # nothing changed
    with app.sessions() as s:
        assert s.scalars(select(Case).where(Case.workflow == "meeting")).all() == []


def test_mtg2_the_inbox_refuses_rearranged_without_the_new_date(app: App, school) -> None:
    pupil = add_pupil(app)
    pm = school["pastoral_manager"]
    m = meetings.arrange(app, upn=pupil.upn, when=at(app, 5, "15:30"), attendees=["parent"], purpose="stage 3",
                         by=pm, now=at(app, 2, "10:00"))
    meetings.record(app, m.id, "cancelled_by_parent", note=None, by=pm, at=at(app, 5, "09:00"))
    [task] = open_tasks(app, pupil, "rearrange_meeting")
    with pytest.raises(InputError, match=f"--meeting {m.id}"):
        tasks.complete(app, task.id, "rearranged", by=pm, at=at(app, 6, "09:00"))
    assert letters(app, pupil, "meeting_confirmation") == []
    tasks.complete(app, task.id, "could_not_reach", by=pm, at=at(app, 6, "09:05"))  # the other outcome stands


def test_mtg1_simulated_staff_arrange_a_real_meeting_and_record_how_it_went(app: App, school) -> None:
    from casework.simulate import MEETING_AFTER_SCHOOL_DAYS, MEETING_TIME, Staffroom

    pupil = _stage3_pupil(app)
    [task] = open_tasks(app, pupil, "parent_meeting")
    staff = Staffroom(app, seed=1)
    staff.plans[task.id] = (app.calendar.days[12], "arranged", None)
    staff.act(app.calendar.days[12], at(app, 12, "10:30"))
    with app.sessions() as s:
        (meeting,) = s.scalars(select(Case).where(Case.workflow == "meeting", Case.pupil_id == pupil.id)).all()
        assert (s.get(Task, task.id).status, meeting.state) == ("done", "arranged")
    held_at = app.calendar.at(app.calendar.days[12 + MEETING_AFTER_SCHOOL_DAYS], MEETING_TIME)
    staff.act(app.calendar.days[12 + MEETING_AFTER_SCHOOL_DAYS], held_at)
    with app.sessions() as s:
        assert s.get(Case, meeting.id).state in ("held", "rearranging")  # its outcome is recorded on the day
    assert staff.meetings == {}
