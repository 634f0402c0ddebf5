"""The render context of a letter, built from plain facts (no database): what every template may use.

Templates render with StrictUndefined, so a missing field fails loudly instead of leaving a blank in a
letter to a parent. This module is therefore the one place that decides every field a template uses:
`build_context` always supplies all of them, with a fallback from config or the calendar where the
workflow that produced the letter did not say (e.g. a report's length). Numbers are formatted here, once.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casework.attendance import Figures, year_equivalents
from casework.calendar import SchoolCalendar
from casework.config import Config

# The bulk of a letter's wording is fixed; the keys below are what varies per letter id.
Details = Callable[["Facts", Config, SchoolCalendar], dict[str, Any]]


@dataclass(frozen=True)
class Facts:
    """Everything about one letter that is read from the database (or made up for a preview)."""

    letter_id: str
    letter_ref: str  # printed on the letter so the office can find the outbox row
    channel: str
    created: dt.date  # school-local date the letter was produced
    pupil: Mapping[str, Any]  # upn, given_name, family_name, form, year_group, date_of_birth
    recipient_name: str
    recipient_address: str | None  # postal address (None: none on file)
    figures: Figures  # year to date, through `created`
    extra: Mapping[str, Any] = field(default_factory=dict)  # Letter.context from the workflow
    case_data: Mapping[str, Any] = field(default_factory=dict)  # the producing case's data


def long_date(d: dt.date) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def num(x: float) -> str:
    """4.0 -> '4', 4.25 -> '4.3': figures in letters read as people write them."""
    r = round(x + 1e-9, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def address_lines(address: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[,\n]", address or "") if p.strip()]


def _grade_table(config: Config, current: str | None) -> list[dict[str, Any]]:
    """The poster: '100%' 8-9, '98-99%' 7-8, ... '87% or less' U (whole percentages, as printed)."""
    grades, rows = config.policy.grades, []
    for i, g in enumerate(grades):
        low = int(g.min_pct)
        high = 100 if i == 0 else int(grades[i - 1].min_pct) - 1
        if i == len(grades) - 1:
            text = f"{high}% or less"
        else:
            text = f"{low}%" if low == high else f"{low}-{high}%"
        rows.append({"range": text, "grade": g.grade, "current": g.grade == current})
    return rows


def figures_context(f: Figures, config: Config, through: dt.date) -> dict[str, Any]:
    pct = f.attendance_pct
    year = year_equivalents(pct, config) if pct is not None else None
    return {
        "through": long_date(through), "possible": f.possible, "attended": f.attended, "missed": f.absent,
        "authorised": f.authorised, "unauthorised": f.unauthorised, "lates": f.lates,
        "attendance_pct": pct, "attendance": f"{num(pct)}%" if pct is not None else "not yet measured",
        "days_missed": num(f.days_missed), "lessons_missed": num(f.lessons_missed),
        "year_days_missed": num(year.days_missed) if year else "0",
        "year_lessons_missed": num(year.lessons_missed) if year else "0",
        "grade": f.grade or "not yet graded", "band": f.band or "",
        "persistent_absentee": f.persistent_absentee,
    }


def _penalties(config: Config, issued: dt.date, amounts: Any = None) -> list[dict[str, Any]]:
    """The payment schedule: config's, or the one the workflow gave (NAT-PN-4: a second notice's, no discount)."""
    schedule = [(int(a["amount_gbp"]), int(a["paid_within_days"])) for a in amounts] if amounts else [
        (p.amount_gbp, p.paid_within_days) for p in config.policy.penalty_notices.amounts]
    return [{"amount": f"£{gbp}", "days": days, "by": long_date(issued + dt.timedelta(days=days))}
            for gbp, days in schedule]


def build_context(facts: Facts, config: Config, calendar: SchoolCalendar) -> dict[str, Any]:
    spec = config.letters[facts.letter_id]
    p, school = facts.pupil, config.school
    name = f"{p['given_name']} {p['family_name']}"
    reg = config.policy.registration
    return {
        "school": {"name": school.name, "address": list(school.address), "phone": school.phone,
                   "email": school.email, "headteacher": school.headteacher,
                   "attendance_lead": school.attendance_lead},
        "letter": {"id": facts.letter_id, "title": spec.title, "rule": spec.rule,
                   "reference": facts.letter_ref, "date": long_date(facts.created), "channel": facts.channel,
                   "subject": f"{spec.title}: {name}"},
        "recipient": {"name": facts.recipient_name, "address": address_lines(facts.recipient_address),
                      "salutation": f"Dear {facts.recipient_name}"},
        "pupil": {"name": name, "given_name": p["given_name"], "family_name": p["family_name"],
                  "upn": p["upn"], "form": p["form"], "year_group": p["year_group"]},
        "figures": figures_context(facts.figures, config, facts.created),
        "grades": _grade_table(config, facts.figures.grade),
        "policy": {"pa_below": num(config.policy.figures.persistent_absence_below),
                   "late_after": f"{reg.am.late_after:%H:%M}", "register_closes": f"{reg.am.close:%H:%M}",
                   "review_weeks": config.policy.stages.review_after.weeks,
                   "penalties": _penalties(config, facts.created)},
        "contact": {"name": school.attendance_lead, "phone": school.phone, "email": school.email},
        "details": DETAILS.get(facts.letter_id, lambda *_: {})(facts, config, calendar),
    }


# --- what varies per letter id ----------------------------------------------------------------------
def _absence(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    """FDR-3: the days of the absence episode (the first-day case's sessions), else the letter's day."""
    days = sorted({dt.date.fromisoformat(d) for d, _ in f.case_data.get("sessions", [])}) or [f.created]
    return {"since": long_date(days[0]), "days": len(days), "dates": [long_date(d) for d in days],
            "visited": long_date(f.created)}


def _stage(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    stage = str(f.extra.get("stage") or f.figures.band or "")
    band = getattr(config.policy.stages, stage, None)
    return {"stage": stage, "illness": bool(f.extra.get("illness")),
            "below": num(band.upper) if band is not None and band.upper is not None else "",
            "review_by": long_date(cal.local_date(cal.due(cal.at(f.created, dt.time(12)),
                                                          config.policy.stages.review_after)))}


def _meeting(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    when = f.extra.get("meeting_at") or f.case_data.get("at_local") or ""
    if not when and f.case_data.get("at"):
        when = cal.local(dt.datetime.fromisoformat(f.case_data["at"])).strftime("%A %d %B %Y at %H:%M")
    attendees = list(f.extra.get("attendees") or f.case_data.get("attendees") or [])
    return {"when": when or "to be confirmed by telephone", "attendees": attendees,
            "purpose": str(f.case_data.get("purpose") or "")}


def _report(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    days = int(f.extra.get("days") or config.policy.ongoing.report_school_days)
    start = cal.add_school_days(f.created, 1)
    return {"days": days, "from": long_date(start), "to": long_date(cal.add_school_days(start, days - 1))}


def _punctuality(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    pun = config.policy.punctuality
    return {"lates": int(f.extra.get("lates", f.figures.lates)),
            "threshold": int(f.extra.get("threshold", 0)),
            "days": int(f.extra.get("days") or pun.report_school_days),
            "lates_during_report": int(f.extra.get("lates_during_report", 0))}


def _medical(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    """ABS-2: the illness workflow gives the run's length and first day."""
    due = cal.due(cal.at(f.created, dt.time(12)), config.tasks["request_medical_evidence"].due)
    days = f.extra.get("days") or config.policy.absence.illness_evidence_after_school_days
    since = dt.date.fromisoformat(f.extra["from"]) if f.extra.get("from") else f.created
    return {"illness_days": int(days or 0), "since": long_date(since),
            "evidence_by": long_date(cal.local_date(due))}


def _penalty(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    """PN-2/PN-3: the penalty-notice workflow gives the window's last day and the day of issue (NAT-PN-2..4: why
    the notice is issued, and its payment schedule)."""
    pn = config.policy.penalty_notices
    window = pn.warning_window_school_days or 0
    ends = (dt.date.fromisoformat(f.extra["window_to"]) if f.extra.get("window_to")
            else cal.add_school_days(f.created, window))
    issued = dt.date.fromisoformat(f.extra["issued_on"]) if f.extra.get("issued_on") else f.created
    return {"unauthorised": int(f.extra.get("unauthorised", f.figures.unauthorised)),
            "threshold": pn.referral_unauthorised_sessions, "window_days": window,
            "window_ends": long_date(ends),
            "issued": long_date(issued), "penalties": _penalties(config, issued, f.extra.get("amounts")),
            "prosecution_after_days": pn.prosecution_after_days,
            "because": str(f.extra.get("because") or "had further unauthorised absence after our warning letter"),
            "repeat": bool(f.extra.get("repeat")),
            "repeat_years": pn.repeat.within_years if pn.repeat else 0}


def _improve(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    """NAT-PN-2: the notice to improve: the sessions that met the threshold, the improvement period, what then."""
    pn = config.policy.penalty_notices
    nti = pn.notice_to_improve
    period = cal.due(cal.at(f.created, dt.time(12)), nti.improvement_period) if nti else None
    start = (dt.date.fromisoformat(f.extra["improve_from"]) if f.extra.get("improve_from")
             else cal.add_school_days(f.created, 1))
    end = (dt.date.fromisoformat(f.extra["improve_to"]) if f.extra.get("improve_to")
           else cal.local_date(period) if period else f.created)
    counted = dt.date.fromisoformat(f.extra["counted_from"]) if f.extra.get("counted_from") else None
    return {"sessions": int(f.extra.get("sessions", f.figures.unauthorised)),
            "threshold": pn.referral_unauthorised_sessions, "window_weeks": pn.window_school_weeks or 0,
            "counted_from": long_date(counted) if counted else "the start of the school year",
            "from": long_date(start), "to": long_date(end),
            "further_sessions": nti.further_sessions if nti else 1,
            "penalties": _penalties(config, end, f.extra.get("amounts")),
            "prosecution_after_days": pn.prosecution_after_days}


def _recognition(f: Facts, config: Config, cal: SchoolCalendar) -> dict[str, Any]:
    ht = cal.half_term_of(f.created)
    return {"half_term": str(f.extra.get("half_term") or (ht.name if ht else "this half term"))}


DETAILS: dict[str, Details] = {
    "absence_enquiry_slip": _absence, "meeting_confirmation": _meeting, "report_placed": _report,
    "concern_letter_1": _stage, "concern_letter_2": _stage, "risk_of_pa_letter_3": _stage,
    "final_warning": _stage,
    "congratulations_100": _recognition, "punctuality_parentmail": _punctuality,
    "punctuality_letter": _punctuality, "punctuality_congratulations": _punctuality,
    "medical_evidence_request": _medical, "pn_warning": _penalty, "penalty_notice": _penalty,
    "notice_to_improve": _improve,
}
