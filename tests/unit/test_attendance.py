"""casework/attendance.py, the pure functions: counting codes, bands, grades, PA, equivalents, streaks."""
from __future__ import annotations

import datetime as dt

import pytest

from casework.attendance import (
    band_for,
    consecutive_absent_days,
    figures_from_codes,
    grade_for,
    window_start,
    year_equivalents,
)
from casework.calendar import SchoolCalendar
from casework.config import Config

D = dt.date


def codes(**counts: int) -> list[str]:
    """codes(present=3, I=2) -> ['/', '/', '/', 'I', 'I']; 'present' spells the '/' code."""
    return [("/" if c == "present" else c) for c, n in counts.items() for _ in range(n)]


# --- REG-3: the code table --------------------------------------------------------------------------
def test_reg3_each_category_is_counted(config: Config) -> None:
    f = figures_from_codes(["/", "\\", "L", "V", "P", "I", "M", "C", "N", "O", "G", "X", "Y1", "#"], config)
    assert (f.present, f.approved_activity, f.attended) == (3, 2, 5)
    assert (f.authorised, f.unauthorised, f.not_counted) == (3, 3, 3)
    assert f.possible == 11  # not_counted sessions are not possible sessions
    assert f.absent == 6
    assert f.attendance_pct == 45.5  # 5/11 = 45.45.. half up
    assert f.absence_pct == 54.5


def test_reg2_late_before_close_is_present_and_late(config: Config) -> None:
    f = figures_from_codes(codes(present=9, L=1), config)
    assert (f.present, f.unauthorised, f.lates, f.possible) == (10, 0, 1, 10)
    assert f.attendance_pct == 100.0


def test_reg2_late_after_close_is_unauthorised_and_late(config: Config) -> None:
    f = figures_from_codes(codes(present=8, L=1, U=1), config)
    assert (f.present, f.unauthorised, f.lates, f.possible) == (9, 1, 2, 10)
    assert f.attendance_pct == 90.0


def test_only_not_counted_sessions_give_no_percentage(config: Config) -> None:
    f = figures_from_codes(["X", "X", "Y2"], config)
    assert (f.possible, f.not_counted) == (0, 3)
    assert f.attendance_pct is None and f.absence_pct is None and f.attendance_exact is None
    assert (f.band, f.grade, f.persistent_absentee, f.severe_absentee) == (None, None, False, False)
    assert figures_from_codes([], config).possible == 0


def test_reg3_unknown_code_is_rejected(config: Config) -> None:
    with pytest.raises(ValueError, match="'ZZ'"):
        figures_from_codes(["/", "ZZ"], config)


def test_attendance_pct_is_rounded_half_up_for_display(config: Config) -> None:
    # 389/400 = 97.25% exactly: shown as 97.3 (float round() would give 97.2)
    f = figures_from_codes(codes(present=389, I=11), config)
    assert (f.attendance_pct, f.absence_pct) == (97.3, 2.7)


# --- STG bands --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("pct", "band"), [
    (100.0, "stage_1"), (99.99, "monitor"), (98.0, "monitor"), (97.99, "stage_2"), (94.0, "stage_2"),
    (93.99, "stage_3"), (91.0, "stage_3"), (90.99, "stage_4"), (87.0, "stage_4"), (86.99, "stage_5"),
    (0.0, "stage_5"),
])
def test_stg_band_boundaries_are_half_open(config: Config, pct: float, band: str) -> None:
    assert band_for(pct, 40, config) == band


def test_stg_no_band_before_min_possible_sessions(config: Config) -> None:
    minimum = config.policy.stages.min_possible_sessions
    assert minimum == 20
    assert band_for(50.0, minimum - 1, config) is None
    assert band_for(50.0, minimum, config) == "stage_5"
    assert figures_from_codes(codes(present=9, O=9), config).band is None  # 18 possible sessions
    assert figures_from_codes(codes(present=10, O=10), config).band == "stage_5"


def test_stg_band_compares_the_unrounded_percentage(config: Config) -> None:
    f = figures_from_codes(codes(present=48, I=1), config)  # 97.96%: shows 98.0 but is below 98
    assert f.attendance_pct == 98.0
    assert f.band == "stage_2"
    assert figures_from_codes(codes(present=49, I=1), config).band == "monitor"  # exactly 98%


def test_stg_band_of_exact_boundary_figures(config: Config) -> None:
    assert figures_from_codes(codes(present=47, I=3), config).band == "stage_2"  # 94%
    assert figures_from_codes(codes(present=91, O=9), config).band == "stage_3"  # 91%
    assert figures_from_codes(codes(present=87, O=13), config).band == "stage_4"  # 87%
    assert figures_from_codes(codes(present=40), config).band == "stage_1"


# --- grades (poster) --------------------------------------------------------------------------------
POSTER = {100: "8-9", 99: "7-8", 98: "7-8", 97: "6", 96: "5", 95: "4", 94: "4", 93: "4", 92: "3",
          91: "3", 90: "2", 89: "1", 88: "1", 87: "U", 80: "U", 0: "U"}


def test_grades_table_matches_the_poster(config: Config) -> None:
    assert {pct: grade_for(float(pct), config) for pct in POSTER} == POSTER


def test_grades_floor_fractional_percentages(config: Config) -> None:
    assert grade_for(99.9, config) == "7-8"  # not yet 100
    assert grade_for(97.99, config) == "6"
    assert grade_for(95.5, config) == "4"
    assert grade_for(87.9, config) == "U"  # "87% or less"
    assert grade_for(None, config) is None


# --- PA and severe absence --------------------------------------------------------------------------
def test_persistent_absence_is_below_90(config: Config) -> None:
    assert not figures_from_codes(codes(present=90, I=10), config).persistent_absentee  # exactly 90%
    assert figures_from_codes(codes(present=89, I=11), config).persistent_absentee
    assert figures_from_codes(codes(present=179, I=21), config).persistent_absentee  # 89.5%


def test_reference_pa_line_of_the_first_half_term(config: Config) -> None:
    """72 sessions: the PA line is 7.2 sessions, so 7 missed is not PA and 8 is."""
    assert not figures_from_codes(codes(present=65, I=7), config).persistent_absentee
    assert figures_from_codes(codes(present=64, I=8), config).persistent_absentee


def test_severe_absence_is_half_or_more_missed(config: Config) -> None:
    assert figures_from_codes(codes(present=10, O=10), config).severe_absentee  # 50% missed
    assert not figures_from_codes(codes(present=11, O=9), config).severe_absentee
    assert figures_from_codes(codes(present=2, O=18), config).severe_absentee


# --- equivalents ------------------------------------------------------------------------------------
def test_days_and_lessons_missed(config: Config) -> None:
    f = figures_from_codes(codes(present=30, I=4, O=3, X=6), config)
    assert (f.days_missed, f.lessons_missed) == (3.5, 17.5)


@pytest.mark.parametrize(("pct", "days", "policy_days", "lessons"), [
    (95, 9.5, 9, 47.5), (90, 19.0, 19, 95.0), (85, 28.5, 29, 142.5), (80, 38.0, 38, 190.0),
])
def test_reference_year_equivalents(config: Config, pct: float, days: float, policy_days: int,
                                    lessons: float) -> None:
    """POLICY: 95% is about 9 days (2 weeks, 50 lessons); 90% 19 days; 85% 29 days; 80% 38 days."""
    eq = year_equivalents(pct, config)
    assert (eq.days_missed, eq.lessons_missed) == (days, lessons)
    assert abs(eq.days_missed - policy_days) <= 0.5  # the poster rounds 9.5 down and 28.5 up


def test_reference_95_percent_is_about_two_weeks_and_50_lessons(config: Config) -> None:
    eq = year_equivalents(95, config)
    assert abs(eq.lessons_missed - 50) <= config.policy.figures.lessons_per_day  # within a day's lessons


# --- consecutive school days (ABS-2, CME-1) -------------------------------------------------------
def week(code: str, *days: dt.date) -> dict[dt.date, dict[str, str]]:
    return {d: {"AM": code, "PM": code} for d in days}


def test_abs2_illness_days_count_school_days_only(calendar: SchoolCalendar, config: Config) -> None:
    # Thu 29 Apr - Fri 7 May 2027 (Mon 3 May is a bank holiday): 6 school days of illness
    ill = week("I", D(2027, 4, 29), D(2027, 4, 30), *(D(2027, 5, n) for n in (4, 5, 6, 7)))
    marks = {**week("/", D(2027, 4, 28)), **ill}
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 6), {config.policy.codes.illness}) == 5
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 5), {"I"}) == 4
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 3), {"I"}) == 2  # bank holiday: up to Friday
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 8), {"I"}) == 6  # Saturday: up to Friday
    assert consecutive_absent_days(marks, calendar, D(2027, 4, 28), {"I"}) == 0


def test_abs2_a_present_session_or_an_unmarked_session_breaks_the_run(calendar: SchoolCalendar) -> None:
    marks = week("I", D(2027, 5, 4), D(2027, 5, 5), D(2027, 5, 6))
    marks[D(2027, 5, 5)] = {"AM": "I", "PM": "/"}
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 6), {"I"}) == 1
    marks[D(2027, 5, 5)] = {"AM": "I"}
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 6), {"I"}) == 1


def test_abs2_the_evaluation_day_may_have_only_its_am_mark(calendar: SchoolCalendar) -> None:
    marks = week("I", D(2027, 5, 4), D(2027, 5, 5))
    marks[D(2027, 5, 6)] = {"AM": "I"}
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 6), {"I"}) == 0
    assert consecutive_absent_days(marks, calendar, D(2027, 5, 6), {"I"}, require_full_last_day=False) == 3


def test_cme1_unauthorised_run_over_a_half_term(calendar: SchoolCalendar, config: Config) -> None:
    unauthorised = set(config.codes_in("unauthorised"))
    days = [d for d in calendar.days if D(2026, 10, 5) <= d <= D(2026, 11, 6)]  # 15 + 5 school days
    marks = {d: {"AM": "O", "PM": "N" if i % 2 else "G"} for i, d in enumerate(days)}
    streak = consecutive_absent_days(marks, calendar, D(2026, 11, 6), unauthorised)
    assert streak == len(days) == config.policy.missing_education.consecutive_unauthorised_school_days


def test_window_start_counts_back_school_days(calendar: SchoolCalendar) -> None:
    assert window_start(calendar, D(2026, 11, 6), 10) == D(2026, 10, 19)  # 5 + 5 days over half term
    assert window_start(calendar, D(2026, 11, 7), 1) == D(2026, 11, 6)
    assert window_start(calendar, D(2026, 9, 4), 10) == D(2026, 9, 3)  # the year's first day
    assert window_start(calendar, D(2026, 8, 1), 5) is None
