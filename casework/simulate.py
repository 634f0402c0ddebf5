"""`casework simulate`: a synthetic school replayed through the engine day by day, with staff who act on
their tasks (most on time, some late, some never) and outcomes drawn from sensible distributions.
Same seed, same result: the marks come from casework.synthetic and every choice from seeded generators.
"""
from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from casework import absence, engine, meetings, tasks
from casework.attendance import figures_for_all
from casework.context import App
from casework.errors import InputError
from casework.imports import KINDS, run_import
from casework.models import Case, Letter, PenaltyNotice, Pupil, Staff, Task
from casework.synthetic import generate_school, write_csvs
from workflows.registry import outcomes_for

# How staff behave: the share of tasks done on time, late (1 to LATE_DAYS school days after the deadline)
# and never. These describe the simulated people, not the policy.
ON_TIME, LATE, LATE_DAYS = 0.75, 0.17, 5
ACTS_AT = (dt.time(10, 30), dt.time(13, 0))  # when in the day staff get to their inbox (and after school)
# Outcomes by task kind: (outcome, weight, reason or note). Kinds not listed take their first outcome.
OUTCOMES: dict[str, list[tuple[str, float, str | None]]] = {
    "first_day_call": [("reached", 0.45, "illness"), ("reached", 0.1, "medical_appointment"),
                       ("reached", 0.05, "shopping"), ("reached", 0.05, "holiday"), ("no_contact", 0.35, None)],
    "second_call": [("reached", 0.4, "illness"), ("reached", 0.1, "looking_after_family"), ("no_contact", 0.5, None)],
    "home_visit": [("seen_safe", 0.35, "illness"), ("seen_safe", 0.25, None), ("no_answer", 0.35, None),
                   ("concern", 0.05, None)],
    "authorise_absence": [("authorised", 0.9, None), ("refused", 0.1, "no evidence of illness")],
    "approve_pn_referral": [("approved", 0.8, None), ("declined", 0.2, "support plan agreed instead")],
    "issue_penalty_notice": [("issued", 0.9, None), ("not_issued", 0.1, "family circumstances")],
    "decide_leave_request": [("refused", 1.0, None)],
    "request_medical_evidence": [("evidence_received", 0.6, None), ("requested", 0.4, None)],
    "review_unevidenced_illness": [("authorise", 0.7, None), ("unauthorise", 0.3, None)],
    "cw_pre_referral_meeting": [("held_with_consent", 0.7, None), ("held_without_consent", 0.2, None),
                                ("missed", 0.1, None)],
    "parenting_contract": [("agreed", 0.7, "parent brings the pupil to the gate"), ("refused", 0.3, None)],
    "attendance_review_meeting": [("continue", 0.6, None), ("court_papers", 0.2, None), ("close", 0.2, None)],
    "consider_prosecution": [("no_further_action", 0.5, None), ("prosecute", 0.5, None)],
    "daily_report_sign": [("signed", 0.9, None), ("not_signed", 0.1, None)],
    "punctuality_report": [("on_time", 0.8, None), ("late", 0.2, None)],
    "delete_from_register": [("not_deleted", 1.0, None)],
    "parent_meeting": [("arranged", 0.85, None), ("declined", 0.15, None)],
    "cw_meeting": [("held", 0.8, None), ("missed", 0.2, None)],
}
NEEDS_NOTE = {"decide_leave_request.approved", "approve_pn_referral.declined"}
# Meetings (MTG): arranged this many school days after the task is acted on, at this time, and how they go.
MEETING_AFTER_SCHOOL_DAYS, MEETING_TIME = 3, dt.time(15, 30)
MEETING_OUTCOMES = [("held", 0.7), ("cancelled_by_parent", 0.2), ("no_show", 0.1)]
ARRANGES = {"parent_meeting.arranged", "cw_meeting.arranged", "rearrange_meeting.rearranged"}
# Parents: requests in advance (ABS-4 religious observance, ABS-7 leave) per pupil per school day, how far ahead
# (school days) and how long; and the share of first-day cases whose parent sends a note explaining the absence.
REQUEST_RATE, RELIGIOUS_AHEAD, LEAVE_AHEAD, LEAVE_DAYS = 0.002, 5, 10, 5
FESTIVALS = ("Eid al-Adha", "Diwali", "Yom Kippur", "Guru Nanak Gurpurab")
NOTE_RATE, NOTE_REASONS = 0.3, ("illness", "medical_appointment", "looking_after_family")


# what the simulated staff look at in a task
OPEN_TASK_COLUMNS = (Task.id, Task.kind, Task.role, Task.title, Task.case_id, Task.data, Task.due_at, Task.created_at)


@dataclass
class HalfTermReport:
    name: str
    cases_opened: Counter[str] = field(default_factory=Counter)
    tasks: dict[str, Counter[str]] = field(default_factory=dict)  # role -> on_time/late/not done/escalated
    letters: Counter[str] = field(default_factory=Counter)
    penalty_notices: int = 0
    bands: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"half_term": self.name, "cases_opened": dict(sorted(self.cases_opened.items())),
                "tasks": {r: dict(sorted(c.items())) for r, c in sorted(self.tasks.items())},
                "letters": dict(sorted(self.letters.items())), "penalty_notices": self.penalty_notices,
                "bands": dict(sorted(self.bands.items()))}


class Staffroom:
    """The simulated people: who acts on a task, when, and with which outcome, drawn once per task."""

    def __init__(self, app: App, seed: int):
        self.app, self.rng = app, random.Random(f"{seed}/staff")
        self.plans: dict[int, tuple[dt.date, str, str | None] | None] = {}
        self.meetings: dict[int, tuple[dt.datetime, str, str | None]] = {}  # arranged: when, how it goes, who
        with app.sessions() as s:
            self.by_role: dict[str, str] = {}
            for st in s.scalars(select(Staff).order_by(Staff.staff_id)):
                for role in st.roles:
                    self.by_role.setdefault(role, st.staff_id)

    def plan(self, task: Any) -> tuple[dt.date, str, str | None] | None:
        if task.id not in self.plans:
            self.plans[task.id] = self._draw(task)
        return self.plans[task.id]

    def _draw(self, task: Any) -> tuple[dt.date, str, str | None] | None:
        cal = self.app.calendar
        r = self.rng.random()
        if r >= ON_TIME + LATE:
            return None  # never done
        due = cal.local_date(task.due_at)
        when = due if r < ON_TIME else cal.add_school_days(due, self.rng.randint(1, LATE_DAYS))
        choices = OUTCOMES.get(task.kind) or [(outcomes_for(task.kind)[0], 1.0, None)]
        if task.kind == "decide_leave_request" and (task.data or {}).get("kind") == "religious":
            choices = [("approved", 1.0, "religious observance: written request in time")]
        outcome, _, extra = self.rng.choices(choices, weights=[w for _, w, _ in choices])[0]
        return max(when, cal.local_date(task.created_at)), outcome, extra

    def act(self, day: dt.date, at: dt.datetime) -> Counter[str]:
        """Complete every open task whose planned day has come, arranging a meeting where the task asks for one,
        and record the meetings whose time has come. Returns what happened."""
        done: Counter[str] = Counter()
        with self.app.sessions() as s:  # plain rows: several times cheaper to read than ORM objects
            open_tasks = list(s.execute(select(*OPEN_TASK_COLUMNS, Pupil.upn).join(Pupil, Pupil.id == Task.pupil_id)
                                        .where(Task.status == "open").order_by(Task.id)).all())
        for task in open_tasks:
            upn = task.upn
            plan = self.plan(task)
            if plan is None or plan[0] > day or task.created_at > at:
                continue
            _, outcome, extra = plan
            roles = [task.role, *(task.data or {}).get("escalated_from", [])]
            by = next((self.by_role[r] for r in roles if r in self.by_role), None)
            reason = extra if task.kind in ("first_day_call", "second_call", "home_visit") else None
            note = extra if reason is None else None
            try:
                if f"{task.kind}.{outcome}" in ARRANGES:
                    self._arrange(task, upn, day, by, at)
                else:
                    tasks.complete(self.app, task.id, outcome, reason=reason, note=note, by=by, at=at)
                done[outcome] += 1
            except InputError:  # the case moved on meanwhile (e.g. the pupil arrived): nothing to do
                done["skipped"] += 1
        self._hold_meetings(at, done)
        return done

    def parents(self, day: dt.date, at: dt.datetime) -> Counter[str]:
        """What parents bring to the office that day: a request in advance, or a note for an absence that is
        still without a reason (the office records both)."""
        cal, office, done = self.app.calendar, self.by_role.get("office"), Counter[str]()
        with self.app.sessions() as s:
            pupils = list(s.execute(select(Pupil.id, Pupil.upn).where(Pupil.deleted_on.is_(None))
                                    .order_by(Pupil.id)).all())
            waiting = list(s.execute(select(Case.data, Pupil.upn).join(Pupil, Pupil.id == Case.pupil_id).where(
                Case.workflow == "first_day", Case.state == "awaiting_reason").order_by(Case.id)).all())
        for _, upn in pupils:
            if self.rng.random() >= REQUEST_RATE:
                continue
            religious = self.rng.random() < 0.5
            start = cal.add_school_days(day, RELIGIOUS_AHEAD if religious else LEAVE_AHEAD)
            end = start if religious else cal.add_school_days(start, LEAVE_DAYS - 1)
            what = self.rng.choice(FESTIVALS) if religious else "family holiday"
            try:
                absence.request(self.app, "religious" if religious else "leave", upn, start, end, what, day,
                                office, at)
                done["religious request" if religious else "leave request"] += 1
            except InputError:  # past the end of the year, or off roll
                done["skipped"] += 1
        for data, upn in waiting:
            if self.rng.random() >= NOTE_RATE:
                continue
            reason = self.rng.choice(NOTE_REASONS)
            for d in sorted({d for d, _ in data.get("sessions", [])}):
                slots = tuple(sorted(sess for dd, sess in data["sessions"] if dd == d))
                try:
                    absence.record_reason(self.app, upn, dt.date.fromisoformat(d), dt.date.fromisoformat(d), slots,
                                          reason, office, at)
                    done["note from parent"] += 1
                except InputError:  # already explained or changed meanwhile
                    done["skipped"] += 1
        return done

    def _arrange(self, task: Any, upn: str, day: dt.date, by: str | None, at: dt.datetime) -> None:
        cal = self.app.calendar
        when = cal.at(cal.add_school_days(day, MEETING_AFTER_SCHOOL_DAYS), MEETING_TIME)
        again = task.kind == "rearrange_meeting"
        case = meetings.arrange(self.app, upn=None if again else upn, meeting_id=task.case_id if again else None,
                                when=when, attendees=["parent", task.role.replace("_", " ")],
                                purpose=task.title, by=by, now=at)
        outcome = self.rng.choices([o for o, _ in MEETING_OUTCOMES], weights=[w for _, w in MEETING_OUTCOMES])[0]
        self.meetings[case.id] = (when, outcome, by)

    def _hold_meetings(self, at: dt.datetime, done: Counter[str]) -> None:
        for meeting_id, (when, outcome, by) in sorted(self.meetings.items()):
            if when <= at:
                del self.meetings[meeting_id]
                meetings.record(self.app, meeting_id, outcome, note=None, by=by, at=at)
                done[f"meeting {outcome}"] += 1


def _report(app: App, name: str, start: dt.datetime, end: dt.datetime, last_day: dt.date) -> HalfTermReport:
    rep = HalfTermReport(name)
    with app.sessions() as s:
        rep.cases_opened.update(s.scalars(select(Case.workflow).where(Case.opened_at >= start, Case.opened_at <= end)))
        for t in s.scalars(select(Task).where(Task.created_at >= start, Task.created_at <= end)):
            c = rep.tasks.setdefault(t.role, Counter())
            if t.status == "done":
                c["on_time" if t.completed_at and t.completed_at <= t.due_at else "late"] += 1
            else:
                c["withdrawn" if t.status == "cancelled" else "not done"] += 1
            if t.escalated_at:
                c["escalated"] += 1
        rep.letters.update(s.scalars(select(Letter.template).where(Letter.created_at >= start,
                                                                   Letter.created_at <= end)))
        rep.penalty_notices = s.scalar(select(func.count()).select_from(PenaltyNotice).where(
            PenaltyNotice.issued_at >= start, PenaltyNotice.issued_at <= end)) or 0
        rep.bands.update(f.band or "too few sessions" for f in figures_for_all(s, app.config, last_day).values())
    return rep


def simulate(app: App, pupils: int, seed: int, until: dt.date | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[HalfTermReport]:
    cal = app.calendar
    end = until or cal.last_day
    app.init()
    school = generate_school(pupils, seed, app.config, cal, end=end)
    with tempfile.TemporaryDirectory() as tmp:
        write_csvs(school, tmp)
        imported_at = cal.at(cal.first_day, dt.time(7))  # a fixed instant: same seed, same database
        for kind in KINDS:
            run_import(app.sessions, kind, Path(tmp) / f"{kind}.csv", app.config, cal, imported_at)
    staff = Staffroom(app, seed)
    days = [d for d in cal.days if d <= end]
    moments = (*ACTS_AT, app.config.policy.registration.school_day_ends)
    reports, ht_start = [], cal.at(days[0], dt.time(0))
    ht_last = {d: ht.name for ht, d in cal.half_term_last_days()}
    for i, day in enumerate(days):
        for n, moment in enumerate(moments):
            at = cal.at(day, moment)
            engine.run(app, at)
            if n == 0:
                staff.parents(day, at)
            staff.act(day, at)
        engine.run(app, cal.at(day, dt.time(23, 59)))
        if day in ht_last or day == days[-1]:
            ht_end = cal.at(day, dt.time(23, 59))
            name = ht_last.get(day) or f"{cal.half_term_of(day).name} (to {day})"  # type: ignore[union-attr]
            reports.append(_report(app, name, ht_start, ht_end, day))
            ht_start = ht_end
        if progress:
            progress(i + 1, len(days))
    return reports
