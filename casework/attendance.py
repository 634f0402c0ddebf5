"""Attendance figures: pure functions over marks, and the same figures for all pupils in one SQL aggregate.

Every threshold comes from config (policy.codes, policy.figures, policy.stages, policy.grades). Percentages
are compared unrounded (97.99 is stage 2, not monitor) and only rounded, half up to one decimal, for
display. The pure path and the SQL path share `_figures`, so they cannot disagree on derived numbers.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from casework.calendar import SESSIONS, SchoolCalendar
from casework.config import CATEGORIES, Band, Config
from casework.errors import InputError
from casework.models import Case, Mark, Pupil

WEEKDAYS = 5  # a school week is Monday to Friday, as in SchoolCalendar (weekday() < 5)


@dataclass(frozen=True)
class Figures:
    possible: int
    present: int
    approved_activity: int
    attended: int  # present + approved_activity
    authorised: int
    unauthorised: int
    not_counted: int
    lates: int  # codes with `late: true` (L present, U unauthorised)
    attendance_pct: float | None  # one decimal, half up; None when there is no possible session
    absence_pct: float | None
    persistent_absentee: bool
    severe_absentee: bool
    band: str | None  # STG band id; None before min_possible_sessions
    grade: str | None
    days_missed: float
    lessons_missed: float
    illness: int = 0  # sessions of the illness code (ABS-2; STG-3's letter asks for medical evidence)

    @property
    def absent(self) -> int:
        return self.authorised + self.unauthorised

    @property
    def attendance_exact(self) -> float | None:
        """Unrounded attendance, for comparisons against thresholds."""
        return 100 * self.attended / self.possible if self.possible else None


@dataclass(frozen=True)
class YearEquivalent:
    days_missed: float
    lessons_missed: float


# --- pure ------------------------------------------------------------------------------------------
def late_codes(config: Config) -> list[str]:
    return [c for c, v in config.policy.codes.table.items() if v.late]


def _pct1(num: int, den: int) -> float:
    """100 * num / den rounded half up to one decimal, in integers so 97.25 shows as 97.3."""
    return ((2000 * num + den) // (2 * den)) / 10


def _bands(config: Config) -> list[tuple[str, Band]]:
    stages = config.policy.stages
    return [(name, b) for name in type(stages).model_fields if isinstance(b := getattr(stages, name), Band)]


def band_for(pct: float | None, possible: int, config: Config) -> str | None:
    """The STG band of an unrounded percentage: [lower, upper), upper None meaning exactly the top (100)."""
    if pct is None or possible < config.policy.stages.min_possible_sessions:
        return None  # STG: no escalation before the minimum number of possible sessions
    for name, band in _bands(config):
        if pct >= band.lower and (band.upper is None or pct < band.upper):
            return name
    raise ValueError(f"no band in policy.stages holds {pct}%")


def grade_for(pct: float | None, config: Config) -> str | None:
    """The poster's GCSE grade. The poster lists whole percentages ("98-99%", "87% or less"), so a
    fractional percentage is floored first: 99.5% has not reached 100% and is still "7-8"."""
    if pct is None:
        return None
    whole = math.floor(pct)
    return next((g.grade for g in config.policy.grades if whole >= g.min_pct), None)


def _figures(counts: Mapping[str, Any], config: Config) -> Figures:
    """Figures from per-category session counts plus 'lates'."""
    c = {k: int(counts.get(k, 0)) for k in (*CATEGORIES, "lates", "illness")}
    attended = c["present"] + c["approved_activity"]
    absent = c["authorised"] + c["unauthorised"]
    possible = attended + absent  # every category but not_counted
    exact = 100 * attended / possible if possible else None
    pct = _pct1(attended, possible) if possible else None
    f = config.policy.figures
    days = absent / len(SESSIONS)
    return Figures(
        possible=possible, present=c["present"], approved_activity=c["approved_activity"],
        attended=attended, authorised=c["authorised"], unauthorised=c["unauthorised"],
        not_counted=c["not_counted"], lates=c["lates"],
        attendance_pct=pct,
        absence_pct=None if pct is None else round(100 - pct, 1),  # the two always add up to 100
        persistent_absentee=f.persistent(exact),  # below the line (NAT-FIG-1: or at it)
        severe_absentee=exact is not None and exact <= f.severe_absence_at_or_below,
        band=band_for(exact, possible, config), grade=grade_for(exact, config),
        days_missed=days, lessons_missed=days * f.lessons_per_day, illness=c["illness"])


def figures_from_codes(codes: Iterable[str], config: Config) -> Figures:
    """Figures of a list of session codes. An unknown code is an error: imports reject them (REG-3)."""
    table = config.policy.codes.table
    counts: Counter[str] = Counter()
    for code in codes:
        if code not in table:
            raise ValueError(f"unknown attendance code {code!r}")
        counts[table[code].category] += 1
        counts["lates"] += table[code].late
        counts["illness"] += code == config.policy.codes.illness
    return _figures(counts, config)


def year_equivalents(pct: float, config: Config) -> YearEquivalent:
    """What a year at `pct` attendance misses (the policy's '95% is about 9 days, 50 lessons')."""
    f = config.policy.figures
    days = f.days_in_year * (100 - pct) / 100
    return YearEquivalent(days_missed=days, lessons_missed=days * f.lessons_per_day)


def consecutive_absent_days(marks_by_day: Mapping[dt.date, Mapping[str, str]], calendar: SchoolCalendar,
                            through: dt.date, codes: Collection[str], *,
                            require_full_last_day: bool = True) -> int:
    """School days in a row, ending at the last school day <= `through`, with every session's code in
    `codes` (ABS-2 illness, CME-1 unauthorised). A day with a session unmarked breaks the run, except
    `through` itself when require_full_last_day is False (evaluated before the PM register)."""
    wanted = frozenset(codes)
    i = calendar.school_days_through(through) - 1
    count = 0
    while i >= 0:
        day = calendar.days[i]
        partial_ok = not require_full_last_day and day == through
        if not _absent_all_day(marks_by_day.get(day, {}), wanted, partial_ok):
            break
        count, i = count + 1, i - 1
    return count


def _absent_all_day(marks: Mapping[str, str], wanted: frozenset[str], partial_ok: bool) -> bool:
    recorded = [marks[s] for s in SESSIONS if s in marks]
    if not recorded or (len(recorded) < len(SESSIONS) and not partial_ok):
        return False
    return all(code in wanted for code in recorded)


def window_start(calendar: SchoolCalendar, through: dt.date, school_days: int) -> dt.date | None:
    """The first day of the last `school_days` school days ending at or before `through`."""
    last = calendar.school_days_through(through) - 1
    return calendar.days[max(0, last - school_days + 1)] if last >= 0 else None


# --- SQL, set-based --------------------------------------------------------------------------------
def _count_where(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _year_start(config: Config) -> dt.date:
    return config.calendar.half_terms[0].start  # YTD starts on the first day of the academic year


_COLUMNS: dict[int, tuple[Config, list[Any]]] = {}


def _figure_columns(config: Config) -> list[Any]:
    """The aggregate's columns for a config, built once: the engine asks for one pupil's figures thousands of
    times a term, and building these CASE expressions was a good part of each ask."""
    held = _COLUMNS.get(id(config))
    if held is None or held[0] is not config:
        cols = [_count_where(Mark.code.in_(config.codes_in(cat))).label(cat) for cat in CATEGORIES]
        cols.append(_count_where(Mark.code.in_(late_codes(config))).label("lates"))
        cols.append(_count_where(Mark.code == config.policy.codes.illness).label("illness"))
        held = _COLUMNS[id(config)] = (config, cols)
    return held[1]


def figures_for_all(session: Session, config: Config, through: dt.date, since: dt.date | None = None,
                    pupil_ids: Collection[int] | None = None) -> dict[int, Figures]:
    """Figures per pupil for marks with since <= date <= through (since defaults to the year's start),
    in one aggregate query. Pupils without marks are left out, unless asked for by `pupil_ids`."""
    if pupil_ids is not None and not pupil_ids:
        return {}
    query = (select(Mark.pupil_id, *_figure_columns(config))
             .where(Mark.date >= (since or _year_start(config)), Mark.date <= through)
             .group_by(Mark.pupil_id))
    if pupil_ids is not None:
        query = query.where(Mark.pupil_id.in_(list(pupil_ids)))
    out = {row.pupil_id: _figures(row._asdict(), config) for row in session.execute(query)}
    for pid in pupil_ids or ():
        out.setdefault(pid, _figures({}, config))
    return out


def marks_by_day(session: Session, pupil_id: int, since: dt.date,
                 through: dt.date) -> dict[dt.date, dict[str, str]]:
    rows = session.execute(select(Mark.date, Mark.session, Mark.code).where(
        Mark.pupil_id == pupil_id, Mark.date >= since, Mark.date <= through))
    out: dict[dt.date, dict[str, str]] = {}
    for day, sess, code in rows:
        out.setdefault(day, {})[sess] = code
    return out


def consecutive_days(session: Session, pupil_id: int, through: dt.date, codes: Collection[str],
                     calendar: SchoolCalendar, *, require_full_last_day: bool = True) -> int:
    """consecutive_absent_days over one pupil's marks in the database."""
    marks = marks_by_day(session, pupil_id, calendar.first_day, through)
    return consecutive_absent_days(marks, calendar, through, codes,
                                   require_full_last_day=require_full_last_day)


def consecutive_days_for_all(session: Session, calendar: SchoolCalendar, through: dt.date,
                             codes: Collection[str], window_school_days: int) -> dict[int, int]:
    """consecutive_absent_days for every pupil whose last school day is in `codes`, capped at the window
    (e.g. CME-1's 20 days): one query over the window, not a query per pupil."""
    start = window_start(calendar, through, window_school_days)
    if start is None:
        return {}
    last = calendar.days[calendar.school_days_through(through) - 1]
    candidates = select(Mark.pupil_id).where(Mark.date == last, Mark.code.in_(list(codes)))
    rows = session.execute(select(Mark.pupil_id, Mark.date, Mark.session, Mark.code).where(
        Mark.date >= start, Mark.date <= last, Mark.pupil_id.in_(candidates)))
    by_pupil: dict[int, dict[dt.date, dict[str, str]]] = {}
    for pid, day, sess, code in rows:
        by_pupil.setdefault(pid, {}).setdefault(day, {})[sess] = code
    counts = {pid: consecutive_absent_days(m, calendar, last, codes) for pid, m in by_pupil.items()}
    return {pid: n for pid, n in counts.items() if n}


def unauthorised_in_window(session: Session, pupil_id: int, through: dt.date, school_weeks: int,
                           calendar: SchoolCalendar, config: Config) -> int:
    """Unauthorised sessions in the last `school_weeks` school weeks, rolling: the last school_weeks * 5
    school days ending at or before `through` (holidays do not eat into the window)."""
    start = window_start(calendar, through, school_weeks * WEEKDAYS)
    if start is None:
        return 0
    return figures_for_all(session, config, through, since=start, pupil_ids=[pupil_id])[pupil_id].unauthorised


# --- the pupil as `casework pupil show` prints it (CONTRACT.md) --------------------------------------
def open_cases(session: Session, pupil_id: int, calendar: SchoolCalendar) -> list[dict[str, Any]]:
    rows = session.scalars(select(Case).where(Case.pupil_id == pupil_id, Case.closed_at.is_(None))
                           .order_by(Case.opened_at, Case.id))
    return [{"id": c.id, "workflow": c.workflow, "state": c.state,
             "opened": calendar.local(c.opened_at).isoformat()} for c in rows]


def pupil_summary(session: Session, config: Config, calendar: SchoolCalendar, upn: str,
                  through: dt.date) -> dict[str, Any]:
    """The CONTRACT.md `pupil show` keys (YTD through `through`), then extras."""
    pupil = session.scalar(select(Pupil).where(Pupil.upn == upn))
    if pupil is None:
        raise InputError(f"no pupil with UPN {upn!r}")
    f = figures_for_all(session, config, through, pupil_ids=[pupil.id])[pupil.id]
    return {
        "upn": pupil.upn, "name": pupil.name, "form": pupil.form, "year_group": pupil.year_group,
        "possible_sessions": f.possible, "attended_sessions": f.attended,
        "attendance_pct": f.attendance_pct, "authorised_sessions": f.authorised,
        "unauthorised_sessions": f.unauthorised, "lates": f.lates, "band": f.band,
        "persistent_absentee": f.persistent_absentee, "cases": open_cases(session, pupil.id, calendar),
        "through": through.isoformat(), "grade": f.grade, "severe_absentee": f.severe_absentee,
        "absence_pct": f.absence_pct, "days_missed": f.days_missed, "lessons_missed": f.lessons_missed,
    }
