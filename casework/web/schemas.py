"""The JSON API's request and response bodies (casework.web.api). Strings are bounded and NUL-free, ids
fit a 32-bit column: anything else is a 422 before a handler runs."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Upn = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,13}$", description="the pupil's UPN")]
Word = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,60}$")]
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
Short = Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]
StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,200}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Body):
    staff_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$",
                                   description="staff id or email")]
    password: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]


class SessionOut(BaseModel):
    token: str
    staff_id: str
    name: str
    roles: list[str]


class Me(BaseModel):
    staff_id: str
    name: str
    roles: list[str]
    scope: str


class TaskOut(BaseModel):
    """CONTRACT.md's task shape, and more."""
    model_config = ConfigDict(extra="allow")
    id: int
    kind: str
    title: str
    pupil: str
    role: str
    assignee: str | None
    due: str
    status: str
    outcome: str | None
    case: int | None
    created: str
    overdue: bool


class Complete(Body):
    outcome: Word
    reason: Word | None = None
    note: Text | None = None


class Reassign(Body):
    to: StaffId
    reason: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class AbsenceReason(Body):
    reason: Word
    start: dt.date = Field(alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    sessions: list[Literal["AM", "PM"]] = Field(default=["AM", "PM"], max_length=2)


class PenaltyPayment(Body):
    notice: int = Field(ge=1, le=2**31 - 1)
    amount: int = Field(ge=1, le=100_000)
    paid_on: dt.date


class Arrange(Body):
    pupil: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,13}$")]
    at: dt.datetime
    attendees: list[Short] = Field(default_factory=list, max_length=20)
    purpose: Short | None = None


class Rearrange(Body):
    at: dt.datetime
    attendees: list[Short] = Field(default_factory=list, max_length=20)
    purpose: Short | None = None


class Record(Body):
    outcome: Literal["held", "cancelled_by_parent", "no_show"]
    note: Text | None = None


class Done(BaseModel):
    ok: bool = True
    id: int
    state: str | None = None
