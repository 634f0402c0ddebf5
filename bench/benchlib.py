"""What the bench scripts share: throw-away databases (a shared database is never written to) and the school
day of a given week. Imported by the scripts as `benchlib` (their own folder is first on sys.path)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from casework.calendar import SchoolCalendar


@contextmanager
def throw_away_database(server_url: str, prefix: str = "casework_bench", keep: bool = False) -> Iterator[str]:
    """The URL of a new empty database on the PostgreSQL server of `server_url` (the database named in it is
    only used to connect), dropped afterwards unless `keep`."""
    base, name = server_url.rsplit("/", 1)[0], f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:  # a database name cannot be a bound parameter; this one is made here
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        if not keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(server_url: str | None, tmp: Path) -> Iterator[str]:
    """A new SQLite file in `tmp` when `server_url` is None, else a throw-away PostgreSQL database."""
    if server_url is None:
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    with throw_away_database(server_url) as url:
        yield url


def week_day(cal: SchoolCalendar, week: int) -> dt.date:
    """The Wednesday (or nearest school day) of the week-th school week (the last week if there are fewer)."""
    weeks: list[list[dt.date]] = []
    for d in cal.days:
        if not weeks or weeks[-1][0].isocalendar()[:2] != d.isocalendar()[:2]:
            weeks.append([])
        weeks[-1].append(d)
    days = weeks[min(week, len(weeks)) - 1]
    return days[len(days) // 2]
