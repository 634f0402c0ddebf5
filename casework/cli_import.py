"""`casework import {pupils,contacts,staff,marks} FILE` (CONTRACT.md "Import files").

The command line only: the work is casework.imports. A bad row raises InputError, which casework.cli turns
into exit code 2 with the message (file, row, column); the transaction is rolled back, so nothing from the
file is stored.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from casework.cli import main
from casework.context import App
from casework.imports import KINDS, ImportResult, ProgressFn, run_import

PROGRESS_FROM_BYTES = 1_000_000  # about 25,000 marks rows: smaller files finish before a bar is useful


@contextmanager
def _progress_bar(path: str) -> Iterator[ProgressFn | None]:
    """A progress bar on stderr for a large file on a terminal; nothing otherwise (pipes, tests, cron)."""
    console = Console(stderr=True)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0  # the import itself reports a missing or unreadable file
    if size < PROGRESS_FROM_BYTES or not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(Path(path).name, total=size)
        yield lambda done: bar.update(task, completed=done)


def _run(app: App, kind: str, path: str) -> ImportResult:
    app.config  # noqa: B018 - a bad config is reported (exit 2) before the database is touched
    app.init()  # idempotent; pupils need the school row
    now = dt.datetime.now(dt.UTC)  # the only clock read: everything below is given the time
    with _progress_bar(path) as progress:
        return run_import(app.sessions, kind, path, app.config, app.calendar, now, progress)


@main.group("import")
def import_group() -> None:
    """Import a CSV file (UTF-8, header row; all or nothing). Prints rows added, changed, unchanged."""


def _add_command(kind: str) -> None:
    @import_group.command(kind, help=f"Import {kind} from FILE (columns: see CONTRACT.md).")
    @click.argument("file")
    @click.pass_obj
    def command(app: App, file: str) -> None:
        result = _run(app, kind, file)
        click.echo(f"{file}: {result}")


for _kind in KINDS:
    _add_command(_kind)
