"""Children missing education and deletion from the register (CME-1).

20 consecutive school days of unauthorised absence open a referral. Attempts to locate the pupil, by the
school and by the local authority, are recorded; the headteacher's deletion is refused until both have
tried. Deletion closes every open case of the pupil. The pupil turning up ends the case.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from casework.attendance import consecutive_days_for_all
from casework.models import Case
from workflows.base import Ctx, Deregister, Effect, Log, OpenTask, SetData, T, Workflow

if TYPE_CHECKING:
    from casework.engine import Env

GROUND = "missing_education"


class S(str, Enum):
    new = "new"
    referral = "referral"  # cme_referral open
    locating = "locating"  # referred; the headteacher decides once both have tried to locate
    deleted = "deleted"
    returned = "returned"


def missing_tries(ctx: Ctx) -> list[str]:
    tried = {a["by"] for a in ctx.case.data.get("attempts", [])}
    return [w for w in ctx.config.policy.missing_education.locate_attempts_by if w not in tried]


def referral(ctx: Ctx) -> Iterable[Effect]:
    n = ctx.config.policy.missing_education.consecutive_unauthorised_school_days
    yield Log("cme", f"{ctx.event.get('days', n)} consecutive school days of unauthorised absence", "CME-1")
    yield OpenTask("cme_referral", "")


def attempt(ctx: Ctx) -> Iterable[Effect]:
    entry = {"by": ctx.event["by"], "note": ctx.event.get("note") or "", "at": ctx.now.isoformat(),
             "staff": ctx.staff}
    yield SetData({"attempts": [*ctx.case.data.get("attempts", []), entry]})
    yield Log("cme", f"Attempt to locate by {ctx.event['by']}: {entry['note']}", "CME-1", ctx.staff)


def delete(ctx: Ctx) -> Iterable[Effect]:
    tries = "; ".join(f"{a['by']}: {a['note']}" for a in ctx.case.data.get("attempts", []))
    yield Deregister(GROUND, f"attempts to locate - {tries}")


class MissingEducation(Workflow):
    name = "missing_education"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.deleted.value, S.returned.value})
    outcomes = {"cme_referral": ("referred",), "delete_from_register": ("deleted", "not_deleted")}
    table = [
        T("open", S.new, S.referral, "CME-1", effects=referral),
        T("cme_referral.referred", S.referral, S.locating, "CME-1",
          effects=lambda ctx: [OpenTask("delete_from_register", "")]),
        T("attempt", [S.referral, S.locating], "=", "CME-1", effects=attempt),
        T("delete_from_register.deleted", S.locating, S.deleted, "CME-1", effects=delete),
        T("delete_from_register.not_deleted", S.locating, "=", "CME-1",
          effects=lambda ctx: [Log("cme", "The headteacher decided not to delete", "CME-1", ctx.staff)]),
        T("pupil_present", [S.referral, S.locating], S.returned, "CME-1", note="the pupil is back in school"),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        if trigger == "delete_from_register.deleted" and missing_tries(ctx):
            return (f"deletion refused: no attempt to locate the pupil recorded by {', '.join(missing_tries(ctx))} "
                    "(CME-1: `casework cme attempt UPN --by-whom ...`)")
        return None

    def on_day_end(self, env: Env, date: dt.date) -> None:
        cfg = env.config.policy
        days = cfg.missing_education.consecutive_unauthorised_school_days
        codes = [c for c, v in cfg.codes.table.items() if v.category == "unauthorised" and not v.late]
        runs = consecutive_days_for_all(env.session, env.calendar, date, codes, days)
        if not runs:
            return
        open_ = set(env.session.scalars(select(Case.pupil_id).where(
            Case.workflow == self.name, Case.closed_at.is_(None))))
        on_roll = env.on_roll
        for pid, n in sorted(runs.items()):
            if n >= days and pid in on_roll and pid not in open_:
                env.guarded(pid, "children missing education", lambda p=pid, k=n: env.open_case(
                    self.name, p, f"{p}:{date.isoformat()}", {}, {"days": k}))

    def on_register_close(self, env: Env, date: dt.date, session: str) -> None:
        cases = env.session.scalars(select(Case).where(Case.workflow == self.name, Case.closed_at.is_(None))).all()
        codes = env.session_codes((c.pupil_id for c in cases), date, session)
        for case, code in ((c, codes[c.pupil_id]) for c in cases if c.pupil_id in codes):
            if env.is_present(code):
                env.guarded(case.pupil_id, "children missing education",
                            lambda c=case: env.fire(c, "pupil_present"))

    def facts(self, env: Env, case: Case) -> dict[str, Any]:
        return {}
