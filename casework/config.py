"""The school's policy and settings: config.yaml loaded once into a frozen, typed object.

Every number from ../shared/POLICY.md lives in config.yaml under its rule's area and is validated here.
An invalid file raises ConfigError listing every problem by key path (exit 2 at the CLI).
"""
from __future__ import annotations

import copy
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CATEGORIES = ("present", "approved_activity", "authorised", "unauthorised", "not_counted")
ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """Bad config: `problems` is a list of 'key.path: message' lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid config\n" + "\n".join(f"  {p}" for p in problems))


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _hhmm(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 08:35 as sexagesimal minutes
        return dt.time(value // 60, value % 60)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"must be a time HH:MM, got {value!r}") from exc


class Due(Frozen):
    """A deadline relative to the moment a task or timer is created, on the school calendar.

    Calendar `days`/`weeks` and `school_days` move the local date; `time` then sets the local clock time
    (default: the end of the school day); `hours`/`minutes` add an absolute duration instead.
    """

    days: int = 0
    weeks: int = 0
    school_days: int = 0
    hours: int = 0
    minutes: int = 0
    time: dt.time | None = None

    _t = field_validator("time", mode="before")(lambda v: None if v is None else _hhmm(v))


class Session(Frozen):
    open: dt.time
    late_after: dt.time
    close: dt.time
    _t = field_validator("open", "late_after", "close", mode="before")(_hhmm)


class Registration(Frozen):  # REG-1, REG-2
    am: Session
    pm: Session
    school_day_ends: dt.time
    nightly_evaluation: dt.time
    _t = field_validator("school_day_ends", "nightly_evaluation", mode="before")(_hhmm)


class Code(Frozen):
    category: Literal["present", "approved_activity", "authorised", "unauthorised", "not_counted"]
    description: str
    late: bool = False


class Codes(Frozen):  # REG-3, ABS, FDR-4
    table: dict[str, Code]
    no_reason: str
    unauthorised_other: str
    illness: str
    holiday_unauthorised: str
    present_am: str
    present_pm: str
    late_present: str
    late_after_close: str
    suspension: str
    religious_observance: str
    exceptional: str
    medical_appointment: str
    truancy: str


class HalfTerm(Frozen):
    name: str
    start: dt.date
    end: dt.date


class CalendarConfig(Frozen):
    timezone: str
    half_terms: list[HalfTerm] = Field(min_length=1)
    closures: list[dt.date] = []
    bank_holidays: str = "GB-ENG"


class Band(Frozen):
    lower: float
    upper: float | None = None  # exclusive; None = up to and including 100


class Stages(Frozen):  # STG
    min_possible_sessions: int = Field(ge=0)
    stage_1: Band
    monitor: Band
    stage_2: Band
    stage_3: Band
    stage_4: Band
    stage_5: Band
    safeguarding_log_from_stage: int = Field(ge=1, le=5)
    action_plan: Due  # STG-3: the attendance action plan's length
    review_after: Due
    review_deadline: Due


class FirstDay(Frozen):  # FDR
    second_day_check: dt.time  # FDR-3
    reason_within: Due  # FDR-4: after the pupil is back (or visited), sessions still without a reason become O
    # NAT-REG-2: a no-reason code still on the register this many school days after its session is a task for the
    # office (workflows/no_reason_code.py); None (The Heys School): no such check
    no_reason_max_school_days: int | None = Field(default=None, gt=0)
    _t = field_validator("second_day_check", mode="before")(_hhmm)


class Absence(Frozen):  # ABS
    # ABS-2; None: medical evidence is not requested routinely (NAT-ABS-1), the illness workflow does nothing
    illness_evidence_after_school_days: int | None = Field(ge=1)
    religious_notice_school_days: int = Field(ge=0)  # ABS-4
    # ABS-4; None: every day set apart for the observance is R (NAT-ABS-2)
    religious_days_per_observance: int | None = Field(ge=0)
    suspension_task_over_sessions: int = Field(ge=0)  # ABS-5
    reasons: dict[str, str]  # ABS-3/ABS-6: reason recorded by staff -> code
    # REG-4, REG-2: the reasons that may be recorded for a session the pupil attended (truancy from lessons,
    # arriving after the register closed); every other reason explains an absence only
    reasons_on_attended_sessions: list[str] = []


class Figures(Frozen):  # DfE definitions used by the policy
    persistent_absence_below: float
    # NAT-FIG-1: true: attendance exactly at the line is persistent absence too ("missing 10% or more")
    persistent_absence_includes_line: bool = False
    severe_absence_at_or_below: float
    days_in_year: int
    lessons_per_day: int

    def persistent(self, attendance_pct: float | None) -> bool:
        """Whether an unrounded attendance percentage is persistent absence."""
        if attendance_pct is None:
            return False
        line = self.persistent_absence_below
        return attendance_pct < line or (self.persistent_absence_includes_line and attendance_pct == line)


class Grade(Frozen):
    min_pct: float
    grade: str


class Penalty(Frozen):
    amount_gbp: int = Field(gt=0)
    paid_within_days: int = Field(gt=0)


class NoticeToImprove(Frozen):  # NAT-PN-2
    improvement_period: Due  # from the decision; the framework: 3 to 6 weeks
    not_for: list[str] = []  # codes that, reaching the threshold on their own, go straight to a notice (holiday)
    further_sessions: int = Field(default=1, gt=0)  # unauthorised sessions in the period that lead to a notice
    # the framework's bounds on the period in weeks (policy check); a school's own file need not set them
    allowed_weeks: tuple[float, float] = (0, 52)

    @field_validator("allowed_weeks")
    @classmethod
    def _bounds(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1]:
            raise ValueError(f"must be [shortest, longest] weeks with 0 <= shortest <= longest, got {list(v)}")
        return v


class RepeatNotices(Frozen):  # NAT-PN-4
    max_notices: int = Field(gt=0)  # per parent, per child, within `within_years`
    within_years: int = Field(gt=0)
    amounts: list[Penalty] = Field(min_length=1)  # a later notice's amounts (no early-payment discount)


class PenaltyNotices(Frozen):  # PN
    referral_unauthorised_sessions: int = Field(gt=0)  # PN-1, PN-4
    count_separately: dict[str, list[str]]  # PN-1: counter name -> codes
    # NAT-PN-1: counted over a rolling window of this many school weeks; None (PN-1): year to date
    window_school_weeks: int | None = Field(default=None, gt=0)
    # PN-2 "warning_window" (workflows/penalty_notice.py), or NAT-PN-2 "notice_to_improve"
    # (workflows/penalty_notice_2024.py)
    procedure: Literal["warning_window", "notice_to_improve"] = "warning_window"
    warning_window_school_days: int | None = Field(default=None, gt=0)  # PN-2 (procedure warning_window)
    notice_to_improve: NoticeToImprove | None = None  # NAT-PN-2 (procedure notice_to_improve)
    amounts: list[Penalty] = Field(min_length=1)  # PN-3
    prosecution_after_days: int = Field(gt=0)  # PN-3
    repeat: RepeatNotices | None = None  # NAT-PN-4 (procedure notice_to_improve); None: no limit


class Meetings(Frozen):  # MTG
    rearrange_within_days: int = Field(gt=0)
    missed_before_referral: int = Field(gt=0)


class Casework(Frozen):  # CW
    review_after: Due
    review_deadline: Due
    meeting_weeks: list[int] = Field(min_length=1)
    meeting_time: dt.time  # CW-2: when in the meeting week the meeting task opens
    contract_review_after: Due  # CW-3
    evidence_pack: list[str] = Field(min_length=1)  # CW-4: what the court evidence pack contains
    _t = field_validator("meeting_time", mode="before")(_hhmm)


class Punctuality(Frozen):  # PUN
    parentmail_at_lates: list[int]
    letter_at_lates: int
    report_school_days: int


class Ongoing(Frozen):  # ONG
    tutor_review_below: float
    rag_green_from: float
    rag_amber_from: float
    amber_warnings_for_report: int
    report_school_days: int


class MissingEducation(Frozen):  # CME
    consecutive_unauthorised_school_days: int
    locate_attempts_by: list[str] = Field(min_length=1)  # CME-1: who must have tried before deletion
    grounds: dict[str, str]  # CME-1: ground id -> description (Pupil Registration Regulations 2006)


class LaReturns(Frozen):  # NAT-LA-1, NAT-LA-2 (workflows/la_return.py): tasks to notify the local authority
    unauthorised_consecutive_school_days: int | None = Field(default=None, gt=0)  # NAT-LA-1: the 10-day return
    illness_school_days: int | None = Field(default=None, gt=0)  # NAT-LA-2: the 15-day (health needs) return
    illness_counted: Literal["cumulative", "consecutive"] = "cumulative"  # NAT-LA-2: cumulative includes a run


class Recognition(Frozen):  # REW
    term_certificate_from: float
    improvement_points: float


class Improvement(Frozen):  # used by every workflow that asks "has it improved?" (workflows/base.py improved)
    # STG-R, MTG-3, CW-1: attendance since the intervention started at or above the band's upper bound; the
    # only definition implemented, so false is refused on load rather than making nothing ever improve
    attendance_at_or_above_band_upper: Literal[True]
    no_further_lates: bool  # PUN-2: no late since the report started (false: the report alone is enough)


class Policy(Frozen):
    registration: Registration
    codes: Codes
    first_day: FirstDay
    absence: Absence
    figures: Figures
    grades: list[Grade]
    stages: Stages
    meetings: Meetings
    penalty_notices: PenaltyNotices
    casework: Casework
    punctuality: Punctuality
    ongoing: Ongoing
    missing_education: MissingEducation
    recognition: Recognition
    improvement: Improvement
    la_returns: LaReturns | None = None  # NAT-LA-1/2; None (The Heys School): no returns


class TaskKind(Frozen):
    rule: str
    role: str
    title: str
    due: Due
    copies_to: list[str] = []  # one more task, same kind, for each of these roles (e.g. FDR-4)
    reminder_after_due: Due | None = None  # None: the reminder goes out when the task falls due
    expires_after_due: Due | None = None
    escalate_to: str | None = None


class TaskEscalation(Frozen):
    """Default expiry for every task kind that does not set its own: how long past due, and to whom each
    role's overdue tasks go (a role not listed is never escalated, e.g. the headteacher)."""

    after_due: Due
    to: dict[str, str]


class Letter(Frozen):
    rule: str
    title: str
    channels: list[Literal["post", "email", "sms"]]


class Role(Frozen):
    name: str
    # whose pupils a member of this role sees and is assigned: their forms, their year groups, or all
    scope: Literal["form", "year_group", "all"]


class School(Frozen):
    name: str
    address: list[str]
    phone: str
    email: str
    headteacher: str
    attendance_lead: str


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # the NAME of an environment variable, never a secret itself


class Smtp(Frozen):  # email letters (notifications.transports); no host: email waits in the outbox
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str = Field(default="CASEWORK_SMTP_PASSWORD", pattern=_ENV_NAME)
    from_address: str = Field(default="attendance@example.org", pattern=r"^[^@\s]+@[^@\s]+$")
    ca_file: str | None = None  # a private CA for the school's relay; default: the system's
    timeout_seconds: float = Field(default=30, gt=0)


class SmsGateway(Frozen):  # the SMS provider's HTTP API; no url: SMS waits in the outbox
    url: str | None = Field(default=None, pattern=r"^https?://")
    api_key_env: str = Field(default="CASEWORK_SMS_API_KEY", pattern=_ENV_NAME)
    sender: str = Field(default="School", min_length=1, max_length=11)  # alphanumeric sender ids: 11 chars
    timeout_seconds: float = Field(default=30, gt=0)


class Retry(Frozen):
    max_attempts: int = Field(default=5, ge=1)
    backoff_minutes: list[int] = Field(default=[5, 30, 120, 480], min_length=1)  # last one repeats

    @field_validator("backoff_minutes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(m <= 0 for m in v):
            raise ValueError("every backoff must be a positive number of minutes")
        return v


class Delivery(Frozen):  # how the outbox leaves the school: not policy, the school's services
    print_queue_dir: str = "print-queue"  # post: one merged PDF per day to print
    smtp: Smtp = Smtp()
    sms: SmsGateway = SmsGateway()
    bulk_message_letters: list[str] = []  # ParentMail-style: sent by email AND SMS where the contact has both
    retry: Retry = Retry()
    in_flight_minutes: int = Field(default=15, ge=1)  # an attempt older than this with no outcome: unknown


class DataProtection(Frozen):  # how long records of pupils who left are kept (`casework purge`)
    # The default keeps configs written before this section loading; config.yaml states the school's own.
    retention_years: int = Field(default=6, ge=1)


class Config(Frozen):
    school: School
    calendar: CalendarConfig
    roles: dict[str, Role]
    policy: Policy
    tasks: dict[str, TaskKind]
    task_escalation: TaskEscalation
    letters: dict[str, Letter]
    delivery: Delivery = Delivery()
    data_protection: DataProtection = DataProtection()
    source: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone)

    def code(self, code: str) -> Code:
        return self.policy.codes.table[code]

    def codes_in(self, *categories: str) -> list[str]:
        return [c for c, v in self.policy.codes.table.items() if v.category in categories]


def _semantic_problems(cfg: Config) -> list[str]:
    """Checks pydantic cannot express per field: cross-references and orderings."""
    out: list[str] = []
    try:
        ZoneInfo(cfg.calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"calendar.timezone: unknown time zone {cfg.calendar.timezone!r}")
    prev = None
    for i, ht in enumerate(cfg.calendar.half_terms):
        if ht.end < ht.start:
            out.append(f"calendar.half_terms[{i}].end: before its start {ht.start}")
        if prev is not None and ht.start <= prev.end:
            out.append(f"calendar.half_terms[{i}].start: overlaps {prev.name} (ends {prev.end})")
        prev = ht
    reg = cfg.policy.registration
    for name in ("am", "pm"):
        s = getattr(reg, name)
        if not s.open <= s.late_after <= s.close:
            out.append(f"policy.registration.{name}: open <= late_after <= close is required")
    if reg.am.close >= reg.pm.open:
        out.append("policy.registration.pm.open: must be after am.close")
    codes = cfg.policy.codes
    for field in Codes.model_fields:
        if field != "table" and getattr(codes, field) not in codes.table:
            out.append(f"policy.codes.{field}: {getattr(codes, field)!r} is not in policy.codes.table")
    for reason, code in cfg.policy.absence.reasons.items():
        if code not in codes.table:
            out.append(f"policy.absence.reasons.{reason}: unknown code {code!r}")
    for name, cs in cfg.policy.penalty_notices.count_separately.items():
        for c in cs:
            if c not in codes.table:
                out.append(f"policy.penalty_notices.count_separately.{name}: unknown code {c!r}")
    st = cfg.policy.stages
    order = ["stage_1", "monitor", "stage_2", "stage_3", "stage_4", "stage_5"]
    for a, b in zip(order, order[1:], strict=False):
        ba, bb = getattr(st, a), getattr(st, b)
        if not bb.lower < ba.lower:
            out.append(f"policy.stages.{b}.lower: must be below {a}.lower")
        if bb.upper != ba.lower:
            out.append(f"policy.stages.{b}.upper: must equal {a}.lower ({ba.lower}) so bands do not gap")
    if st.stage_5.lower != 0:
        out.append("policy.stages.stage_5.lower: must be 0")
    for i, r in enumerate(cfg.policy.absence.reasons_on_attended_sessions):
        if r not in cfg.policy.absence.reasons:
            out.append(f"policy.absence.reasons_on_attended_sessions[{i}]: {r!r} is not one of policy.absence.reasons")
    out += _penalty_problems(cfg)
    out += _optional_feature_problems(cfg)
    grades = cfg.policy.grades
    if any(grades[i].min_pct <= grades[i + 1].min_pct for i in range(len(grades) - 1)):
        out.append("policy.grades: min_pct must strictly decrease")
    for frm, to in cfg.task_escalation.to.items():
        for key, role in (("", frm), (f".{frm}", to)):
            if role not in cfg.roles:
                out.append(f"task_escalation.to{key}: unknown role {role!r}")
    for kind, t in cfg.tasks.items():
        for f, role in [("role", t.role), ("escalate_to", t.escalate_to)] + [
                (f"copies_to[{i}]", r) for i, r in enumerate(t.copies_to)]:
            if role is not None and role not in cfg.roles:
                out.append(f"tasks.{kind}.{f}: unknown role {role!r}")
    for i, lid in enumerate(cfg.delivery.bulk_message_letters):
        if lid not in cfg.letters:
            out.append(f"delivery.bulk_message_letters[{i}]: unknown letter {lid!r}")
    return out


def _penalty_problems(cfg: Config) -> list[str]:
    pn, out = cfg.policy.penalty_notices, []
    where = "policy.penalty_notices"
    schedules = [("amounts", pn.amounts)] + ([("repeat.amounts", pn.repeat.amounts)] if pn.repeat else [])
    for name, amounts in schedules:
        for i in range(1, len(amounts)):
            if amounts[i].paid_within_days <= amounts[i - 1].paid_within_days:
                out.append(f"{where}.{name}[{i}].paid_within_days: must increase")
    if pn.procedure == "warning_window" and pn.warning_window_school_days is None:
        out.append(f"{where}.warning_window_school_days: required by procedure warning_window")
    if pn.procedure == "notice_to_improve" and pn.notice_to_improve is None:
        out.append(f"{where}.notice_to_improve: required by procedure notice_to_improve")
    if pn.procedure != "notice_to_improve":
        for name in ("notice_to_improve", "repeat"):
            if getattr(pn, name) is not None:
                out.append(f"{where}.{name}: only used by procedure notice_to_improve")
    if pn.notice_to_improve is not None:
        for i, c in enumerate(pn.notice_to_improve.not_for):
            if c not in cfg.policy.codes.table:
                out.append(f"{where}.notice_to_improve.not_for[{i}]: unknown code {c!r}")
    return out


# What an optional feature needs from the tasks: and letters: sections, by the config key that switches it on.
_FEATURE_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "policy.penalty_notices.procedure": (("consider_penalty_notice", "issue_penalty_notice", "consider_prosecution"),
                                         ("notice_to_improve", "penalty_notice")),
    "policy.first_day.no_reason_max_school_days": (("replace_no_reason_code",), ()),
    "policy.la_returns.unauthorised_consecutive_school_days": (("la_return_unauthorised",), ()),
    "policy.la_returns.illness_school_days": (("la_return_health",), ()),
}


def _optional_feature_problems(cfg: Config) -> list[str]:
    p, out = cfg.policy, []
    la = p.la_returns
    on = {"policy.penalty_notices.procedure": p.penalty_notices.procedure == "notice_to_improve",
          "policy.first_day.no_reason_max_school_days": p.first_day.no_reason_max_school_days is not None,
          "policy.la_returns.unauthorised_consecutive_school_days":
              la is not None and la.unauthorised_consecutive_school_days is not None,
          "policy.la_returns.illness_school_days": la is not None and la.illness_school_days is not None}
    for key, (kinds, letters) in _FEATURE_NEEDS.items():
        if not on[key]:
            continue
        out += [f"tasks.{k}: required by {key}" for k in kinds if k not in cfg.tasks]
        out += [f"letters.{le}: required by {key}" for le in letters if le not in cfg.letters]
    return out


def _format_pydantic(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in e["loc"]).replace(".[", "[")
        out.append(f"{path or '(top)'}: {e['msg']}")
    return out


_MISSING = object()


def _at(tree: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc:
        try:
            tree = tree[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return tree


def _checkable(data: dict[str, Any], err: ValidationError) -> Config | None:
    """The file with each invalid value replaced by the packaged default, so the cross-reference checks can
    run too and one pass lists every problem; None if that cannot be built."""
    try:
        defaults = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    patched = copy.deepcopy(data)
    for e in err.errors():
        loc = tuple(e["loc"])
        parent, default = _at(patched, loc[:-1]), _at(defaults, loc)
        if not isinstance(parent, dict | list):
            return None
        if default is not _MISSING:
            parent[loc[-1]] = copy.deepcopy(default)
        elif isinstance(parent, dict):
            parent.pop(loc[-1], None)
    try:
        return Config.model_validate(patched)
    except ValidationError:
        return None


def parse_config(data: Any, source: str = "<config>") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top): must be a mapping"])
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems = _format_pydantic(exc)
        checkable = _checkable({**data, "source": source}, exc)
        if checkable is not None:
            problems += [p for p in _semantic_problems(checkable) if p not in problems]
        raise ConfigError(source, problems) from None
    problems = _semantic_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def default_config_path() -> Path:
    """./config.yaml, else the repository's (editable install), else the installed copy."""
    for candidate in (Path.cwd() / "config.yaml", ROOT / "config.yaml",
                      Path(sys.prefix) / "share" / "casework" / "config.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("config.yaml", ["(top): no config.yaml found (use --config or CASEWORK_CONFIG)"])


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path or os.environ.get("CASEWORK_CONFIG") or default_config_path())
    return parse_config(_read_tree(path, ()), str(path))


def _read_tree(path: Path, chain: tuple[Path, ...]) -> Any:
    """The file's YAML, laid over the file its `extends:` names (a path relative to it, or `default` for the
    packaged config.yaml): mappings merge key by key, anything else in the overlay (a list, a value, null)
    replaces, and so does a mapping tagged `!replace`. A preset such as policies/national-2024.yaml is then
    only what differs from the school's file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["(file): not UTF-8 text"]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader with one tag added
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name.strip():
        raise ConfigError(str(path), ["extends: must be a file path (relative to this file) or 'default'"])
    base = ROOT / "config.yaml" if base_name == "default" else (path.parent / base_name)
    if base.resolve() in {p.resolve() for p in (*chain, path)}:
        raise ConfigError(str(path), [f"extends: {base_name} is already being read (a loop of extends)"])
    if not base.is_file():
        raise ConfigError(str(path), [f"extends: {base} is not a file"])
    parent = _read_tree(base, (*chain, path))
    if not isinstance(parent, dict):
        raise ConfigError(str(base), ["(top): must be a mapping"])
    return merge_overlay(parent, data)


class Replace(dict):  # type: ignore[type-arg]
    """A mapping tagged `!replace` in an overlay: it replaces the base's mapping instead of merging into it."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!replace", lambda loader, node: Replace(loader.construct_mapping(node, deep=True)))


def merge_overlay(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Replace):
            out[key] = dict(copy.deepcopy(value))
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resource_dir(name: str) -> Path:
    """templates/ or data/ from the repository, else from the installed share/casework."""
    for base in (ROOT, Path(sys.prefix) / "share" / "casework"):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(name)
