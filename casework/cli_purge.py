"""`casework purge [--before DATE] [--dry-run] --by STAFF`: erase pupils past the retention period.

The command line only: the work (and who may do it) is casework.purge.
"""
from __future__ import annotations

import click

from casework import purge as purging
from casework.cli import main
from casework.cli_engine import _now, _when
from casework.context import App


@main.command("purge")
@click.option("--before", help="the day the retention period is counted back from (default today)")
@click.option("--dry-run", is_flag=True, help="list what would be erased; change nothing")
@click.option("--by", required=True, help="staff id (the headteacher)")
@click.pass_obj
def purge_cmd(app: App, before: str | None, dry_run: bool, by: str) -> None:
    """Erase pupils deleted from the register longer ago than data_protection.retention_years, with every
    record about them (one transaction; audited without names)."""
    app.init()
    on = app.calendar.local_date(_when(app, before, "--before", end_of_day=False))
    report = purging.purge(app, by=by, before=on, dry_run=dry_run, at=_now())
    if dry_run:
        for upn in report.upns:  # UPNs, not names: enough for the headteacher to check against the MIS
            click.echo(upn)
    click.echo(report.summary())
