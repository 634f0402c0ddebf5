"""Documents staff export about one pupil: the chronology as PDF (DAT-1, CPOMS-style), the court evidence
pack (CW-4) and the local-authority share (DAT-2). Every one reads the chronology, so every one is audited.

The sections are gathered here as plain data; templates/exports/*.html.j2 lay them out for print.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import chronology
from casework.attendance import figures_for_all
from casework.context import App
from casework.models import Case, ChronologyEntry, Contact, Letter, Pupil
from notifications.context import figures_context, long_date
from notifications.pdf import html_to_pdf
from notifications.render import render_export

PENALTY_LETTERS = ("pn_warning", "penalty_notice")  # PN-2, PN-3: the letters as sent
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")
# CW-4, when config does not list the pack's contents
PACK_CONTENTS = ("chronology", "marks by half term", "letters sent", "meetings held", "penalty notices")


def _local(app: App, at: dt.datetime | None) -> str:
    return app.calendar.local(at).strftime("%a %d %b %Y %H:%M") if at else ""


def pupil_section(s: Session, app: App, pupil: Pupil, through: dt.date) -> dict[str, Any]:
    f = figures_for_all(s, app.config, through, pupil_ids=[pupil.id])[pupil.id]
    contacts = s.scalars(select(Contact).where(Contact.pupil_id == pupil.id)
                         .order_by(Contact.priority, Contact.id))
    cases = s.scalars(select(Case).where(Case.pupil_id == pupil.id).order_by(Case.opened_at, Case.id))
    return {
        "name": pupil.name, "upn": pupil.upn, "date_of_birth": pupil.date_of_birth.isoformat(),
        "form": pupil.form, "year_group": pupil.year_group, "sen": pupil.sen or "", "fsm": pupil.fsm,
        "looked_after": pupil.looked_after,
        "on_roll": pupil.on_roll, "safeguarding_log": pupil.safeguarding_log,
        "figures": figures_context(f, app.config, through),
        "contacts": [{"name": c.name, "relationship": c.relationship, "parental_responsibility":
                      c.parental_responsibility, "phone": c.phone or "", "email": c.email or "",
                      "address": c.address or ""} for c in contacts],
        "cases": [{"id": c.id, "workflow": c.workflow, "state": c.state, "opened": _local(app, c.opened_at),
                   "closed": _local(app, c.closed_at)} for c in cases],
    }


def letters_section(s: Session, app: App, pupil: Pupil,
                    templates: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    q = select(Letter).where(Letter.pupil_id == pupil.id)
    if templates:
        q = q.where(Letter.template.in_(templates))
    titles = {lid: spec.title for lid, spec in app.config.letters.items()}
    return [{"id": le.id, "template": le.template, "rule": le.rule,
             "title": titles.get(le.template, le.template),
             "created": _local(app, le.created_at), "channel": le.channel, "recipient": le.recipient,
             "status": le.status, "sent": _local(app, le.sent_at)}
            for le in s.scalars(q.order_by(Letter.created_at, Letter.id))]


def chronology_section(s: Session, app: App, pupil: Pupil,
                       category: str | None = None) -> list[dict[str, Any]]:
    """Entries by date; an entry about a letter ("letter:ID") names the letter and its delivery."""
    letters = {f"letter:{le['id']}": le for le in letters_section(s, app, pupil)}
    q = select(ChronologyEntry).where(ChronologyEntry.pupil_id == pupil.id)
    if category:
        q = q.where(ChronologyEntry.category == category)
    out = []
    for e in s.scalars(q.order_by(ChronologyEntry.at, ChronologyEntry.id)):
        local = app.calendar.local(e.at)
        linked = letters.get(e.ref or "")
        out.append({"date": f"{local:%a %d %b %Y}", "time": f"{local:%H:%M}", "at": local.isoformat(),
                    "category": e.category, "staff": e.staff or "", "summary": e.summary,
                    "rule": e.rule or "",
                    "safeguarding": e.safeguarding, "ref": e.ref or "",
                    "letter": (f"{linked['title']} ({linked['channel']}, {linked['status']})"
                               if linked else "")})
    return out


def marks_section(s: Session, app: App, pupil: Pupil, through: dt.date) -> list[dict[str, Any]]:
    """The register by half term: a row per school week, AM and PM codes per day, the half term's figures."""
    from casework.attendance import marks_by_day

    cal, out = app.calendar, []
    marks = marks_by_day(s, pupil.id, cal.first_day, through)
    for ht in cal.half_terms:
        if ht.start > through:
            break
        end = min(ht.end, through)
        days = [d for d in cal.days if ht.start <= d <= end]
        weeks: dict[dt.date, list[str]] = {}
        for d in days:
            monday = d - dt.timedelta(days=d.weekday())
            row = weeks.setdefault(monday, ["", "", "", "", ""])
            m = marks.get(d, {})
            row[d.weekday()] = f"{m.get('AM', '-')} {m.get('PM', '-')}"
        f = figures_for_all(s, app.config, end, since=ht.start, pupil_ids=[pupil.id])[pupil.id]
        out.append({"name": ht.name, "from": long_date(ht.start), "to": long_date(end),
                    "weeks": [{"commencing": f"{w:%d %b %Y}", "days": row}
                              for w, row in sorted(weeks.items())],
                    "figures": figures_context(f, app.config, end)})
    return out


def meetings_section(s: Session, app: App, pupil: Pupil) -> list[dict[str, Any]]:
    """Parent meetings (the `meeting` workflow's cases) with what the chronology says happened."""
    out = []
    for c in s.scalars(select(Case).where(Case.pupil_id == pupil.id, Case.workflow == "meeting")
                       .order_by(Case.opened_at, Case.id)):
        at = c.data.get("at")
        notes = s.scalars(select(ChronologyEntry).where(ChronologyEntry.case_id == c.id,
                                                        ChronologyEntry.category == "meeting")
                          .order_by(ChronologyEntry.at, ChronologyEntry.id))
        out.append({"id": c.id, "when": _local(app, dt.datetime.fromisoformat(at)) if at else "not arranged",
                    "attendees": ", ".join(c.data.get("attendees") or []) or "parents",
                    "purpose": c.data.get("purpose") or "", "state": c.state,
                    "missed": int(c.data.get("missed", 0)),
                    "record": [f"{_local(app, n.at)}: {n.summary}" for n in notes]})
    return out


def _document(s: Session, app: App, pupil: Pupil, title: str, now: dt.datetime,
              by: str | None) -> dict[str, Any]:
    through = app.calendar.local_date(now)
    chronology.audit(s, at=now, staff=by, action=f"export:{title}", pupil_id=pupil.id)  # DAT-2
    school = app.config.school
    return {"title": title, "school": {"name": school.name, "address": list(school.address),
                                       "phone": school.phone, "email": school.email},
            "prepared": _local(app, now), "prepared_by": by or "", "through": long_date(through),
            "pupil": pupil_section(s, app, pupil, through)}


def chronology_pdf(s: Session, app: App, pupil: Pupil, now: dt.datetime, by: str | None = None,
                   category: str | None = None) -> bytes:
    ctx = _document(s, app, pupil, "Chronology", now, by)
    ctx["entries"] = chronology_section(s, app, pupil, category)
    return html_to_pdf(render_export("chronology", ctx))


def evidence_pack_context(s: Session, app: App, pupil: Pupil, now: dt.datetime,
                          by: str | None) -> dict[str, Any]:
    """CW-4: chronology, marks by half term, letters sent, meetings held, penalty notices."""
    ctx = _document(s, app, pupil, "Attendance evidence pack", now, by)
    through = app.calendar.local_date(now)
    ctx.update(entries=chronology_section(s, app, pupil), half_terms=marks_section(s, app, pupil, through),
               letters=letters_section(s, app, pupil), meetings=meetings_section(s, app, pupil),
               penalties=letters_section(s, app, pupil, PENALTY_LETTERS),
               notices=notices_section(s, pupil),
               contents=list(getattr(app.config.policy.casework, "evidence_pack", PACK_CONTENTS)))
    return ctx


def notices_section(s: Session, pupil: Pupil) -> list[dict[str, Any]]:
    """PN-3: the ledger, one notice per parent with parental responsibility."""
    from casework.models import PenaltyNotice

    rows = s.execute(select(PenaltyNotice, Contact).join(Contact, Contact.id == PenaltyNotice.contact_id)
                     .where(PenaltyNotice.pupil_id == pupil.id).order_by(PenaltyNotice.id))
    return [{"id": n.id, "parent": c.name, "issued_on": n.issued_on.isoformat(), "status": n.status,
             "paid": f"{n.amount_paid} GBP on {n.paid_on.isoformat()}" if n.paid_on else "",
             "counter": n.counter.replace("_", " ")} for n, c in rows]


def evidence_pack_pdf(s: Session, app: App, pupil: Pupil, now: dt.datetime, by: str | None = None) -> bytes:
    return html_to_pdf(render_export("evidence_pack", evidence_pack_context(s, app, pupil, now, by)))


def la_share(s: Session, app: App, pupil: Pupil, now: dt.datetime, by: str | None = None) -> dict[str, Any]:
    """DAT-2: what the local authority needs about a pupil whose attendance is a concern (JSON-safe)."""
    ctx = _document(s, app, pupil, "Local authority attendance share", now, by)
    ctx.update(half_terms=marks_section(s, app, pupil, app.calendar.local_date(now)),
               letters=letters_section(s, app, pupil), meetings=meetings_section(s, app, pupil),
               entries=chronology_section(s, app, pupil), generated_at=now.isoformat())
    return ctx


def la_share_pdf(s: Session, app: App, pupil: Pupil, now: dt.datetime, by: str | None = None) -> bytes:
    return html_to_pdf(render_export("la_share", la_share(s, app, pupil, now, by)))
