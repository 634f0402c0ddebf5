"""Commands for casework around the engine: meetings (MTG) and the radar-meeting list (ONG-4)."""
from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from casework import meetings
from casework.cli import main
from casework.cli_engine import _local, _now, _when
from casework.context import App
from casework.models import Case, Pupil
from casework.radar import radar_meeting

console = Console()


@main.group()
def meeting() -> None:
    """Arrange and record parent meetings (MTG-1 to MTG-3)."""


@meeting.command("arrange")
@click.option("--pupil", "upn", help="UPN, for a new meeting")
@click.option("--meeting", "meeting_id", type=int, help="id of a cancelled or missed meeting to rearrange")
@click.option("--at", "when", required=True, help="date and time, school-local (YYYY-MM-DDTHH:MM)")
@click.option("--attendee", "attendees", multiple=True, help="who will attend (repeat)")
@click.option("--purpose", help="e.g. stage 3 parent meeting")
@click.option("--by", help="staff id")
@click.pass_obj
def meeting_arrange(app: App, upn: str | None, meeting_id: int | None, when: str, attendees: tuple[str, ...],
                    purpose: str | None, by: str | None) -> None:
    """Arrange a meeting (completes the pupil's open parent_meeting task) or rearrange one (MTG-2)."""
    app.init()
    case = meetings.arrange(app, upn=upn, when=_when(app, when, "--at", end_of_day=False),
                            attendees=list(attendees), purpose=purpose, by=by, now=_now(), meeting_id=meeting_id)
    click.echo(f"meeting {case.id} arranged for {_local(app, dt.datetime.fromisoformat(case.data['at']))}")


@meeting.command("record")
@click.argument("meeting_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(meetings.OUTCOMES))
@click.option("--note")
@click.option("--by", help="staff id")
@click.option("--at", help="when (default now)")
@click.pass_obj
def meeting_record(app: App, meeting_id: int, outcome: str, note: str | None, by: str | None,
                   at: str | None) -> None:
    """Record what happened: held, cancelled_by_parent or no_show."""
    app.init()
    case = meetings.record(app, meeting_id, outcome, note=note, by=by, at=_when(app, at, "--at", end_of_day=False))
    click.echo(f"meeting {case.id}: {outcome}; now {case.state}")


@main.command("meetings")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def meetings_list(app: App, as_json: bool) -> None:
    """Meetings: arranged, being rearranged, held, referred."""
    app.init()
    with app.sessions() as s:
        rows = s.execute(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id)
                         .where(Case.workflow == "meeting").order_by(Case.id)).all()
    data = [{"id": c.id, "pupil": p.upn, "name": p.name, "state": c.state, "at": c.data.get("at"),
             "attendees": c.data.get("attendees", []), "missed": c.data.get("missed", 0),
             "purpose": c.data.get("purpose")} for c, p in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(data)} meeting(s)")
    for col in ("id", "pupil", "state", "when", "missed", "purpose"):
        table.add_column(col)
    for d in data:
        when = _local(app, dt.datetime.fromisoformat(d["at"])) if d["at"] else ""
        table.add_row(str(d["id"]), f"{d['name']} ({d['pupil']})", d["state"], when, str(d["missed"]),
                      d["purpose"] or "")
    console.print(table)


@main.command("radar-meeting")
@click.option("--on", "on", help="a date in the week (default today)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def radar_meeting_cmd(app: App, on: str | None, as_json: bool) -> None:
    """The weekly radar-meeting list: pupils with an open case or a band change this week (ONG-4)."""
    app.init()
    day = app.calendar.local_date(_when(app, on, "--on"))
    with app.sessions() as s:
        rows = radar_meeting(s, app.config, app.calendar, day)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    monday = day - dt.timedelta(days=day.weekday())
    table = Table(title=f"Radar meeting, week of {monday:%d %b %Y}: {len(rows)} pupil(s)")
    for col in ("pupil", "form", "YTD %", "band", "last week", "open cases"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['name']} ({r['upn']})", r["form"], str(r["attendance_pct"]), str(r["band"]),
                      str(r["band_last_week"]) + (" *" if r["band_changed"] else ""), ", ".join(r["open_cases"]))
    console.print(table)


@main.group()
def cme() -> None:
    """Children missing education (CME-1)."""


@cme.command("attempt")
@click.argument("upn")
@click.option("--by-whom", required=True, help="who tried: school or local_authority")
@click.option("--note", required=True, help="what was tried")
@click.option("--by", help="staff id recording it")
@click.option("--at", help="when (default now)")
@click.pass_obj
def cme_attempt(app: App, upn: str, by_whom: str, note: str, by: str | None, at: str | None) -> None:
    """Record an attempt to locate a missing pupil."""
    from casework import register

    app.init()
    case = register.record_attempt(app, upn, by_whom, note, by, _when(app, at, "--at", end_of_day=False))
    click.echo(f"attempt by {by_whom} recorded on case {case.id}")


@main.group("register")
def register_group() -> None:
    """The admission register: deletion on a recorded ground (CME-1)."""


@register_group.command("delete")
@click.argument("upn")
@click.option("--ground", required=True, help="a ground id from config (policy.missing_education.grounds)")
@click.option("--evidence", required=True)
@click.option("--by", help="staff id (the headteacher)")
@click.option("--at", help="when (default now)")
@click.pass_obj
def register_delete(app: App, upn: str, ground: str, evidence: str, by: str | None, at: str | None) -> None:
    """Delete a pupil from the register; every open case closes."""
    from casework import register

    app.init()
    closed = register.delete(app, upn, ground, evidence, by, _when(app, at, "--at", end_of_day=False))
    click.echo(f"{upn} deleted from the register ({ground}); {closed} open case(s) closed")


@main.group("casework")
def casework_group() -> None:
    """The attendance lead's casework (CW-1 to CW-4)."""


@casework_group.command("start")
@click.argument("upn")
@click.option("--why", required=True, help="the reason for starting casework")
@click.option("--by", required=True, help="staff id of the attendance lead")
@click.option("--at", help="when (default now)")
@click.pass_obj
def casework_start(app: App, upn: str, why: str, by: str, at: str | None) -> None:
    """Start casework by the attendance lead's decision (it also starts at stage 5)."""
    from casework import lead

    app.init()
    case = lead.start(app, upn, why, by, _when(app, at, "--at", end_of_day=False))
    click.echo(f"casework case {case.id} started for {upn}: pre-referral meeting task opened")


def _date(app: App, text: str, option: str) -> dt.date:
    return app.calendar.local_date(_when(app, text, option, end_of_day=False))


@main.group()
def absence() -> None:
    """Absence decisions (ABS-1 to ABS-7)."""


@absence.command("reason")
@click.argument("upn")
@click.option("--date", "start", required=True, help="the (first) day, YYYY-MM-DD")
@click.option("--to", "end", help="the last day (default: the same day)")
@click.option("--session", type=click.Choice(["AM", "PM", "both"]), default="both", show_default=True)
@click.option("--reason", required=True, help="a reason id from config (policy.absence.reasons)")
@click.option("--by", help="staff id recording it")
@click.option("--at", help="when (default now)")
@click.pass_obj
def absence_reason(app: App, upn: str, start: str, end: str | None, session: str, reason: str, by: str | None,
                   at: str | None) -> None:
    """Record the reason for an absence: proposes its code; only the headteacher authorises (ABS-1)."""
    from casework import absence as service

    app.init()
    first = _date(app, start, "--date")
    case = service.record_reason(app, upn, first, _date(app, end, "--to") if end else first,
                                 ("AM", "PM") if session == "both" else (session,), reason, by,
                                 _when(app, at, "--at", end_of_day=False))
    click.echo(f"case {case.id}: {case.state}")


@absence.command("evidence")
@click.argument("upn")
@click.option("--note", required=True, help="what evidence (e.g. GP letter dated ...)")
@click.option("--by", help="staff id")
@click.option("--at", help="when (default now)")
@click.pass_obj
def absence_evidence(app: App, upn: str, note: str, by: str | None, at: str | None) -> None:
    """Record medical evidence received (ABS-2)."""
    from casework import absence as service

    app.init()
    case = service.record_evidence(app, upn, note, by, _when(app, at, "--at", end_of_day=False))
    click.echo(f"case {case.id}: {case.state}")


def _request(kind: str) -> None:
    @absence.command(f"request-{kind}", help=(
        "A religious observance request (ABS-4): at least one school day ahead; one day per observance."
        if kind == "religious" else "A leave of absence request (ABS-7): refused unless exceptional."))
    @click.argument("upn")
    @click.option("--from", "start", required=True, help="first day")
    @click.option("--to", "end", help="last day (default: the same day)")
    @click.option("--reason", required=True)
    @click.option("--requested-on", help="the date the written request was received (default today)")
    @click.option("--by", help="staff id")
    @click.option("--at", help="when (default now)")
    @click.pass_obj
    def command(app: App, upn: str, start: str, end: str | None, reason: str, requested_on: str | None,
                by: str | None, at: str | None) -> None:
        from casework import absence as service

        app.init()
        when = _when(app, at, "--at", end_of_day=False)
        first = _date(app, start, "--from")
        case = service.request(app, kind, upn, first, _date(app, end, "--to") if end else first, reason,
                               _date(app, requested_on, "--requested-on") if requested_on
                               else app.calendar.local_date(when), by, when)
        if case.state == "refused":
            click.echo(f"case {case.id}: refused - a religious observance request needs at least "
                       f"{app.config.policy.absence.religious_notice_school_days} school day(s) notice (ABS-4)")
        else:
            click.echo(f"case {case.id}: {case.state} (the headteacher decides)")


for _k in ("religious", "leave"):
    _request(_k)


@main.command()
@click.option("--term", help="Autumn, Spring or Summer (REW-1, REW-2)")
@click.option("--week", help="a date in a school week: pupils with 100% that week (REW-3)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@click.pass_obj
def rewards(app: App, term: str | None, week: str | None, as_json: bool, as_csv: bool) -> None:
    """Recognition lists: certificates and prize draw, improved attendance, full weeks at 100%."""
    import csv as csvlib
    import sys

    from casework import rewards as service
    from casework.chronology import safe_cell
    from casework.errors import InputError

    if bool(term) == bool(week):
        raise InputError("give --term (term lists) or --week (a full week at 100%)")
    app.init()
    with app.sessions() as s:
        lists = (service.term_lists(s, app.config, app.calendar, term) if term else
                 {"full_week_100": service.full_week_100(s, app.config, app.calendar, _date(app, week, "--week"))})
    if as_json:
        click.echo(json.dumps(lists, indent=2))
        return
    if as_csv:
        w = csvlib.writer(sys.stdout, lineterminator="\n")
        w.writerow(["list", "upn", "name", "form", "year_group", "attendance_pct", "previous_pct"])
        for name, rows in lists.items():
            for r in rows:
                w.writerow([name, *(safe_cell(r.get(k)) for k in ("upn", "name", "form", "year_group",
                                                                  "attendance_pct", "previous_pct"))])
        return
    for name, rows in lists.items():
        table = Table(title=f"{name.replace('_', ' ')}: {len(rows)} pupil(s)")
        for col in ("pupil", "form", "%"):
            table.add_column(col)
        for r in rows:
            table.add_row(f"{r['name']} ({r['upn']})", r["form"], str(r["attendance_pct"]))
        console.print(table)


@main.group()
def pn() -> None:
    """Penalty notices (PN-1 to PN-4): the ledger and payments."""


@pn.command("list")
@click.option("--pupil", "upn")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def pn_list(app: App, upn: str | None, as_json: bool) -> None:
    """Every notice: parent, child, issued, status, amount due today."""
    from casework import penalties

    app.init()
    rows = penalties.ledger(app, upn)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} penalty notice(s)")
    for col in ("id", "pupil", "parent", "issued", "status", "due today", "paid"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), f"{r['pupil_name']} ({r['pupil']})", r["parent"], r["issued_on"], r["status"],
                      str(r["amount_due_today"] or ""), f"{r['amount_paid']} on {r['paid_on']}" if r["paid_on"] else "")
    console.print(table)


@pn.command("pay")
@click.argument("notice_id", type=int)
@click.option("--amount", type=int, required=True, help="GBP paid")
@click.option("--on", "paid_on", required=True, help="the date it was paid")
@click.option("--by", help="staff id recording it")
@click.pass_obj
def pn_pay(app: App, notice_id: int, amount: int, paid_on: str, by: str | None) -> None:
    """Record a payment; the amount must be the one due on that date (PN-3)."""
    from casework import penalties

    app.init()
    n = penalties.pay(app, notice_id, amount, _date(app, paid_on, "--on"), by, _now())
    click.echo(f"penalty notice {n.id}: paid {n.amount_paid} GBP on {n.paid_on}")


@main.group()
def policy() -> None:
    """The policy report: coverage by rule, and how it stands against the 2024 national framework."""


@policy.command("coverage")
@click.option("--policy", "policy_md", type=click.Path(exists=True, dir_okay=False),
              help="POLICY.md with the rule ids (default ../shared/POLICY.md beside the repository)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_coverage(app: App, policy_md: str | None, as_json: bool) -> None:
    """Every rule id with the workflow transitions, tasks, letters and tests that implement it."""
    from pathlib import Path

    from casework import policy as service
    from casework.errors import InputError

    path = Path(policy_md) if policy_md else service.default_policy_path()
    if not path.is_file():
        raise InputError(f"{path}: no such file (give --policy)", column="--policy")
    report = service.coverage(app.config, path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{len(report)} rules")
    for col in ("rule", "implemented by", "tests"):
        table.add_column(col)
    for rule, r in report.items():
        impl = r["transitions"][:3] + r["tasks"][:2] + r["letters"][:2] + ([r["elsewhere"]] if r["elsewhere"] else [])
        table.add_row(rule, ", ".join(impl) or "[red]nothing", str(len(r["tests"])) if r["tests"] else "[red]0")
    console.print(table)
    missing = [rule for rule, r in report.items() if not r["tests"] or not (
        r["transitions"] or r["tasks"] or r["letters"] or r["elsewhere"])]
    click.echo(f"{len(report) - len(missing)} of {len(report)} rules implemented and tested"
               + (f"; missing: {', '.join(missing)}" if missing else ""))


@policy.command("check")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="the policy to check (default: the one in use, casework --config / CASEWORK_CONFIG)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_check(app: App, config_path: str | None, as_json: bool) -> None:
    """Where a policy differs from the 2024 national framework (policies/national-2024.yaml has none)."""
    from dataclasses import asdict

    from casework import policy as service
    from casework.config import load_config

    findings = service.check(load_config(config_path) if config_path else app.config)
    if as_json:
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
        return
    for f in findings:
        click.echo(f"{f.rule}: {f.policy}\n  framework: {f.framework}\n  source: {f.reference}")
    click.echo(f"{len(findings)} difference(s) from the national framework")


@main.command()
@click.option("--pupils", type=click.IntRange(1, 20000), default=300, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--until", help="last day to simulate (default: the end of the school year)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def simulate(app: App, pupils: int, seed: int, until: str | None, as_json: bool) -> None:
    """A synthetic school replayed day by day, with staff acting on their tasks; a report per half term."""
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from casework import simulate as service

    last = _date(app, until, "--until") if until else None
    with Progress(TextColumn("school days"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                  disable=not sys.stderr.isatty(), transient=True) as bar:
        job = bar.add_task("days", total=None)
        reports = service.simulate(app, pupils, seed, last, progress=lambda d, t: bar.update(job, completed=d, total=t))
    data = [r.as_dict() for r in reports]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for r in data:
        console.rule(r["half_term"])
        console.print("cases opened: " + ", ".join(f"{k} {v}" for k, v in r["cases_opened"].items()))
        table = Table(title="tasks by role")
        for col in ("role", "on time", "late", "not done", "withdrawn", "escalated"):
            table.add_column(col)
        for role, c in r["tasks"].items():
            table.add_row(role, *(str(c.get(k, 0)) for k in ("on_time", "late", "not done", "withdrawn", "escalated")))
        console.print(table)
        console.print("letters: " + ", ".join(f"{k} {v}" for k, v in r["letters"].items()))
        console.print(f"penalty notices: {r['penalty_notices']}; pupils per band: "
                      + ", ".join(f"{k} {v}" for k, v in r["bands"].items()))
