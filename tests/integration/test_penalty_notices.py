"""Penalty notices (PN-1 to PN-4) on SQLite and PostgreSQL: a family of two children and two parents, the
15-school-day window's last day and the day after, payments on days 21, 22 and 29."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from casework import engine, penalties, tasks
from casework.context import App
from casework.errors import InputError, Refused
from casework.models import Case, Contact, Letter, PenaltyNotice, Pupil, Task
from tests.factories import add_pupil, add_staff, fill


@pytest.fixture
def school(app: App) -> dict[str, str]:
    return add_staff(app)


def day(app: App, i: int) -> dt.date:
    return app.calendar.days[i]


def evening(app: App, i: int) -> dt.datetime:
    return app.calendar.at(day(app, i), dt.time(23, 0))


def family(app: App, absent: list[dict[int, str]]) -> list[Pupil]:
    """Siblings sharing the same two parents (the same contact ids in the school's MIS)."""
    kids = [add_pupil(app, parents=0) for _ in absent]
    with app.sessions.begin() as s:
        for kid in kids:
            for k, name in enumerate(("Mum", "Dad")):
                s.add(Contact(pupil_id=kid.id, contact_id=f"FAM{k}", name=f"{name} Test", relationship=name.lower(),
                              parental_responsibility=True, email=f"{name.lower()}@example.org",
                              address="2 Low St", priority=k + 1))
    for kid, off in zip(kids, absent, strict=True):
        fill(app, kid, app.calendar.days[:60], absent=off)
    return kids


def case_of(app: App, pupil: Pupil) -> Case:
    with app.sessions() as s:
        return s.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == "penalty_notice")).one()


def open_task(app: App, pupil: Pupil, kind: str) -> Task:
    with app.sessions() as s:
        return s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.kind == kind, Task.status == "open")).one()


def approve(app: App, school: dict[str, str], pupil: Pupil, i: int) -> None:
    tasks.complete(app, open_task(app, pupil, "approve_pn_referral").id, "approved", by=school["attendance_lead"],
                   at=app.calendar.at(day(app, i), dt.time(9)))


def test_pn1_pn2_pn3_family_of_two_children_and_two_parents_gets_four_notices(app: App, school) -> None:
    ten_sessions = {i: "O" for i in range(10, 15)}
    window = app.config.policy.penalty_notices.warning_window_school_days
    a, b = family(app, [{**ten_sessions, 15 + window: "O"}, {**ten_sessions, 15 + window + 1: "O"}])
    engine.run(app, evening(app, 13))
    with app.sessions() as s:
        assert s.scalars(select(Case).where(Case.workflow == "penalty_notice")).all() == []  # 8 sessions
    engine.run(app, evening(app, 14))
    for kid in (a, b):
        assert case_of(app, kid).state == "awaiting_approval"
        approve(app, school, kid, 15)
        assert case_of(app, kid).state == "warning"
    # a: absent on school day 15 of the window; b: on school day 16, the day after it closed
    engine.run(app, evening(app, 15 + window + 1))
    assert case_of(app, a).state == "issuing"
    assert case_of(app, b).state == "window_closed"
    tasks.complete(app, open_task(app, a, "issue_penalty_notice").id, "issued", by=school["attendance_lead"],
                   at=app.calendar.at(day(app, 15 + window + 2), dt.time(10)))
    with app.sessions() as s:
        notices = s.scalars(select(PenaltyNotice).where(PenaltyNotice.pupil_id == a.id)).all()
        letters = s.scalars(select(Letter).where(Letter.pupil_id == a.id, Letter.template == "penalty_notice")).all()
    assert len(notices) == 2 and len(letters) == 2  # one per parent for this child
    assert {n.contact_id for n in notices} == _contacts(app, a)


def _contacts(app: App, pupil: Pupil) -> set[int]:
    with app.sessions() as s:
        return set(s.scalars(select(Contact.id).where(Contact.pupil_id == pupil.id)))


def test_pn3_four_notices_for_two_children_with_absence_in_both_windows(app: App, school) -> None:
    kids = family(app, [{**{i: "O" for i in range(10, 15)}, 20: "O"}] * 2)
    engine.run(app, evening(app, 14))
    for kid in kids:
        approve(app, school, kid, 15)
    engine.run(app, evening(app, 20))
    for kid in kids:
        tasks.complete(app, open_task(app, kid, "issue_penalty_notice").id, "issued",
                       by=school["attendance_lead"], at=app.calendar.at(day(app, 21), dt.time(10)))
    with app.sessions() as s:
        notices = s.scalars(select(PenaltyNotice)).all()
        keyed = {(n.pupil_id, s.get(Contact, n.contact_id).contact_id) for n in notices}
    assert len(notices) == 4 and len(keyed) == 4  # per parent with parental responsibility, per child
    from notifications.exports import notices_section

    with app.sessions() as s:  # CW-4: the court evidence pack lists the ledger
        pack = notices_section(s, s.get(Pupil, kids[0].id))
    assert [(n["parent"], n["status"]) for n in pack] == [("Mum Test", "issued"), ("Dad Test", "issued")]


def test_pn3_payment_on_day_21_is_60_day_22_is_120_and_day_29_prosecution(app: App, school) -> None:
    kids = family(app, [{**{i: "O" for i in range(10, 15)}, 20: "O"}] * 3)
    engine.run(app, evening(app, 14))
    for kid in kids:
        approve(app, school, kid, 15)
    engine.run(app, evening(app, 20))
    issued_at = app.calendar.at(day(app, 21), dt.time(10))
    for kid in kids:
        tasks.complete(app, open_task(app, kid, "issue_penalty_notice").id, "issued", by=school["attendance_lead"],
                       at=issued_at)
    issued_on = day(app, 21)
    with app.sessions() as s:
        first, second, third = (s.scalars(select(PenaltyNotice).where(PenaltyNotice.pupil_id == k.id)
                                          .order_by(PenaltyNotice.id)).first() for k in kids)
    amounts = app.config.policy.penalty_notices.amounts
    at = issued_at + dt.timedelta(days=30)
    with pytest.raises(InputError, match=f"{amounts[0].amount_gbp} GBP is due"):
        penalties.pay(app, first.id, amounts[1].amount_gbp, issued_on + dt.timedelta(days=21), None, at)
    penalties.pay(app, first.id, amounts[0].amount_gbp, issued_on + dt.timedelta(days=21), None, at)
    with pytest.raises(InputError, match=f"{amounts[1].amount_gbp} GBP is due"):
        penalties.pay(app, second.id, amounts[0].amount_gbp, issued_on + dt.timedelta(days=22), None, at)
    penalties.pay(app, second.id, amounts[1].amount_gbp, issued_on + dt.timedelta(days=22), None, at)
    with pytest.raises(InputError, match="past every payment period"):
        penalties.pay(app, third.id, amounts[1].amount_gbp, issued_on + dt.timedelta(days=29), None, at)
    deadline = app.calendar.at(issued_on + dt.timedelta(days=app.config.policy.penalty_notices.prosecution_after_days),
                               dt.time(23, 59))
    engine.run(app, deadline - dt.timedelta(minutes=1))
    with app.sessions() as s:
        assert s.scalars(select(Task).where(Task.kind == "consider_prosecution")).all() == []
    engine.run(app, deadline)
    with app.sessions() as s:
        prosecute = s.scalars(select(Task).where(Task.kind == "consider_prosecution")).all()
        pupils = {t.pupil_id for t in prosecute}
    # the third child's two notices are unpaid, and the other parent of each of the first two children too
    assert third.pupil_id in pupils and len(prosecute) == 4


def test_pn1_pn4_holiday_counted_alone_and_declined_referral_needs_a_reason(app: App, school) -> None:
    [kid] = family(app, [{i: "G" for i in range(10, 15)}])  # PN-4: term-time holiday counts on its own
    engine.run(app, evening(app, 14))
    assert case_of(app, kid).data["counter"] == "term_time_holiday"
    task = open_task(app, kid, "approve_pn_referral")
    with pytest.raises(Refused, match="reason"):
        tasks.complete(app, task.id, "declined", by=school["attendance_lead"], at=evening(app, 15))
    tasks.complete(app, task.id, "declined", reason="bereavement abroad", by=school["attendance_lead"],
                   at=evening(app, 15))
    assert case_of(app, kid).state == "declined"
