"""The school calendar: school days, sessions, half terms, and deadlines in school-local time.

This is the only module that knows weekends, bank holidays and closures. Deadlines are computed as local
dates and times and only then converted to UTC, so "4 weeks at 09:00" stays 09:00 across a DST change.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

from casework.config import Config, Due, HalfTerm

UTC = dt.UTC
SESSIONS = ("AM", "PM")


@dataclass(frozen=True)
class HalfTermSessions:
    name: str
    school_days: int
    sessions: int
    cumulative_sessions: int


class SchoolCalendar:
    def __init__(self, config: Config):
        self.config = config
        self.tz = ZoneInfo(config.calendar.timezone)
        self.half_terms: list[HalfTerm] = list(config.calendar.half_terms)
        self.closures = frozenset(config.calendar.closures)
        country, _, subdiv = config.calendar.bank_holidays.partition("-")
        years = range(self.half_terms[0].start.year, self.half_terms[-1].end.year + 1)
        self.bank_holidays = holidays.country_holidays(country, subdiv=subdiv or None, years=years)
        self.registration = config.policy.registration

    # --- school days -------------------------------------------------------------------------------
    @cached_property
    def days(self) -> list[dt.date]:
        """Every school day of the year, in order."""
        out = []
        for ht in self.half_terms:
            d = ht.start
            while d <= ht.end:
                if d.weekday() < 5 and d not in self.bank_holidays and d not in self.closures:
                    out.append(d)
                d += dt.timedelta(days=1)
        return out

    @cached_property
    def _day_set(self) -> frozenset[dt.date]:
        return frozenset(self.days)

    @property
    def first_day(self) -> dt.date:
        return self.days[0]

    @property
    def last_day(self) -> dt.date:
        return self.days[-1]

    def is_school_day(self, d: dt.date) -> bool:
        return d in self._day_set

    def day_index(self, d: dt.date) -> int:
        """How many school days fall before `d` (d's index if it is a school day)."""
        return bisect.bisect_left(self.days, d)

    def school_days_through(self, d: dt.date) -> int:
        """School days from the first day of the year up to and including `d`."""
        return bisect.bisect_right(self.days, d)

    def add_school_days(self, d: dt.date, n: int) -> dt.date:
        """The school day n school days after d. From a day that is not a school day, the next school day
        counts as the first (n=0 gives that day). Past the end of the calendar, weekdays that are not bank
        holidays stand in for school days, so a late-July deadline still lands on a working day."""
        i = self.day_index(d)
        target = i + n - (0 if self.is_school_day(d) else max(min(n, 1), 0))
        if target < 0:
            raise ValueError(f"{-n} school days before {d} is before the school year")
        if target < len(self.days):
            return self.days[target]
        if self.days and d <= self.days[-1]:
            cur, extra = self.days[-1], target - len(self.days) + 1
        else:  # d itself is past the year: count from d, or the deadline would fall before d
            working = d.weekday() < 5 and d not in self.bank_holidays
            cur, extra = d, (n if working else max(n, 1))
        while extra > 0:
            cur += dt.timedelta(days=1)
            if cur.weekday() < 5 and cur not in self.bank_holidays:
                extra -= 1
        return cur

    def school_days_between(self, start: dt.date, end: dt.date) -> int:
        """School days d with start < d <= end (so consecutive school days are 1 apart)."""
        if end < start:
            return -self.school_days_between(end, start)
        return bisect.bisect_right(self.days, end) - bisect.bisect_right(self.days, start)

    def previous_school_day(self, d: dt.date) -> dt.date | None:
        i = self.day_index(d)
        return self.days[i - 1] if i > 0 else None

    def next_school_day(self, d: dt.date) -> dt.date | None:
        i = bisect.bisect_right(self.days, d)
        return self.days[i] if i < len(self.days) else None

    # --- half terms and sessions -------------------------------------------------------------------
    def half_term_of(self, d: dt.date) -> HalfTerm | None:
        for ht in self.half_terms:
            if ht.start <= d <= ht.end:
                return ht
        return None

    def half_term_sessions(self) -> list[HalfTermSessions]:
        out, total = [], 0
        for ht in self.half_terms:
            n = sum(1 for d in self.days if ht.start <= d <= ht.end)
            total += n * len(SESSIONS)
            out.append(HalfTermSessions(ht.name, n, n * len(SESSIONS), total))
        return out

    def possible_sessions_through(self, d: dt.date) -> int:
        return self.school_days_through(d) * len(SESSIONS)

    def week_ends(self) -> list[dt.date]:
        """The last school day of each week that has one."""
        out: list[dt.date] = []
        for d in self.days:
            if out and out[-1].isocalendar()[:2] == d.isocalendar()[:2]:
                out[-1] = d
            else:
                out.append(d)
        return out

    def fortnight_days(self) -> list[dt.date]:
        """The first school day of every second school week (ONG-1). Weeks are counted only when the
        school is open, so a half-term holiday does not swallow a fortnight's RADAR."""
        weeks: list[dt.date] = []
        for d in self.days:
            if not weeks or weeks[-1].isocalendar()[:2] != d.isocalendar()[:2]:
                weeks.append(d)
        return weeks[::2]

    def half_term_last_days(self) -> list[tuple[HalfTerm, dt.date]]:
        out = []
        for ht in self.half_terms:
            days = [d for d in self.days if ht.start <= d <= ht.end]
            if days:
                out.append((ht, days[-1]))
        return out

    # --- local times -------------------------------------------------------------------------------
    def at(self, d: dt.date, t: dt.time) -> dt.datetime:
        """The UTC instant of local date d at local time t (DST-safe)."""
        return dt.datetime.combine(d, t, tzinfo=self.tz).astimezone(UTC)

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.tz)

    def local_date(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()

    def register_close(self, d: dt.date, session: str) -> dt.datetime:
        s = self.registration.am if session == "AM" else self.registration.pm
        return self.at(d, s.close)

    def day_end(self, d: dt.date) -> dt.datetime:
        return self.at(d, self.registration.school_day_ends)

    def due(self, start: dt.datetime, spec: Due) -> dt.datetime:
        """The instant `spec` after `start`: dates move on the local calendar, then the local time is set.

        With no time given the deadline is the end of that school day; hours and minutes alone add an
        absolute duration. A deadline never falls before `start`.
        """
        moves_date = bool(spec.days or spec.weeks or spec.school_days)
        if (spec.hours or spec.minutes) and not moves_date and spec.time is None:
            return start + dt.timedelta(hours=spec.hours, minutes=spec.minutes)
        day = self.local_date(start) + dt.timedelta(days=spec.days, weeks=spec.weeks)
        if spec.school_days:
            day = self.add_school_days(day, spec.school_days)
        result = self.at(day, spec.time or self.registration.school_day_ends)
        result += dt.timedelta(hours=spec.hours, minutes=spec.minutes)
        return max(result, start)


def parse_when(text: str, tz: ZoneInfo, *, end_of_day: bool = True) -> dt.datetime:
    """An ISO date or date-time typed by a user, in school-local time unless it carries an offset.
    A bare date means the end of that day (or its start with end_of_day=False)."""
    try:
        if len(text) == 10:
            d = dt.date.fromisoformat(text)
            t = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
            return dt.datetime.combine(d, t, tzinfo=tz).astimezone(UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD) or date-time "
                         "(YYYY-MM-DDTHH:MM)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
