"""casework/calendar.py: school days, half terms, deadlines in school-local time.

`year` is the policy's reference year: half terms of 36, 35, 29, 29, 26 and 35 school days (72, 70, 58,
58, 52 and 70 sessions) on real 2026-27 dates, with England's bank holidays from the `holidays` package
(Christmas, New Year, Good Friday 2027-03-26, Easter Monday 2027-03-29, 2027-05-03, 2027-05-31) and
INSET days on 2026-09-02, 2026-10-09 and 2027-01-04.
"""
from __future__ import annotations

import datetime as dt

import pytest

from casework.calendar import SchoolCalendar
from casework.config import Config, Due, parse_config

D = dt.date
HALF_TERMS = [
    {"name": "Autumn 1", "start": D(2026, 9, 2), "end": D(2026, 10, 23)},
    {"name": "Autumn 2", "start": D(2026, 11, 2), "end": D(2026, 12, 18)},
    {"name": "Spring 1", "start": D(2027, 1, 4), "end": D(2027, 2, 12)},
    {"name": "Spring 2", "start": D(2027, 2, 22), "end": D(2027, 4, 5)},  # over Easter and DST
    {"name": "Summer 1", "start": D(2027, 4, 22), "end": D(2027, 5, 28)},
    {"name": "Summer 2", "start": D(2027, 6, 7), "end": D(2027, 7, 23)},
]
CLOSURES = [D(2026, 9, 2), D(2026, 10, 9), D(2027, 1, 4)]


@pytest.fixture(scope="module")
def year(config: Config) -> SchoolCalendar:
    data = config.model_dump()
    data["calendar"] = {**data["calendar"], "half_terms": HALF_TERMS, "closures": CLOSURES}
    return SchoolCalendar(parse_config(data, "reference-year"))


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=dt.UTC)


def local(cal: SchoolCalendar, d: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return cal.at(d, dt.time(hh, mm))


# --- reference figures ----------------------------------------------------------------------------
def test_reference_half_terms_give_72_142_200_258_310_380_sessions(year: SchoolCalendar) -> None:
    hts = year.half_term_sessions()
    assert [h.school_days for h in hts] == [36, 35, 29, 29, 26, 35]
    assert [h.sessions for h in hts] == [72, 70, 58, 58, 52, 70]
    assert [h.cumulative_sessions for h in hts] == [72, 142, 200, 258, 310, 380]
    assert year.possible_sessions_through(D(2027, 7, 23)) == 380
    assert year.possible_sessions_through(D(2026, 10, 30)) == 72  # half-term week adds nothing


def test_reference_pa_lines_per_half_term(year: SchoolCalendar, config: Config) -> None:
    """PA: below 90%, i.e. missing more than 10% of possible sessions (policy's reference lines)."""
    share_missed = (100 - config.policy.figures.persistent_absence_below) / 100
    sessions = [h.cumulative_sessions * share_missed for h in year.half_term_sessions()]
    assert sessions == pytest.approx([7.2, 14.2, 20.0, 25.8, 31.0, 38.0])
    assert [s / 2 for s in sessions] == pytest.approx([3.6, 7.1, 10.0, 12.9, 15.5, 19.0])


# --- school days ----------------------------------------------------------------------------------
def test_bank_holidays_closures_weekends_and_holidays_are_not_school_days(year: SchoolCalendar) -> None:
    for d in [D(2026, 9, 2), D(2026, 10, 9), D(2027, 1, 4),  # INSET
              D(2027, 3, 26), D(2027, 3, 29), D(2027, 5, 3),  # bank holidays inside a half term
              D(2026, 10, 24), D(2026, 10, 28), D(2027, 5, 31), D(2026, 12, 25)]:
        assert not year.is_school_day(d), d
    assert year.first_day == D(2026, 9, 3)
    assert year.last_day == D(2027, 7, 23)
    assert year.is_school_day(D(2027, 5, 4))


def test_school_day_arithmetic_across_half_term(year: SchoolCalendar) -> None:
    fri, mon = D(2026, 10, 23), D(2026, 11, 2)
    assert year.add_school_days(fri, 1) == mon
    assert year.add_school_days(mon, -1) == fri
    assert year.school_days_between(fri, mon) == 1
    assert year.school_days_between(mon, fri) == -1
    assert year.previous_school_day(mon) == fri
    assert year.next_school_day(fri) == mon
    # from inside the holiday the next school day counts as the first
    assert year.add_school_days(D(2026, 10, 28), 0) == mon
    assert year.add_school_days(D(2026, 10, 28), 1) == mon
    assert year.add_school_days(D(2026, 10, 28), 2) == D(2026, 11, 3)
    assert year.add_school_days(D(2026, 10, 28), -1) == fri
    assert year.add_school_days(D(2026, 10, 19), 10) == D(2026, 11, 9)  # 4 + 5 + 1


def test_school_day_arithmetic_across_inset_day(year: SchoolCalendar) -> None:
    thu, mon = D(2026, 10, 8), D(2026, 10, 12)  # Friday 9 October is INSET
    assert year.add_school_days(thu, 1) == mon
    assert year.school_days_between(thu, mon) == 1
    assert year.previous_school_day(mon) == thu
    assert year.next_school_day(thu) == mon
    assert year.add_school_days(D(2026, 9, 2), 0) == D(2026, 9, 3)  # first day is INSET


def test_school_day_arithmetic_across_bank_holidays(year: SchoolCalendar) -> None:
    assert year.add_school_days(D(2027, 4, 30), 1) == D(2027, 5, 4)  # early May bank holiday
    assert year.school_days_between(D(2027, 4, 30), D(2027, 5, 4)) == 1
    assert year.next_school_day(D(2027, 4, 30)) == D(2027, 5, 4)
    assert year.previous_school_day(D(2027, 5, 4)) == D(2027, 4, 30)
    # Easter inside Spring 2: Good Friday, the DST weekend and Easter Monday are skipped
    assert year.add_school_days(D(2027, 3, 25), 1) == D(2027, 3, 30)
    assert year.school_days_between(D(2027, 3, 22), D(2027, 4, 2)) == 7  # 23-25 Mar, 30 Mar-2 Apr


def test_school_days_through_and_index(year: SchoolCalendar) -> None:
    assert year.school_days_through(D(2026, 9, 1)) == 0
    assert year.school_days_through(D(2026, 9, 3)) == 1
    assert year.school_days_through(D(2026, 10, 23)) == 36
    assert year.day_index(D(2026, 11, 2)) == 36
    assert year.previous_school_day(year.first_day) is None
    assert year.next_school_day(year.last_day) is None


def test_add_school_days_after_the_year_never_goes_back_in_time(year: SchoolCalendar) -> None:
    """Beyond the calendar weekdays that are not bank holidays stand in for school days, counted from
    the given day (this used to count from the year's last day, giving a date before the start)."""
    assert year.add_school_days(D(2027, 7, 23), 1) == D(2027, 7, 26)
    assert year.add_school_days(D(2027, 8, 10), 1) == D(2027, 8, 11)
    assert year.add_school_days(D(2027, 8, 14), 0) == D(2027, 8, 16)  # Saturday: next weekday
    assert year.add_school_days(D(2027, 8, 27), 1) == D(2027, 8, 31)  # summer bank holiday 30 Aug
    start = local(year, D(2027, 8, 10), 11)
    assert year.due(start, Due(school_days=5)) == local(year, D(2027, 8, 17), 15, 10)


# --- local times and DST --------------------------------------------------------------------------
def test_register_close_is_local_time_in_summer_and_winter(year: SchoolCalendar) -> None:
    assert year.register_close(D(2026, 9, 15), "AM") == utc(2026, 9, 15, 9, 0)  # BST
    assert year.register_close(D(2026, 11, 10), "AM") == utc(2026, 11, 10, 10, 0)  # GMT
    assert year.register_close(D(2027, 3, 30), "AM") == utc(2027, 3, 30, 9, 0)  # BST again
    assert year.register_close(D(2026, 11, 10), "PM") == utc(2026, 11, 10, 14, 0)
    assert year.day_end(D(2026, 10, 23)) == utc(2026, 10, 23, 14, 10)


def test_due_in_weeks_keeps_local_time_across_autumn_dst(year: SchoolCalendar) -> None:
    start = local(year, D(2026, 10, 5), 9)  # 08:00 UTC in BST
    due = year.due(start, Due(weeks=4, time=dt.time(9, 0)))
    assert due == utc(2026, 11, 2, 9, 0)  # 09:00 GMT
    assert year.local(due).time() == dt.time(9, 0)


def test_due_in_weeks_keeps_local_time_across_spring_dst(year: SchoolCalendar) -> None:
    start = local(year, D(2027, 3, 15), 9)  # 09:00 UTC in GMT
    due = year.due(start, Due(weeks=4, time=dt.time(9, 0)))
    assert due == utc(2027, 4, 12, 8, 0)  # 09:00 BST
    assert year.local(due).time() == dt.time(9, 0)


def test_due_in_school_days_and_days_across_dst(year: SchoolCalendar) -> None:
    start = local(year, D(2026, 10, 22), 10)
    # 23 Oct, then 2 and 3 Nov; end of the school day (15:10) in GMT
    assert year.due(start, Due(school_days=3)) == utc(2026, 11, 3, 15, 10)
    # calendar days: 7 days from 24 March 2027 09:00 GMT is 31 March 09:00 BST
    assert year.due(local(year, D(2027, 3, 24), 9), Due(days=7, time=dt.time(9))) == utc(2027, 3, 31, 8)


def test_due_in_hours_is_an_absolute_duration_across_dst(year: SchoolCalendar) -> None:
    start = utc(2026, 10, 25, 0, 30)  # 01:30 BST; the clocks go back at 02:00 BST
    assert year.due(start, Due(hours=2)) == utc(2026, 10, 25, 2, 30)
    same_day = local(year, D(2026, 11, 3), 9)
    assert year.due(same_day, Due(time=dt.time(12))) == utc(2026, 11, 3, 12)
    assert year.due(local(year, D(2026, 11, 3), 13), Due(time=dt.time(12))) == utc(2026, 11, 3, 13)


# --- weeks, fortnights, half-term ends ------------------------------------------------------------
def test_week_ends_are_the_last_school_day_of_each_week(year: SchoolCalendar) -> None:
    ends = year.week_ends()
    assert ends[:6] == [D(2026, 9, 4), D(2026, 9, 11), D(2026, 9, 18), D(2026, 9, 25), D(2026, 10, 2),
                        D(2026, 10, 8)]  # Friday 9 October is INSET
    assert D(2027, 3, 25) in ends  # Good Friday week ends on Thursday
    assert D(2027, 4, 5) in ends  # Spring 2 ends on a Monday
    assert ends[-1] == D(2027, 7, 23)
    assert len(ends) == len({d.isocalendar()[:2] for d in year.days})


def test_ong1_fortnights_are_every_second_school_week_from_the_first(year: SchoolCalendar) -> None:
    days = year.fortnight_days()
    # school weeks are counted, so the half-term week (26 Oct, no school) does not swallow a fortnight:
    # after 12 Oct comes 2 Nov, not 9 Nov
    assert days[:7] == [D(2026, 9, 3), D(2026, 9, 14), D(2026, 9, 28), D(2026, 10, 12), D(2026, 11, 2),
                        D(2026, 11, 16), D(2026, 11, 30)]
    assert all(year.is_school_day(d) for d in days)
    school_weeks = sorted({d.isocalendar()[:2] for d in year.days})
    assert [d.isocalendar()[:2] for d in days] == school_weeks[::2]
    for d in days:  # each is the first school day of its week
        before = year.previous_school_day(d)
        assert before is None or before.isocalendar()[:2] != d.isocalendar()[:2], d


def test_half_term_last_days(year: SchoolCalendar) -> None:
    assert [(ht.name, d) for ht, d in year.half_term_last_days()] == [
        ("Autumn 1", D(2026, 10, 23)), ("Autumn 2", D(2026, 12, 18)), ("Spring 1", D(2027, 2, 12)),
        ("Spring 2", D(2027, 4, 5)), ("Summer 1", D(2027, 5, 28)), ("Summer 2", D(2027, 7, 23))]
    easter_monday = year.half_term_of(D(2027, 3, 29))
    assert easter_monday is not None and easter_monday.name == "Spring 2"
    assert year.half_term_of(D(2026, 10, 28)) is None


def test_packaged_calendar_matches_config(calendar: SchoolCalendar) -> None:
    assert calendar.first_day == D(2026, 9, 3)  # 1 and 2 September are INSET
    assert calendar.possible_sessions_through(calendar.last_day) == 380
