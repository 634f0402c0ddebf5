"""`casework demo`: the sample school (data/sample) imported into the embedded database and its half term
replayed through every workflow, then a short report. Running it again changes nothing."""
from __future__ import annotations

import csv
import datetime as dt
import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from casework import engine
from casework.attendance import figures_for_all
from casework.cli import main
from casework.config import resource_dir
from casework.context import App
from casework.imports import KINDS, run_import
from casework.models import Case, Letter, Pupil, Task

console = Console()


def _last_date(marks: Path) -> dt.date:
    with marks.open(encoding="utf-8-sig", newline="") as fh:
        return max(dt.date.fromisoformat(r["date"]) for r in csv.DictReader(fh))


def report(app: App, through: dt.date) -> None:
    with app.sessions() as s:
        figures = figures_for_all(s, app.config, through)
        pupils = s.scalar(select(func.count()).select_from(Pupil)) or 0
        cases = Counter(s.execute(select(Case.workflow, Case.state)).all())
        open_tasks = Counter(s.scalars(select(Task.role).where(Task.status == "open")))
        done = Counter(s.scalars(select(Task.status)))
        letters = Counter(s.scalars(select(Letter.template)))
    possible = sum(f.possible for f in figures.values()) or 1
    attended = sum(f.attended for f in figures.values())
    bands = Counter(f.band or "too few sessions" for f in figures.values())
    pa = sum(f.persistent_absentee for f in figures.values())
    console.print(f"[bold]{app.config.school.name}[/bold]: {pupils} pupils, figures to {through:%A %d %B %Y}")
    console.print(f"attendance {100 * attended / possible:.1f}%, persistently absent {pa} "
                  f"({100 * pa / max(len(figures), 1):.0f}%)")
    console.print("pupils per band: " + ", ".join(f"{b} {n}" for b, n in sorted(bands.items())))
    for title, counter, cols in (("Cases by workflow and state", cases, ("workflow", "state")),
                                 ("Open tasks by role", Counter({(r,): n for r, n in open_tasks.items()}), ("role",)),
                                 ("Letters and messages by template", Counter({(t,): n for t, n in letters.items()}),
                                  ("template",))):
        table = Table(title=title)
        for c in (*cols, "count"):
            table.add_column(c)
        for key, n in sorted(counter.items()):
            table.add_row(*map(str, key), str(n))
        console.print(table)
    console.print(f"tasks: {done.get('open', 0)} open, {done.get('done', 0)} done, "
                  f"{done.get('cancelled', 0)} withdrawn")


@main.command()
@click.option("--folder", type=click.Path(file_okay=False), help="a folder with pupils/contacts/staff/marks.csv "
              "(default: the shipped sample school)")
@click.pass_obj
def demo(app: App, folder: str | None) -> None:
    """Create the demo school on the embedded database and replay its half term through the engine."""
    source = Path(folder) if folder else resource_dir("data") / "sample"
    app.config  # noqa: B018 - a bad config is reported before anything is written
    app.init()
    now = dt.datetime.now(dt.UTC)
    for kind in KINDS:
        result = run_import(app.sessions, kind, source / f"{kind}.csv", app.config, app.calendar, now)
        click.echo(f"import {kind}: {result}")
    last = _last_date(source / "marks.csv")
    until = app.calendar.at(last, dt.time(23, 59))
    click.echo(f"replaying the school's days up to {last:%d %B %Y} through the engine...")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("agenda"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                  disable=not sys.stderr.isatty(), transient=True) as bar:
        job = bar.add_task("run", total=None)
        result = engine.run(app, until, progress=lambda d, t: bar.update(job, completed=d, total=t))
    click.echo(f"processed {result.total} agenda items")
    report(app, last)
    click.echo("\nNext: `casework tasks --role office` for the office's inbox, `casework cases`, "
               "`casework letters`, `casework pupil show UPN`, `casework chronology UPN`.")
