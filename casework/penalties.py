"""Penalty notice payments (PN-3): the amount due depends on how many days after issue it is paid."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from casework.config import Config
from casework.context import App
from casework.errors import InputError
from casework.models import Case, Contact, PenaltyNotice, Pupil
from casework.uow import log


def amount_due(config: Config, issued_on: dt.date, paid_on: dt.date, repeat: bool = False) -> int | None:
    """The amount payable on `paid_on`, or None once every payment period has passed. `repeat`: a later notice
    to the same parent for the same child, at the repeat schedule with no discount (NAT-PN-4)."""
    days = (paid_on - issued_on).days
    pn = config.policy.penalty_notices
    for band in pn.repeat.amounts if repeat and pn.repeat else pn.amounts:
        if days <= band.paid_within_days:
            return band.amount_gbp
    return None


def is_repeat(notice: PenaltyNotice, case: Case | None) -> bool:
    """NAT-PN-4: the notice was issued at the repeat schedule (its case records the parents who got one)."""
    return case is not None and notice.contact_id in (case.data or {}).get("repeat_contacts", [])


def pay(app: App, notice_id: int, amount: int, paid_on: dt.date, by: str | None, at: dt.datetime) -> PenaltyNotice:
    from casework.engine import Env

    with app.sessions.begin() as s:
        notice = s.get(PenaltyNotice, notice_id)
        if notice is None:
            raise InputError(f"no penalty notice with id {notice_id}")
        if notice.status != "issued":
            raise InputError(f"penalty notice {notice_id} is {notice.status}" + (
                f" (paid {notice.amount_paid} GBP on {notice.paid_on})" if notice.status == "paid" else ""))
        if paid_on < notice.issued_on:
            raise InputError(f"{paid_on} is before the notice was issued ({notice.issued_on})", column="--on")
        case = s.get(Case, notice.case_id)
        due = amount_due(app.config, notice.issued_on, paid_on, is_repeat(notice, case))
        days = (paid_on - notice.issued_on).days
        if due is None:
            raise InputError(f"penalty notice {notice_id} was issued on {notice.issued_on}: {days} days before "
                             f"{paid_on}, past every payment period; prosecution is being considered (PN-3)")
        if amount != due:
            raise InputError(f"penalty notice {notice_id}: {due} GBP is due when paid {days} days after issue, "
                             f"not {amount} GBP", column="--amount")
        notice.status, notice.paid_on, notice.amount_paid, notice.recorded_by = "paid", paid_on, amount, by
        rule = "NAT-PN-3" if case is not None and case.workflow == "penalty_notice_2024" else "PN-3"
        log(s, at=at, pupil_id=notice.pupil_id, category="penalty_notice", case=case, staff=by, rule=rule,
            ref=f"penalty_notice:{notice.id}", summary=f"Penalty notice {notice.id} paid: {amount} GBP on {paid_on}")
        if case is not None and case.closed_at is None:
            Env(s, app, now=at).fire(case, "payment", staff=by)
        return notice


def ledger(app: App, upn: str | None = None) -> list[dict[str, Any]]:
    with app.sessions() as s:
        q = (select(PenaltyNotice, Pupil, Contact, Case).join(Pupil, Pupil.id == PenaltyNotice.pupil_id)
             .join(Contact, Contact.id == PenaltyNotice.contact_id).join(Case, Case.id == PenaltyNotice.case_id)
             .order_by(PenaltyNotice.id))
        if upn:
            q = q.where(Pupil.upn == upn)
        rows = s.execute(q).all()
    today = dt.datetime.now(dt.UTC).date()
    return [{"id": n.id, "pupil": p.upn, "pupil_name": p.name, "parent": c.name, "contact_id": c.contact_id,
             "counter": n.counter, "issued_on": n.issued_on.isoformat(), "status": n.status,
             "amount_due_today": amount_due(app.config, n.issued_on, today, is_repeat(n, case))
             if n.status == "issued" else None,
             "paid_on": n.paid_on.isoformat() if n.paid_on else None, "amount_paid": n.amount_paid,
             "repeat": is_repeat(n, case)}
            for n, p, c, case in rows]
