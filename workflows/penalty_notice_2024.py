"""Penalty notices under the 2024 national framework (NAT-PN-1 to NAT-PN-4; config
policy.penalty_notices.procedure: notice_to_improve, see policies/national-2024.md).

NAT-PN-1: unauthorised sessions are counted over a rolling window of school weeks (any combination of the
counter's codes); reaching the threshold means a penalty notice must be considered: the attendance lead
decides (task consider_penalty_notice; declining is logged with the reason). Sessions that met an earlier
case's threshold are not counted again.
NAT-PN-2: proceeding sends a notice to improve and starts the improvement period; at its end, further
unauthorised absence in the period asks for the penalty notice, none closes the case as improved. Term-time
holiday (the `not_for` codes reaching the threshold on their own) goes straight to the penalty notice.
NAT-PN-3: one notice per parent with parental responsibility, per child, at the first schedule (80 GBP within
21 days, 160 within 28); unpaid at the end: prosecution is considered.
NAT-PN-4: at most `max_notices` notices to a parent for the same child within `within_years`; a later one
(the second) is at the repeat schedule (160, no discount); a parent at the limit gets no notice: their
case goes to consider_prosecution instead (at the threshold already, when every parent is at the limit).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from casework.models import Case, Contact, Mark, PenaltyNotice
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
from workflows.penalty_notice import all_paid, count_from, some_unpaid

if TYPE_CHECKING:
    from casework.config import NoticeToImprove, Penalty, PenaltyNotices
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    awaiting_decision = "awaiting_decision"  # NAT-PN-1: the attendance lead considers a notice
    declined = "declined"
    improving = "improving"  # NAT-PN-2: notice to improve sent, improvement period running
    improved = "improved"
    issuing = "issuing"  # NAT-PN-2: the penalty notice is to be issued
    not_issued = "not_issued"
    issued = "issued"  # NAT-PN-3: payment periods running
    prosecution = "prosecution"  # NAT-PN-4: every parent at the limit: prosecution considered instead
    closed = "closed"


def _pn(ctx: Ctx) -> PenaltyNotices:
    return ctx.config.policy.penalty_notices


def _nti(ctx: Ctx) -> NoticeToImprove:
    nti = _pn(ctx).notice_to_improve
    assert nti is not None  # config validation: procedure notice_to_improve needs it
    return nti


def _schedule(amounts: list[Penalty]) -> list[dict[str, int]]:
    return [a.model_dump() for a in amounts]


def terms(pn: PenaltyNotices, prior: int) -> str:
    """NAT-PN-4: a parent's next notice for this child, given the notices they had within the period: "first"
    (the standard schedule), "repeat" (the repeat schedule, no discount) or "limit" (no notice)."""
    if pn.repeat is None or prior == 0:
        return "first"
    return "repeat" if prior < pn.repeat.max_notices else "limit"


def _groups(ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"first": [], "repeat": [], "limit": []}
    for parent in ctx.facts["parents"]:
        out[terms(_pn(ctx), parent["prior"])].append(parent)
    return out


# --- guards ----------------------------------------------------------------------------------------
def holiday(ctx: Ctx) -> bool:
    return bool(ctx.case.data.get("holiday"))


def not_holiday(ctx: Ctx) -> bool:
    return not holiday(ctx)


def every_parent_at_limit(ctx: Ctx) -> bool:
    groups = _groups(ctx)
    return bool(groups["limit"]) and not groups["first"] and not groups["repeat"]


def some_parent_may_be_fined(ctx: Ctx) -> bool:
    return not every_parent_at_limit(ctx)


def further_absence(ctx: Ctx) -> bool:
    return ctx.facts["further"] >= _nti(ctx).further_sessions


def no_further_absence(ctx: Ctx) -> bool:
    return not further_absence(ctx)


# --- effects ---------------------------------------------------------------------------------------
def consider(ctx: Ctx) -> Iterable[Effect]:
    d, pn = ctx.case.data, _pn(ctx)
    window = f"since {d['from']}" if not pn.window_school_weeks else \
        f"in the rolling {pn.window_school_weeks} school weeks from {d['from']}"
    yield Log("penalty_notice", f"{d['sessions']} unauthorised sessions ({d['counter'].replace('_', ' ')}) {window}: "
              "the national threshold is met, a penalty notice must be considered"
              + (" (term-time holiday: no notice to improve)" if holiday(ctx) else ""), "NAT-PN-1")
    yield OpenTask("consider_penalty_notice", "", data={"counter": d["counter"], "sessions": d["sessions"],
                                                         "from": d["from"], "holiday": holiday(ctx)})


def _limit_tasks(ctx: Ctx, parents: list[dict[str, Any]]) -> Iterable[Effect]:
    repeat = _pn(ctx).repeat
    assert repeat is not None
    for p in parents:
        yield OpenTask("consider_prosecution", f"limit:{p['id']}", data={
            "contact_id": p["id"], "parent": p["name"], "notices_within_period": p["prior"]})
        yield Log("penalty_notice", f"{p['name']} has had {p['prior']} penalty notice(s) for this child within "
                  f"{repeat.within_years} years (at most {repeat.max_notices}): no further notice, prosecution to "
                  "be considered instead", "NAT-PN-4")


def at_limit(ctx: Ctx) -> Iterable[Effect]:
    yield from _limit_tasks(ctx, _groups(ctx)["limit"])


def notice_to_improve(ctx: Ctx) -> Iterable[Effect]:
    nti = _nti(ctx)
    start = ctx.calendar.add_school_days(ctx.today, 1)
    end = ctx.calendar.local_date(ctx.calendar.due(ctx.now, nti.improvement_period))
    yield SetData({"improve_from": start.isoformat(), "improve_to": end.isoformat()})
    yield SendLetter("notice_to_improve", ctx.today.isoformat(), {
        "improve_from": start.isoformat(), "improve_to": end.isoformat(), "sessions": ctx.case.data["sessions"],
        "counted_from": ctx.case.data["from"], "amounts": _schedule(_pn(ctx).amounts)})
    yield Log("penalty_notice", f"Notice to improve sent; improvement period {start:%d %b} to {end:%d %b}: "
              f"{nti.further_sessions} or more unauthorised session(s) in it lead to a penalty notice", "NAT-PN-2",
              ctx.staff)
    yield SetTimer("improvement_end", ctx.calendar.at(end, ctx.config.policy.registration.nightly_evaluation))


def straight_to_notice(ctx: Ctx) -> Iterable[Effect]:
    yield Log("penalty_notice", "Term-time holiday: no notice to improve, the penalty notice is to be issued",
              "NAT-PN-2", ctx.staff)
    yield OpenTask("issue_penalty_notice", "")


def declined(ctx: Ctx) -> Iterable[Effect]:
    yield Log("penalty_notice", f"No penalty notice: {ctx.event.get('reason') or ctx.event.get('note')}", "NAT-PN-1",
              ctx.staff)


def not_improved(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"through": ctx.today.isoformat()})
    yield Log("penalty_notice", f"{ctx.facts['further']} unauthorised session(s) in the improvement period: the "
              "penalty notice is to be issued", "NAT-PN-2")
    yield OpenTask("issue_penalty_notice", "")


def improved_effect(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"through": ctx.today.isoformat()})
    yield Log("penalty_notice", f"Improvement period over with {ctx.facts['further']} unauthorised session(s): no "
              "penalty notice", "NAT-PN-2")


def _because(ctx: Ctx) -> str:
    if holiday(ctx):
        return "was taken out of school for a holiday in term time that the school had not authorised"
    return "had further unauthorised absence during the improvement period of our notice to improve"


def issue(ctx: Ctx) -> Iterable[Effect]:
    pn, today = _pn(ctx), ctx.today
    groups = _groups(ctx)
    counter = ctx.case.data["counter"]
    schedules = [("first", pn.amounts, "NAT-PN-3")]
    if pn.repeat is not None:
        schedules.append(("repeat", pn.repeat.amounts, "NAT-PN-4"))
    last = pn.prosecution_after_days
    for group, amounts, rule in schedules:
        ids = tuple(p["id"] for p in groups[group])
        if not ids:
            continue
        yield IssuePenaltyNotices(counter, contact_ids=ids, rule=rule)
        yield SendLetter("penalty_notice", today.isoformat(), {
            "amounts": _schedule(amounts), "issued_on": today.isoformat(), "because": _because(ctx),
            "repeat": group == "repeat"}, contact_ids=ids)
        last = max(last, amounts[-1].paid_within_days)
    if groups["repeat"]:
        yield SetData({"repeat_contacts": [p["id"] for p in groups["repeat"]]})
        yield Log("penalty_notice", f"Second notice within {pn.repeat.within_years} years for "  # type: ignore[union-attr]
                  f"{', '.join(p['name'] for p in groups['repeat'])}: the higher amount, no early-payment discount",
                  "NAT-PN-4", ctx.staff)
    yield from _limit_tasks(ctx, groups["limit"])
    yield SetData({"through": today.isoformat()})
    if groups["first"]:
        first = pn.amounts[0].paid_within_days
        yield SetTimer("first_period_end", ctx.calendar.at(today + dt.timedelta(days=first), dt.time(23, 59)))
    yield SetTimer("payment_deadline", ctx.calendar.at(today + dt.timedelta(days=last), dt.time(23, 59)))


def prosecution(ctx: Ctx) -> Iterable[Effect]:
    for notice_id in ctx.facts["unpaid"]:
        yield OpenTask("consider_prosecution", str(notice_id), data={"penalty_notice": notice_id})
    yield Log("penalty_notice", f"{len(ctx.facts['unpaid'])} notice(s) unpaid at the end of the payment period: "
              "prosecution to be considered", "NAT-PN-3")


class NationalPenaltyNotice(Workflow):
    name = "penalty_notice_2024"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.declined.value, S.improved.value, S.not_issued.value, S.prosecution.value,
                       S.closed.value})
    letter_ids = ("notice_to_improve", "penalty_notice")
    outcomes = {"consider_penalty_notice": ("proceed", "declined"), "issue_penalty_notice": ("issued", "not_issued"),
                "consider_prosecution": ("prosecute", "no_further_action")}
    table = [
        T("open", S.new, S.prosecution, "NAT-PN-4", every_parent_at_limit, at_limit,
          note="threshold met again: every parent has had the most notices allowed"),
        T("open", S.new, S.awaiting_decision, "NAT-PN-1", some_parent_may_be_fined, consider),
        T("consider_penalty_notice.proceed", S.awaiting_decision, S.improving, "NAT-PN-2", not_holiday,
          notice_to_improve),
        T("consider_penalty_notice.proceed", S.awaiting_decision, S.issuing, "NAT-PN-2", holiday,
          straight_to_notice, note="term-time holiday"),
        T("consider_penalty_notice.declined", S.awaiting_decision, S.declined, "NAT-PN-1", effects=declined),
        T("improvement_end", S.improving, S.issuing, "NAT-PN-2", further_absence, not_improved),
        T("improvement_end", S.improving, S.improved, "NAT-PN-2", no_further_absence, improved_effect),
        T("issue_penalty_notice.issued", S.issuing, S.issued, "NAT-PN-3", some_parent_may_be_fined, issue),
        T("issue_penalty_notice.issued", S.issuing, S.prosecution, "NAT-PN-4", every_parent_at_limit, at_limit),
        T("issue_penalty_notice.not_issued", S.issuing, S.not_issued, "NAT-PN-3",
          effects=lambda ctx: [Log("penalty_notice", f"Not issued: {ctx.event.get('note') or ''}", "NAT-PN-3",
                                   ctx.staff)]),
        T("first_period_end", S.issued, "=", "NAT-PN-3", effects=lambda ctx: [Log(
            "penalty_notice", "First payment period over: unpaid first notices now at the higher amount",
            "NAT-PN-3")]),
        T("payment", S.issued, S.closed, "NAT-PN-3", all_paid, note="every notice paid"),
        T("payment_deadline", S.issued, S.closed, "NAT-PN-3", some_unpaid, prosecution),
        T("payment_deadline", S.issued, S.closed, "NAT-PN-3", all_paid),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        if trigger == "consider_penalty_notice.declined" and not (ctx.event.get("reason") or ctx.event.get("note")):
            return "a decision not to issue a penalty notice is logged with its reason: give --reason (NAT-PN-1)"
        return None

    # --- facts -----------------------------------------------------------------------------------
    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        pn = env.config.policy.penalty_notices

        def parents() -> list[dict[str, Any]]:
            """Each parent with parental responsibility and their notices for this child within the period."""
            since = _years_before(env.today, pn.repeat.within_years) if pn.repeat else env.today
            contacts = env.session.scalars(select(Contact).where(
                Contact.pupil_id == case.pupil_id, Contact.parental_responsibility.is_(True))
                .order_by(Contact.priority, Contact.id)).all()
            prior = dict(env.session.execute(select(PenaltyNotice.contact_id, func.count()).where(
                PenaltyNotice.pupil_id == case.pupil_id, PenaltyNotice.case_id != case.id,
                PenaltyNotice.issued_on > since).group_by(PenaltyNotice.contact_id)).all())
            return [{"id": c.id, "name": c.name, "prior": prior.get(c.id, 0) if pn.repeat else 0} for c in contacts]

        def further() -> int:
            d = case.data
            if not d.get("improve_from"):
                return 0
            return env.session.scalar(select(func.count()).select_from(Mark).where(
                Mark.pupil_id == case.pupil_id, Mark.date >= dt.date.fromisoformat(d["improve_from"]),
                Mark.date <= dt.date.fromisoformat(d["improve_to"]),
                Mark.code.in_(pn.count_separately[d["counter"]]))) or 0

        def unpaid() -> list[int]:
            return list(env.session.scalars(select(PenaltyNotice.id).where(
                PenaltyNotice.case_id == case.id, PenaltyNotice.status == "issued").order_by(PenaltyNotice.id)))
        return {"parents": parents, "further": further, "unpaid": unpaid}

    # --- the nightly count (NAT-PN-1) -----------------------------------------------------------------
    def on_day_end(self, env: Env, date: dt.date) -> None:
        pn = env.config.policy.penalty_notices
        nti = pn.notice_to_improve
        not_for = list(nti.not_for) if nti else []
        start = count_from(env, date)
        on_roll = env.on_roll
        for counter, codes in pn.count_separately.items():
            rows = _counts(env, codes, not_for, start, date, pn.referral_unauthorised_sessions)
            if not rows:
                continue
            busy, through = self._history(env, list(rows), counter)
            for pid in sorted(rows):
                if pid not in on_roll or pid in busy:
                    continue
                n, hol = rows[pid]
                if pid in through:  # sessions that met an earlier case's threshold are not counted again
                    after = through[pid] + dt.timedelta(days=1)
                    if after > date:
                        continue
                    n, hol = _counts(env, codes, not_for, max(start, after), date, 1, pid).get(pid, (0, 0))
                if n < pn.referral_unauthorised_sessions:
                    continue
                data = {"counter": counter, "sessions": n, "from": start.isoformat(), "through": date.isoformat(),
                        "holiday": bool(not_for) and hol >= pn.referral_unauthorised_sessions}
                env.guarded(pid, "penalty notice", lambda p=pid, d=data: env.open_case(
                    self.name, p, f"{p}:{d['counter']}:{date.isoformat()}", d))

    def _history(self, env: Env, pupils: list[int], counter: str) -> tuple[set[int], dict[int, dt.date]]:
        """Pupils with an open case, and for the rest the last day counted by an earlier case of this counter."""
        busy: set[int] = set()
        through: dict[int, dt.date] = {}
        for pid, data, closed in env.session.execute(select(Case.pupil_id, Case.data, Case.closed_at).where(
                Case.workflow == self.name, Case.pupil_id.in_(pupils))):
            if closed is None:
                busy.add(pid)
            elif (data or {}).get("counter") == counter and data.get("through"):
                day = dt.date.fromisoformat(data["through"])
                through[pid] = max(day, through.get(pid, day))
        return busy, through


def _counts(env: Env, codes: list[str], not_for: list[str], start: dt.date, end: dt.date, at_least: int,
            pupil_id: int | None = None) -> dict[int, tuple[int, int]]:
    """pupil -> (sessions with these codes, of which `not_for` codes) from start to end, for pupils with at
    least `at_least`: one aggregate query."""
    holiday = func.sum(sql_case((Mark.code.in_(not_for or ["-"]), 1), else_=0))
    q = (select(Mark.pupil_id, func.count(), holiday).where(Mark.date >= start, Mark.date <= end,
                                                            Mark.code.in_(codes))
         .group_by(Mark.pupil_id).having(func.count() >= at_least))
    if pupil_id is not None:
        q = q.where(Mark.pupil_id == pupil_id)
    return {pid: (int(n), int(h or 0)) for pid, n, h in env.session.execute(q)}


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
