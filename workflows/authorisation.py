"""A reason recorded for an absence (ABS-1, ABS-3, ABS-6): staff record the reason, which maps to a code.
An unacceptable reason's code is entered at once; an authorisable one waits for the headteacher, the only
role that authorises (a headteacher recording it authorises it). Marks change through the normal
mark-change path, so the other workflows react."""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from workflows.base import ChangeMarks, Ctx, Effect, Log, OpenTask, T, Workflow


class S(str, Enum):
    new = "new"
    awaiting_headteacher = "awaiting_headteacher"
    authorised = "authorised"
    unauthorised = "unauthorised"


def _sessions(ctx: Ctx) -> tuple[tuple[str, str], ...]:
    return tuple((d, s) for d, s in ctx.case.data["sessions"])


def _category(ctx: Ctx) -> str:
    return ctx.config.code(ctx.case.data["code"]).category


def needs_headteacher(ctx: Ctx) -> bool:
    return _category(ctx) == "authorised" and not ctx.event.get("by_headteacher")


def headteacher_recorded(ctx: Ctx) -> bool:
    return _category(ctx) == "authorised" and bool(ctx.event.get("by_headteacher"))


def unacceptable(ctx: Ctx) -> bool:
    return _category(ctx) != "authorised"


def ask(ctx: Ctx) -> Iterable[Effect]:
    d = ctx.case.data
    yield Log("absence", f"Reason recorded: {d['reason']} (proposed {d['code']}) for {len(d['sessions'])} "
              "session(s); awaiting the headteacher", "ABS-1", ctx.staff)
    yield OpenTask("authorise_absence", "", data={"proposed_code": d["code"], "reason": d["reason"],
                                                  "sessions": d["sessions"]})


def enter(why: str, rule: str) -> object:
    def effects(ctx: Ctx) -> Iterable[Effect]:
        d = ctx.case.data
        code = d["code"] if why != "refused" else ctx.config.policy.codes.unauthorised_other
        yield ChangeMarks(_sessions(ctx), code, f"{why}: {d['reason']}", ctx.staff)
    return effects


class Authorisation(Workflow):
    name = "authorisation"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.authorised.value, S.unauthorised.value})
    table = [
        T("open", S.new, S.awaiting_headteacher, "ABS-1", needs_headteacher, ask),
        T("open", S.new, S.authorised, "ABS-1", headteacher_recorded, enter("authorised by the headteacher", "ABS-1")),
        T("open", S.new, S.unauthorised, "ABS-6", unacceptable, enter("not authorisable", "ABS-6")),
        T("authorise_absence.authorised", S.awaiting_headteacher, S.authorised, "ABS-1",
          effects=enter("authorised", "ABS-1")),
        T("authorise_absence.refused", S.awaiting_headteacher, S.unauthorised, "ABS-1",
          effects=enter("refused", "ABS-1")),
    ]
