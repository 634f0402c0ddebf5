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
    table = Table(title=f"Radar meeting, week of {day - dt.timedelta(days=day.weekday()):%d %b %Y}: {len(rows)} pupil(s)")
    for col in ("pupil", "form", "YTD %", "band", "last week", "open cases"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['name']} ({r['upn']})", r["form"], str(r["attendance_pct"]), str(r["band"]),
                      str(r["band_last_week"]) + (" *" if r["band_changed"] else ""), ", ".join(r["open_cases"]))
    console.print(table)
