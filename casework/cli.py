"""The `casework` command. Exit codes: 0 done, 1 unexpected failure, 2 bad input or config."""
from __future__ import annotations

import sys
import traceback

import click

from casework.config import ConfigError
from casework.context import App
from casework.errors import InputError


class Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints and exits 1
            lost = connection_lost(exc)
            if lost:  # not a bug: one line, and the way on (each agenda item is one transaction)
                click.echo(f"error: the database connection was lost or could not be made ({lost}); work already "
                           "committed is kept: run the command again to resume", err=True)
                sys.exit(1)
            traceback.print_exc()
            click.echo(f"unexpected failure: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)


def connection_lost(exc: BaseException) -> str | None:
    """The driver's one-line reason if `exc` (or what caused it) is the database connection going away or
    refusing us (server restarted, backend terminated, network down), else None."""
    from sqlalchemy.exc import DBAPIError

    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, DBAPIError):
            orig = seen.orig
            is_pg = type(orig).__module__.startswith("psycopg")
            if seen.connection_invalidated or (is_pg and _pg_operational(orig)):
                first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
                return f"{type(orig).__name__}: {first}" if first else type(orig).__name__
        seen = seen.__cause__ or seen.__context__
    return None


def _pg_operational(orig: BaseException | None) -> bool:
    import psycopg

    return isinstance(orig, psycopg.OperationalError)


@click.group(cls=Main)
@click.option("--db", "db_url", envvar="CASEWORK_DB", help="SQLAlchemy URL (default sqlite:///casework.db)")
@click.option("--config", "config_path", envvar="CASEWORK_CONFIG", type=click.Path(dir_okay=False),
              help="policy and school settings (default ./config.yaml, else the packaged one)")
@click.version_option(package_name="casework")
@click.pass_context
def main(ctx: click.Context, db_url: str | None, config_path: str | None) -> None:
    """Runs a school's attendance policy: cases, timers, tasks, letters and a chronology."""
    ctx.obj = App(config_path=config_path, db_url=db_url)


@main.command()
@click.pass_obj
def init(app: App) -> None:
    """Create or upgrade the database schema and check the config (idempotent)."""
    app.config  # noqa: B018 - validates before touching the database
    app.init()
    click.echo(f"database ready: {app.url}")


def _register() -> None:
    """Commands live beside what they drive; each module adds its own to `main`."""
    import importlib

    for module in ("casework.cli_import", "casework.cli_pupil", "casework.cli_engine", "casework.cli_casework",
                   "casework.cli_demo", "casework.cli_web", "casework.cli_notify", "casework.cli_purge"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


_register()
