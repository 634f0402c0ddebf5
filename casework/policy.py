"""The policy report: which rules are implemented and tested (coverage), and where a school's policy departs
from the 2024 national framework (check)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casework.config import ROOT, Config

RULE = re.compile(r"\*\*([A-Z]+-[0-9R]+)\*\*")
# Rules carried out outside a workflow's transition table or the task and letter tables, by the module named.
IMPLEMENTED_ELSEWHERE = {
    "REG-1": "casework/calendar.py (AM and PM registers)", "REG-2": "config policy.registration; casework/calendar.py",
    "REG-3": "casework/imports.py (the code table)", "REG-4": "casework/absence.py (reason truancy)",
    "ABS-3": "config policy.absence.reasons; casework/absence.py",
    "ONG-1": "casework/radar.py; notifications/radar_sheet.py", "ONG-4": "casework/radar.py",
    "REW-1": "casework/rewards.py", "REW-2": "casework/rewards.py", "REW-3": "casework/rewards.py",
    "DAT-1": "casework/chronology.py", "DAT-2": "casework/chronology.py (audit); notifications/exports.py",
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
    from workflows.registry import all_workflows

    tests = _tests(tests_dir or ROOT / "tests")
    out: dict[str, dict[str, Any]] = {}
    for rule in rule_ids(policy_md):
        out[rule] = {
            "transitions": sorted({f"{wf.name}.{t.trigger}" for wf in all_workflows().values() for t in wf.table
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


def check(config: Config) -> list[Finding]:
    """Where the policy differs from the statutory framework for England (from August 2024). The framework's
    figures are the law's, not a school's choice, so they are stated here with their source."""
    p, out = config.policy, []
    reg = p.registration
    for name, s in (("AM", reg.am), ("PM", reg.pm)):
        minutes = (s.close.hour * 60 + s.close.minute) - (s.open.hour * 60 + s.open.minute)
        if minutes > 30:
            out.append(Finding("REG-2", f"{name} register open {minutes} minutes ({s.open:%H:%M}-{s.close:%H:%M})",
                               "a register must close no later than 30 minutes after the session starts",
                               "Working together to improve school attendance (2024), 'Keeping an attendance "
                               "register'; School Attendance (Pupil Registration) (England) Regulations 2024"))
    if p.absence.illness_evidence_after_school_days:
        out.append(Finding("ABS-2", f"medical evidence routinely requested after "
                           f"{p.absence.illness_evidence_after_school_days} school days of illness",
                           "schools should not routinely request medical evidence; only where there is genuine "
                           "doubt about the reason", "Working together to improve school attendance (2024), "
                           "'Recording attendance: illness'"))
    if p.absence.religious_days_per_observance:
        out.append(Finding("ABS-4", f"at most {p.absence.religious_days_per_observance} day(s) per observance "
                           "authorised", "any day exclusively set apart for religious observance by the religious "
                           "body of the parent must be recorded as leave (code R), however many days",
                           "Education Act 1996 s444(3)(c); Pupil Registration Regulations 2024, code R"))
    pn = p.penalty_notices
    amounts = [(a.amount_gbp, a.paid_within_days) for a in pn.amounts]
    if amounts != [(80, 21), (160, 28)]:
        out.append(Finding("PN-3", "; ".join(f"{a} GBP within {d} days" for a, d in amounts),
                           "80 GBP if paid within 21 days, 160 GBP within 28 days",
                           "Education (Penalty Notices) (England) (Amendment) Regulations 2024"))
    if pn.referral_unauthorised_sessions != 10 or "rolling" not in " ".join(pn.count_separately):
        out.append(Finding("PN-1", f"referral at {pn.referral_unauthorised_sessions} unauthorised sessions since the "
                           "start of the year", "the national threshold: 10 sessions of unauthorised absence within "
                           "a rolling period of 10 school weeks", "National framework for penalty notices (2024)"))
    out.append(Finding("PN-2", f"a warning letter and a {pn.warning_window_school_days}-school-day window",
                       "a notice to improve (3 to 6 weeks) before a penalty notice, except for term-time holiday; "
                       "at most 2 notices to a parent for the same child within 3 years",
                       "National framework for penalty notices (2024)"))
    if p.figures.persistent_absence_below == 90:
        out.append(Finding("STG", "persistent absence is attendance below 90%",
                           "persistent absence is missing 10% or more of possible sessions (so exactly 90% counts)",
                           "DfE 'Pupil absence in schools in England' methodology"))
    return out
