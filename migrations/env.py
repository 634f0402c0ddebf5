"""Alembic environment: the engine comes from casework.db (config.attributes['engine'])."""
from __future__ import annotations

from alembic import context

from casework.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: use CASEWORK_DB
    from casework.db import make_engine

    engine = make_engine()

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
