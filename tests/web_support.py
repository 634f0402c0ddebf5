"""Helpers for the web tests: a small seeded school, a clock the test moves, clients signed in per role."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from casework import engine, meetings
from casework.context import App
from casework.models import Letter, Pupil, Task
from casework.web import auth, create_app
from casework.web.guard import SESSION_COOKIE
from casework.web.settings import WebSettings
from tests.factories import add_pupil, add_staff, fill, mark

# argon2 at its cheapest: the tests check the flow, not the cost (production uses argon2's defaults)
FAST = WebSettings(argon2={"time_cost": 1, "memory_cost": 8, "parallelism": 1})
PASSWORD = "correct horse battery staple"
MON = dt.date(2026, 9, 7)  # a school day in British Summer Time


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class School:
    app: App
    web: FastAPI
    clock: Clock
    staff: dict[str, str]  # role -> staff id
    pupil: Pupil  # form 7H, year 7: in every role's scope
    other: Pupil  # form 8K, year 8: outside the form tutor's and pastoral manager's scope
    task_id: int  # the pupil's first_day_call
    case_id: int
    meeting_id: int
    letter_id: int
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **kw: Any) -> TestClient:
        """A browser-like client signed in (by cookie) as the member of staff holding `role`."""
        client = TestClient(self.web, follow_redirects=False, **kw)
        if role is not None:
            client.cookies.set(SESSION_COOKIE, self.token(role))
        return client

    def token(self, role: str) -> str:
        """The session of the staff member holding `role`; "role:anything" is a second, separate session."""
        if role not in self.tokens:
            staff_id = self.staff[role.split(":")[0]]
            self.tokens[role] = auth.start_session(self.app, staff_id, FAST, self.clock.now)
        return self.tokens[role]

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def csrf(self, role: str) -> str:
        return auth.csrf_for(self.token(role))


def at(app: App, day: dt.date, hhmm: str) -> dt.datetime:
    return app.calendar.at(day, dt.time.fromisoformat(hhmm))


def history(app: App, pupils: list[Pupil], until: dt.date) -> None:
    """School days before `until` with a few absences and lates, different per pupil (for charts)."""
    days = [d for d in app.calendar.days if d < until]
    for n, pupil in enumerate(pupils):
        absent: dict[int, str | tuple[str, str]] = {i: "I" for i in range(len(days)) if (i + n) % 11 == 0}
        absent.update({i: "O" for i in range(len(days)) if (i + 2 * n) % 17 == 5})
        fill(app, pupil, days, absent=absent, late={i for i in range(len(days)) if (i + n) % 13 == 4})


def seed(app: App, day: dt.date = MON, *, with_history: bool = False) -> School:
    """Staff (one per role), two pupils; the first is absent with no reason on `day` morning, so after the
    10:00 register close there is a first-day case and call. A meeting and a letter for the pages."""
    staff = add_staff(app)
    pupil, other = add_pupil(app), add_pupil(app, form="8K", year=8)
    if with_history:
        history(app, [pupil, other], day)
    mark(app, pupil, day, "N")
    mark(app, other, day, "/")
    engine.run(app, at(app, day, "10:00"))
    clock = Clock(at(app, day, "10:30"))
    case = meetings.arrange(app, upn=pupil.upn, when=at(app, day + dt.timedelta(days=3), "15:30"),
                            attendees=["parent"], purpose="test", by=staff["pastoral_manager"], now=clock.now)
    with app.sessions.begin() as s:
        task = s.scalars(select(Task).where(Task.pupil_id == pupil.id, Task.kind == "first_day_call",
                                            Task.status == "open")).one()
        letter = Letter(key=f"test:{pupil.id}", template="concern_letter_1", rule="STG-2", pupil_id=pupil.id,
                        recipient="Parent 1", channel="post", address="1 High St", created_at=clock.now,
                        status="pending", context={})
        s.add(letter)
        s.flush()
        ids = task.id, task.case_id, letter.id
    assert ids[1] is not None
    web = create_app(app, clock=clock, settings=FAST)
    return School(app, web, clock, staff, pupil, other, ids[0], ids[1], case.id, ids[2])


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
