"""Penalty notices (PN-1 to PN-4).

Unauthorised sessions are counted year to date in separate counters (config: term-time holiday, other);
a counter reaching the threshold is a referral the attendance lead approves or declines (with the reason).
An approved referral sends a warning letter and opens a window of N school days; any further unauthorised
absence inside it asks for a penalty notice; none, and the window closes. A notice is issued to each parent
with parental responsibility for the child, payable at the first amount within the first period and the
second within the second; unpaid at the end, prosecution is considered.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from casework.attendance import WEEKDAYS, window_start
from casework.models import Case, Mark, PenaltyNotice
from workflows.base import (
    Ctx,
    Effect,
    IssuePenaltyNotices,
    Log,
    OpenTask,
    SendLetter,
    SetData,
    SetTimer,
    T,
    Workflow,
)

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    awaiting_approval = "awaiting_approval"  # PN-1
    declined = "declined"
    warning = "warning"  # PN-2: the window is open
    window_closed = "window_closed"
    issuing = "issuing"  # PN-2: further absence, notice to be issued
    issued = "issued"  # PN-3: payment periods running
    closed = "closed"


def amounts(ctx: Ctx) -> list[dict[str, int]]:
    return [a.model_dump() for a in ctx.config.policy.penalty_notices.amounts]


def holiday(ctx: Ctx) -> bool:
    """PN-4: the counter that holds term-time holiday."""
    codes = ctx.config.policy.penalty_notices.count_separately[ctx.case.data["counter"]]
    return ctx.config.policy.codes.holiday_unauthorised in codes


def not_holiday(ctx: Ctx) -> bool:
    return not holiday(ctx)


def referral(ctx: Ctx) -> Iterable[Effect]:
    d = ctx.case.data
    yield Log("penalty_notice", f"{d['sessions']} unauthorised sessions ({d['counter'].replace('_', ' ')}): "
              "penalty notice referral for the attendance lead", "PN-4" if holiday(ctx) else "PN-1")
    yield OpenTask("approve_pn_referral", "", data={"counter": d["counter"], "sessions": d["sessions"]})


def warn(ctx: Ctx) -> Iterable[Effect]:
    n = ctx.config.policy.penalty_notices.warning_window_school_days
    first = ctx.calendar.add_school_days(ctx.today, 1)
    last = ctx.calendar.add_school_days(ctx.today, n)
    yield SetData({"window_from": first.isoformat(), "window_to": last.isoformat()})
    yield SendLetter("pn_warning", ctx.today.isoformat(), {"window_to": last.isoformat(), "amounts": amounts(ctx)})
    yield Log("penalty_notice", f"Referral agreed: warning letter; any unauthorised absence from {first:%d %b} to "
              f"{last:%d %b} ({n} school days) leads to a penalty notice", "PN-2", ctx.staff)
    yield SetTimer("window_end", ctx.calendar.at(last, dt.time(23, 59)))


def declined(ctx: Ctx) -> Iterable[Effect]:
    yield Log("penalty_notice", f"Referral declined: {ctx.event.get('reason') or ctx.event.get('note')}", "PN-1",
              ctx.staff)


def further(ctx: Ctx) -> Iterable[Effect]:
    yield Log("penalty_notice", f"Further unauthorised absence on {ctx.event['date']} inside the warning window",
              "PN-2")
    yield OpenTask("issue_penalty_notice", "")


def issue(ctx: Ctx) -> Iterable[Effect]:
    pn = ctx.config.policy.penalty_notices
    yield IssuePenaltyNotices(ctx.case.data["counter"])
    yield SendLetter("penalty_notice", ctx.today.isoformat(), {"amounts": amounts(ctx),
                                                               "issued_on": ctx.today.isoformat()})
    first = pn.amounts[0].paid_within_days
    yield SetTimer("first_period_end", ctx.calendar.at(ctx.today + dt.timedelta(days=first), dt.time(23, 59)))
    yield SetTimer("payment_deadline", ctx.calendar.at(ctx.today + dt.timedelta(days=pn.prosecution_after_days),
                                                       dt.time(23, 59)))


def prosecution(ctx: Ctx) -> Iterable[Effect]:
    for notice_id in ctx.facts["unpaid"]:
        yield OpenTask("consider_prosecution", str(notice_id), data={"penalty_notice": notice_id})
    yield Log("penalty_notice", f"{len(ctx.facts['unpaid'])} notice(s) unpaid after "
              f"{ctx.config.policy.penalty_notices.prosecution_after_days} days: prosecution to be considered", "PN-3")


def all_paid(ctx: Ctx) -> bool:
    return not ctx.facts["unpaid"]


def some_unpaid(ctx: Ctx) -> bool:
    return bool(ctx.facts["unpaid"])


def count_from(env: Env, date: dt.date) -> dt.date:
    """The first day counted: the start of the year (PN-1), or of the rolling window of school weeks when
    config sets one (NAT-PN-1). The calendar holds one school year, so a window never reaches the last."""
    weeks = env.config.policy.penalty_notices.window_school_weeks
    start = window_start(env.calendar, date, weeks * WEEKDAYS) if weeks else None
    return start or env.calendar.first_day


class PenaltyNoticeWorkflow(Workflow):
    name = "penalty_notice"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.declined.value, S.window_closed.value, S.closed.value})
    letter_ids = ("pn_warning", "penalty_notice")
    outcomes = {"approve_pn_referral": ("approved", "declined"), "issue_penalty_notice": ("issued", "not_issued"),
                "consider_prosecution": ("prosecute", "no_further_action")}
    table = [
        T("open", S.new, S.awaiting_approval, "PN-1", not_holiday, referral),
        T("open", S.new, S.awaiting_approval, "PN-4", holiday, referral, note="term-time holiday"),
        T("approve_pn_referral.approved", S.awaiting_approval, S.warning, "PN-2", effects=warn),
        T("approve_pn_referral.declined", S.awaiting_approval, S.declined, "PN-1", effects=declined),
        T("further_absence", S.warning, S.issuing, "PN-2", effects=further),
        T("window_end", S.warning, S.window_closed, "PN-2", note="no further unauthorised absence in the window"),
        T("issue_penalty_notice.issued", S.issuing, S.issued, "PN-3", effects=issue),
        T("issue_penalty_notice.not_issued", S.issuing, S.closed, "PN-3",
          effects=lambda ctx: [Log("penalty_notice", f"Not issued: {ctx.event.get('note') or ''}", "PN-3",
                                   ctx.staff)]),
        T("first_period_end", S.issued, "=", "PN-3", effects=lambda ctx: [Log(
            "penalty_notice", "First payment period over: unpaid notices now at the higher amount", "PN-3")]),
        T("payment", S.issued, S.closed, "PN-3", all_paid, note="every notice paid"),
        T("payment_deadline", S.issued, S.closed, "PN-3", some_unpaid, prosecution),
        T("payment_deadline", S.issued, S.closed, "PN-3", all_paid),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        if trigger == "approve_pn_referral.declined" and not (ctx.event.get("reason") or ctx.event.get("note")):
            return "a declined referral is logged with its reason: give --reason (PN-1)"
        return None

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        return {"unpaid": lambda: list(env.session.scalars(select(PenaltyNotice.id).where(
            PenaltyNotice.case_id == case.id, PenaltyNotice.status == "issued").order_by(PenaltyNotice.id)))}

    def on_day_end(self, env: Env, date: dt.date) -> None:
        pn = env.config.policy.penalty_notices
        on_roll = env.on_roll
        existing = set(env.session.execute(select(Case.pupil_id, Case.key).where(Case.workflow == self.name)).all())
        year = env.calendar.first_day
        since = count_from(env, date)
        for counter, codes in pn.count_separately.items():  # PN-1, PN-4: each counter on its own
            rows = env.session.execute(select(Mark.pupil_id, func.count()).where(
                Mark.date >= since, Mark.date <= date, Mark.code.in_(codes)).group_by(Mark.pupil_id)
                .having(func.count() >= pn.referral_unauthorised_sessions))
            for pid, n in sorted(rows.all()):
                key = f"{pid}:{counter}:{year.isoformat()}"
                if pid in on_roll and (pid, key) not in existing:
                    env.guarded(pid, "penalty notice", lambda p=pid, k=key, c=counter, m=n: env.open_case(
                        self.name, p, k, {"counter": c, "sessions": m}))
        self._windows(env, date)

    def _windows(self, env: Env, date: dt.date) -> None:
        """PN-2: any unauthorised absence today inside an open warning window."""
        codes = [c for c, v in env.config.policy.codes.table.items()
                 if v.category == "unauthorised" and c != env.config.policy.codes.no_reason]
        cases = env.session.scalars(select(Case).where(Case.workflow == self.name, Case.state == S.warning.value,
                                                       Case.closed_at.is_(None))).all()
        for case in cases:
            start, end = (dt.date.fromisoformat(case.data[k]) for k in ("window_from", "window_to"))
            if not start <= date <= end:
                continue
            absent = env.session.scalar(select(func.count()).select_from(Mark).where(and_(
                Mark.pupil_id == case.pupil_id, Mark.date == date, Mark.code.in_(codes))))
            if absent:
                env.guarded(case.pupil_id, "penalty notice", lambda c=case: env.fire(
                    c, "further_absence", {"date": date.isoformat()}))
