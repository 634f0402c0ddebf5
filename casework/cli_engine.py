"""Commands that drive and read the engine: run, tasks, task, cases, letters, chronology, serve."""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from casework import chronology, engine, tasks
from casework.calendar import parse_when
from casework.cli import main
from casework.context import App
from casework.errors import InputError
from casework.models import Case, Letter, Pupil

console = Console()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _when(app: App, text: str | None, option: str, *, end_of_day: bool = True) -> dt.datetime:
    if text is None:
        return _now()
    try:
        return parse_when(text, app.config.tz, end_of_day=end_of_day)
    except ValueError as exc:
        raise InputError(str(exc), column=option) from None


def _pupil(s: Any, upn: str) -> Pupil:
    pupil = s.scalar(select(Pupil).where(Pupil.upn == upn))
    if pupil is None:
        raise InputError(f"no pupil with UPN {upn!r}")
    return pupil


def _local(app: App, instant: dt.datetime | None) -> str:
    return instant.astimezone(app.config.tz).strftime("%a %d %b %Y %H:%M") if instant else ""


@main.command()
@click.option("--until", help="ISO date or date-time, school-local (default: now); a date means its end")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--log-items", is_flag=True, help="print each agenda item's key as it is committed")
@click.option("--no-deliver", is_flag=True, help="leave the outbox for later (`casework deliver`)")
@click.pass_obj
def run(app: App, until: str | None, quiet: bool, log_items: bool, no_deliver: bool) -> None:
    """Do everything due up to a moment: register closes, evaluations, timers, reminders. Twice is harmless."""
    app.init()
    limit = _when(app, until, "--until")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    show = not quiet and sys.stderr.isatty()
    with Progress(TextColumn("agenda"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                  disable=not show, transient=True) as bar:
        job = bar.add_task("run", total=None)
        report = engine.run(app, limit, progress=lambda done, total: bar.update(job, completed=done, total=total),
                            on_item=(lambda key: click.echo(f"item {key}")) if log_items else None)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(report.processed.items())) or "nothing due"
    click.echo(f"processed {report.total} agenda items up to {_local(app, limit)}: {kinds}")
    if report.failed or report.case_errors:
        click.echo(f"{report.failed} items failed, {report.case_errors} case errors (see the chronology, "
                   "category 'error')", err=True)
    if not no_deliver:  # after the agenda's commits: letters go out with retries, each attempt recorded
        from notifications.deliver import deliver_pending

        click.echo(f"outbox: {deliver_pending(app, _now()).summary()}")


@main.command("tasks")
@click.option("--role", help="role id, e.g. office")
@click.option("--pupil", "upn", help="pupil UPN")
@click.option("--status", type=click.Choice(["open", "done", "cancelled", "all"]), default="open",
              show_default=True)
@click.option("--assignee", help="staff id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def tasks_cmd(app: App, role: str | None, upn: str | None, status: str, assignee: str | None,
              as_json: bool) -> None:
    """The inbox: overdue first."""
    app.init()
    if role and role not in app.config.roles:
        raise InputError(f"unknown role {role!r}; one of: {', '.join(app.config.roles)}", column="--role")
    with app.sessions() as s:
        rows = tasks.inbox(s, role=role, upn=upn, status=status, assignee=assignee)
    data = [tasks.task_json(t, p, st, app.config.tz) for t, p, st in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    now = _now()
    table = Table(title=f"{len(data)} task(s)")
    for col in ("id", "kind", "pupil", "role", "assignee", "due", "status"):
        table.add_column(col)
    for (t, p, st), _d in zip(rows, data, strict=True):
        overdue = t.status == "open" and t.due_at < now
        table.add_row(str(t.id), t.kind, f"{p.name} ({p.upn})", t.role, st.name if st else "(queue)",
                      ("[red]" if overdue else "") + _local(app, t.due_at), t.outcome or t.status)
    console.print(table)


@main.group()
def task() -> None:
    """Act on one task: complete, claim, reassign."""


@task.command("complete")
@click.argument("task_id", type=int)
@click.option("--outcome", required=True)
@click.option("--reason", help="the reason given (for calls and visits: a reason id from config)")
@click.option("--note")
@click.option("--by", help="staff id of who did it")
@click.option("--at", help="when (ISO, school-local; default now)")
@click.pass_obj
def task_complete(app: App, task_id: int, outcome: str, reason: str | None, note: str | None,
                  by: str | None, at: str | None) -> None:
    """Record a task's outcome; its case moves on."""
    app.init()
    t = tasks.complete(app, task_id, outcome, reason=reason, note=note, by=by,
                       at=_when(app, at, "--at", end_of_day=False))
    click.echo(f"task {t.id} ({t.kind}) done: {outcome}")


@task.command("claim")
@click.argument("task_id", type=int)
@click.option("--by", required=True, help="staff id")
@click.option("--at", help="when (ISO, school-local; default now)")
@click.pass_obj
def task_claim(app: App, task_id: int, by: str, at: str | None) -> None:
    """Take a task from your role's queue."""
    app.init()
    tasks.claim(app, task_id, by, _when(app, at, "--at", end_of_day=False) if at else _now())
    click.echo(f"task {task_id} claimed by {by}")


@task.command("reassign")
@click.argument("task_id", type=int)
@click.option("--to", "to", required=True, help="staff id")
@click.option("--reason", required=True)
@click.option("--by", help="staff id of who reassigns")
@click.option("--at", help="when (ISO, school-local; default now)")
@click.pass_obj
def task_reassign(app: App, task_id: int, to: str, reason: str, by: str | None, at: str | None) -> None:
    """Give a task to someone else, with a reason."""
    app.init()
    tasks.reassign(app, task_id, to, reason, by, _when(app, at, "--at", end_of_day=False) if at else _now())
    click.echo(f"task {task_id} reassigned to {to}")


@main.command()
@click.option("--all", "show_all", is_flag=True, help="closed cases too")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cases(app: App, show_all: bool, as_json: bool) -> None:
    """Open cases: pupil, workflow, state, since."""
    app.init()
    tz = app.config.tz
    with app.sessions() as s:
        q = select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id).order_by(Case.opened_at, Case.id)
        if not show_all:
            q = q.where(Case.closed_at.is_(None))
        rows = s.execute(q).all()
    data = [{"id": c.id, "pupil": p.upn, "pupil_name": p.name, "workflow": c.workflow, "state": c.state,
             "opened": c.opened_at.astimezone(tz).isoformat(), "updated": c.updated_at.astimezone(tz).isoformat(),
             "closed": c.closed_at.astimezone(tz).isoformat() if c.closed_at else None} for c, p in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(data)} case(s)")
    for col in ("id", "pupil", "workflow", "state", "since"):
        table.add_column(col)
    for c, p in rows:
        table.add_row(str(c.id), f"{p.name} ({p.upn})", c.workflow, c.state, _local(app, c.updated_at))
    console.print(table)
    by_state = Counter((c.workflow, c.state) for c, _ in rows)
    if by_state:
        click.echo("; ".join(f"{w}/{st}: {n}" for (w, st), n in sorted(by_state.items())))


@main.group(invoke_without_command=True)
@click.option("--pupil", "upn")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def letters(ctx: click.Context, upn: str | None, as_json: bool) -> None:
    """Letters and messages produced (the outbox)."""
    if ctx.invoked_subcommand:
        return
    app: App = ctx.obj
    app.init()
    tz = app.config.tz
    with app.sessions() as s:
        q = select(Letter, Pupil).join(Pupil, Pupil.id == Letter.pupil_id).order_by(Letter.created_at, Letter.id)
        if upn:
            q = q.where(Pupil.upn == _pupil(s, upn).upn)
        rows = s.execute(q).all()
    data = [{"id": le.id, "pupil": p.upn, "template": le.template, "channel": le.channel,
             "created": le.created_at.astimezone(tz).isoformat(), "recipient": le.recipient,
             "status": le.status, "rule": le.rule} for le, p in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(data)} letter(s) and message(s)")
    for col in ("id", "pupil", "template", "channel", "recipient", "created", "status"):
        table.add_column(col)
    for le, p in rows:
        table.add_row(str(le.id), p.upn, le.template, le.channel, le.recipient, _local(app, le.created_at),
                      le.status)
    console.print(table)


@main.command("chronology")
@click.argument("upn")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "pdf"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="file to write (default: standard output)")
@click.option("--category")
@click.option("--by", help="staff id of who is reading (audited)")
@click.pass_obj
def chronology_cmd(app: App, upn: str, fmt: str, output: str | None, category: str | None,
                   by: str | None) -> None:
    """The pupil's chronology (append-only). Every read is audited."""
    app.init()
    if fmt == "pdf":  # DAT-1 CPOMS-style PDF (notifications.exports, which audits the read itself)
        from casework.cli_notify import chronology_pdf_cmd

        return chronology_pdf_cmd(app, upn, output, category, by)
    with app.sessions.begin() as s:
        pupil = _pupil(s, upn)
        rows = chronology.entries(s, pupil, app.config.tz, category=category)
        chronology.audit(s, at=_now(), staff=by, action=f"chronology:{fmt}", pupil_id=pupil.id,
                         detail=output)
    text = chronology.to_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2) + "\n"
    if output:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        click.echo(f"{len(rows)} entries written to {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address the web inbox listens on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--heartbeat", default=60, show_default=True, help="seconds between catch-up runs")
@click.pass_obj
def serve(app: App, host: str, port: int, heartbeat: int) -> None:
    """The web inbox (uvicorn) and the scheduler (the engine loop at every agenda instant and on a
    heartbeat), until SIGTERM."""
    app.init()
    from casework.web.server import serve_web

    serve_web(app, host=host, port=port, heartbeat_seconds=heartbeat)


def _count(app: App, model: Any) -> int:
    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0
