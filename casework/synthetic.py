"""A deterministic synthetic school: pupils, contacts, staff and registers shaped like a real secondary.

The absence model is calibrated against ../shared/reference/absence-statistics.md (national figures for
secondary schools): overall absence around 8%, mostly illness, unauthorised around 3%, about a fifth of
pupils persistently absent and about 2% severely absent, with the known patterns (winter illness, Mondays
and Fridays, days next to holidays, term-time holidays at half-term edges, FSM and SEN gaps).

The `reason` column holds the config's reason names (policy.absence.reasons: illness, holiday, truancy,
...), always the one that maps to the mark's code; N (no reason yet) has none.

Only the standard library is used and every random draw comes from a `random.Random` seeded from the
seed and a label, so the same seed gives byte-identical CSV files on every machine and Python version.

    python -m casework.synthetic --pupils 60 --seed 1 --until 2026-10-23 --out data/sample
"""
from __future__ import annotations

import argparse
import csv
import math
import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from casework.upn import make_upn

Row = dict[str, str]

PUPIL_COLUMNS = ("upn", "given_name", "family_name", "date_of_birth", "year_group", "form", "sen", "fsm",
                 "looked_after")
CONTACT_COLUMNS = ("upn", "contact_id", "name", "relationship", "parental_responsibility", "phone", "email",
                   "address", "priority")
STAFF_COLUMNS = ("staff_id", "name", "email", "roles", "forms", "year_groups")
MARK_COLUMNS = ("upn", "date", "session", "code", "minutes_late", "reason", "recorded_by", "recorded_at")
FILES = {"pupils": PUPIL_COLUMNS, "contacts": CONTACT_COLUMNS, "staff": STAFF_COLUMNS, "marks": MARK_COLUMNS}

YEAR_GROUPS = (7, 8, 9, 10, 11)
KEY_STAGES = {"KS3": (7, 8, 9), "KS4": (10, 11)}
FORM_LETTERS = "HEYSCRTNBWDK"  # 7H, 7E, 7Y, 7S spell the school; more letters for bigger schools
PUPILS_PER_FORM = 29
LA_CODE = 357  # Tameside
PRIMARY_ESTABLISHMENTS = (2003, 2011, 2017, 2024, 2032, 2045, 2058, 2061, 2077, 2089, 2094, 2106)
STAFF_DOMAIN = "heys.example.org"
FAMILY_DOMAINS = ("example.com", "example.net", "example.org")

GIRLS = ("Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophia", "Grace", "Mia", "Poppy", "Ella", "Lily",
         "Evie", "Isabella", "Sophie", "Ivy", "Freya", "Harper", "Charlotte", "Florence", "Daisy", "Ruby",
         "Chloe", "Jessica", "Holly", "Aisha", "Maryam", "Zara", "Hafsa", "Amira", "Zainab", "Maja", "Niamh",
         "Erin", "Leah", "Millie", "Ellie", "Zoë", "Layla", "Scarlett", "Phoebe")
BOYS = ("Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar", "Charlie",
        "Jacob", "Thomas", "Freddie", "Alfie", "Theo", "Archie", "James", "Joshua", "William", "Henry",
        "Ethan", "Mason", "Logan", "Riley", "Tyler", "Callum", "Ibrahim", "Yusuf", "Ayaan", "Kacper",
        "Connor", "Liam", "Kai", "Dylan", "Finley", "Reuben", "Harvey", "Zain", "Szymon", "Lewis")
WOMEN = ("Sarah", "Emma", "Laura", "Rebecca", "Claire", "Nicola", "Gemma", "Kelly", "Lisa", "Joanne",
         "Michelle", "Rachel", "Hannah", "Amy", "Victoria", "Samantha", "Louise", "Natalie", "Stacey",
         "Leanne", "Nadia", "Shazia", "Farzana", "Agnieszka", "Siân", "Helen", "Karen", "Donna", "Jade")
MEN = ("David", "Paul", "Mark", "Andrew", "Richard", "Daniel", "Christopher", "Michael", "Stephen",
       "Craig", "Lee", "Gary", "Darren", "Jamie", "Matthew", "Wayne", "Imran", "Tariq", "Asif", "Piotr",
       "Sean", "Gareth", "Neil", "Adam", "Carl", "Shahid", "Kevin", "Martin", "Ryan")
FAMILY_NAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
                "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
                "Jackson", "Clarke", "Hughes", "Lewis", "Harrison", "Turner", "Holt", "Ashworth", "Kershaw",
                "Schofield", "Howarth", "Barlow", "Whitehead", "Lord", "Hussain", "Khan", "Ahmed", "Ali",
                "Begum", "Rahman", "Patel", "Iqbal", "Akhtar", "Mahmood", "Nowak", "Kowalski", "O'Brien",
                "Murphy", "Kelly", "McDonald", "Campbell", "Okafor", "Mensah", "Bennett", "Cooper", "Marsh",
                "Fletcher", "Bradshaw", "Kay", "Buckley", "Hardy", "Sutcliffe", "Platt", "Moss")
STREETS = ("Mossley Road", "Stamford Street", "Kings Road", "Taunton Road", "Lees Road", "Oldham Road",
           "Park Parade", "Currier Lane", "Katherine Street", "Whiteacre Road", "Alt Hill Lane",
           "Broadoak Road", "Richmond Street", "Queens Road", "Curzon Road", "Hillgate Street",
           "Ladysmith Road", "Wellington Road", "Cranbourne Road", "Holden Street")
# town, postcode district; most families live in Ashton, some in the neighbouring towns
TOWNS = (("Ashton-under-Lyne", "OL6"), ("Ashton-under-Lyne", "OL6"), ("Ashton-under-Lyne", "OL7"),
         ("Ashton-under-Lyne", "OL7"), ("Stalybridge", "SK15"), ("Mossley", "OL5"), ("Dukinfield", "SK16"))
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a postcode's last part may use

UNACCEPTABLE_REASONS = ("shopping", "birthday", "looking_after_family", "waiting_for_tradespeople",
                        "haircut", "dentist_appointment")  # ABS-3: never authorised
EXCEPTIONAL_REASONS = ("funeral", "traumatic_event", "hospital_visit", "exceptional_circumstances")
NO_CONTACT_REASONS = ("no_reason_given", "truancy")

# --- the absence model's knobs (tuned so a 600-pupil autumn term lands on the reference figures) -------
ILL_START = 0.011          # illness episodes started per pupil per school day, before multipliers
UNAUTH_START = 0.0036       # unauthorised (truancy / unacceptable reason) episodes per pupil per day
EXCEPTIONAL_START = 0.0006  # funerals, hospital visits: rare, authorised as C
SUSPENSION_START = 0.0002   # E, concentrated in the pupils with most unauthorised absence
MEDICAL_START = 0.008       # medical appointments (usually one session)
SENT_HOME_ILL = 0.003       # present in the morning, ill in the afternoon
PM_TRUANCY = 0.002          # skipped afternoon lessons
HOLIDAY_PER_EDGE = 0.02     # chance a family takes a term-time holiday at any one half-term edge
OBSERVANT_SHARE = 0.04      # families who keep a religious day in each half term
# shares of pupils with a pattern of their own, drawn as exact counts, and the fewest a school gets (so a small
# sample has each of the first three). "missing": a child who stops coming and is not heard of again (CME-1),
# about one in 300; none in a school too small to round up to one.
PATTERNS = (("severe", 0.018, 1), ("deteriorating", 0.05, 1), ("recovering", 0.04, 1), ("missing", 0.0034, 0))
MISSING_FROM = (0.25, 0.5)  # a missing pupil's first day away, as a share of the way through the period
# Monday..Friday: more absence at either end of the week, most of it unauthorised
WEEKDAY_ILL = (1.3, 0.9, 0.85, 0.9, 1.2)
WEEKDAY_UNAUTH = (1.55, 0.85, 0.75, 0.85, 1.6)
EDGE_ILL, EDGE_UNAUTH = 1.3, 2.0       # the school day next to a break longer than a weekend
LAST_WEEK_ILL, LAST_WEEK_UNAUTH = 1.1, 1.35  # the week before half term and the end of term
# illness by month (value at the start of the month, interpolated): low in September, peak in winter
SEASON = {9: 0.8, 10: 1.05, 11: 1.35, 12: 1.85, 1: 1.9, 2: 1.6, 3: 1.3, 4: 1.0, 5: 0.9, 6: 0.85, 7: 0.85,
          8: 0.85}
YEAR_UNAUTH = {7: 0.7, 8: 0.9, 9: 1.05, 10: 1.15, 11: 1.25}  # older pupils miss more without reason
ILL_LENGTHS = ((1, 0.42), (2, 0.25), (3, 0.15), (4, 0.07), (5, 0.05), (6, 0.02), (7, 0.02), (8, 0.01),
               (10, 0.01))
UNAUTH_LENGTHS = ((1, 0.65), (2, 0.2), (3, 0.08), (4, 0.04), (5, 0.03))
HOLIDAY_LENGTHS = ((3, 0.1), (4, 0.15), (5, 0.45), (6, 0.1), (7, 0.08), (8, 0.05), (10, 0.07))
NO_CONTACT_DAYS = ((1, 0.62), (2, 0.3), (3, 0.08))  # days an absence stays N before a reason is known


# --- public types --------------------------------------------------------------------------------------
@dataclass
class SyntheticSchool:
    """Rows for the four import files, keyed by the CONTRACT.md column names (all values strings)."""

    pupils: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    staff: list[Row] = field(default_factory=list)
    marks: list[Row] = field(default_factory=list)

    def rows(self, name: str) -> list[Row]:
        return {"pupils": self.pupils, "contacts": self.contacts, "staff": self.staff,
                "marks": self.marks}[name]


class Mark(NamedTuple):
    code: str
    minutes_late: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Codes:
    """The codes the generator writes, taken from config so another code table is another config."""

    present_am: str
    present_pm: str
    late: str
    late_closed: str
    illness: str
    medical: str
    no_reason: str
    other: str
    holiday: str
    religious: str
    exceptional: str
    suspension: str

    @classmethod
    def from_config(cls, config: Config) -> Codes:
        c = config.policy.codes
        return cls(c.present_am, c.present_pm, c.late_present, c.late_after_close, c.illness,
                   c.medical_appointment, c.no_reason, c.unauthorised_other, c.holiday_unauthorised,
                   c.religious_observance, c.exceptional, c.suspension)


@dataclass(frozen=True)
class Day:
    """A school day of the period with everything the hazards need, computed once for all pupils."""

    date: date
    term: int            # index of its half term: episodes never run across a break
    progress: float      # 0 on the first day of the period, 1 on the last (for trends)
    season: float        # illness multiplier
    edge: bool           # next to a break longer than a weekend
    last_week: bool      # one of the last five school days of its half term
    term_edge: str       # 'start' / 'end' on the first / last school day of its half term, else ''


@dataclass(frozen=True)
class Profile:
    """One pupil's tendencies, drawn once: multipliers on the base hazards and habits."""

    ill: float
    unauth: float
    medical: float
    late: float           # chance of arriving late on a morning
    late_closed: float    # share of those lates that come after the register closed
    rings_in: float       # chance a parent reports an absence on its first day
    trend: str            # steady, deteriorating, recovering or missing (stops coming) through the period
    severe: float         # 0, or the share of days a disengaged pupil misses
    observant: bool
    holiday: float        # multiplier on the term-time holiday chance


# --- helpers -------------------------------------------------------------------------------------------
def _rng(seed: int, *labels: object) -> random.Random:
    """A generator per purpose: changing one part of the school does not reshuffle the others.
    String seeds are hashed with SHA-512 by `random`, so this is stable across runs and platforms."""
    return random.Random("/".join(str(x) for x in (seed, *labels)))


def _weighted(rng: random.Random, table: Sequence[tuple[int, float]]) -> int:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _ascii(text: str) -> str:
    """Letters only, accents dropped: for email addresses (Zoë -> zoe, O'Brien -> obrien)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _academic_year(calendar: SchoolCalendar) -> int:
    """The calendar year the school year starts in (2026 for 2026-27)."""
    first = calendar.half_terms[0].start
    return first.year if first.month >= 8 else first.year - 1


# --- pupils --------------------------------------------------------------------------------------------
def _form_names(year: int, count: int) -> list[str]:
    out = []
    for i in range(count):
        letter = FORM_LETTERS[i % len(FORM_LETTERS)]
        suffix = "" if i < len(FORM_LETTERS) else str(i // len(FORM_LETTERS) + 1)
        out.append(f"{year}{letter}{suffix}")
    return out


def _year_sizes(n_pupils: int) -> dict[int, int]:
    """Pupils split evenly over the year groups, the remainder going to the younger years."""
    base, extra = divmod(n_pupils, len(YEAR_GROUPS))
    return {y: base + (1 if i < extra else 0) for i, y in enumerate(YEAR_GROUPS)}


def _forms_per_year(n_pupils: int) -> int:
    return max(1, round(n_pupils / len(YEAR_GROUPS) / PUPILS_PER_FORM))


def _date_of_birth(rng: random.Random, academic_year: int, year_group: int) -> date:
    """Year 7 in 2026-27 was born between 1 Sep 2014 and 31 Aug 2015, and so on."""
    first = date(academic_year - year_group - 5, 9, 1)
    last = date(first.year + 1, 8, 31)
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _upn(rng: random.Random, used: set[str], birth_year: int) -> str:
    """Allocated by a Tameside primary at reception (age 4-5), or later for pupils who moved in."""
    while True:
        allocated = birth_year + 5 if rng.random() < 0.88 else birth_year + 5 + rng.randint(1, 6)
        upn = make_upn(LA_CODE, rng.choice(PRIMARY_ESTABLISHMENTS), allocated, rng.randint(1, 999))
        if upn not in used:
            used.add(upn)
            return upn


def _sen(rng: random.Random) -> str:
    r = rng.random()
    return "E" if r < 0.02 else "K" if r < 0.14 else ""


def _pupil(rng: random.Random, used: set[str], academic_year: int, year_group: int, form: str) -> Row:
    girl = rng.random() < 0.5
    dob = _date_of_birth(rng, academic_year, year_group)
    return {
        "upn": _upn(rng, used, dob.year if dob.month >= 9 else dob.year - 1),
        "given_name": rng.choice(GIRLS if girl else BOYS),
        "family_name": rng.choice(FAMILY_NAMES),
        "date_of_birth": dob.isoformat(),
        "year_group": str(year_group),
        "form": form,
        "sen": _sen(rng),
        "fsm": "Y" if rng.random() < 0.25 else "N",
        "looked_after": "Y" if rng.random() < 0.01 else "N",
    }


def _make_pupils(n_pupils: int, seed: int, calendar: SchoolCalendar) -> list[Row]:
    rng = _rng(seed, "pupils")
    academic_year = _academic_year(calendar)
    used: set[str] = set()
    n_forms = _forms_per_year(n_pupils)
    pupils = []
    for year, size in _year_sizes(n_pupils).items():
        forms = _form_names(year, n_forms)
        pupils += [_pupil(rng, used, academic_year, year, forms[i % n_forms]) for i in range(size)]
    # registers list pupils by form, then name: the order an office export would have
    return sorted(pupils, key=lambda p: (int(p["year_group"]), p["form"], p["family_name"],
                                         p["given_name"], p["upn"]))


# --- contacts ------------------------------------------------------------------------------------------
def _phone(rng: random.Random) -> str:
    """Ofcom's numbers reserved for drama: never a real person's."""
    if rng.random() < 0.8:
        return f"07700 900{rng.randrange(1000):03d}"
    return f"0161 496 0{rng.randrange(1000):03d}"


def _address(rng: random.Random) -> str:
    town, district = rng.choice(TOWNS)
    inward = f"{rng.randint(1, 9)}{rng.choice(POSTCODE_LETTERS)}{rng.choice(POSTCODE_LETTERS)}"
    return f"{rng.randint(1, 180)} {rng.choice(STREETS)}, {town}, {district} {inward}"


def _email(rng: random.Random, given: str, family: str) -> str:
    """About one contact in ten has no email address, so letters to them go by post."""
    if rng.random() < 0.1:
        return ""
    number = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
    return f"{_ascii(given)}.{_ascii(family)}{number}@{rng.choice(FAMILY_DOMAINS)}"


def _adult(rng: random.Random, relationship: str, pupil_family: str) -> tuple[str, str]:
    woman = relationship in ("Mother", "Stepmother", "Grandmother", "Aunt", "Foster carer")
    given = rng.choice(WOMEN if woman else MEN)
    # most parents share the child's family name; some mothers and all foster carers do not
    same = relationship in ("Mother", "Father", "Grandfather") and rng.random() < (
        0.8 if relationship == "Mother" else 0.95)
    return given, pupil_family if same else rng.choice(FAMILY_NAMES)


def _household(rng: random.Random, pupil: Row) -> list[tuple[str, bool]]:
    """(relationship, parental responsibility) in priority order."""
    first, second = ("Mother", "Father") if rng.random() < 0.75 else ("Father", "Mother")
    if pupil["looked_after"] == "Y":
        # the foster carer is rung first; the birth parent keeps parental responsibility
        return [("Foster carer", False), ("Mother", True)]
    r = rng.random()
    if r < 0.15:
        return [(first, True)]
    if r < 0.20:
        return [(first, True), (rng.choice(("Grandmother", "Grandfather", "Aunt", "Stepfather")), False)]
    return [(first, True), (second, True)]


def _make_contacts(pupils: list[Row], seed: int) -> list[Row]:
    rng = _rng(seed, "contacts")
    out: list[Row] = []
    for pupil in pupils:
        home = _address(rng)
        for priority, (relationship, pr) in enumerate(_household(rng, pupil), start=1):
            given, family = _adult(rng, relationship, pupil["family_name"])
            # a parent living apart (and every non-parent) has an address of their own
            lives_apart = priority > 1 and (not pr or rng.random() < 0.15)
            out.append({
                "upn": pupil["upn"], "contact_id": f"C{len(out) + 1:04d}", "name": f"{given} {family}",
                "relationship": relationship, "parental_responsibility": "Y" if pr else "N",
                "phone": _phone(rng), "email": _email(rng, given, family),
                "address": _address(rng) if lives_apart else home, "priority": str(priority),
            })
    return out


# --- staff ---------------------------------------------------------------------------------------------
def _staff_posts(pupils: list[Row]) -> list[tuple[str, str, str]]:
    """(role, forms, year_groups) for each member of staff, leaders first."""
    posts = [("headteacher", "", ""), ("senior_leader", "", ""), ("senior_leader", "", ""),
             ("attendance_lead", "", ""), ("rsi", "", ""), ("safeguarding_lead", "", ""),
             ("community_support", "", ""), ("governor_panel", "", "")]
    posts += [("head_of_key_stage", "", ";".join(map(str, years))) for years in KEY_STAGES.values()]
    posts += [("pastoral_manager", "", str(y)) for y in YEAR_GROUPS]
    posts += [("office", "", "")] * (3 if len(pupils) >= 500 else 2)
    forms = sorted({(int(p["year_group"]), p["form"]) for p in pupils})
    posts += [("form_tutor", form, "") for _, form in forms]
    return posts


def _make_staff(pupils: list[Row], seed: int, config: Config) -> list[Row]:
    rng = _rng(seed, "staff")
    # only roles the config knows; a config with roles of its own still gets somebody in each of them
    posts = [post for post in _staff_posts(pupils) if post[0] in config.roles]
    posts += [(role, "", "") for role in config.roles if role not in {p[0] for p in posts}]
    out: list[Row] = []
    emails: set[str] = set()
    for role, forms, years in posts:
        given = rng.choice(WOMEN + MEN)
        family = rng.choice(FAMILY_NAMES)
        email = f"{_ascii(given)[0]}.{_ascii(family)}@{STAFF_DOMAIN}"
        n = 2
        while email in emails:
            email, n = f"{_ascii(given)[0]}.{_ascii(family)}{n}@{STAFF_DOMAIN}", n + 1
        emails.add(email)
        out.append({"staff_id": f"S{len(out) + 1:03d}", "name": f"{given} {family}", "email": email,
                    "roles": role, "forms": forms, "year_groups": years})
    return out


# --- the period's days ---------------------------------------------------------------------------------
def _season(d: date) -> float:
    """Illness multiplier: the month's value interpolated towards the next month's."""
    nxt = d.month % 12 + 1
    days_in_month = ((d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
    frac = (d.day - 1) / days_in_month
    return SEASON[d.month] + (SEASON[nxt] - SEASON[d.month]) * frac


def _is_edge(calendar: SchoolCalendar, d: date) -> bool:
    """Next to a break longer than a normal weekend (half terms, bank holidays, INSET days)."""
    prev, nxt = calendar.previous_school_day(d), calendar.next_school_day(d)
    return prev is None or nxt is None or (d - prev).days > 3 or (nxt - d).days > 3


def _term_index(calendar: SchoolCalendar, d: date) -> int:
    return next(i for i, ht in enumerate(calendar.half_terms) if ht.start <= d <= ht.end)


def _period_days(calendar: SchoolCalendar, start: date, end: date) -> list[Day]:
    dates = [d for d in calendar.days if start <= d <= end]
    first_of_term = {_term_index(calendar, d): d for d in reversed(calendar.days)}
    last_of_term = {_term_index(calendar, last): last for _, last in calendar.half_term_last_days()}
    span = max(len(dates) - 1, 1)
    out = []
    for i, d in enumerate(dates):
        term = _term_index(calendar, d)
        term_edge = "start" if d == first_of_term[term] else "end" if d == last_of_term[term] else ""
        out.append(Day(d, term, i / span, _season(d), _is_edge(calendar, d),
                       calendar.school_days_between(d, last_of_term[term]) < 5, term_edge))
    return out


def _term_edges(days: list[Day]) -> list[tuple[int, str]]:
    """(term, 'start'/'end') for each half-term edge inside the period: where holidays cluster."""
    return [(d.term, d.term_edge) for d in days if d.term_edge]


def _community_days(days: list[Day], seed: int) -> dict[int, int]:
    """One religious observance day per half term (index into the period), shared by observant families."""
    rng = _rng(seed, "observance")
    out = {}
    for t in sorted({d.term for d in days}):
        indices = [i for i, d in enumerate(days) if d.term == t]
        out[t] = rng.choice(indices)
    return out


# --- one pupil's absence ------------------------------------------------------------------------------
def _profile(rng: random.Random, pupil: Row, pattern: str) -> Profile:
    """Skewed (log-normal) propensities with a shared factor, so the same pupils tend to be ill more
    often and to miss school without reason; FSM, SEN and looked-after pupils higher, as nationally."""
    fsm, sen, lac = pupil["fsm"] == "Y", pupil["sen"], pupil["looked_after"] == "Y"
    shared = rng.gauss(0, 1)
    # the constants subtract sigma^2 / 2 so each log-normal multiplier averages 1 before the factors
    ill = math.exp(0.5 * shared + 0.35 * rng.gauss(0, 1) - 0.19)
    ill *= (1.3 if fsm else 1.0) * {"E": 1.6, "K": 1.3}.get(sen, 1.0)
    unauth = math.exp(1.1 * shared + 0.6 * rng.gauss(0, 1) - 0.79)
    unauth *= (2.0 if fsm else 1.0) * {"E": 1.2, "K": 1.5}.get(sen, 1.0) * (1.4 if lac else 1.0)
    unauth *= YEAR_UNAUTH[int(pupil["year_group"])]
    severe = rng.uniform(0.55, 0.9) if pattern == "severe" else 0.0
    late_prone = rng.random() < (0.22 if fsm else 0.10) + (0.05 if shared > 1 else 0.0)
    late = rng.uniform(0.06, 0.3) if late_prone else 0.012
    return Profile(
        ill=ill, unauth=unauth, medical={"E": 2.0, "K": 1.3}.get(sen, 1.0), late=late,
        late_closed=0.08 if late_prone else 0.02,
        rings_in=min(0.95, max(0.3, 0.85 - 0.12 * math.log(unauth))) if not severe else 0.3,
        trend=pattern if pattern != "severe" else "steady", severe=severe,
        observant=rng.random() < OBSERVANT_SHARE,
        holiday=1.5 if fsm else 1.0)


def _risk(pupil: Row) -> float:
    """How much likelier than average a pupil is to become disengaged (FSM, SEN, looked after)."""
    return ((2.5 if pupil["fsm"] == "Y" else 1.0) * (2.0 if pupil["sen"] else 1.0)
            * (2.0 if pupil["looked_after"] == "Y" else 1.0))


def _patterns(pupils: list[Row], seed: int) -> dict[str, str]:
    """upn -> severe / deteriorating / recovering / missing for a few pupils, the rest steady. Severe absence is
    picked by risk (weighted sampling without replacement: the largest u ** (1 / weight) win)."""
    rng = _rng(seed, "patterns")
    out: dict[str, str] = {}
    for pattern, share, fewest in PATTERNS:
        free = [p for p in pupils if p["upn"] not in out]
        weight = _risk if pattern in ("severe", "missing") else (lambda p: 1.0)
        keyed = sorted(free, key=lambda p: rng.random() ** (1 / weight(p)), reverse=True)
        out.update((p["upn"], pattern) for p in keyed[:max(fewest, round(share * len(pupils)))])
    return out


def _trend(profile: Profile, progress: float) -> float:
    if profile.trend == "deteriorating":
        return 0.3 + 3.4 * progress ** 2
    if profile.trend == "recovering":
        return 0.3 + 3.0 * (1 - progress) ** 2
    return 1.0


def _hazards(profile: Profile, day: Day) -> dict[str, float]:
    """Chance that an episode of each kind starts on this (free) day."""
    wd, t = day.date.weekday(), _trend(profile, day.progress)
    ill = ILL_START * profile.ill * day.season * WEEKDAY_ILL[wd] * t
    ill *= (EDGE_ILL if day.edge else 1.0) * (LAST_WEEK_ILL if day.last_week else 1.0)
    unauth = UNAUTH_START * profile.unauth * WEEKDAY_UNAUTH[wd] * t
    unauth *= (EDGE_UNAUTH if day.edge else 1.0) * (LAST_WEEK_UNAUTH if day.last_week else 1.0)
    out = {"ill": ill, "unauth": unauth, "exceptional": EXCEPTIONAL_START,
           "suspension": SUSPENSION_START * min(profile.unauth, 5.0)}
    if profile.severe:
        # disengaged: runs of about five days; this start rate gives the target share of days missed
        out["disengaged"] = profile.severe / (5 * (1 - profile.severe)) * WEEKDAY_UNAUTH[wd]
    return out


def _episode_kind(rng: random.Random, profile: Profile, day: Day) -> str | None:
    """One draw decides whether an episode starts and of which kind (a disengaged pupil's hazards can
    add up to more than 1, so they are capped and shared out in proportion)."""
    hazards = _hazards(profile, day)
    total = sum(hazards.values())
    scale = min(total, 0.95) / total
    r = rng.random()
    for kind, h in hazards.items():
        r -= h * scale
        if r < 0:
            return kind
    return None


def _episode_length(rng: random.Random, kind: str) -> int:
    if kind == "ill":
        return _weighted(rng, ILL_LENGTHS)
    if kind == "unauth":
        return _weighted(rng, UNAUTH_LENGTHS)
    if kind == "disengaged":
        return 1 + min(int(rng.expovariate(1 / 4)), 19)
    return rng.randint(1, 3)  # exceptional leave, suspension


def _free_span(marks: list[Mark | None], days: list[Day], first: int, length: int) -> list[int]:
    """Consecutive free days from `first`, at most `length`, never across a half-term break."""
    out: list[int] = []
    i = first
    while i < len(days) and len(out) < length and days[i].term == days[first].term:
        if marks[2 * i] is not None or marks[2 * i + 1] is not None:
            break
        out.append(i)
        i += 1
    return out


def _episode_codes(rng: random.Random, codes: Codes, profile: Profile, kind: str, n: int) -> list[Mark]:
    """One mark per day of the episode. Without a call from home the register says N (no reason yet)
    until the school learns the reason; with a call the reason's code is used from the first day."""
    if kind == "exceptional":
        return [Mark(codes.exceptional, reason=rng.choice(EXCEPTIONAL_REASONS))] * n
    if kind == "suspension":
        return [Mark(codes.suspension, reason="suspension")] * n
    if kind == "ill":
        then = Mark(codes.illness, reason="illness")
        rings = rng.random() < profile.rings_in
    elif kind == "unauth":
        rings = rng.random() < 0.35 * profile.rings_in  # a parent who rings with a reason not accepted
        then = Mark(codes.other, reason=rng.choice(UNACCEPTABLE_REASONS if rings else NO_CONTACT_REASONS))
    else:  # disengaged: sometimes the family claims illness, more often nobody explains
        rings = rng.random() < 0.25
        then = (Mark(codes.illness, reason="illness") if rings
                else Mark(codes.other, reason=rng.choice(NO_CONTACT_REASONS)))
    waiting = 0 if rings else _weighted(rng, NO_CONTACT_DAYS)
    return [Mark(codes.no_reason) if k < waiting else then for k in range(n)]


def _place_holiday(rng: random.Random, codes: Codes, profile: Profile, days: list[Day],
                   edges: list[tuple[int, str]], marks: list[Mark | None]) -> None:
    """Term-time holidays hug the half-term edges: leaving early or coming back late. About half the
    families ask first (G from the first day); the rest just go (N until the school finds out)."""
    for term, side in edges:
        if rng.random() >= HOLIDAY_PER_EDGE * profile.holiday:
            continue
        in_term = [i for i, d in enumerate(days) if d.term == term]
        length = _weighted(rng, HOLIDAY_LENGTHS)
        span = in_term[:length] if side == "start" else in_term[-length:]
        waiting = 0 if rng.random() < 0.5 else _weighted(rng, NO_CONTACT_DAYS)
        for k, i in enumerate(span):
            mark = Mark(codes.no_reason) if k < waiting else Mark(codes.holiday, reason="holiday")
            marks[2 * i] = marks[2 * i + 1] = mark


def _place_observance(codes: Codes, profile: Profile, community: dict[int, int],
                      marks: list[Mark | None]) -> None:
    if not profile.observant:
        return
    for i in community.values():
        if marks[2 * i] is None and marks[2 * i + 1] is None:
            marks[2 * i] = marks[2 * i + 1] = Mark(codes.religious, reason="religious_observance")


def _place_episodes(rng: random.Random, codes: Codes, profile: Profile, days: list[Day],
                    marks: list[Mark | None]) -> None:
    i = 0
    while i < len(days):
        taken = marks[2 * i] is not None or marks[2 * i + 1] is not None
        kind = None if taken else _episode_kind(rng, profile, days[i])
        if kind is None:
            i += 1
            continue
        span = _free_span(marks, days, i, _episode_length(rng, kind))
        for k, mark in zip(span, _episode_codes(rng, codes, profile, kind, len(span)), strict=True):
            marks[2 * k] = marks[2 * k + 1] = mark
        i = span[-1] + 1


def _place_half_days(rng: random.Random, codes: Codes, profile: Profile, days: list[Day],
                     marks: list[Mark | None]) -> None:
    """Single-session absences on days otherwise present: appointments, sent home ill, skipped lessons."""
    for i, day in enumerate(days):
        if marks[2 * i] is not None or marks[2 * i + 1] is not None:
            continue
        r = rng.random()
        medical = MEDICAL_START * profile.medical
        home_ill = SENT_HOME_ILL * profile.ill * day.season
        truant = PM_TRUANCY * profile.unauth * _trend(profile, day.progress)
        if r < medical:
            which = rng.random()
            appointment = Mark(codes.medical, reason="medical_appointment")
            if which < 0.45 or which >= 0.85:
                marks[2 * i] = appointment
            if which >= 0.45:
                marks[2 * i + 1] = appointment
        elif r < medical + home_ill:
            marks[2 * i + 1] = Mark(codes.illness, reason="illness")
        elif r < medical + home_ill + truant:
            marks[2 * i + 1] = Mark(codes.other, reason="truancy")


def _place_lates(rng: random.Random, codes: Codes, profile: Profile, days: list[Day],
                 marks: list[Mark | None]) -> None:
    """Lates on mornings the pupil came in; a habit of a minority. After the register closes (U) the
    session counts as unauthorised absence."""
    for i in range(len(days)):
        if marks[2 * i] is not None or rng.random() >= profile.late:
            continue
        if rng.random() < profile.late_closed:
            marks[2 * i] = Mark(codes.late_closed, 66 + min(int(rng.expovariate(1 / 25)), 114),
                                "late_after_register_closed")
        else:
            marks[2 * i] = Mark(codes.late, 1 + min(int(rng.expovariate(1 / 9)), 59))


def _pupil_marks(rng: random.Random, codes: Codes, profile: Profile, days: list[Day],
                 edges: list[tuple[int, str]], community: dict[int, int]) -> list[Mark | None]:
    """Marks for every session of the period (AM at 2i, PM at 2i+1); None means present."""
    marks: list[Mark | None] = [None] * (2 * len(days))
    _place_holiday(rng, codes, profile, days, edges, marks)
    _place_observance(codes, profile, community, marks)
    _place_episodes(rng, codes, profile, days, marks)
    _place_half_days(rng, codes, profile, days, marks)
    _place_lates(rng, codes, profile, days, marks)
    if profile.trend == "missing":
        _place_missing(rng, codes, days, marks)
    return marks


def _place_missing(rng: random.Random, codes: Codes, days: list[Day], marks: list[Mark | None]) -> None:
    """A child who stops coming partway through and is not heard of again (CME-1): N while the school tries to
    find out, then unauthorised with no reason given, every session to the end of the period."""
    first = int(len(days) * rng.uniform(*MISSING_FROM))
    waiting = _weighted(rng, NO_CONTACT_DAYS)
    for k, i in enumerate(range(first, len(days))):
        marks[2 * i] = marks[2 * i + 1] = (Mark(codes.no_reason) if k < waiting
                                           else Mark(codes.other, reason="no_reason_given"))


def _make_marks(pupils: list[Row], staff: list[Row], seed: int, config: Config,
                days: list[Day]) -> list[Row]:
    codes = Codes.from_config(config)
    edges, community = _term_edges(days), _community_days(days, seed)
    office = [s["staff_id"] for s in staff if "office" in s["roles"].split(";")]
    patterns = _patterns(pupils, seed)
    per_pupil = []
    for pupil in pupils:
        rng = _rng(seed, "marks", pupil["upn"])  # each pupil's register is independent of the others
        profile = _profile(rng, pupil, patterns.get(pupil["upn"], "steady"))
        per_pupil.append(_pupil_marks(rng, codes, profile, days, edges, community))
    rows: list[Row] = []
    for i, day in enumerate(days):
        recorded_by = office[i % len(office)] if office else ""  # one officer on the registers each day
        for s, session in enumerate(("AM", "PM")):
            present = codes.present_am if s == 0 else codes.present_pm
            for pupil, marks in zip(pupils, per_pupil, strict=True):
                mark = marks[2 * i + s] or Mark(present)
                rows.append({"upn": pupil["upn"], "date": day.date.isoformat(), "session": session,
                             "code": mark.code, "minutes_late": str(mark.minutes_late or ""),
                             "reason": mark.reason, "recorded_by": recorded_by, "recorded_at": ""})
    return rows


# --- the school ---------------------------------------------------------------------------------------
def generate_school(n_pupils: int, seed: int, config: Config, calendar: SchoolCalendar,
                    start: date | None = None, end: date | None = None) -> SyntheticSchool:
    """A school of `n_pupils` with registers for every school day from `start` (default the first day
    of the year) to `end` (default the last day of the first half term)."""
    if n_pupils < 1:
        raise ValueError("a school needs at least one pupil")
    start = start or calendar.first_day
    end = end or calendar.half_term_last_days()[0][1]
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    pupils = _make_pupils(n_pupils, seed, calendar)
    staff = _make_staff(pupils, seed, config)
    marks = _make_marks(pupils, staff, seed, config, _period_days(calendar, start, end))
    return SyntheticSchool(pupils, _make_contacts(pupils, seed), staff, marks)


def write_csvs(school: SyntheticSchool, folder: str | Path) -> list[Path]:
    """pupils.csv, contacts.csv, staff.csv and marks.csv: UTF-8, header row, '\\n' line ends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, columns in FILES.items():
        path = folder / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(school.rows(name))
        written.append(path)
    return written


# --- realised figures ---------------------------------------------------------------------------------
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def summary(school: SyntheticSchool, config: Config) -> dict[str, Any]:
    """The realised rates, by the config's code categories and DfE definitions (absence = authorised +
    unauthorised over possible sessions; PA below config's line; severe at or below its line)."""
    table = config.policy.codes.table
    counted = {"present", "approved_activity", "authorised", "unauthorised"}
    possible: Counter[str] = Counter()   # per pupil
    absent: Counter[str] = Counter()     # per pupil
    by_cat: Counter[str] = Counter()
    by_code: Counter[str] = Counter()
    by_weekday: Counter[int] = Counter()
    weekday_possible: Counter[int] = Counter()
    ill_month: Counter[str] = Counter()
    month_possible: Counter[str] = Counter()
    lates = 0
    for m in school.marks:
        code = table[m["code"]]
        by_code[m["code"]] += 1
        lates += code.late
        if code.category not in counted:
            continue
        upn, day = m["upn"], date.fromisoformat(m["date"])
        possible[upn] += 1
        weekday_possible[day.weekday()] += 1
        month_possible[m["date"][:7]] += 1
        by_cat[code.category] += 1
        if code.category in ("authorised", "unauthorised"):
            absent[upn] += 1
            by_weekday[day.weekday()] += 1
        if m["code"] == config.policy.codes.illness:
            ill_month[m["date"][:7]] += 1
    return _summarise(school, config, possible, absent, by_cat, by_code, lates, by_weekday,
                      weekday_possible, ill_month, month_possible)


def _summarise(school: SyntheticSchool, config: Config, possible: Counter[str], absent: Counter[str],
               by_cat: Counter[str], by_code: Counter[str], lates: int, by_weekday: Counter[int],
               weekday_possible: Counter[int], ill_month: Counter[str],
               month_possible: Counter[str]) -> dict[str, Any]:
    figures = config.policy.figures
    total = sum(possible.values())
    attendance = {upn: 100.0 * (n - absent[upn]) / n for upn, n in possible.items() if n}
    fsm = {p["upn"] for p in school.pupils if p["fsm"] == "Y"}
    fsm_possible = sum(n for u, n in possible.items() if u in fsm)
    fsm_absent = sum(n for u, n in absent.items() if u in fsm)
    n_pupils = len(school.pupils)
    return {
        "pupils": n_pupils,
        "possible_sessions": total,
        "overall_absence_pct": _pct(by_cat["authorised"] + by_cat["unauthorised"], total),
        "authorised_pct": _pct(by_cat["authorised"], total),
        "unauthorised_pct": _pct(by_cat["unauthorised"], total),
        "illness_pct": _pct(by_code[config.policy.codes.illness], total),
        "pa_share_pct": _pct(sum(a < figures.persistent_absence_below for a in attendance.values()),
                             len(attendance)),
        "severe_share_pct": _pct(sum(a <= figures.severe_absence_at_or_below for a in attendance.values()),
                                 len(attendance)),
        "lates_per_pupil": round(lates / n_pupils, 2) if n_pupils else 0.0,
        "fsm_absence_pct": _pct(fsm_absent, fsm_possible),
        "non_fsm_absence_pct": _pct(sum(absent.values()) - fsm_absent, total - fsm_possible),
        "absence_by_weekday_pct": {WEEKDAYS[w]: _pct(by_weekday[w], weekday_possible[w])
                                   for w in range(5)},
        "illness_by_month_pct": {m: _pct(ill_month[m], month_possible[m]) for m in sorted(month_possible)},
        "codes": dict(sorted(by_code.items())),
    }


# --- command line -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m casework.synthetic",
                                     description="Write a deterministic synthetic school as import CSVs.")
    parser.add_argument("--pupils", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from", dest="start", type=date.fromisoformat, default=None,
                        help="first day of marks (default: the first school day)")
    parser.add_argument("--until", dest="end", type=date.fromisoformat, default=None,
                        help="last day of marks (default: the end of the first half term)")
    parser.add_argument("--out", default="data/sample", help="folder for the four CSV files")
    parser.add_argument("--config", default=None, help="config.yaml (default as for `casework`)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    school = generate_school(args.pupils, args.seed, config, SchoolCalendar(config), args.start, args.end)
    for path in write_csvs(school, args.out):
        print(f"wrote {path} ({len(school.rows(path.stem))} rows)")
    for key, value in summary(school, config).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
