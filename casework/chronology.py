"""The pupil's chronology (DAT-1): read and export. Every read is audited (DAT-2)."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import AuditEntry, ChronologyEntry, Pupil

FIELDS = ("at", "pupil", "category", "summary", "staff", "case", "ref", "rule", "safeguarding")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: text starting =, +, -, @ (or a tab/CR) gets a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def entries(s: Session, pupil: Pupil, tz: Any, *, category: str | None = None) -> list[dict[str, Any]]:
    q = select(ChronologyEntry).where(ChronologyEntry.pupil_id == pupil.id)
    if category:
        q = q.where(ChronologyEntry.category == category)
    rows = s.scalars(q.order_by(ChronologyEntry.at, ChronologyEntry.id))
    return [{"at": e.at.astimezone(tz).isoformat(), "pupil": pupil.upn, "category": e.category,
             "summary": e.summary, "staff": e.staff, "case": e.case_id, "ref": e.ref, "rule": e.rule,
             "safeguarding": e.safeguarding} for e in rows]


def audit(s: Session, *, at: dt.datetime, staff: str | None, action: str, pupil_id: int | None,
          detail: str | None = None) -> None:
    """DAT-2: who read what. A read with no staff id (a command run without --by) still says who ran it: the
    operating-system account, so the audit never holds an anonymous read."""
    if staff is None:
        import getpass

        who = f"no staff id given; run by the account {getpass.getuser()!r}"
        detail = f"{detail}; {who}" if detail else who
    s.add(AuditEntry(at=at, staff=staff, action=action, pupil_id=pupil_id, detail=detail))


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: safe_cell(r[k]) for k in FIELDS})
    return out.getvalue()
