"""Alembic environment: the engine comes from casework.db (config.attributes['engine'])."""
from __future__ import annotations

from alembic import context

from casework.models import Base, UTCDateTime


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Migrations spell our UTC column type as the plain type it stores, so they never import the app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: use CASEWORK_DB
    from casework.db import make_engine

    engine = make_engine()

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
