"""The 2024 national framework preset (policies/national-2024.yaml, rules in policies/national-2024.md) on
SQLite and PostgreSQL: the rolling 10-school-week threshold in any combination, the notice to improve and
its improvement period, term-time holiday straight to a notice, 80/160 GBP, at most 2 notices in 3 years
(the second at 160 with no discount, a third: prosecution considered), N replaced within 5 school days, the
10-day and 15-day returns to the LA, no routine medical evidence, every religious day R, PA at the line."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from casework import absence, engine, penalties, tasks
from casework.attendance import figures_from_codes
from casework.config import Config, _Loader, load_config, merge_overlay, parse_config
from casework.context import App
from casework.errors import InputError
from casework.models import Case, ChronologyEntry, Contact, Letter, Mark, PenaltyNotice, Pupil, Task
from tests.factories import add_pupil, add_staff, change_mark, fill

ROOT = Path(__file__).resolve().parents[2]
PRESET = ROOT / "policies" / "national-2024.yaml"


@pytest.fixture(scope="module")
def config() -> Config:  # overrides conftest's: every `app` here runs the national preset
    return load_config(PRESET)


@pytest.fixture
def school(app: App) -> dict[str, str]:
    return add_staff(app)


def day(app: App, i: int) -> dt.date:
    return app.calendar.days[i]


def at(app: App, i: int, hhmm: str = "23:00") -> dt.datetime:
    return app.calendar.at(day(app, i), dt.time.fromisoformat(hhmm))


def cases(app: App, pupil: Pupil, workflow: str) -> list[Case]:
    with app.sessions() as s:
        return list(s.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == workflow)
                              .order_by(Case.id)))


def open_tasks(app: App, pupil: Pupil, kind: str) -> list[Task]:
    with app.sessions() as s:
        return list(s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.kind == kind,
                                                 Task.status == "open").order_by(Task.id)))


def letters(app: App, pupil: Pupil, template: str) -> list[Letter]:
    with app.sessions() as s:
        return list(s.scalars(select(Letter).where(Letter.pupil_id == pupil.id, Letter.template == template)))


def decide(app: App, school: dict[str, str], pupil: Pupil, kind: str, outcome: str, i: int, **kw: str) -> None:
    (task,) = open_tasks(app, pupil, kind)
    tasks.complete(app, task.id, outcome, by=school["attendance_lead"], at=at(app, i, "10:00"), **kw)


def threshold_case(app: App, school: dict[str, str], absent: dict[int, str], through: int) -> tuple[Pupil, Case]:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:through + 40], absent=absent)
    engine.run(app, at(app, through))
    (case,) = cases(app, pupil, "penalty_notice_2024")
    return pupil, case


# --- NAT-PN-1 ---------------------------------------------------------------------------------------
def test_natpn1_ten_sessions_in_any_combination_within_ten_school_weeks_asks_for_a_decision(app: App, school) -> None:
    pn = app.config.policy.penalty_notices
    assert (pn.referral_unauthorised_sessions, pn.window_school_weeks) == (10, 10)
    pupil = add_pupil(app)
    # 3 days O and 2 days G (6 + 4 sessions, any combination), the last on school day 20
    fill(app, pupil, app.calendar.days[:60], absent={10: "O", 11: "O", 12: "O", 19: "G", 20: "G"})
    engine.run(app, at(app, 19))
    assert cases(app, pupil, "penalty_notice_2024") == []  # 8 sessions
    engine.run(app, at(app, 20))
    (case,) = cases(app, pupil, "penalty_notice_2024")
    assert case.state == "awaiting_decision" and case.data["sessions"] == 10 and not case.data["holiday"]
    assert [t.role for t in open_tasks(app, pupil, "consider_penalty_notice")] == ["attendance_lead"]
    assert cases(app, pupil, "penalty_notice") == []  # the Heys PN-1 workflow is replaced, not run beside it


def test_natpn1_sessions_more_than_ten_school_weeks_apart_never_meet_the_threshold(app: App, school) -> None:
    weeks = app.config.policy.penalty_notices.window_school_weeks
    pupil = add_pupil(app)
    far = 2 + weeks * 5  # school day index beyond the rolling window from days 0-2
    fill(app, pupil, app.calendar.days[:far + 5], absent={0: "O", 1: "O", 2: "O", far: "O", far + 1: "O"})
    engine.run(app, at(app, far + 2))
    assert cases(app, pupil, "penalty_notice_2024") == []  # 6 + 4 sessions, never 10 inside one window


def test_natpn1_declining_needs_a_reason_and_is_logged(app: App, school) -> None:
    pupil, case = threshold_case(app, school, {i: "O" for i in range(10, 15)}, 14)
    (task,) = open_tasks(app, pupil, "consider_penalty_notice")
    with pytest.raises(InputError, match="reason"):
        tasks.complete(app, task.id, "declined", by=school["attendance_lead"], at=at(app, 15, "10:00"))
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "awaiting_decision"  # the refusal changed nothing
    decide(app, school, pupil, "consider_penalty_notice", "declined", 15, reason="family bereavement")
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "declined"
    with app.sessions() as s:
        logged = s.scalars(select(ChronologyEntry.summary).where(ChronologyEntry.rule == "NAT-PN-1")).all()
    assert any("family bereavement" in x for x in logged)


# --- NAT-PN-2 ---------------------------------------------------------------------------------------
def test_natpn2_natpn3_notice_to_improve_then_further_absence_issues_80_160_per_parent(app: App, school) -> None:
    pupil, case = threshold_case(app, school, {i: "O" for i in range(10, 15)} | {22: "O"}, 14)
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    (case,) = cases(app, pupil, "penalty_notice_2024")
    assert case.state == "improving"
    assert len(letters(app, pupil, "notice_to_improve")) == 2  # both parents with parental responsibility
    end = dt.date.fromisoformat(case.data["improve_to"])
    weeks = app.config.policy.penalty_notices.notice_to_improve.improvement_period.weeks
    assert 3 <= weeks <= 6 and end == day(app, 15) + dt.timedelta(weeks=weeks)
    engine.run(app, app.calendar.at(end, dt.time(23, 0)))  # an O on school day 22, inside the period
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "issuing"
    i = app.calendar.school_days_through(end) + 1
    decide(app, school, pupil, "issue_penalty_notice", "issued", i)
    with app.sessions() as s:
        notices = s.scalars(select(PenaltyNotice).where(PenaltyNotice.pupil_id == pupil.id)).all()
    assert len(notices) == 2 and len(letters(app, pupil, "penalty_notice")) == 2
    issued = notices[0].issued_on
    with pytest.raises(InputError, match="80 GBP is due"):
        penalties.pay(app, notices[0].id, 60, issued + dt.timedelta(days=21), school["office"], at(app, i + 15))
    penalties.pay(app, notices[0].id, 80, issued + dt.timedelta(days=21), school["office"], at(app, i + 15))
    penalties.pay(app, notices[1].id, 160, issued + dt.timedelta(days=22), school["office"], at(app, i + 16))
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "closed"


def test_natpn2_no_further_absence_in_the_improvement_period_closes_as_improved(app: App, school) -> None:
    pupil, case = threshold_case(app, school, {i: "O" for i in range(10, 15)}, 14)
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    end = dt.date.fromisoformat(cases(app, pupil, "penalty_notice_2024")[0].data["improve_to"])
    engine.run(app, app.calendar.at(end, dt.time(23, 0)))
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "improved"
    assert open_tasks(app, pupil, "issue_penalty_notice") == []


def test_natpn2_term_time_holiday_goes_straight_to_the_penalty_notice(app: App, school) -> None:
    pupil, case = threshold_case(app, school, {i: "G" for i in range(10, 15)}, 14)
    assert case.data["holiday"]
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "issuing"
    assert letters(app, pupil, "notice_to_improve") == []
    assert len(open_tasks(app, pupil, "issue_penalty_notice")) == 1


def test_natpn3_unpaid_at_28_days_considers_prosecution(app: App, school) -> None:
    pupil, case = threshold_case(app, school, {i: "G" for i in range(10, 15)}, 14)
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    decide(app, school, pupil, "issue_penalty_notice", "issued", 16)
    engine.run(app, app.calendar.at(day(app, 16) + dt.timedelta(days=29), dt.time(9)))
    assert cases(app, pupil, "penalty_notice_2024")[0].state == "closed"
    assert len(open_tasks(app, pupil, "consider_prosecution")) == 2  # one per unpaid notice


# --- NAT-PN-4 ---------------------------------------------------------------------------------------
def _earlier_notices(app: App, pupil: Pupil, per_parent: int, years_ago: float) -> None:
    """`per_parent` notices to each parent for this child, each from an earlier (closed) case."""
    with app.sessions.begin() as s:
        parents = s.scalars(select(Contact).where(Contact.pupil_id == pupil.id)).all()
        for n in range(per_parent):
            when = app.calendar.at(day(app, 0), dt.time(9)) - dt.timedelta(days=round(365 * years_ago) - 30 * n)
            old = Case(pupil_id=pupil.id, workflow="penalty_notice_2024", workflow_version=1, state="closed",
                       opened_at=when, updated_at=when, closed_at=when, key=f"earlier:{pupil.id}:{n}",
                       data={"counter": "earlier"})
            s.add(old)
            s.flush()
            for c in parents:
                s.add(PenaltyNotice(pupil_id=pupil.id, contact_id=c.id, case_id=old.id, counter="unauthorised",
                                    issued_at=when, issued_on=when.date(), status="paid"))


def test_natpn4_second_notice_within_three_years_is_160_with_no_discount(app: App, school) -> None:
    pupil = add_pupil(app)
    _earlier_notices(app, pupil, per_parent=1, years_ago=1)
    fill(app, pupil, app.calendar.days[:60], absent={i: "G" for i in range(10, 15)})
    engine.run(app, at(app, 14))
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    decide(app, school, pupil, "issue_penalty_notice", "issued", 16)
    (case,) = [c for c in cases(app, pupil, "penalty_notice_2024") if c.closed_at is None]
    with app.sessions() as s:
        notices = s.scalars(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).all()
    assert len(notices) == 2
    with pytest.raises(InputError, match="160 GBP is due"):  # no early-payment discount on a second notice
        penalties.pay(app, notices[0].id, 80, notices[0].issued_on + dt.timedelta(days=3), school["office"],
                      at(app, 19))
    penalties.pay(app, notices[0].id, 160, notices[0].issued_on + dt.timedelta(days=3), school["office"],
                  at(app, 19))
    assert all(row["repeat"] for row in penalties.ledger(app, pupil.upn) if row["id"] in {n.id for n in notices})


def test_natpn4_a_notice_more_than_three_years_ago_does_not_count(app: App, school) -> None:
    pupil = add_pupil(app)
    _earlier_notices(app, pupil, per_parent=2, years_ago=3.5)
    fill(app, pupil, app.calendar.days[:60], absent={i: "G" for i in range(10, 15)})
    engine.run(app, at(app, 14))
    decide(app, school, pupil, "consider_penalty_notice", "proceed", 15)
    decide(app, school, pupil, "issue_penalty_notice", "issued", 16)
    ledger = [r for r in penalties.ledger(app, pupil.upn) if r["status"] == "issued"]
    assert len(ledger) == 2 and not any(r["repeat"] for r in ledger)


def test_natpn4_parents_at_the_limit_get_no_notice_prosecution_is_considered(app: App, school) -> None:
    pupil = add_pupil(app)
    _earlier_notices(app, pupil, per_parent=2, years_ago=1)
    fill(app, pupil, app.calendar.days[:60], absent={i: "O" for i in range(10, 15)})
    engine.run(app, at(app, 14))
    (case,) = [c for c in cases(app, pupil, "penalty_notice_2024") if not c.key.startswith("earlier:")]
    assert case.state == "prosecution"
    assert len(open_tasks(app, pupil, "consider_prosecution")) == 2
    assert open_tasks(app, pupil, "consider_penalty_notice") == []


# --- NAT-REG-1, NAT-REG-2 -----------------------------------------------------------------------------
def test_natreg1_registers_close_within_30_minutes_and_the_preset_departs_from_nothing(config: Config) -> None:
    from casework.policy import check

    for s in (config.policy.registration.am, config.policy.registration.pm):
        assert (dt.datetime.combine(dt.date.min, s.close) - dt.datetime.combine(dt.date.min, s.open)) <= \
            dt.timedelta(minutes=30)
    assert check(config) == []
    assert config.policy.codes.table.keys() == load_config(ROOT / "config.yaml").policy.codes.table.keys()


def test_natreg2_under_the_preset_fdr4_replaces_n_within_the_limit_so_no_task_is_needed(app: App, school) -> None:
    limit = app.config.policy.first_day.no_reason_max_school_days
    assert app.config.policy.first_day.reason_within.school_days <= limit
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:30], absent={10: ("N", "/")})
    engine.run(app, at(app, 10 + limit + 1))
    with app.sessions() as s:
        assert s.scalar(select(Mark.code).where(Mark.pupil_id == pupil.id, Mark.date == day(app, 10),
                                                Mark.session == "AM")) == "O"
    assert open_tasks(app, pupil, "replace_no_reason_code") == []


def test_natreg2_n_still_on_the_register_after_five_school_days_is_a_task_until_replaced(app: App, school) -> None:
    """A school whose own FDR-4 deadline is longer than the framework's: the N outlives the limit."""
    overlay = yaml.load(PRESET.read_text(), Loader=_Loader)  # noqa: S506 - the config's own SafeLoader
    overlay.pop("extends")
    tree = merge_overlay(yaml.safe_load((ROOT / "config.yaml").read_text()), overlay)
    tree["policy"]["first_day"]["reason_within"] = {"school_days": 10, "time": "16:00"}
    app._config = parse_config(tree, "national preset, FDR-4 after 10 school days")
    limit = app.config.policy.first_day.no_reason_max_school_days
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:30], absent={10: ("N", "/")})  # N in the AM, present in the PM
    engine.run(app, at(app, 10 + limit - 1))
    assert open_tasks(app, pupil, "replace_no_reason_code") == []
    engine.run(app, at(app, 10 + limit))
    (task,) = open_tasks(app, pupil, "replace_no_reason_code")
    assert task.role == "office"
    with pytest.raises(InputError):  # the code is still N: the task cannot be marked done yet
        tasks.complete(app, task.id, "replaced", by=school["office"], at=at(app, 10 + limit + 1, "09:00"))
    change_mark(app, pupil, day(app, 10), "AM", "M", at(app, 10 + limit + 1, "09:30"), by=school["headteacher"])
    engine.run(app, at(app, 10 + limit + 1, "10:00"))
    assert open_tasks(app, pupil, "replace_no_reason_code") == []
    assert cases(app, pupil, "no_reason_code")[0].state == "replaced"


# --- NAT-LA-1, NAT-LA-2 -------------------------------------------------------------------------------
def test_natla1_ten_consecutive_school_days_unauthorised_is_one_return_to_the_la(app: App, school) -> None:
    days = app.config.policy.la_returns.unauthorised_consecutive_school_days
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:40], absent={i: "O" for i in range(5, 5 + days + 3)})
    engine.run(app, at(app, 5 + days - 2))
    assert open_tasks(app, pupil, "la_return_unauthorised") == []
    engine.run(app, at(app, 5 + days - 1))  # the 10th consecutive day
    (task,) = open_tasks(app, pupil, "la_return_unauthorised")
    assert task.role == "attendance_lead"
    engine.run(app, at(app, 5 + days + 2))  # the absence goes on: still one return for the run, not one a day
    with app.sessions() as s:
        assert len(s.scalars(select(Task).where(Task.pupil_id == pupil.id,
                                                Task.kind == "la_return_unauthorised")).all()) == 1


def test_natla2_fifteen_school_days_of_illness_cumulative_is_a_health_return(app: App, school) -> None:
    days = app.config.policy.la_returns.illness_school_days
    pupil = add_pupil(app)
    ill = [3, 4, 5, 10, 11, 12, 13, 20, 21, 22, 23, 24, 30, 31, 32]  # 15 days in four spells
    assert len(ill) == days
    fill(app, pupil, app.calendar.days[:40], absent={i: "I" for i in ill})
    engine.run(app, at(app, 31))
    assert open_tasks(app, pupil, "la_return_health") == []
    engine.run(app, at(app, 32))
    assert len(open_tasks(app, pupil, "la_return_health")) == 1


# --- NAT-ABS-1, NAT-ABS-2, NAT-FIG-1 ------------------------------------------------------------------
def test_natabs1_five_days_of_illness_asks_for_no_medical_evidence(app: App, school) -> None:
    pupil = add_pupil(app)
    fill(app, pupil, app.calendar.days[:20], absent={i: "I" for i in range(10, 16)})
    engine.run(app, at(app, 17))
    assert open_tasks(app, pupil, "request_medical_evidence") == []
    assert letters(app, pupil, "medical_evidence_request") == []


def test_natabs2_every_day_of_a_religious_observance_is_authorised(app: App, school) -> None:
    pupil = add_pupil(app)
    absence.request(app, "religious", pupil.upn, day(app, 10), day(app, 12), "Passover", day(app, 8),
                    school["office"], at(app, 8, "09:00"))
    (task,) = open_tasks(app, pupil, "decide_leave_request")
    tasks.complete(app, task.id, "approved", by=school["headteacher"], at=at(app, 8, "12:00"))
    with app.sessions() as s:
        marks = s.scalars(select(Mark.code).where(Mark.pupil_id == pupil.id)).all()
    assert sorted(set(marks)) == ["R"] and len(marks) == 6


def test_natfig1_exactly_90_percent_is_persistent_absence_under_the_framework_not_under_heys(config: Config) -> None:
    heys = load_config(ROOT / "config.yaml")
    codes = ["/"] * 90 + ["O"] * 10
    assert figures_from_codes(codes, config).persistent_absentee
    assert not figures_from_codes(codes, heys).persistent_absentee
    assert figures_from_codes(["/"] * 50 + ["O"] * 50, config).severe_absentee
