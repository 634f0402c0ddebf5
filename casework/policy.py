"""The policy report: which rules are implemented and tested (coverage), and where a school's policy departs
from the 2024 national framework (check)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casework.config import ROOT, Config

RULE = re.compile(r"\*\*([A-Z]+(?:-[A-Z]+)*-[0-9R]+)\*\*")  # REG-2, STG-R; NAT-PN-1 (a preset's own rules)
# Rules carried out outside a workflow's transition table or the task and letter tables, by the module named.
IMPLEMENTED_ELSEWHERE = {
    "REG-1": "casework/calendar.py (AM and PM registers)", "REG-2": "config policy.registration; casework/calendar.py",
    "REG-3": "casework/imports.py (the code table)", "REG-4": "casework/absence.py (reason truancy)",
    "ABS-3": "config policy.absence.reasons; casework/absence.py",
    "ONG-1": "casework/radar.py; notifications/radar_sheet.py", "ONG-4": "casework/radar.py",
    "REW-1": "casework/rewards.py", "REW-2": "casework/rewards.py", "REW-3": "casework/rewards.py",
    "DAT-1": "casework/chronology.py", "DAT-2": "casework/chronology.py (audit); notifications/exports.py",
    # the national preset's rules (policies/national-2024.md) carried by config values
    "NAT-REG-1": "config policy.registration, policy.codes; casework/policy.py check",
    "NAT-FIG-1": "config policy.figures; casework/attendance.py (persistent, severe)",
    "NAT-ABS-1": "config policy.absence.illness_evidence_after_school_days: null; workflows/illness.py",
    "NAT-ABS-2": "config policy.absence.religious_days_per_observance: null; workflows/absence_requests.py",
}


def default_policy_path() -> Path:
    return ROOT.parent / "shared" / "POLICY.md"


def rule_ids(policy_md: Path) -> list[str]:
    return sorted(set(RULE.findall(policy_md.read_text(encoding="utf-8"))))


def _tests(tests_dir: Path) -> dict[str, list[str]]:
    """Rule token (fdr3) -> tests whose name carries it."""
    out: dict[str, list[str]] = {}
    for f in sorted(tests_dir.rglob("test_*.py")):
        for name in re.findall(r"def (test_\w+)", f.read_text(encoding="utf-8")):
            for token in name.split("_"):
                out.setdefault(token, []).append(f"{f.relative_to(tests_dir.parent)}::{name}")
    return out


def coverage(config: Config, policy_md: Path, tests_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    from workflows.registry import active_workflows

    tests = _tests(tests_dir or ROOT / "tests")
    workflows = active_workflows(config).values()
    out: dict[str, dict[str, Any]] = {}
    for rule in rule_ids(policy_md):
        out[rule] = {
            "transitions": sorted({f"{wf.name}.{t.trigger}" for wf in workflows for t in wf.table
                                   if t.rule == rule}),
            "tasks": sorted(k for k, t in config.tasks.items() if t.rule == rule),
            "letters": sorted(k for k, le in config.letters.items() if le.rule == rule),
            "elsewhere": IMPLEMENTED_ELSEWHERE.get(rule),
            "tests": tests.get(rule.lower().replace("-", ""), []),
        }
    return out


@dataclass(frozen=True)
class Finding:
    rule: str
    policy: str
    framework: str
    reference: str


FRAMEWORK = "national-2024.yaml"  # in policies/: the statutory framework's figures, as a preset


def _pairs(amounts: Any) -> list[tuple[int, int]]:
    return [(a.amount_gbp, a.paid_within_days) for a in amounts]


def _gbp(pairs: list[tuple[int, int]]) -> str:
    return "; ".join(f"{a} GBP within {d} days" for a, d in pairs)


def _minutes(s: Any) -> int:
    return (s.close.hour * 60 + s.close.minute) - (s.open.hour * 60 + s.open.minute)


def check(config: Config, framework: Config | None = None) -> list[Finding]:
    """Where the policy differs from the statutory framework for England (from August 2024). The framework's
    figures are those of the preset policies/national-2024.yaml (the law's, not a school's choice); each
    finding names its source."""
    from casework.config import load_config, resource_dir

    fw = (framework or load_config(resource_dir("policies") / FRAMEWORK)).policy
    p, out = config.policy, []
    for name, s, limit in (("AM", p.registration.am, fw.registration.am),
                           ("PM", p.registration.pm, fw.registration.pm)):
        if _minutes(s) > _minutes(limit):
            out.append(Finding("REG-2", f"{name} register open {_minutes(s)} minutes ({s.open:%H:%M}-{s.close:%H:%M})",
                               f"a register must close no later than {_minutes(limit)} minutes after the session "
                               "starts", "Working together to improve school attendance (2024), 'Keeping an "
                               "attendance register'; School Attendance (Pupil Registration) (England) "
                               "Regulations 2024"))
    if p.absence.illness_evidence_after_school_days != fw.absence.illness_evidence_after_school_days:
        out.append(Finding("ABS-2", f"medical evidence routinely requested after "
                           f"{p.absence.illness_evidence_after_school_days} school days of illness",
                           "schools should not routinely request medical evidence; only where there is genuine "
                           "doubt about the reason", "Working together to improve school attendance (2024), "
                           "'Recording attendance: illness'"))
    if p.absence.religious_days_per_observance != fw.absence.religious_days_per_observance:
        out.append(Finding("ABS-4", f"at most {p.absence.religious_days_per_observance} day(s) per observance "
                           "authorised", "any day exclusively set apart for religious observance by the religious "
                           "body of the parent must be recorded as leave (code R), however many days",
                           "Education Act 1996 s444(3)(c); Pupil Registration Regulations 2024, code R"))
    pn, fpn = p.penalty_notices, fw.penalty_notices
    if _pairs(pn.amounts) != _pairs(fpn.amounts):
        out.append(Finding("PN-3", _gbp(_pairs(pn.amounts)), _gbp(_pairs(fpn.amounts)),
                           "Education (Penalty Notices) (England) (Amendment) Regulations 2024"))
    if (pn.referral_unauthorised_sessions, pn.window_school_weeks) != (
            fpn.referral_unauthorised_sessions, fpn.window_school_weeks) or len(pn.count_separately) > 1:
        window = (f"within a rolling {pn.window_school_weeks} school weeks" if pn.window_school_weeks
                  else "since the start of the year")
        out.append(Finding("PN-1", f"referral at {pn.referral_unauthorised_sessions} unauthorised sessions "
                           f"{window}" + (f", counted separately ({', '.join(pn.count_separately)})"
                                          if len(pn.count_separately) > 1 else ""),
                           f"the national threshold: {fpn.referral_unauthorised_sessions} sessions of unauthorised "
                           f"absence, in any combination, within a rolling period of {fpn.window_school_weeks} "
                           "school weeks", "National framework for penalty notices (2024)"))
    if _pn2_departs(config, fw):
        out.append(_pn2_finding(pn, fpn))
    fd, limit = p.first_day.no_reason_max_school_days, fw.first_day.no_reason_max_school_days
    if limit is not None and (fd is None or fd > limit):
        out.append(Finding("FDR-4", "sessions without a reason become O a set time after the pupil is back "
                           + ("" if fd is None else f"; an N is flagged after {fd} school days"),
                           f"code N must be replaced once the reason is known and within {limit} school days",
                           "School Attendance (Pupil Registration) (England) Regulations 2024, code N"))
    la, fla = p.la_returns, fw.la_returns
    if fla is not None and (la is None or (la.unauthorised_consecutive_school_days, la.illness_school_days)
                            != (fla.unauthorised_consecutive_school_days, fla.illness_school_days)):
        out.append(Finding("DAT-2", "no return to the local authority" if la is None else
                           f"returns after {la.unauthorised_consecutive_school_days} consecutive school days of "
                           f"unauthorised absence and {la.illness_school_days} school days of illness",
                           f"the LA must be told of pupils absent without authorisation for a continuous "
                           f"{fla.unauthorised_consecutive_school_days} school days, and of pupils who miss "
                           f"{fla.illness_school_days} school days (consecutive or cumulative) through illness",
                           "Pupil Registration Regulations 2024; Arranging education for children who cannot attend "
                           "school because of health needs (2023)"))
    fig, ffig = p.figures, fw.figures
    if (fig.persistent_absence_below, fig.persistent_absence_includes_line) != (
            ffig.persistent_absence_below, ffig.persistent_absence_includes_line):
        out.append(Finding("STG", f"persistent absence is attendance below {fig.persistent_absence_below:g}%"
                           + (" or at it" if fig.persistent_absence_includes_line else ""),
                           f"persistent absence is missing {100 - ffig.persistent_absence_below:g}% or more of "
                           f"possible sessions (so exactly {ffig.persistent_absence_below:g}% counts)",
                           "DfE 'Pupil absence in schools in England' methodology"))
    if fig.severe_absence_at_or_below != ffig.severe_absence_at_or_below:
        out.append(Finding("STG", f"severe absence is attendance at or below {fig.severe_absence_at_or_below:g}%",
                           f"severe absence is missing {100 - ffig.severe_absence_at_or_below:g}% or more of "
                           "possible sessions", "DfE 'Pupil absence in schools in England' methodology"))
    return out


def _weeks(due: Any) -> float:
    return due.weeks + due.days / 7 + due.school_days / 5


def _pn2_finding(pn: Any, fpn: Any) -> Finding:
    nti, fnti, frep = pn.notice_to_improve, fpn.notice_to_improve, fpn.repeat
    low, high = fnti.allowed_weeks
    ours = (f"a warning letter and a {pn.warning_window_school_days}-school-day window" if nti is None
            else f"a notice to improve with a {_weeks(nti.improvement_period):g}-week improvement period (not for "
                 f"{', '.join(nti.not_for) or 'no code'}); " + (
                     f"at most {pn.repeat.max_notices} notices in {pn.repeat.within_years} years" if pn.repeat
                     else "no limit on notices"))
    return Finding("PN-2", ours, f"a notice to improve ({low:g} to {high:g} weeks) before a penalty notice, except for "
                   f"term-time holiday; at most {frep.max_notices} notices to a parent for the same child within "
                   f"{frep.within_years} years, a later one at {_gbp(_pairs(frep.amounts))} with no discount",
                   "National framework for penalty notices (2024)")


def _pn2_departs(config: Config, fw: Any) -> bool:
    pn, fpn = config.policy.penalty_notices, fw.penalty_notices
    nti, rep = pn.notice_to_improve, pn.repeat
    if pn.procedure != fpn.procedure or nti is None or rep is None:
        return True
    low, high = fpn.notice_to_improve.allowed_weeks
    return (not low <= _weeks(nti.improvement_period) <= high
            or not set(fpn.notice_to_improve.not_for) <= set(nti.not_for)
            or (rep.max_notices, rep.within_years) != (fpn.repeat.max_notices, fpn.repeat.within_years)
            or _pairs(rep.amounts) != _pairs(fpn.repeat.amounts))
