"""Recognition of 100% attendance at each half-term end (STG-1; the term lists are REW-1)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from workflows.base import Ctx, Effect, Log, SendLetter, T, Workflow

if TYPE_CHECKING:
    from casework.engine import Env


class S(str, Enum):
    new = "new"
    recognised = "recognised"


def recognise(ctx: Ctx) -> Iterable[Effect]:
    ht = ctx.event["half_term"]
    yield SendLetter("congratulations_100", ht, {"half_term": ht})
    yield Log("recognition", f"100% attendance to the end of {ht}: on the assembly recognition list, badge and "
              "certificate", "STG-1", ctx.staff)


class Recognition(Workflow):
    name = "recognition"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.recognised.value})
    letter_ids = ("congratulations_100",)
    table = [T("open", S.new, S.recognised, "STG-1", effects=recognise)]

    def on_half_term_end(self, env: Env, date: dt.date, name: str) -> None:
        on_roll = env.on_roll
        for pid, f in sorted(env.figures(date).items()):
            if pid in on_roll and f.band == "stage_1":
                env.guarded(pid, "recognition", lambda p=pid: env.open_case(
                    self.name, p, f"{p}:{name}", {}, {"half_term": name}))
