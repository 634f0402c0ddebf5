"""The synthetic school: deterministic, valid against the import contract, and shaped like a real
secondary school (../shared/reference/absence-statistics.md)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from casework.calendar import SchoolCalendar
from casework.config import Config
from casework.synthetic import (
    CONTACT_COLUMNS,
    MARK_COLUMNS,
    PUPIL_COLUMNS,
    STAFF_COLUMNS,
    SyntheticSchool,
    generate_school,
    main,
    summary,
    write_csvs,
)
from casework.upn import upn_problem

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
AUTUMN_1_END = dt.date(2026, 10, 23)
AUTUMN_END = dt.date(2026, 12, 18)


@pytest.fixture(scope="module")
def small(config: Config, calendar: SchoolCalendar) -> SyntheticSchool:
    return generate_school(60, 1, config, calendar)


@pytest.fixture(scope="module")
def autumn(config: Config, calendar: SchoolCalendar) -> SyntheticSchool:
    return generate_school(600, 7, config, calendar, end=AUTUMN_END)


@pytest.fixture(scope="module")
def autumn_summary(autumn: SyntheticSchool, config: Config) -> dict:
    return summary(autumn, config)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


# --- determinism ---------------------------------------------------------------------------------------
def test_same_seed_gives_identical_files(config: Config, calendar: SchoolCalendar, small: SyntheticSchool,
                                         tmp_path: Path) -> None:
    write_csvs(small, tmp_path / "a")
    write_csvs(generate_school(60, 1, config, calendar), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_different_seed_differs(config: Config, calendar: SchoolCalendar, small: SyntheticSchool) -> None:
    other = generate_school(60, 2, config, calendar)
    assert other.pupils != small.pupils
    assert other.marks != small.marks


def test_shipped_sample_is_what_the_generator_makes(small: SyntheticSchool, tmp_path: Path) -> None:
    """data/sample cannot drift from the script: regenerate with
    `python -m casework.synthetic --pupils 60 --seed 1 --until 2026-10-23 --out data/sample`."""
    write_csvs(small, tmp_path)
    assert _files(SAMPLE) == _files(tmp_path)


def test_main_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pupils", "10", "--seed", "3", "--until", "2026-09-11", "--out", str(tmp_path),
                 "--config", str(ROOT / "config.yaml")]) == 0
    assert sorted(_files(tmp_path)) == ["contacts.csv", "marks.csv", "pupils.csv", "staff.csv"]
    assert "overall_absence_pct" in capsys.readouterr().out


# --- the import contract -------------------------------------------------------------------------------
def test_columns_are_the_contract_columns(small: SyntheticSchool) -> None:
    for rows, columns in ((small.pupils, PUPIL_COLUMNS), (small.contacts, CONTACT_COLUMNS),
                          (small.staff, STAFF_COLUMNS), (small.marks, MARK_COLUMNS)):
        assert rows and all(tuple(r) == columns for r in rows)


def test_upns_valid_and_unique(autumn: SyntheticSchool) -> None:
    upns = [p["upn"] for p in autumn.pupils]
    assert [u for u in upns if upn_problem(u) is not None] == []
    assert len(set(upns)) == len(upns) == 600
    assert len({u[8:10] for u in upns}) > 3 and len({u[10:] for u in upns}) > 300  # varied years, serials


def test_pupils_fit_their_year_groups(autumn: SyntheticSchool) -> None:
    for p in autumn.pupils:
        year = int(p["year_group"])
        born = dt.date.fromisoformat(p["date_of_birth"])
        assert dt.date(2021 - year, 9, 1) <= born <= dt.date(2022 - year, 8, 31), p
        assert p["form"].startswith(p["year_group"]) and p["form"][len(p["year_group"]):].isalnum()
    forms = Counter(p["form"] for p in autumn.pupils)
    assert {"7H", "7E", "7Y", "7S", "11S"} <= set(forms)
    assert all(25 <= n <= 34 for n in forms.values()), forms
    share = {k: sum(p[k] == v for p in autumn.pupils) / 600
             for k, v in (("fsm", "Y"), ("looked_after", "Y"))}
    assert 0.18 < share["fsm"] < 0.32 and share["looked_after"] < 0.03
    sen = Counter(p["sen"] for p in autumn.pupils)
    assert 0.08 < sen["K"] / 600 < 0.17 and 0 < sen["E"] / 600 < 0.05


def test_small_school_has_a_form_per_year(small: SyntheticSchool) -> None:
    assert sorted({p["form"] for p in small.pupils}) == ["10H", "11H", "7H", "8H", "9H"]


def test_every_mark_on_a_school_day_with_a_known_code(small: SyntheticSchool, autumn: SyntheticSchool,
                                                       config: Config, calendar: SchoolCalendar) -> None:
    for school, end in ((small, AUTUMN_1_END), (autumn, AUTUMN_END)):
        days = {d.isoformat() for d in calendar.days if d <= end}
        assert {m["date"] for m in school.marks} == days
        assert {m["code"] for m in school.marks} <= set(config.policy.codes.table)
        assert {m["session"] for m in school.marks} == {"AM", "PM"}
        # one mark per pupil per session
        assert len({(m["upn"], m["date"], m["session"]) for m in school.marks}) == len(school.marks)
        assert len(school.marks) == len(school.pupils) * len(days) * 2
    assert len(small.marks) == 60 * 74


def test_mark_details(autumn: SyntheticSchool, config: Config) -> None:
    codes = config.policy.codes
    office = {s["staff_id"] for s in autumn.staff if "office" in s["roles"].split(";")}
    for m in autumn.marks:
        if m["session"] == "AM" and m["code"] in ("/", "\\"):
            assert m["code"] == codes.present_am
        if m["code"] == codes.late_present:
            assert 1 <= int(m["minutes_late"]) <= 60
        elif m["code"] == codes.late_after_close:
            assert int(m["minutes_late"]) > 65
        else:
            assert m["minutes_late"] == ""
        assert m["recorded_by"] in office and m["recorded_at"] == ""
    assert {m["code"] for m in autumn.marks if m["session"] == "PM"} >= {codes.present_pm}


def test_reasons_are_config_reasons_for_the_code(autumn: SyntheticSchool, config: Config) -> None:
    reasons = config.policy.absence.reasons
    for m in autumn.marks:
        if m["reason"]:
            assert reasons[m["reason"]] == m["code"], m
        elif config.code(m["code"]).category in ("authorised", "unauthorised"):
            assert m["code"] == config.policy.codes.no_reason, m


def test_every_role_has_staff(small: SyntheticSchool, config: Config) -> None:
    roles = Counter(r for s in small.staff for r in s["roles"].split(";"))
    assert set(roles) == set(config.roles)
    assert roles["senior_leader"] == 2 and roles["head_of_key_stage"] == 2 and 2 <= roles["office"] <= 3
    tutors = {s["forms"] for s in small.staff if s["roles"] == "form_tutor"}
    assert tutors == {p["form"] for p in small.pupils}
    assert {s["year_groups"] for s in small.staff if s["roles"] == "pastoral_manager"} == {
        "7", "8", "9", "10", "11"}
    assert {s["year_groups"] for s in small.staff if s["roles"] == "head_of_key_stage"} == {"7;8;9", "10;11"}
    ids = [s["staff_id"] for s in small.staff]
    assert len(set(ids)) == len(ids) and all(s["email"].endswith("@heys.example.org") for s in small.staff)


def test_every_pupil_has_a_contact_with_parental_responsibility(autumn: SyntheticSchool) -> None:
    by_pupil: dict[str, list[dict[str, str]]] = {}
    for c in autumn.contacts:
        by_pupil.setdefault(c["upn"], []).append(c)
    assert set(by_pupil) == {p["upn"] for p in autumn.pupils}
    for contacts in by_pupil.values():
        assert any(c["parental_responsibility"] == "Y" for c in contacts)
        assert [c["priority"] for c in contacts] in (["1"], ["1", "2"])
        assert all(c["address"] for c in contacts)
    ids = [c["contact_id"] for c in autumn.contacts]
    assert len(set(ids)) == len(ids)
    no_email = sum(not c["email"] for c in autumn.contacts) / len(autumn.contacts)
    assert 0.05 < no_email < 0.15
    two = sum(len(cs) == 2 for cs in by_pupil.values()) / 600
    assert two > 0.7


# --- realism -------------------------------------------------------------------------------------------
def test_autumn_rates_are_plausible(autumn_summary: dict) -> None:
    s = autumn_summary
    assert 6 <= s["overall_absence_pct"] <= 11
    assert 3 <= s["authorised_pct"] <= 7
    assert 1.5 <= s["unauthorised_pct"] <= 4.5
    assert 15 <= s["pa_share_pct"] <= 30
    assert 0.5 <= s["severe_share_pct"] <= 5
    assert 0.5 <= s["lates_per_pupil"] <= 6
    assert s["fsm_absence_pct"] > s["non_fsm_absence_pct"]


def test_more_absence_on_mondays_and_fridays(autumn_summary: dict) -> None:
    wd = autumn_summary["absence_by_weekday_pct"]
    midweek = (wd["Tue"] + wd["Wed"] + wd["Thu"]) / 3
    assert wd["Mon"] > midweek and wd["Fri"] > midweek


def test_illness_rises_towards_winter(autumn_summary: dict) -> None:
    ill = autumn_summary["illness_by_month_pct"]
    assert ill["2026-12"] > ill["2026-09"]


def test_codes_used_as_in_a_real_register(autumn_summary: dict, config: Config) -> None:
    c, total = autumn_summary["codes"], autumn_summary["possible_sessions"]
    codes = config.policy.codes
    assert c[codes.illness] > c[codes.medical_appointment] > c.get(codes.exceptional, 0)
    for code in (codes.no_reason, codes.unauthorised_other, codes.holiday_unauthorised,
                 codes.late_after_close, codes.religious_observance):
        assert 0 < c[code] < 0.03 * total, code


def test_no_reason_is_a_minority_of_first_days(autumn: SyntheticSchool, config: Config) -> None:
    """Most parents ring in; some N absences run two or more days (the first-day response's home visit)."""
    table = config.policy.codes.table
    no_reason = config.policy.codes.no_reason
    mornings: dict[str, list[str]] = {}
    for m in autumn.marks:
        if m["session"] == "AM":
            mornings.setdefault(m["upn"], []).append(m["code"])
    first: Counter[bool] = Counter()
    long_n = 0
    for codes in mornings.values():
        absent = [table[c].category in ("authorised", "unauthorised") and not table[c].late for c in codes]
        for i, code in enumerate(codes):
            if absent[i] and (i == 0 or not absent[i - 1]):
                first[code == no_reason] += 1
            second_n = code == no_reason and i > 0 and codes[i - 1] == no_reason
            if second_n and (i < 2 or codes[i - 2] != no_reason):
                long_n += 1
    assert 0.1 < first[True] / (first[True] + first[False]) < 0.5
    assert long_n >= 20


def test_whole_day_absences_usually_one_code(autumn: SyntheticSchool, config: Config) -> None:
    table = config.policy.codes.table
    days: dict[tuple[str, str], dict[str, str]] = {}
    for m in autumn.marks:
        days.setdefault((m["upn"], m["date"]), {})[m["session"]] = m["code"]
    both = [d for d in days.values()
            if all(table[c].category in ("authorised", "unauthorised") and not table[c].late
                   for c in d.values())]
    assert sum(d["AM"] == d["PM"] for d in both) / len(both) > 0.95


def test_lates_concentrated_in_a_minority(autumn: SyntheticSchool, config: Config) -> None:
    table = config.policy.codes.table
    lates = Counter(m["upn"] for m in autumn.marks if table[m["code"]].late)
    top = sum(n for _, n in lates.most_common(60))  # the latest tenth of pupils
    assert top > 0.4 * sum(lates.values())


def test_sample_rates(small: SyntheticSchool, config: Config) -> None:
    s = summary(small, config)
    assert 4 <= s["overall_absence_pct"] <= 11
    assert s["pa_share_pct"] >= 10 and s["severe_share_pct"] > 0  # the demo has cases to work


def test_cme1_about_one_pupil_in_300_stops_coming_for_good(config: Config, calendar: SchoolCalendar,
                                                           autumn: SyntheticSchool, small: SyntheticSchool) -> None:
    """CME-1 needs a child who stops coming: round(0.0034 x n) pupils (2 of 600) are away without a reason
    every session from at most halfway through the period to its end, far past CME-1's 20 school days (a
    disengaged pupil's runs are shorter); a school too small to round up to one (the 60-pupil sample) has
    none."""
    from casework.attendance import consecutive_absent_days

    unauthorised = set(config.codes_in("unauthorised"))
    needed = config.policy.missing_education.consecutive_unauthorised_school_days

    def missing(school: SyntheticSchool, through: dt.date) -> list[str]:
        run = max(needed, calendar.school_days_through(through) // 2)
        by_pupil: dict[str, dict[dt.date, dict[str, str]]] = {}
        for m in school.marks:
            by_pupil.setdefault(m["upn"], {}).setdefault(dt.date.fromisoformat(m["date"]), {})[m["session"]] = \
                m["code"]
        return sorted(upn for upn, days in by_pupil.items()
                      if consecutive_absent_days(days, calendar, through, unauthorised) >= run)

    assert len(missing(autumn, AUTUMN_END)) == round(0.0034 * 600) == 2
    assert missing(small, AUTUMN_1_END) == []
