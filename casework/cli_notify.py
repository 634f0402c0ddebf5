"""Commands for what leaves the school: letter previews, the outbox and its delivery, and staff exports
(RADAR sheet, chronology PDF, court evidence pack, local-authority share)."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from casework.cli import main
from casework.cli_engine import _now, _pupil, _when, letters
from casework.context import App
from casework.errors import InputError
from casework.models import Letter, Pupil

console = Console()
T = TypeVar("T")


def _suffix(output: str, allowed: tuple[str, ...], option: str = "--output") -> str:
    suffix = Path(output).suffix.lower()
    if suffix not in allowed:
        raise InputError(f"{output}: the file name must end in {' or '.join(allowed)}", column=option)
    return suffix


@letters.command("render")
@click.argument("letter")
@click.option("--output", type=click.Path(dir_okay=False), help="FILE.pdf, FILE.html or FILE.txt (default: "
              "the text on standard output)")
@click.option("--sms", is_flag=True, help="print the SMS short form instead")
@click.pass_obj
def letters_render(app: App, letter: str, output: str | None, sms: bool) -> None:
    """Preview a letter: an outbox letter by its id, or a letter id (concern_letter_1) with example data."""
    from notifications.gather import letter_context
    from notifications.render import render, render_sms
    from notifications.sample import example_context

    app.init()
    if letter.isdigit():
        with app.sessions() as s:
            row = s.get(Letter, int(letter))
            if row is None:
                raise InputError(f"no letter with id {letter} in the outbox")
            template, ctx = row.template, letter_context(s, app, row)
    elif letter in app.config.letters:
        template, ctx = letter, example_context(app.config, app.calendar, letter)
    else:
        raise InputError(f"unknown letter {letter!r}: an outbox id or one of {', '.join(app.config.letters)}")
    if sms:
        click.echo(render_sms(template, ctx))
        return
    html, text = render(template, ctx)
    if output is None:
        click.echo(text, nl=False)
        return
    suffix = _suffix(output, (".pdf", ".html", ".txt"))
    if suffix == ".pdf":
        from notifications.pdf import html_to_pdf

        Path(output).write_bytes(html_to_pdf(html))
    else:
        Path(output).write_text(html if suffix == ".html" else text, encoding="utf-8")
    click.echo(f"{template} written to {output}")


@main.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "unknown",
                                            "no_address"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """Letters and messages with their delivery status (unknown: perhaps sent, check with the provider)."""
    if ctx.invoked_subcommand:
        return
    from notifications.outbox import outbox_rows

    app: App = ctx.obj
    app.init()
    rows = outbox_rows(app, status)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} letter(s) and message(s) in the outbox")
    for col in ("id", "pupil", "template", "channel", "recipient", "status", "attempts", "sent",
                "last error"):
        table.add_column(col)
    for r in rows:
        colour = {"unknown": "[bold red]", "failed": "[red]", "no_address": "[red]", "sent": "[green]"}
        table.add_row(str(r["id"]), r["pupil"], r["template"], ",".join(r["channels_sent"]) or r["channel"],
                      r["recipient"], colour.get(r["status"], "") + r["status"], str(r["attempts"]),
                      (r["sent_at"] or "")[:16], r["last_error"] or "")
    console.print(table)


@outbox.command("resolve")
@click.argument("letter_id", type=int)
@click.option("--as", "action", required=True, type=click.Choice(["sent", "retry"]),
              help="sent: the provider confirms it went; retry: send it again")
@click.option("--by", help="staff id of who checked")
@click.pass_obj
def outbox_resolve(app: App, letter_id: int, action: str, by: str | None) -> None:
    """Decide on an unknown or failed letter after checking with the provider."""
    from notifications.outbox import resolve

    app.init()
    letter = resolve(app, letter_id, action, by, _now())
    click.echo(f"letter {letter.id} is now {letter.status}")


@main.command()
@click.option("--at", help="the time of the run (ISO, school-local; default now)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def deliver(app: App, at: str | None, as_json: bool) -> None:
    """Deliver the pending outbox now: print queue, email, SMS (as configured in config.yaml delivery)."""
    from notifications.deliver import deliver_pending

    app.init()
    report = deliver_pending(app, _when(app, at, "--at", end_of_day=False))
    if as_json:
        click.echo(json.dumps({"sent": report.sent, "retrying": report.retrying, "failed": report.failed,
                               "unknown": report.unknown, "waiting": dict(report.waiting),
                               "attempts": report.attempts, "print_files": report.print_files}, indent=2))
        return
    click.echo(report.summary())
    for f in report.print_files:
        click.echo(f"to print: {f}")


@main.command()
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="FILE.xlsx or FILE.csv")
@click.option("--on", "on", help="figures up to this date (default today)")
@click.pass_obj
def radar(app: App, output: str, on: str | None) -> None:
    """The fortnightly RADAR sheet (ONG-1): every pupil's YTD %, band, RAG, UA sessions, lates, open cases."""
    from notifications.radar_sheet import radar_rows, write_csv, write_xlsx

    suffix = _suffix(output, (".xlsx", ".csv"))
    app.init()
    through = app.calendar.local_date(_when(app, on, "--on"))
    with app.sessions() as s:
        rows = radar_rows(s, app.config, through)
    if suffix == ".csv":
        write_csv(rows, Path(output))
    else:
        write_xlsx(rows, Path(output), app.config, through)
    click.echo(f"{len(rows)} pupils written to {output}")


def _export(app: App, upn: str, by: str | None,
            build: Callable[[Session, App, Pupil, dt.datetime, str | None], T]) -> T:
    app.init()
    with app.sessions.begin() as s:  # one transaction: the export and its audit entry (DAT-2)
        return build(s, app, _pupil(s, upn), _now(), by)


@main.command("evidence-pack")
@click.argument("upn")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="FILE.pdf")
@click.option("--by", help="staff id of who prepares it (audited)")
@click.pass_obj
def evidence_pack(app: App, upn: str, output: str, by: str | None) -> None:
    """The court evidence pack (CW-4): chronology, marks by half term, letters, meetings, penalty notices."""
    from notifications.exports import evidence_pack_pdf

    _suffix(output, (".pdf",))
    Path(output).write_bytes(_export(app, upn, by, evidence_pack_pdf))
    click.echo(f"evidence pack for {upn} written to {output}")


@main.command("la-share")
@click.argument("upn")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="FILE.json or FILE.pdf")
@click.option("--by", help="staff id of who shares it (audited)")
@click.pass_obj
def la_share(app: App, upn: str, output: str, by: str | None) -> None:
    """The pupil's case for the local authority (DAT-2), as JSON or PDF."""
    from notifications.exports import la_share as share
    from notifications.exports import la_share_pdf

    if _suffix(output, (".json", ".pdf")) == ".pdf":
        Path(output).write_bytes(_export(app, upn, by, la_share_pdf))
    else:
        Path(output).write_text(json.dumps(_export(app, upn, by, share), indent=2) + "\n", encoding="utf-8")
    click.echo(f"local-authority share for {upn} written to {output}")


def chronology_pdf_cmd(app: App, upn: str, output: str | None, category: str | None, by: str | None) -> None:
    """`casework chronology UPN --format pdf --output FILE.pdf` (DAT-1, CPOMS-style)."""
    from notifications.exports import chronology_pdf

    if not output:
        raise InputError("a PDF needs a file: add --output FILE.pdf", column="--output")
    _suffix(output, (".pdf",))
    with app.sessions.begin() as s:
        pdf = chronology_pdf(s, app, _pupil(s, upn), _now(), by, category)
    Path(output).write_bytes(pdf)
    click.echo(f"chronology of {upn} written to {output}")

