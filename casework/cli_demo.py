"""`casework demo`: a synthetic school (by default 300 pupils, seed 1, the autumn term) simulated day by day
through every workflow with staff acting on their tasks, then a short report and how to open the web inbox
with the demo staff accounts. Running it again on the same database only reports."""
from __future__ import annotations

import datetime as dt
import sys
import time
from collections import Counter

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from casework.attendance import figures_for_all
from casework.cli import main
from casework.context import App
from casework.models import Case, Letter, Pupil, Staff, Task
from workflows.registry import active_workflows

console = Console()
DEMO_PASSWORD = "heys-demo-2026"  # demo databases only; a real school sets passwords with `casework staff`
DEMO_PUPILS, DEMO_HALF_TERMS = 300, 2  # the demo school's size, and how far it runs: the autumn term
SHOWN_ROLES = ("office", "form_tutor", "pastoral_manager", "attendance_lead", "headteacher", "senior_leader")


def report(app: App, through: dt.date) -> None:
    with app.sessions() as s:
        figures = figures_for_all(s, app.config, through)
        pupils = s.scalar(select(func.count()).select_from(Pupil)) or 0
        cases = Counter(s.execute(select(Case.workflow, Case.state)).all())
        open_tasks = Counter(s.scalars(select(Task.role).where(Task.status == "open")))
        status = Counter(s.scalars(select(Task.status)))
        letters = Counter(s.scalars(select(Letter.template)))
    possible = sum(f.possible for f in figures.values()) or 1
    attended = sum(f.attended for f in figures.values())
    bands = Counter(f.band or "too few sessions" for f in figures.values())
    pa = sum(f.persistent_absentee for f in figures.values())
    console.print(f"[bold]{app.config.school.name}[/bold]: {pupils} pupils, figures to {through:%A %d %B %Y}")
    console.print(f"attendance {100 * attended / possible:.1f}%, persistently absent {pa} "
                  f"({100 * pa / max(len(figures), 1):.0f}%)")
    console.print("pupils per band: " + ", ".join(f"{b} {n}" for b, n in sorted(bands.items())))
    tables = (("Cases by workflow and state", cases, ("workflow", "state")),
              ("Open tasks by role", Counter({(r,): n for r, n in open_tasks.items()}), ("role",)),
              ("Letters and messages by template", Counter({(t,): n for t, n in letters.items()}), ("template",)))
    for title, counter, cols in tables:
        table = Table(title=title)
        for c in (*cols, "count"):
            table.add_column(c)
        for key, n in sorted(counter.items()):
            table.add_row(*map(str, key), str(n))
        console.print(table)
    console.print(f"tasks: {status.get('done', 0)} done, {status.get('open', 0)} open, "
                  f"{status.get('cancelled', 0)} withdrawn")
    active = active_workflows(app.config)
    seen = {wf for wf, _ in cases}
    console.print(f"workflows at work: {len(seen & set(active))} of {len(active)}"
                  + (f" (no case yet: {', '.join(sorted(set(active) - seen))})" if set(active) - seen else ""))


def demo_accounts(app: App) -> list[Staff]:
    """Give every demo staff member without a password the demo password; return one per shown role."""
    from casework.web import auth
    from casework.web.settings import WebSettings

    with app.sessions() as s:
        staff = list(s.scalars(select(Staff).order_by(Staff.staff_id)))
    auth.set_shared_password(app, [st.staff_id for st in staff if st.password_hash is None], DEMO_PASSWORD,
                             WebSettings(), dt.datetime.now(dt.UTC))
    return [next(st for st in staff if role in st.roles) for role in SHOWN_ROLES
            if any(role in st.roles for st in staff)]


@main.command()
@click.option("--pupils", type=click.IntRange(1, 5000), default=DEMO_PUPILS, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--until", help="last day (default: the end of the autumn term, the year's first two half terms)")
@click.pass_obj
def demo(app: App, pupils: int, seed: int, until: str | None) -> None:
    """Create the demo school on the embedded database and simulate it through every workflow."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from casework.cli_engine import _when
    from casework.simulate import simulate

    app.config  # noqa: B018 - a bad config is reported before anything is written
    app.init()
    half_terms = app.calendar.half_term_last_days()
    last = (app.calendar.local_date(_when(app, until, "--until")) if until
            else half_terms[min(DEMO_HALF_TERMS, len(half_terms)) - 1][1])
    with app.sessions() as s:
        existing = s.scalar(select(func.count()).select_from(Pupil)) or 0
    if existing:
        click.echo(f"{app.url} already holds a school of {existing} pupils: showing it as it is "
                   "(use another --db or folder for a new demo)")
    else:
        click.echo(f"simulating {pupils} pupils to {last:%d %B %Y}: marks, the engine each school day, staff "
                   "acting on their tasks...")
        with Progress(TextColumn("school days"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                      disable=not sys.stderr.isatty(), transient=True) as bar:
            job = bar.add_task("days", total=None)
            started = time.perf_counter()
            simulate(app, pupils, seed, last, progress=lambda d, t: bar.update(job, completed=d, total=t))
        click.echo(f"simulated in {time.perf_counter() - started:.0f} s")
    report(app, last)
    accounts = demo_accounts(app)
    console.print("\n[bold]The web inbox[/bold]: run `casework serve` and open http://127.0.0.1:8000 ; "
                  f"demo accounts (password {DEMO_PASSWORD}):")
    table = Table()
    for col in ("sign in as", "name", "roles"):
        table.add_column(col)
    for st in accounts:
        table.add_row(st.staff_id, st.name, ", ".join(st.roles))
    console.print(table)
    click.echo("Also: `casework tasks --role office`, `casework cases`, `casework letters`, `casework pupil show "
               "UPN`, `casework chronology UPN`, and a whole year: `casework simulate --pupils 300 --db "
               "sqlite:///year.db`.")
