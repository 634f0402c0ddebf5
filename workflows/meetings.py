"""Parent meetings (MTG-1 to MTG-3): arranged with a date and attendees, then held, cancelled by the
parent (rearranged within 7 days by phone and confirmed by letter) or missed. Two missed appointments
refer the family centrally (task central_referral, to the RSI). Used by the stages and by casework."""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from workflows.base import CompleteTasks, Ctx, Effect, Log, OpenTask, SendLetter, SetData, T, Workflow

# Task outcomes that stand for a meeting with a date: staff give them by arranging the meeting (the Meetings
# page, `casework meeting arrange`), which completes the task; done from the inbox they would leave no meeting
# to hold, cancel or miss (MTG-1..3), so the inbox refuses them and says how.
NEEDS_A_MEETING = ("parent_meeting.arranged", "cw_meeting.arranged", "rearrange_meeting.rearranged")


def meeting_needed(trigger: str, ctx: Ctx) -> str | None:
    if trigger == "rearrange_meeting.rearranged":
        return (f"give the new date: rearrange meeting {ctx.case.id} on the Meetings page or with `casework meeting "
                f"arrange --meeting {ctx.case.id} --at YYYY-MM-DDTHH:MM` (MTG-2); that completes this task and "
                "confirms the date by letter")
    if trigger in NEEDS_A_MEETING:
        return (f"arrange the meeting with its date on the Meetings page or with `casework meeting arrange --pupil "
                f"{ctx.pupil.upn} --at YYYY-MM-DDTHH:MM` (MTG-1); that completes this task, and the meeting's "
                "outcome is recorded with `casework meeting record`")
    return None


class S(str, Enum):
    new = "new"
    arranged = "arranged"
    rearranging = "rearranging"  # MTG-2: cancelled or missed, a new date is being found
    held = "held"
    referred = "referred"  # MTG-3


def _missed(ctx: Ctx) -> int:
    return int(ctx.case.data.get("missed", 0)) + 1


def _limit(ctx: Ctx) -> int:
    return ctx.config.policy.meetings.missed_before_referral


def under_limit(ctx: Ctx) -> bool:
    return _missed(ctx) < _limit(ctx)


def at_limit(ctx: Ctx) -> bool:
    return _missed(ctx) >= _limit(ctx)


def arranged(ctx: Ctx) -> Iterable[Effect]:
    e = ctx.event
    yield SetData({"at": e["at"], "attendees": e.get("attendees", []), "purpose": e.get("purpose", ""),
                   "missed": int(ctx.case.data.get("missed", 0))})
    yield Log("meeting", f"Meeting arranged for {e['at_local']} with {', '.join(e.get('attendees', [])) or 'parents'}"
              + (f" ({e['purpose']})" if e.get("purpose") else ""), "MTG-1", ctx.staff)


def rearranged(ctx: Ctx) -> Iterable[Effect]:
    yield from arranged(ctx)
    yield CompleteTasks(("rearrange_meeting",), "rearranged", f"new date {ctx.event['at_local']}")
    yield SendLetter("meeting_confirmation", ctx.event["at"], {"meeting_at": ctx.event["at_local"],
                                                              "attendees": ctx.event.get("attendees", [])})


def missed(how: str) -> object:
    def effects(ctx: Ctx) -> Iterable[Effect]:
        n = _missed(ctx)
        yield SetData({"missed": n})
        yield Log("meeting", f"Meeting {how.replace('_', ' ')} ({n} of {_limit(ctx)} missed appointments)",
                  "MTG-2" if how == "cancelled_by_parent" else "MTG-1", ctx.staff)
        yield OpenTask("rearrange_meeting", str(n))
        if how == "no_show" and ctx.pupil.safeguarding_log:  # STG-4: home visit if a meeting is missed
            yield OpenTask("home_visit", f"meeting:{n}")
    return effects


def refer(ctx: Ctx) -> Iterable[Effect]:
    yield SetData({"missed": _missed(ctx)})
    yield Log("meeting", f"{_missed(ctx)} missed appointments: central referral", "MTG-3", ctx.staff)
    yield OpenTask("central_referral", "missed")


def held(ctx: Ctx) -> Iterable[Effect]:
    yield Log("meeting", "Meeting held" + (f": {ctx.event['note']}" if ctx.event.get("note") else ""), "MTG-1",
              ctx.staff)


class Meeting(Workflow):
    name = "meeting"
    version = 1
    states = S
    initial = S.new.value
    final = frozenset({S.held.value, S.referred.value})
    letter_ids = ("meeting_confirmation",)
    outcomes = {"rearrange_meeting": ("rearranged", "could_not_reach"), "central_referral": ("referred",)}
    table = [
        T("open", S.new, S.arranged, "MTG-1", effects=arranged),
        T("record.held", S.arranged, S.held, "MTG-1", effects=held),
        *[T(f"record.{how}", S.arranged, S.rearranging, "MTG-2", under_limit, missed(how))  # type: ignore[arg-type]
          for how in ("cancelled_by_parent", "no_show")],
        *[T(f"record.{how}", S.arranged, S.referred, "MTG-3", at_limit, refer)
          for how in ("cancelled_by_parent", "no_show")],
        T("arrange", S.rearranging, S.arranged, "MTG-2", effects=rearranged),
    ]

    def refusal(self, trigger: str, ctx: Ctx) -> str | None:
        return meeting_needed(trigger, ctx)
