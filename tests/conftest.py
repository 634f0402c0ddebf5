"""Shared fixtures. Persistence tests take `app` and run once on SQLite and once on PostgreSQL.

PostgreSQL: CASEWORK_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres, which is only
used to create a throw-away database per test session). Unreachable: skipped, except under CI=true,
where it fails the run.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from casework.context import App
from casework.models import Base

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("CASEWORK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config.yaml")


@pytest.fixture(scope="session")
def calendar(config: Config) -> SchoolCalendar:
    return SchoolCalendar(config)


@contextmanager
def throwaway_pg(prefix: str = "casework_test") -> Iterator[str]:
    """A new PostgreSQL database for the duration, dropped afterwards. Unreachable: skipped, except under
    CI=true, where it fails the run."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with throwaway_pg() as url:
        yield url


_pg_ready: dict[str, bool] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'casework.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def app(db_url: str, config: Config) -> Iterator[App]:
    """An initialised database (via the migrations) with the packaged config; emptied after the test."""
    a = App(db_url=db_url, _config=config)
    if db_url.startswith("sqlite") or not _pg_ready.get(db_url):
        a.init()
        _pg_ready[db_url] = True
    else:
        a.init()  # idempotent: re-creates the school row after the previous test's truncate
    yield a
    if not db_url.startswith("sqlite"):
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with a.engine.begin() as c:
            c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    a.engine.dispose()


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=dt.UTC)
