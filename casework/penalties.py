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


def amount_due(config: Config, issued_on: dt.date, paid_on: dt.date) -> int | None:
    """The amount payable on `paid_on`, or None once every payment period has passed."""
    days = (paid_on - issued_on).days
    for band in config.policy.penalty_notices.amounts:
        if days <= band.paid_within_days:
            return band.amount_gbp
    return None


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
        due = amount_due(app.config, notice.issued_on, paid_on)
        days = (paid_on - notice.issued_on).days
        if due is None:
            raise InputError(f"penalty notice {notice_id} was issued on {notice.issued_on}: {days} days before "
                             f"{paid_on}, past every payment period; prosecution is being considered (PN-3)")
        if amount != due:
            raise InputError(f"penalty notice {notice_id}: {due} GBP is due when paid {days} days after issue, "
                             f"not {amount} GBP", column="--amount")
        notice.status, notice.paid_on, notice.amount_paid, notice.recorded_by = "paid", paid_on, amount, by
        case = s.get(Case, notice.case_id)
        log(s, at=at, pupil_id=notice.pupil_id, category="penalty_notice", case=case, staff=by, rule="PN-3",
            ref=f"penalty_notice:{notice.id}", summary=f"Penalty notice {notice.id} paid: {amount} GBP on {paid_on}")
        if case is not None and case.closed_at is None:
            Env(s, app, now=at).fire(case, "payment", staff=by)
        return notice


def ledger(app: App, upn: str | None = None) -> list[dict[str, Any]]:
    with app.sessions() as s:
        q = (select(PenaltyNotice, Pupil, Contact).join(Pupil, Pupil.id == PenaltyNotice.pupil_id)
             .join(Contact, Contact.id == PenaltyNotice.contact_id).order_by(PenaltyNotice.id))
        if upn:
            q = q.where(Pupil.upn == upn)
        rows = s.execute(q).all()
    today = dt.datetime.now(dt.UTC).date()
    return [{"id": n.id, "pupil": p.upn, "pupil_name": p.name, "parent": c.name, "contact_id": c.contact_id,
             "counter": n.counter, "issued_on": n.issued_on.isoformat(), "status": n.status,
             "amount_due_today": amount_due(app.config, n.issued_on, today) if n.status == "issued" else None,
             "paid_on": n.paid_on.isoformat() if n.paid_on else None, "amount_paid": n.amount_paid}
            for n, p, c in rows]
