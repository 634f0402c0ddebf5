"""Workflows as data: states, a transition table with rule ids, guards and effects.

One `transitions` machine per workflow, built once with model=None; an event is fired on a loaded case
with `machine.events[name].trigger(case, ctx=ctx)`. Callbacks never do I/O: they append effects to
`ctx.effects`, which the unit of work (casework.uow) applies in the item's one transaction.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

if TYPE_CHECKING:
    from casework.calendar import SchoolCalendar
    from casework.config import Config
    from casework.models import Case, Pupil


# --- effects: what a decision asks for; applied only by casework.uow -------------------------------
@dataclass(frozen=True)
class OpenTask:
    kind: str
    occasion: str = ""  # makes the task's natural key unique within its case
    due_from: dt.datetime | None = None  # default: the moment the effect is applied
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelTasks:
    reason: str
    kinds: tuple[str, ...] = ()  # empty: every open task of the case


@dataclass(frozen=True)
class CompleteTasks:
    """Mark the case's open tasks of these kinds done (the action they asked for has happened)."""

    kinds: tuple[str, ...]
    outcome: str
    note: str = ""


@dataclass(frozen=True)
class SetTimer:
    kind: str
    due_at: dt.datetime
    occasion: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelTimers:
    kinds: tuple[str, ...] = ()  # empty: every pending timer of the case


@dataclass(frozen=True)
class SendLetter:
    template: str
    occasion: str  # with the template and recipient, the letter's natural key: never sent twice
    context: dict[str, Any] = field(default_factory=dict)
    contact_ids: tuple[int, ...] | None = None  # only these parents (NAT-PN-4); None: every one with PR


@dataclass(frozen=True)
class Log:
    category: str
    summary: str
    rule: str | None = None
    staff: str | None = None


@dataclass(frozen=True)
class ChangeMarks:
    """Change the code of some of the pupil's sessions through the normal mark-change path (ABS-1)."""

    sessions: tuple[tuple[str, str], ...]  # (ISO date, "AM"/"PM")
    code: str
    reason: str
    by: str | None = None
    only_from: tuple[str, ...] = ()  # change only sessions whose current code is one of these


@dataclass(frozen=True)
class SetData:
    """Merge keys into the case's data (the case's own memory: stage start, counters)."""

    updates: dict[str, Any]


@dataclass(frozen=True)
class SafeguardingLog:
    """STG-4: from here every chronology entry of the pupil is also a safeguarding-log entry (or not)."""

    on: bool


@dataclass(frozen=True)
class StartCase:
    """Open another workflow's case for the same pupil (e.g. STG-5 starts the attendance lead's casework)."""

    workflow: str
    occasion: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deregister:
    """CME-1: delete the pupil from the register on a recorded ground; every open case closes."""

    ground: str
    evidence: str


@dataclass(frozen=True)
class IssuePenaltyNotices:
    """PN-3: one notice per parent with parental responsibility for this child, into the ledger."""

    counter: str
    contact_ids: tuple[int, ...] | None = None  # only these parents (NAT-PN-4); None: every one with PR
    rule: str = "PN-3"


Effect = (OpenTask | CancelTasks | CompleteTasks | Deregister | IssuePenaltyNotices | SetTimer | CancelTimers
          | SendLetter | Log | ChangeMarks | SetData | SafeguardingLog | StartCase)


class Facts(dict[str, Any]):
    """Facts for the guards, each looked up only when a guard or effect first asks for it: a workflow's
    `facts` returns {name: zero-argument function}, and most transitions need none of them."""

    def __init__(self, providers: dict[str, Callable[[], Any]] | None = None, **known: Any):
        super().__init__(known)
        self._providers = providers or {}

    def __missing__(self, key: str) -> Any:
        if key not in self._providers:
            raise KeyError(key)
        value = self[key] = self._providers[key]()
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass
class Ctx:
    """Everything a guard or effect may look at. Built by the engine; pure data, no session."""

    now: dt.datetime
    config: Config
    calendar: SchoolCalendar
    case: Case
    pupil: Pupil
    event: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=Facts)  # looked up on first use (see Facts)
    effects: list[Effect] = field(default_factory=list)
    staff: str | None = None

    @property
    def today(self) -> dt.date:
        return self.calendar.local_date(self.now)


def improved(ctx: Ctx, aspect: str, *, line: float | None = None) -> bool:
    """What "improved" means, the same for every workflow (config policy.improvement), read from
    ctx.facts["since"] = {"attendance": float | None, "lates": int} over the intervention so far.
    aspect "attendance" (STG-R, MTG-3, CW-1): attendance since it started at or above `line` (the band's
    upper bound). aspect "punctuality" (PUN-2): no further lates since it started."""
    rule, since = ctx.config.policy.improvement, ctx.facts.get("since", {})
    if aspect == "attendance":
        att = since.get("attendance")
        if att is None or line is None:
            return False
        return att >= line  # config: attendance_at_or_above_band_upper (the one definition implemented)
    if aspect == "punctuality":
        return since.get("lates", 0) == 0 if rule.no_further_lates else True
    raise ValueError(f"unknown improvement aspect {aspect!r}")


Guard = Callable[[Ctx], bool]
Effects = Callable[[Ctx], Iterable[Effect]]


@dataclass(frozen=True)
class T:
    """One row of a workflow's transition table."""

    trigger: str
    source: str | list[str]
    dest: str  # "=" : stays in the state it is in (a step within the state)
    rule: str
    guard: Guard | None = None
    effects: Effects | None = None
    note: str = ""

    def __post_init__(self) -> None:  # states may be given as Enum members; the machine keeps their values
        def plain(s: Any) -> Any:
            return s.value if isinstance(s, Enum) else s
        object.__setattr__(self, "source", [plain(s) for s in self.source] if isinstance(self.source, list)
                           else plain(self.source))
        object.__setattr__(self, "dest", plain(self.dest))


class Workflow:
    """A workflow declared as data. Subclasses set name, version, states, initial, final, table."""

    name: str
    version: int = 1
    states: type[Enum]
    initial: str
    final: frozenset[str]
    table: list[T]
    # task kind -> the outcomes staff may record; each completion fires trigger "<kind>.<outcome>"
    outcomes: dict[str, tuple[str, ...]] = {}
    open_trigger = "open"  # fired when the engine opens a case

    def __init__(self) -> None:
        names = [s.value for s in self.states]
        self.machine = Machine(model=None, states=names, initial=self.initial, auto_transitions=False,
                               send_event=True)
        self._triggers: dict[str, set[str]] = {s: set() for s in names}
        for t in self.table:
            sources = [t.source] if isinstance(t.source, str) else t.source
            self.machine.add_transition(
                t.trigger, sources, None if t.dest == "=" else t.dest,
                conditions=[self._guard(t)] if t.guard else [],
                after=[self._after(t)])
            for s in sources:
                self._triggers[s].add(t.trigger)

    def _guard(self, t: T) -> Callable[[EventData], bool]:
        guard = t.guard
        assert guard is not None
        return lambda ev: bool(guard(ev.kwargs["ctx"]))

    def _after(self, t: T) -> Callable[[EventData], None]:
        def after(ev: EventData) -> None:
            ctx: Ctx = ev.kwargs["ctx"]
            src = ev.transition.source
            if t.dest not in ("=", src) or t.note:  # a step within a state logs its own effects
                summary = f"{self.name}: {src} -> {t.dest} ({t.trigger})" + (f": {t.note}" if t.note else "")
                ctx.effects.append(Log("case", summary, t.rule, ctx.staff))
            if t.effects:
                ctx.effects.extend(t.effects(ctx))
        return after

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        """Why this event may not happen now (a policy precondition, e.g. CME-1's attempts to locate), or
        None. Checked before anything is recorded: a refused action changes nothing but is logged."""
        return None

    def can(self, state: str, trigger: str) -> bool:
        return trigger in self._triggers.get(state, ())

    def fire(self, trigger: str, ctx: Ctx) -> bool:
        """Fire `trigger` on ctx.case. False (and nothing recorded) if the state does not take it or
        every guard said no."""
        if not self.can(ctx.case.state, trigger):
            return False
        return bool(self.machine.events[trigger].trigger(ctx.case, ctx=ctx))

    def rules(self) -> set[str]:
        return {t.rule for t in self.table}

    def letters(self) -> set[str]:
        """Letter ids this workflow can send (for the template coverage test)."""
        return set(getattr(self, "letter_ids", ()))

    # Changing a workflow's states: bump `version` and add migrations[old_version] = {old_state: new_state}
    # (a state not named keeps its name). Live cases are moved on `casework init` (casework.migrate_cases).
    migrations: dict[int, dict[str, str]] = {}

    def migrate(self, state: str, from_version: int) -> str:
        """The state a case in `state` at `from_version` has in the current version."""
        for v in range(from_version, self.version):
            state = self.migrations.get(v, {}).get(state, state)
        if state not in self._triggers:
            raise ValueError(f"{self.name}: state {state!r} of version {from_version} has no place in version "
                             f"{self.version}; add it to migrations")
        return state
