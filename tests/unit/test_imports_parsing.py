"""Reading and checking import rows without a database (CONTRACT.md "Import files"; REG-1, REG-3).

Every error names the file, the row as a spreadsheet shows it (header = row 1) and the column.
"""
from __future__ import annotations

import datetime as dt
import io

import pytest

from casework.calendar import SchoolCalendar
from casework.config import Config
from casework.errors import InputError
from casework.imports import (
    ImportResult,
    Lines,
    MarkParser,
    MarkRow,
    RollEntry,
    Row,
    parse_contact,
    parse_date,
    parse_pupil,
    parse_staff,
    read_rows,
)
from casework.upn import make_upn

UPN = make_upn(357, 4001, 26, 1)
UPN2 = make_upn(357, 4001, 26, 2)
TEMP_UPN = make_upn(357, 4001, 26, 3, "A")  # temporary UPN: last character a letter
ROLL = {UPN: RollEntry(1, True, None), TEMP_UPN: RollEntry(3, True, None),
        UPN2: RollEntry(2, False, dt.date(2026, 10, 1))}
PUPILS_HEADER = "upn,given_name,family_name,date_of_birth,year_group,form"
MARKS_HEADER = "upn,date,session,code,minutes_late,reason,recorded_by,recorded_at"


def rows(kind: str, content: str | bytes) -> list[Row]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return list(read_rows(Lines(io.BytesIO(data)), kind, "in.csv"))


def one(kind: str, header: str, line: str) -> Row:
    (row,) = rows(kind, f"{header}\n{line}\n")
    return row


def error(fn: object, *args: object) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


def where(exc: InputError) -> tuple[str | None, int | None, str | None]:
    return exc.file, exc.row, exc.column


# --- the file and its header -------------------------------------------------------------------------
def test_header_any_order_any_case_with_bom_and_extra_columns_ignored() -> None:
    content = "\ufeffForm, UPN ,notes,given_name,family_name,date_of_birth,year_group\n" \
              f"7A,{UPN},likes maths,Ann,Lee,2014-01-02,7\n"
    (row,) = rows("pupils", content)
    assert parse_pupil(row) == {"upn": UPN, "given_name": "Ann", "family_name": "Lee",
                                "date_of_birth": dt.date(2014, 1, 2), "year_group": 7, "form": "7A"}


def test_missing_required_column_is_named_at_row_1() -> None:
    exc = error(rows, "marks", f"upn,date,code\n{UPN},2026-09-03,/\n")
    assert where(exc) == ("in.csv", 1, "session")
    assert "missing required column(s) session" in str(exc)


def test_a_column_given_twice_is_an_error_at_row_1() -> None:
    exc = error(rows, "marks", "upn,date,session,code,code\n")
    assert where(exc) == ("in.csv", 1, "code")


def test_empty_file_is_an_error_at_row_1() -> None:
    exc = error(rows, "staff", "")
    assert where(exc) == ("in.csv", 1, None)
    assert "empty" in str(exc)


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    """Blank rows are skipped but counted; a quoted line break stays inside its row."""
    content = f'{MARKS_HEADER}\n{UPN},2026-09-03,AM,/,,"two\nlines",,\n\n,,,,\n{UPN},2026-09-03,PM,\\\n'
    got = rows("marks", content)
    assert [r.number for r in got] == [2, 5]
    assert got[0].get("reason") == "two\nlines"
    assert got[1].get("minutes_late") == "" and got[1].get("code") == "\\"  # a short row reads as empty


def test_not_utf8_is_reported_at_its_row() -> None:
    content = f"{MARKS_HEADER}\n{UPN},2026-09-03,AM,/,,,,\n{UPN},2026-09-03,PM,\\,,caf\u00e9,,\n"
    exc = error(rows, "marks", content.encode("latin-1"))
    assert where(exc) == ("in.csv", 3, None)
    assert "not UTF-8" in str(exc)


def test_utf16_is_not_utf8() -> None:
    exc = error(rows, "marks", f"{MARKS_HEADER}\n".encode("utf-16"))
    assert exc.row == 1 and "not UTF-8" in str(exc)


def test_utf16_without_bom_is_caught_by_its_nul_bytes() -> None:
    exc = error(rows, "marks", f"{MARKS_HEADER}\n".encode("utf-16-le"))
    assert exc.row == 1 and "NUL" in str(exc)


# --- fields ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["2026-9-3", "03/09/2026", "20260903", "2026-02-30", "", "2026-09-03T10:00"])
def test_dates_must_be_written_yyyy_mm_dd(text: str) -> None:
    assert parse_date(text) is None


def test_a_real_date_parses() -> None:
    assert parse_date("2026-09-03") == dt.date(2026, 9, 3)


def test_bad_upn_gives_the_upn_checks_message() -> None:
    bad = "A" + UPN[1:] if UPN[0] != "A" else "B" + UPN[1:]
    exc = error(parse_pupil, one("pupils", PUPILS_HEADER, f"{bad},Ann,Lee,2014-01-02,7,7A"))
    assert where(exc) == ("in.csv", 2, "upn")
    assert "check letter" in str(exc)


def test_temporary_upn_is_valid() -> None:
    assert parse_pupil(one("pupils", PUPILS_HEADER, f"{TEMP_UPN},Ann,Lee,2014-01-02,7,7A"))["upn"] == TEMP_UPN


@pytest.mark.parametrize(("line", "column", "says"), [
    (f"{UPN},Ann,Lee,2014-01-02,seven,7A", "year_group", "not a whole number"),
    (f"{UPN},Ann,Lee,2014-01-02,7.5,7A", "year_group", "not a whole number"),
    (f"{UPN},Ann,Lee,2014-01-02,99999999999,7A", "year_group", "out of range"),
    (f"{UPN},,Lee,2014-01-02,7,7A", "given_name", "is empty"),
    (f"{UPN},Ann,Lee,02/01/2014,7,7A", "date_of_birth", "YYYY-MM-DD"),
    (f"{UPN},Ann,Lee,2014-01-02,7,{'7' * 21}", "form", "at most 20"),
    ("1234,Ann,Lee,2014-01-02,7,7A", "upn", "13 characters"),
])
def test_pupil_field_errors_name_the_column(line: str, column: str, says: str) -> None:
    exc = error(parse_pupil, one("pupils", PUPILS_HEADER, line))
    assert where(exc) == ("in.csv", 2, column)
    assert says in str(exc)


def test_pupil_optional_flags_are_y_or_n_and_absent_columns_are_left_out() -> None:
    row = one("pupils", PUPILS_HEADER + ",fsm,looked_after", f"{UPN},Ann,Lee,2014-01-02,7,7A,y,")
    rec = parse_pupil(row)
    assert rec["fsm"] is True and rec["looked_after"] is False and "sen" not in rec
    exc = error(parse_pupil, one("pupils", PUPILS_HEADER + ",fsm", f"{UPN},Ann,Lee,2014-01-02,7,7A,maybe"))
    assert where(exc) == ("in.csv", 2, "fsm") and "not Y or N" in str(exc)


CONTACTS_HEADER = "upn,contact_id,name,relationship,parental_responsibility,priority"


def test_contact_parses_and_priority_defaults_to_1() -> None:
    rec = parse_contact(one("contacts", CONTACTS_HEADER, f"{UPN},C1,Jo Lee,mother,Yes,"), ROLL)
    assert rec == {"pupil_id": 1, "contact_id": "C1", "name": "Jo Lee", "relationship": "mother",
                   "parental_responsibility": True, "priority": 1}


@pytest.mark.parametrize(("line", "column", "says"), [
    (f"{UPN},C1,Jo Lee,mother,,1", "parental_responsibility", "give Y or N"),
    (f"{UPN},C1,Jo Lee,mother,X,1", "parental_responsibility", "not Y or N"),
    (f"{UPN},C1,Jo Lee,mother,Y,first", "priority", "not a whole number"),
    (f"{UPN},C1,Jo Lee,mother,Y,0", "priority", "out of range"),
    (f"{make_upn(357, 4001, 26, 9)},C1,Jo Lee,mother,Y,1", "upn", "import pupils first"),
])
def test_contact_field_errors_name_the_column(line: str, column: str, says: str) -> None:
    exc = error(parse_contact, one("contacts", CONTACTS_HEADER, line), ROLL)
    assert where(exc) == ("in.csv", 2, column)
    assert says in str(exc)


STAFF_HEADER = "staff_id,name,email,roles,forms,year_groups"


def test_staff_lists_are_semicolon_separated(config: Config) -> None:
    row = one("staff", STAFF_HEADER, "T1,Tee,t@heys.example.org, form_tutor ;pastoral_manager;,7A;7A,7; 8")
    assert parse_staff(row, config.roles) == {
        "staff_id": "T1", "name": "Tee", "email": "t@heys.example.org",
        "roles": ["form_tutor", "pastoral_manager"], "forms": ["7A"], "year_groups": [7, 8]}


@pytest.mark.parametrize(("line", "column", "says"), [
    ("T1,Tee,t@x,form_tutor;janitor,,", "roles", "unknown role 'janitor'"),
    ("T1,Tee,t@x,;,,", "roles", "is empty"),
    ("T1,Tee,t@x,office,,7;eight", "year_groups", "'eight' is not a whole number"),
    (",Tee,t@x,office,,", "staff_id", "is empty"),
])
def test_staff_field_errors_name_the_column(config: Config, line: str, column: str, says: str) -> None:
    exc = error(parse_staff, one("staff", STAFF_HEADER, line), config.roles)
    assert where(exc) == ("in.csv", 2, column)
    assert says in str(exc)


# --- marks (REG-1, REG-3) ----------------------------------------------------------------------------
def parse_marks(config: Config, calendar: SchoolCalendar, *lines: str) -> list[MarkRow]:
    parser = MarkParser(config, calendar, ROLL)
    return [parser.parse(r) for r in rows("marks", "\n".join([MARKS_HEADER, *lines]) + "\n")]


def test_marks_row_parses_with_local_recorded_at_as_utc(config: Config, calendar: SchoolCalendar) -> None:
    (m,) = parse_marks(config, calendar, f"{UPN},2026-09-03,am,L,12,bus late,T1,2026-09-03T09:07")
    got = (m.pupil_id, m.date, m.session, m.code, m.minutes_late, m.reason, m.recorded_by)
    assert got == (1, dt.date(2026, 9, 3), "AM", "L", 12, "bus late", "T1")
    # Europe/London is on BST (UTC+1) in September
    assert m.recorded_at == dt.datetime(2026, 9, 3, 8, 7, tzinfo=dt.UTC)


def test_marks_recorded_at_with_an_offset_is_kept(config: Config, calendar: SchoolCalendar) -> None:
    (m,) = parse_marks(config, calendar, f"{UPN},2026-09-03,PM,\\,,,,2026-09-03T13:40:00+00:00")
    assert m.recorded_at == dt.datetime(2026, 9, 3, 13, 40, tzinfo=dt.UTC)
    (m,) = parse_marks(config, calendar, f"{UPN},2026-09-03,PM,\\,,,,2026-09-03T13:40Z")
    assert m.recorded_at == dt.datetime(2026, 9, 3, 13, 40, tzinfo=dt.UTC)


@pytest.mark.parametrize(("line", "column", "says"), [
    (f"{UPN},2026-09-03,AM,ZZ,,,,", "code", "unknown attendance code 'ZZ'"),  # REG-3
    (f"{UPN},2026-09-03,AM,,,,,", "code", "is empty"),
    (f"{UPN},3/9/2026,AM,/,,,,", "date", "YYYY-MM-DD"),
    (f"{UPN},2026-09-05,AM,/,,,,", "date", "not a school day"),  # a Saturday
    (f"{UPN},2026-09-01,AM,/,,,,", "date", "not a school day"),  # INSET day (closure)
    (f"{UPN},2027-05-03,AM,/,,,,", "date", "not a school day"),  # bank holiday in term
    (f"{UPN},2026-09-03,EVE,/,,,,", "session", "give AM or PM"),  # REG-1
    (f"{make_upn(357, 4001, 26, 9)},2026-09-03,AM,/,,,,", "upn", "import pupils first"),
    (f"{UPN[:12]},2026-09-03,AM,/,,,,", "upn", "13 characters"),
    (f"{UPN2},2026-10-01,AM,/,,,,", "upn", "not on roll"),
    (f"{UPN},2026-09-03,AM,L,ten,,,", "minutes_late", "not a whole number"),
    (f"{UPN},2026-09-03,AM,L,-5,,,", "minutes_late", "out of range"),
    (f"{UPN},2026-09-03,AM,N,,{'x' * 201},,", "reason", "at most 200"),
    (f"{UPN},2026-09-03,AM,/,,,T1,yesterday", "recorded_at", "ISO 8601"),
])
def test_reg3_marks_row_errors_name_file_row_and_column(config: Config, calendar: SchoolCalendar,
                                                       line: str, column: str, says: str) -> None:
    good = f"{UPN},2026-09-04,AM,/,,,,"
    exc = error(parse_marks, config, calendar, good, line)
    assert where(exc) == ("in.csv", 3, column)
    assert says in str(exc)


def test_marks_before_deletion_from_the_register_are_accepted(config: Config,
                                                             calendar: SchoolCalendar) -> None:
    (m,) = parse_marks(config, calendar, f"{UPN2},2026-09-30,AM,/,,,,")
    assert m.pupil_id == 2


def test_reg1_one_mark_per_pupil_per_session_duplicate_names_the_first_row(
        config: Config, calendar: SchoolCalendar) -> None:
    exc = error(parse_marks, config, calendar, f"{UPN},2026-09-03,AM,/,,,,", f"{UPN},2026-09-03,PM,\\,,,,",
                f"{TEMP_UPN},2026-09-03,AM,/,,,,", f"{UPN},2026-09-03,am,N,,,,")
    assert where(exc) == ("in.csv", 5, "session")
    assert "already in row 2" in str(exc)


def test_import_result_reads_as_the_cli_prints_it() -> None:
    assert str(ImportResult(1, 2, 3)) == "1 added, 2 changed, 3 unchanged"
