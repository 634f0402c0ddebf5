"""The schema is created only by migrations, and the migrations match the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from casework.context import App
from casework.models import Base, School


def test_init_is_idempotent_and_migrations_match_models(app: App) -> None:
    app.init()  # a second time changes nothing
    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    with app.sessions() as s:
        assert s.get(School, 1).name == "The Heys School"
