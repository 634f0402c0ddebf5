"""What every command needs: the config, the calendar and the database, loaded once."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from casework.db import database_url, make_engine, session_factory, upgrade


@dataclass
class App:
    config_path: str | None = None
    db_url: str | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @cached_property
    def calendar(self) -> SchoolCalendar:
        return SchoolCalendar(self.config)

    @cached_property
    def url(self) -> str:
        return database_url(self.db_url)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def init(self) -> None:
        """Schema to the newest migration, the school row, live cases to their workflows' versions."""
        import datetime as dt

        from casework.migrate_cases import migrate_live_cases
        from casework.models import School

        upgrade(self.engine)
        with self.sessions.begin() as s:
            if s.get(School, 1) is None:
                s.add(School(id=1, name=self.config.school.name))
            migrate_live_cases(s, dt.datetime.now(dt.UTC))
