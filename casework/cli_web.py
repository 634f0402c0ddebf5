"""Commands for the web inbox: staff passwords and set-password links, and the audit log (read only).

`casework staff set-password STAFF_ID` (asks twice, or --password-stdin), `casework staff invite STAFF_ID`
(prints a one-time link), `casework audit [--pupil UPN] [--staff ID] [--json]`.
"""
from __future__ import annotations

import datetime as dt
import json
import sys

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from casework.cli import main
from casework.context import App
from casework.errors import InputError
from casework.models import AuditEntry, Pupil
from casework.web import auth
from casework.web.settings import WebSettings


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@main.group("staff")
def staff_group() -> None:
    """Staff accounts for the web inbox: passwords and set-password links."""


@staff_group.command("set-password")
@click.argument("staff_id")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of standard input")
@click.pass_obj
def set_password(app: App, staff_id: str, password_stdin: bool) -> None:
    """Set a staff member's password (stored as an argon2 hash); their open sessions end."""
    app.init()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt="The same again")
    auth.set_password(app, staff_id, password, WebSettings(), _now())
    click.echo(f"password set for {staff_id}")


@staff_group.command("invite")
@click.argument("staff_id")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, envvar="CASEWORK_BASE_URL",
              help="where staff reach `casework serve`")
@click.option("--hours", type=click.IntRange(1, 24 * 14), default=WebSettings().invite_hours, show_default=True,
              help="how long the link works")
@click.pass_obj
def invite(app: App, staff_id: str, base_url: str, hours: int) -> None:
    """Print a one-time link with which the staff member sets their own password."""
    app.init()
    now = _now()
    token = auth.invite(app, staff_id, WebSettings(invite_hours=hours), now)
    click.echo(f"{base_url.rstrip('/')}/set-password?token={token}")
    until = app.calendar.local(now + dt.timedelta(hours=hours))
    click.echo(f"works once, until {until:%a %d %b %Y %H:%M}", err=True)


@main.command("audit")
@click.option("--pupil", "upn", help="only reads of this pupil's data")
@click.option("--staff", "staff_id", help="only what this staff id did")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def audit_cmd(app: App, upn: str | None, staff_id: str | None, as_json: bool) -> None:
    """The audit log: who viewed which pupil, case or chronology, sign-ins, and refused attempts."""
    app.init()
    tz = app.config.tz
    with app.sessions() as s:
        q = select(AuditEntry, Pupil.upn).outerjoin(Pupil, Pupil.id == AuditEntry.pupil_id)
        if upn:
            if s.scalar(select(Pupil.id).where(Pupil.upn == upn.strip().upper())) is None:
                raise InputError(f"no pupil with UPN {upn!r}", column="--pupil")
            q = q.where(Pupil.upn == upn.strip().upper())
        if staff_id:
            q = q.where(AuditEntry.staff == staff_id)
        rows = s.execute(q.order_by(AuditEntry.at, AuditEntry.id)).all()
    data: list[dict[str, str | None]] = [
        {"at": a.at.astimezone(tz).isoformat(), "staff": a.staff, "action": a.action, "pupil": p, "detail": a.detail}
        for a, p in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(data)} audit entr{'y' if len(data) == 1 else 'ies'}")
    for col in ("at", "staff", "action", "pupil", "detail"):
        table.add_column(col)
    for d in data:
        table.add_row(str(d["at"])[:19].replace("T", " "), d["staff"] or "", d["action"], d["pupil"] or "",
                      d["detail"] or "")
    Console().print(table)
