"""Database connections and the schema (created and upgraded only through Alembic migrations)."""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///casework.db"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("CASEWORK_DB") or DEFAULT_URL


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINTs; SQLAlchemy emits BEGIN instead
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache per connection (SQLite's default is 2 MiB): a term's replay re-reads the
            # marks every evening; measured 13.8 s against 16.9 s for 300 pupils' first half term
            cur.execute("PRAGMA cache_size=-65536")  # negative: KiB
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kw)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def insert_new(session: Session, model: Any, row: dict[str, Any]) -> int | None:
    """INSERT the row unless one with its natural key (`key`) exists; the new row's id, or None. One plain
    statement: the select-then-add-then-flush it replaces cost three round trips through the ORM."""
    stmt = _insert_new_stmt(session.get_bind().dialect.name, model.__table__)
    return session.execute(stmt, row).scalar()


@cache
def _insert_new_stmt(dialect: str, table: Any) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
