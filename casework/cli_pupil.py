"""`casework pupil show UPN [--json] [--on DATE]`: a pupil's attendance figures and open cases."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from casework.attendance import pupil_summary
from casework.cli import main
from casework.context import App


@main.group()
def pupil() -> None:
    """One pupil's figures and cases."""


@pupil.command("show")
@click.argument("upn")
@click.option("--json", "as_json", is_flag=True, help="print the CONTRACT.md JSON object")
@click.option("--on", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="figures up to and including this date (default: today, school time)")
@click.pass_obj
def show(app: App, upn: str, as_json: bool, on: dt.datetime | None) -> None:
    """The pupil's year-to-date attendance and open cases."""
    app.init()
    # the only place the clock is read: everything below is given the evaluation day
    through = on.date() if on else dt.datetime.now(app.config.tz).date()
    with app.sessions() as session:
        summary = pupil_summary(session, app.config, app.calendar, upn.strip().upper(), through)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _print(summary)


def _print(s: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{s['name']}[/bold]  {s['upn']}  form {s['form']}, year {s['year_group']}"
                  f"  (to {s['through']})")
    figures = Table(show_header=False, box=None)
    pct = "-" if s["attendance_pct"] is None else f"{s['attendance_pct']:.1f}%"
    for label, value in [
        ("attendance", pct), ("band", s["band"] or "-"), ("grade", s["grade"] or "-"),
        ("possible sessions", s["possible_sessions"]), ("attended", s["attended_sessions"]),
        ("authorised absence", s["authorised_sessions"]),
        ("unauthorised absence", s["unauthorised_sessions"]), ("lates", s["lates"]),
        ("days missed", f"{s['days_missed']:g} ({s['lessons_missed']:g} lessons)"),
        ("persistent absentee", "yes" if s["persistent_absentee"] else "no"),
        ("severe absentee", "yes" if s["severe_absentee"] else "no"),
    ]:
        figures.add_row(label, str(value))
    console.print(figures)
    if not s["cases"]:
        console.print("no open cases")
        return
    cases = Table("case", "workflow", "state", "opened", title="open cases")
    for c in s["cases"]:
        cases.add_row(str(c["id"]), c["workflow"], c["state"], c["opened"])
    console.print(cases)
