"""Suspension without alternative provision counts as authorised absence (ABS-5); a suspension of more than
half a day asks community support to arrange work at home, due the same day."""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import and_, select

from casework.models import Case, Mark
from workflows.base import Log, OpenTask, T, Workflow

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    suspended = "suspended"
    ended = "ended"


class Suspension(Workflow):
    name = "suspension"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.ended.value})
    outcomes = {"arrange_work_home": ("arranged",)}
    table = [
        T("open", S.new, S.suspended, "ABS-5", effects=lambda ctx: [
            Log("absence", f"Suspended ({ctx.event['sessions']} sessions so far): work to be sent home", "ABS-5"),
            OpenTask("arrange_work_home", "")]),
        T("back", S.suspended, S.ended, "ABS-5", note="suspension over"),
    ]

    def on_register_close(self, env: Env, date: dt.date, session: str) -> None:
        code = env.config.policy.codes.suspension
        over = env.config.policy.absence.suspension_task_over_sessions
        rows = env.session.execute(select(Mark.pupil_id, Mark.code).where(Mark.date == date, Mark.session == session))
        now_codes = dict(rows.all())
        open_ = {c.pupil_id: c for c in env.session.scalars(select(Case).where(
            Case.workflow == self.name, Case.closed_at.is_(None)))}
        for pid, case in open_.items():
            if pid in now_codes and now_codes[pid] != code:
                env.guarded(pid, "suspension", lambda c=case: env.fire(c, "back"))
        for pid in sorted(p for p, c in now_codes.items() if c == code and p not in open_):
            n = self._run(env, pid, date, session, code, over + 1)
            if n > over:
                env.guarded(pid, "suspension", lambda p=pid, k=n: env.open_case(
                    self.name, p, f"{p}:{date.isoformat()}:{session}", {}, {"sessions": k}))

    @staticmethod
    def _run(env: Env, pid: int, date: dt.date, session: str, code: str, limit: int) -> int:
        """Consecutive sessions with the suspension code, ending with this one (at most `limit`)."""
        slots, d, s = [], date, session
        while len(slots) < limit and d is not None:
            slots.append((d, s))
            d, s = (d, "AM") if s == "PM" else (env.calendar.previous_school_day(d), "PM")
        rows = env.session.execute(select(Mark.date, Mark.session, Mark.code).where(
            Mark.pupil_id == pid, and_(Mark.date >= min(x[0] for x in slots), Mark.date <= date)))
        codes = {(r.date, r.session): r.code for r in rows}
        n = 0
        for slot in slots:
            if codes.get(slot) != code:
                break
            n += 1
        return n
