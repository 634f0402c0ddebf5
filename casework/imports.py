"""CSV imports: pupils, contacts, staff and marks (CONTRACT.md "Import files"; REG-3, ABS-1).

A file is one transaction. Rows are parsed and checked in file order, so the first bad row raises
InputError naming the file, the row (as a spreadsheet shows it: the header is row 1) and the column; the
caller's transaction then rolls back and nothing from the file is stored. The file is streamed a line at a
time and the database work is batched (BATCH_ROWS rows: one lookup query, one bulk insert, one bulk update),
so memory is bounded by the batch and the roll, never by the length of the file.

Optional columns that are absent from a file leave those fields of existing records as they are (and take
their defaults on new ones); an optional column that is present but empty clears the field.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select, text, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from casework.agenda import enqueue_mark_change
from casework.calendar import SESSIONS, SchoolCalendar
from casework.config import Config
from casework.errors import InputError
from casework.models import Base, Contact, Mark, MarkChange, Pupil, Staff
from casework.upn import upn_problem

KINDS = ("pupils", "contacts", "staff", "marks")
BATCH_ROWS = 5_000  # rows per lookup / bulk insert / bulk update: bounded memory, few round trips
INT_MAX = 2**31 - 1  # INTEGER columns on PostgreSQL; a bigger number would fail at the database

# CONTRACT.md: kind -> (required columns, optional columns)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pupils": (("upn", "given_name", "family_name", "date_of_birth", "year_group", "form"),
               ("sen", "fsm", "looked_after")),
    "contacts": (("upn", "contact_id", "name", "relationship", "parental_responsibility"),
                 ("phone", "email", "address", "priority", "channel")),
    "staff": (("staff_id", "name", "email", "roles"), ("forms", "year_groups")),
    "marks": (("upn", "date", "session", "code"), ("minutes_late", "reason", "recorded_by", "recorded_at")),
}

CHANNELS = ("post", "email", "sms")  # a contact's preferred channel (letters that allow it go that way)

ProgressFn = Callable[[int], None]  # called with the bytes of the file read so far, once per batch


@dataclass
class ImportResult:
    added: int = 0
    changed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.changed} changed, {self.unchanged} unchanged"


class RollEntry(NamedTuple):
    pupil_id: int
    on_roll: bool
    deleted_on: dt.date | None


# --- reading: bytes -> lines -> rows -----------------------------------------------------------------
class _NotUtf8(Exception):
    pass


class Lines:
    """The file's lines, decoded one at a time so that a byte that is not UTF-8 is reported at its own
    row (a text-mode reader decodes 8 KiB ahead). Counts the bytes read, for a progress bar."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        first = True
        for raw in self.stream:
            self.bytes_read += len(raw)
            if first:  # spreadsheets often save "CSV UTF-8" with a byte order mark
                raw, first = raw.removeprefix(codecs.BOM_UTF8), False
            if b"\x00" in raw:  # UTF-16 text is mostly valid UTF-8 plus NUL bytes
                raise _NotUtf8("it contains NUL bytes (is it UTF-16? save it as CSV UTF-8)")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(f"byte 0x{raw[exc.start]:02X} is not UTF-8 (save it as CSV UTF-8)") from None


@dataclass(frozen=True)
class Header:
    """Where each column of a kind is: its position, or -1 (an always-empty slot) when the file lacks it."""

    index: Mapping[str, int]
    present: frozenset[str]
    width: int


class Row:
    """One data row of a file: values by column name, and errors that say where they are."""

    __slots__ = ("file", "number", "values", "index", "present")

    def __init__(self, file: str, number: int, values: list[str], header: Header):
        if len(values) > header.width and any(v.strip() for v in values[header.width:]):
            # a value under no header belongs to no column: most often an unquoted comma shifted the row
            raise InputError(f"has {len(values)} fields but the header has {header.width} (is a comma in a "
                             "value not quoted?)", file=file, row=number)
        if len(values) < header.width:  # a short row: its missing trailing fields are empty
            values.extend([""] * (header.width - len(values)))
        values.append("")  # position -1: every column the file lacks reads as empty
        self.file, self.number, self.values = file, number, values
        self.index, self.present = header.index, header.present

    def has(self, column: str) -> bool:
        return column in self.present

    def get(self, column: str) -> str:
        """The value with surrounding blanks removed; "" when empty or the column is absent."""
        return self.values[self.index[column]].strip()

    def error(self, column: str | None, message: str) -> InputError:
        return InputError(message, file=self.file, row=self.number, column=column)


def read_header(values: list[str], kind: str, file: str) -> Header:
    """Names are matched without case or surrounding blanks; extra columns are ignored; a missing
    required column or a known column given twice is an error at row 1."""
    required, optional = COLUMNS[kind]
    index = dict.fromkeys(required + optional, -1)
    for i, name in enumerate(values):
        name = name.strip().lower()
        if index.get(name, -1) >= 0:
            raise InputError(f"column {name!r} appears twice in the header", file=file, row=1, column=name)
        if name in index:
            index[name] = i
    missing = [c for c in required if index[c] < 0]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}; a {kind} file needs "
                         f"{', '.join(required)}", file=file, row=1, column=missing[0])
    return Header(index, frozenset(c for c, i in index.items() if i >= 0), len(values))


def read_rows(lines: Iterable[str], kind: str, file: str) -> Iterator[Row]:
    """The data rows of a CSV file, numbered as a spreadsheet shows them (header row 1), skipping rows
    that are entirely blank (they still count)."""
    number = 0  # records read so far; the next one is row number + 1
    try:
        reader = csv.reader(lines)
        first = next(reader, None)
        number = 1
        if first is None:
            raise InputError(f"the file is empty; a {kind} file starts with a header row", file=file, row=1)
        header = read_header(first, kind, file)
        for values in reader:
            number += 1
            if "".join(values).strip():
                yield Row(file, number, values, header)
    except _NotUtf8 as exc:
        raise InputError(f"not UTF-8 text: {exc}", file=file, row=number + 1) from None
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", file=file, row=number + 1) from None


# --- fields ------------------------------------------------------------------------------------------
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


def _limit(model: type[Base], name: str) -> int | None:
    """The length of a String column, checked on import (PostgreSQL would refuse longer text later)."""
    return getattr(_table(model).c[name].type, "length", None)


def text_field(row: Row, column: str, limit: int | None, *, required: bool = True) -> str | None:
    """A text field; a required one may not be empty (None for an empty optional one)."""
    value = row.get(column)
    if not value:
        if required:
            raise row.error(column, "is empty")
        return None
    if limit is not None and len(value) > limit:
        raise row.error(column, f"is {len(value)} characters long; at most {limit} are allowed")
    return value


def parse_date(value: str) -> dt.date | None:
    """A date written exactly YYYY-MM-DD (CONTRACT.md), else None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def date_field(row: Row, column: str) -> dt.date:
    value = row.get(column)
    if not value:
        raise row.error(column, "is empty")
    parsed = parse_date(value)
    if parsed is None:
        raise row.error(column, f"{value!r} is not a date written YYYY-MM-DD")
    return parsed


def yes_no(row: Row, column: str, *, required: bool = True) -> bool:
    """Y or N (Yes/No, any case); an empty optional field is N."""
    value = row.get(column).upper()
    if value in ("Y", "YES"):
        return True
    if value in ("N", "NO") or (not value and not required):
        return False
    raise row.error(column, f"{row.get(column)!r} is not Y or N" if value else "is empty: give Y or N")


def integer(row: Row, column: str, *, required: bool = True, minimum: int | None = None) -> int | None:
    value = row.get(column)
    if not value:
        if required:
            raise row.error(column, "is empty: give a whole number")
        return None
    try:
        number = int(value)
    except ValueError:
        raise row.error(column, f"{value!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or abs(number) > INT_MAX:
        low = minimum if minimum is not None else -INT_MAX
        raise row.error(column, f"{number} is out of range ({low} to {INT_MAX})")
    return number


def id_list(row: Row, column: str) -> list[str]:
    """A `;`-separated list, blanks and repeats dropped, in the order given."""
    return list(dict.fromkeys(p.strip() for p in row.get(column).split(";") if p.strip()))


def integer_list(row: Row, column: str) -> list[int]:
    out = []
    for part in id_list(row, column):
        try:
            out.append(int(part))
        except ValueError:
            raise row.error(column, f"{part!r} is not a whole number") from None
    return out


def upn_field(row: Row, column: str = "upn") -> str:
    value = row.get(column)
    if not value:
        raise row.error(column, "is empty")
    problem = upn_problem(value)  # temporary UPNs (last character a letter) are valid
    if problem:
        raise row.error(column, problem)
    return value


def instant(row: Row, column: str, tz: ZoneInfo) -> dt.datetime | None:
    """An ISO 8601 date-time as UTC. Without an offset it is school-local time (the calendar's time
    zone); in the repeated hour of an autumn DST change the first occurrence is taken."""
    value = row.get(column)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise row.error(column, f"{value!r} is not an ISO 8601 date-time (e.g. 2026-09-03T08:40)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


def _roll_entry(row: Row, roll: Mapping[str, RollEntry]) -> tuple[str, RollEntry]:
    """The pupil a row is about: a valid UPN of a pupil already imported."""
    upn = row.get("upn")
    entry = roll.get(upn)
    if entry is None:
        upn = upn_field(row)  # a malformed UPN gets its own message
        raise row.error("upn", f"no pupil with UPN {upn} has been imported (import pupils first)")
    return upn, entry


# --- one row of each kind (pure) -----------------------------------------------------------------
def parse_pupil(row: Row) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "upn": upn_field(row),
        "given_name": text_field(row, "given_name", _limit(Pupil, "given_name")),
        "family_name": text_field(row, "family_name", _limit(Pupil, "family_name")),
        "date_of_birth": date_field(row, "date_of_birth"),
        "year_group": integer(row, "year_group"),
        "form": text_field(row, "form", _limit(Pupil, "form")),
    }
    if row.has("sen"):
        rec["sen"] = text_field(row, "sen", _limit(Pupil, "sen"), required=False)
    for flag in ("fsm", "looked_after"):
        if row.has(flag):
            rec[flag] = yes_no(row, flag, required=False)
    return rec


def parse_contact(row: Row, roll: Mapping[str, RollEntry]) -> dict[str, Any]:
    _, pupil = _roll_entry(row, roll)
    rec: dict[str, Any] = {
        "pupil_id": pupil.pupil_id,
        "contact_id": text_field(row, "contact_id", _limit(Contact, "contact_id")),
        "name": text_field(row, "name", _limit(Contact, "name")),
        "relationship": text_field(row, "relationship", _limit(Contact, "relationship")),
        "parental_responsibility": yes_no(row, "parental_responsibility"),  # PN-3: notices go per parent
    }
    for name in ("phone", "email", "address"):
        if row.has(name):
            rec[name] = text_field(row, name, _limit(Contact, name), required=False)
    if row.has("priority"):
        priority = integer(row, "priority", required=False, minimum=1)
        rec["priority"] = 1 if priority is None else priority
    if row.has("channel"):
        channel = row.get("channel").strip().lower() or None
        if channel is not None and channel not in CHANNELS:
            raise row.error("channel", f"{row.get('channel')!r} is not one of {', '.join(CHANNELS)} (or empty)")
        rec["channel"] = channel
    return rec


def role_list(row: Row, roles: Mapping[str, Any]) -> list[str]:
    """Role ids from POLICY.md as configured (config.roles); a member of staff has at least one."""
    role_ids = id_list(row, "roles")
    if not role_ids:
        raise row.error("roles", "is empty: give one or more role ids separated by ';'")
    for role in role_ids:
        if role not in roles:
            raise row.error("roles", f"unknown role {role!r}; roles are {', '.join(roles)}")
    return role_ids


def parse_staff(row: Row, roles: Mapping[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "staff_id": text_field(row, "staff_id", _limit(Staff, "staff_id")),
        "name": text_field(row, "name", _limit(Staff, "name")),
        "email": text_field(row, "email", _limit(Staff, "email")),
        "roles": role_list(row, roles),
    }
    if row.has("forms"):
        rec["forms"] = id_list(row, "forms")
    if row.has("year_groups"):
        rec["year_groups"] = integer_list(row, "year_groups")
    return rec


@dataclass(slots=True)
class MarkRow:
    row: int
    pupil_id: int
    date: dt.date
    session: str
    code: str
    minutes_late: int | None
    reason: str | None
    recorded_by: str | None
    recorded_at: dt.datetime | None


class MarkParser:
    """Checks marks rows against the code table (REG-3), the sessions (REG-1), the calendar and the roll,
    and finds repeated sessions. Its memory is bounded by the roll and the calendar: one array of row
    numbers per pupil, a slot per session of the year."""

    def __init__(self, config: Config, calendar: SchoolCalendar, roll: Mapping[str, RollEntry]):
        self.codes = config.policy.codes.table
        self.calendar = calendar
        self.tz = ZoneInfo(config.calendar.timezone)
        self.roll = roll
        self.slots = len(calendar.days) * len(SESSIONS)
        self._days: dict[str, tuple[dt.date, int]] = {}  # "2026-09-03" -> (date, school-day index)
        self._seen: dict[int, array[int]] = {}  # pupil id -> row number per session of the year
        self.reason_limit = _limit(Mark, "reason")
        self.recorded_by_limit = _limit(Mark, "recorded_by")

    def _school_day(self, row: Row) -> tuple[dt.date, int]:
        value = row.get("date")
        cached = self._days.get(value)
        if cached is None:
            day = date_field(row, "date")
            if not self.calendar.is_school_day(day):
                raise row.error("date", f"{day} ({day:%A}) is not a school day in the calendar")
            cached = self._days[value] = (day, self.calendar.day_index(day))
        return cached

    def _check_repeat(self, row: Row, pupil_id: int, slot: int, upn: str) -> None:
        seen = self._seen.get(pupil_id)
        if seen is None:
            seen = self._seen[pupil_id] = array("L", bytes(self.slots * array("L").itemsize))
        if seen[slot]:
            raise row.error("session", f"duplicate: {upn} {row.get('date')} {row.get('session').upper()} "
                                       f"is already in row {seen[slot]}")
        seen[slot] = row.number

    def parse(self, row: Row) -> MarkRow:
        upn, pupil = _roll_entry(row, self.roll)
        day, day_index = self._school_day(row)
        if not pupil.on_roll and (pupil.deleted_on is None or day >= pupil.deleted_on):
            gone = f" (deleted from the register on {pupil.deleted_on})" if pupil.deleted_on else ""
            raise row.error("upn", f"pupil {upn} is not on roll on {day}{gone}")
        session = row.get("session").upper()
        if session not in SESSIONS:  # REG-1
            raise row.error("session", f"{row.get('session')!r} is not a session: give AM or PM")
        code = row.get("code")
        if code not in self.codes:  # REG-3
            raise row.error("code", f"unknown attendance code {code!r} (see policy.codes.table)"
                            if code else "is empty: give an attendance code")
        self._check_repeat(row, pupil.pupil_id, day_index * len(SESSIONS) + SESSIONS.index(session), upn)
        return MarkRow(row.number, pupil.pupil_id, day, session, code,
                       integer(row, "minutes_late", required=False, minimum=0),
                       text_field(row, "reason", self.reason_limit, required=False),
                       text_field(row, "recorded_by", self.recorded_by_limit, required=False),
                       instant(row, "recorded_at", self.tz))


# --- the database ------------------------------------------------------------------------------------
def load_roll(session: Session) -> dict[str, RollEntry]:
    """UPN -> pupil, for every pupil imported (a school's roll: thousands, not millions)."""
    rows = session.execute(select(Pupil.upn, Pupil.id, Pupil.on_roll, Pupil.deleted_on))
    return {upn: RollEntry(pid, on_roll, deleted_on) for upn, pid, on_roll, deleted_on in rows}


def _bulk_update(session: Session, model: type[Base], updates: list[dict[str, Any]]) -> None:
    """UPDATE ... WHERE id = ? as executemany, one statement per set of changed fields."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for u in updates:
        groups.setdefault(tuple(sorted(u)), []).append(u)
    for group in groups.values():
        session.execute(update(model), group)


@dataclass(frozen=True)
class _People:
    """How a pupils, contacts or staff file meets its table: the natural key and new records' defaults."""

    model: type[Base]
    key: tuple[str, ...]
    defaults: Mapping[str, Any]
    key_column: str  # the column a duplicate row is reported in
    key_text: str  # how a duplicate names the record, formatted with the row's values

    def lookup(self, session: Session, keys: Sequence[tuple[Any, ...]], fields: Iterable[str]
               ) -> dict[tuple[Any, ...], Mapping[str, Any]]:
        """The existing records of a batch, in one query."""
        key_cols = [getattr(self.model, k) for k in self.key]
        cols = [getattr(self.model, f) for f in fields if f not in self.key]
        where = (key_cols[0].in_([k[0] for k in keys]) if len(key_cols) == 1
                 else tuple_(*key_cols).in_(keys))
        stmt = select(self.model.__mapper__.primary_key[0], *key_cols, *cols).where(where)
        return {tuple(r[k] for k in self.key): dict(r) for r in session.execute(stmt).mappings()}


PEOPLE: dict[str, _People] = {
    "pupils": _People(Pupil, ("upn",), {"sen": None, "fsm": False, "looked_after": False},
                      "upn", "UPN {upn}"),
    "contacts": _People(Contact, ("pupil_id", "contact_id"),
                        {"phone": None, "email": None, "address": None, "priority": 1, "channel": None},
                        "contact_id", "contact {contact_id} of {upn}"),
    "staff": _People(Staff, ("staff_id",), {"forms": [], "year_groups": []},
                     "staff_id", "staff id {staff_id}"),
}


def _apply_people(session: Session, people: _People, batch: list[dict[str, Any]],
                  result: ImportResult) -> None:
    keys = [tuple(rec[k] for k in people.key) for rec in batch]
    existing = people.lookup(session, keys, batch[0].keys())
    inserts, updates = [], []
    for key, rec in zip(keys, batch, strict=True):
        old = existing.get(key)
        if old is None:
            inserts.append({**people.defaults, **rec})
            result.added += 1
            continue
        diff = {f: v for f, v in rec.items() if old[f] != v}
        if diff:
            updates.append({"id": old["id"], **diff})
            result.changed += 1
        else:
            result.unchanged += 1
    if inserts:  # Core: the ORM would split the batch wherever a row's None values differ
        session.execute(insert(_table(people.model)), inserts)
    if updates:
        _bulk_update(session, people.model, updates)


def _import_people(session: Session, kind: str, rows: Iterator[Row], config: Config,
                   tick: Callable[[], None]) -> ImportResult:
    people = PEOPLE[kind]
    roll = load_roll(session) if kind == "contacts" else {}
    parse: Callable[[Row], dict[str, Any]] = {
        "pupils": parse_pupil,
        "contacts": lambda row: parse_contact(row, roll),
        "staff": lambda row: parse_staff(row, config.roles),
    }[kind]
    seen: dict[tuple[Any, ...], int] = {}  # natural key -> first row (a roll or staff list: small)
    result, batch = ImportResult(), []
    for row in rows:
        rec = parse(row)
        key = tuple(rec[k] for k in people.key)
        if key in seen:
            what = people.key_text.format(**{c: row.get(c) for c in COLUMNS[kind][0]})
            raise row.error(people.key_column, f"duplicate: {what} is already in row {seen[key]}")
        seen[key] = row.number
        batch.append(rec)
        if len(batch) >= BATCH_ROWS:
            _apply_people(session, people, batch, result)
            batch.clear()
            tick()
    if batch:
        _apply_people(session, people, batch, result)
    return result


def _record_changes(session: Session, changes: list[MarkChange]) -> None:
    """ABS-1: keep the old code, then put each change on the agenda for the workflows. One flush gives
    the changes their ids; the timers then wait for the next flush (their keys are new ids, so the
    existence check in enqueue cannot miss a pending one)."""
    session.add_all(changes)
    session.flush()
    with session.no_autoflush:
        for change in changes:
            enqueue_mark_change(session, change)


class StoredMark(NamedTuple):
    id: int
    code: str
    minutes_late: int | None
    reason: str | None


def existing_marks(session: Session, batch: Sequence[MarkRow]) -> dict[tuple[int, dt.date, str], StoredMark]:
    """The stored marks of a batch's sessions, in one query.

    An MIS export lists a register at a time (every pupil, a few days) or a pupil at a time (a few
    pupils, every day): then "pupil in (...) and date in (...)" finds the batch's marks and a few more,
    with short parameter lists. Otherwise (rows in no useful order) the exact (pupil, date, session)
    list is asked for, which costs more to send but never reads more than the batch.
    """
    pupils, days = {m.pupil_id for m in batch}, {m.date for m in batch}
    stmt = select(Mark.id, Mark.pupil_id, Mark.date, Mark.session, Mark.code, Mark.minutes_late, Mark.reason)
    if len(pupils) * len(days) * len(SESSIONS) <= 4 * len(batch):
        stmt = stmt.where(Mark.pupil_id.in_(pupils), Mark.date.in_(days))
    else:
        keys = tuple_(Mark.pupil_id, Mark.date, Mark.session)
        stmt = stmt.where(keys.in_([(m.pupil_id, m.date, m.session) for m in batch]))
    rows = session.connection().execute(stmt)  # Core rows: the ORM's result machinery costs more here
    return {(pid, day, sess): StoredMark(id_, code, late, reason) for id_, pid, day, sess, code, late, reason
            in rows}


def _apply_marks(session: Session, batch: list[MarkRow], details: tuple[str, ...], now: dt.datetime,
                 result: ImportResult) -> None:
    """A new session inserts a mark; a different code is a mark change (ABS-1: the mark is updated and a
    MarkChange is recorded and enqueued); the same code with other minutes late or reason is an update."""
    existing = existing_marks(session, batch)
    late, reason = "minutes_late" in details, "reason" in details
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[MarkChange] = []
    for m in batch:
        old = existing.get((m.pupil_id, m.date, m.session))
        if old is None:
            inserts.append({"pupil_id": m.pupil_id, "date": m.date, "session": m.session, "code": m.code,
                            "minutes_late": m.minutes_late, "reason": m.reason,
                            "recorded_by": m.recorded_by, "recorded_at": m.recorded_at or now})
            result.added += 1
            continue
        diff: dict[str, Any] = {}
        if late and old.minutes_late != m.minutes_late:
            diff["minutes_late"] = m.minutes_late
        if reason and old.reason != m.reason:
            diff["reason"] = m.reason
        if old.code != m.code:
            at = m.recorded_at or now
            updates.append({"id": old.id, "code": m.code, "recorded_by": m.recorded_by, "recorded_at": at,
                            **diff})
            changes.append(MarkChange(pupil_id=m.pupil_id, date=m.date, session=m.session,
                                      old_code=old.code, new_code=m.code, reason=m.reason,
                                      changed_by=m.recorded_by, changed_at=at))
        elif diff:
            updates.append({"id": old.id, **diff})
        else:
            result.unchanged += 1
            continue
        result.changed += 1
    if inserts:  # Core: the ORM would split the batch wherever a row's None values differ
        session.execute(insert(_table(Mark)), inserts)
    if updates:
        _bulk_update(session, Mark, updates)
    if changes:
        _record_changes(session, changes)


def _import_marks(session: Session, rows: Iterator[Row], config: Config, calendar: SchoolCalendar,
                  now: dt.datetime, tick: Callable[[], None]) -> ImportResult:
    parser = MarkParser(config, calendar, load_roll(session))
    result, batch = ImportResult(), list[MarkRow]()
    details: tuple[str, ...] = ()
    for row in rows:
        if not batch:  # only the detail columns the file has are compared (absent: left as they are)
            details = tuple(c for c in ("minutes_late", "reason") if row.has(c))
        batch.append(parser.parse(row))
        if len(batch) >= BATCH_ROWS:
            _apply_marks(session, batch, details, now, result)
            batch.clear()
            tick()
    if batch:
        _apply_marks(session, batch, details, now, result)
    return result


# --- entry points ------------------------------------------------------------------------------------
def open_file(path: str | Path) -> IO[bytes]:
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read it: {exc.strerror}"
        raise InputError(reason, file=str(path)) from None


def import_file(session: Session, kind: str, path: str | Path, config: Config, calendar: SchoolCalendar,
                now: dt.datetime, progress: ProgressFn | None = None) -> ImportResult:
    """Import one CSV file of `kind` (pupils, contacts, staff, marks) inside the caller's transaction.

    Raises InputError at the first bad row (REG-3); the caller must then roll back (a
    `sessions.begin()` block does) so that nothing from the file is stored. `now` (aware, UTC) stamps
    marks and mark changes whose row gives no recorded_at.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    with open_file(path) as stream:
        lines = Lines(stream)
        rows = read_rows(lines, kind, str(path))

        def tick() -> None:
            if progress is not None:
                progress(lines.bytes_read)

        if kind == "marks":
            result = _import_marks(session, rows, config, calendar, now, tick)
        else:
            result = _import_people(session, kind, rows, config, tick)
        session.flush()
        tick()
        return result


def run_import(sessions: sessionmaker[Session], kind: str, path: str | Path, config: Config,
               calendar: SchoolCalendar, now: dt.datetime,
               progress: ProgressFn | None = None) -> ImportResult:
    """import_file in a transaction of its own: committed if the whole file is good, else rolled back. On
    PostgreSQL a marks import then refreshes the table's statistics: until they know the new day, the planner
    can take a query over that day's marks for a near-empty one (seen at 150,000 pupils: one statement of the
    day's first register close took 73 s in some runs, bench/RESULTS.md)."""
    with sessions.begin() as session:
        result = import_file(session, kind, path, config, calendar, now, progress)
    if kind == "marks" and sessions.kw["bind"].dialect.name == "postgresql":
        with sessions.begin() as session:
            session.execute(text("ANALYZE marks"))
    return result
