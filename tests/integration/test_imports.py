"""Imports against the database, on SQLite and PostgreSQL (CONTRACT.md "Import files"; REG-3, ABS-1).

All or nothing: a bad row anywhere (even after earlier batches were written) leaves every table as it was.
Re-importing the same rows changes nothing; a different code for a stored mark is a mark change (ABS-1).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from casework import imports
from casework.context import App
from casework.errors import InputError
from casework.imports import ImportResult, run_import
from casework.models import Base, Contact, Mark, MarkChange, Pupil, Staff, Timer
from casework.upn import make_upn

NOW = dt.datetime(2026, 9, 10, 17, 0, tzinfo=dt.UTC)
UPNS = [make_upn(357, 4001, 26, i) for i in range(1, 4)] + [make_upn(357, 4001, 26, 4, "A")]
PUPILS = "upn,given_name,family_name,date_of_birth,year_group,form\n" + "".join(
    f"{u},Given{i},Family{i},2014-0{i + 1}-1{i},7,7{'AB'[i % 2]}\n" for i, u in enumerate(UPNS))
MARKS_HEADER = "upn,date,session,code,minutes_late,reason,recorded_by,recorded_at\n"
DAY, DAY2 = dt.date(2026, 9, 3), dt.date(2026, 9, 4)  # the first two school days of the year


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def load(app: App, kind: str, path: Path, now: dt.datetime = NOW) -> ImportResult:
    return run_import(app.sessions, kind, path, app.config, app.calendar, now)


def counts(app: App) -> dict[str, int]:
    with app.sessions() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (Pupil, Contact, Staff, Mark, MarkChange, Timer)}


def table(app: App, model: type[Base]) -> list[tuple[object, ...]]:
    """Every row of a table as tuples of its columns, to compare before and after."""
    cols = list(model.__table__.columns)  # type: ignore[attr-defined]
    with app.sessions() as s:
        return sorted(tuple(r) for r in s.execute(select(*cols)))


def marks_csv(*lines: str) -> str:
    return MARKS_HEADER + "".join(f"{line}\n" for line in lines)


@pytest.fixture
def pupils(app: App, tmp_path: Path) -> App:
    load(app, "pupils", write(tmp_path, "pupils.csv", PUPILS))
    return app


def mark(app: App, upn: str, day: dt.date, session: str) -> Mark:
    with app.sessions() as s:
        found = s.scalar(select(Mark).join(Pupil, Pupil.id == Mark.pupil_id)
                         .where(Pupil.upn == upn, Mark.date == day, Mark.session == session))
        assert found is not None
        return found


# --- pupils, contacts, staff -------------------------------------------------------------------------
def test_pupils_added_then_unchanged_then_changed(app: App, tmp_path: Path) -> None:
    path = write(tmp_path, "pupils.csv", PUPILS)
    assert load(app, "pupils", path) == ImportResult(added=4)
    assert load(app, "pupils", path) == ImportResult(unchanged=4)
    moved = PUPILS.replace(f"{UPNS[0]},Given0,Family0,2014-01-10,7,7A",
                           f"{UPNS[0]},Given0,Family0,2014-01-10,8,8C")
    assert load(app, "pupils", write(tmp_path, "moved.csv", moved)) == ImportResult(changed=1, unchanged=3)
    with app.sessions() as s:
        p = s.scalar(select(Pupil).where(Pupil.upn == UPNS[0]))
        assert p is not None and (p.year_group, p.form, p.school_id, p.on_roll) == (8, "8C", 1, True)
    assert counts(app)["pupils"] == 4


def test_pupils_optional_columns_absent_leave_fields_present_change_them(app: App, tmp_path: Path) -> None:
    header = "upn,given_name,family_name,date_of_birth,year_group,form"
    row = f"{UPNS[0]},Ann,Lee,2014-01-02,7,7A"
    load(app, "pupils", write(tmp_path, "a.csv", f"{header},sen,fsm,looked_after\n{row},K,Y,Y\n"))
    assert load(app, "pupils", write(tmp_path, "b.csv", f"{header}\n{row}\n")) == ImportResult(unchanged=1)
    fsm_only = write(tmp_path, "c.csv", f"{header},fsm\n{row},N\n")
    assert load(app, "pupils", fsm_only) == ImportResult(changed=1)
    with app.sessions() as s:
        p = s.scalar(select(Pupil))
        assert p is not None and (p.sen, p.fsm, p.looked_after) == ("K", False, True)


def test_contacts_added_unchanged_changed(pupils: App, tmp_path: Path) -> None:
    header = "upn,contact_id,name,relationship,parental_responsibility,phone,priority\n"
    rows = f"{UPNS[0]},C1,Jo,mother,Y,0161 1,\n{UPNS[0]},C2,Al,father,N,,2\n{UPNS[1]},C1,Sam,carer,Y,,\n"
    path = write(tmp_path, "contacts.csv", header + rows)
    assert load(pupils, "contacts", path) == ImportResult(added=3)
    assert load(pupils, "contacts", path) == ImportResult(unchanged=3)
    changed = write(tmp_path, "c2.csv", header + rows.replace("Al,father,N", "Al,father,Y"))
    assert load(pupils, "contacts", changed) == ImportResult(changed=1, unchanged=2)
    with pupils.sessions() as s:
        got = {(c.contact_id, c.name): (c.parental_responsibility, c.priority, c.phone)
               for c in s.scalars(select(Contact))}
    assert got == {("C1", "Jo"): (True, 1, "0161 1"), ("C2", "Al"): (True, 2, None),
                   ("C1", "Sam"): (True, 1, None)}


def test_contacts_preferred_channel_is_stored_and_an_empty_one_means_none(pupils: App, tmp_path: Path) -> None:
    header = "upn,contact_id,name,relationship,parental_responsibility,email,channel\n"
    path = write(tmp_path, "contacts.csv", header + f"{UPNS[0]},C1,Jo,mother,Y,jo@x.org,Email\n"
                 f"{UPNS[1]},C1,Sam,carer,Y,,\n")
    assert load(pupils, "contacts", path) == ImportResult(added=2)
    with pupils.sessions() as s:
        assert dict(s.execute(select(Contact.name, Contact.channel)).all()) == {"Jo": "email", "Sam": None}


def test_staff_roles_forms_year_groups_stored_as_lists(app: App, tmp_path: Path) -> None:
    header = "staff_id,name,email,roles,forms,year_groups\n"
    rows = "T1,Tee,t@x,form_tutor;office,7A,\nP1,Pat,p@x,pastoral_manager,,7;8\n"
    path = write(tmp_path, "staff.csv", header + rows)
    assert load(app, "staff", path) == ImportResult(added=2)
    assert load(app, "staff", path) == ImportResult(unchanged=2)
    path2 = write(tmp_path, "staff2.csv", header + "P1,Pat,p@x,pastoral_manager,,7;8;9\n")
    assert load(app, "staff", path2) == ImportResult(changed=1)
    with app.sessions() as s:
        got = {st.staff_id: (st.roles, st.forms, st.year_groups, st.active)
               for st in s.scalars(select(Staff))}
    assert got == {"T1": (["form_tutor", "office"], ["7A"], [], True),
                   "P1": (["pastoral_manager"], [], [7, 8, 9], True)}


# --- marks -------------------------------------------------------------------------------------------
def test_new_marks_are_added_with_recorded_at_from_the_row_or_now(pupils: App, tmp_path: Path) -> None:
    path = write(tmp_path, "marks.csv", marks_csv(f"{UPNS[0]},{DAY},AM,/,,,T1,2026-09-03T08:50",
                                                  f"{UPNS[0]},{DAY},PM,L,12,bus,,"))
    assert load(pupils, "marks", path) == ImportResult(added=2)
    am, pm = mark(pupils, UPNS[0], DAY, "AM"), mark(pupils, UPNS[0], DAY, "PM")
    at = dt.datetime(2026, 9, 3, 7, 50, tzinfo=dt.UTC)  # 08:50 BST
    assert (am.code, am.recorded_by, am.recorded_at) == ("/", "T1", at)
    assert (pm.code, pm.minutes_late, pm.reason, pm.recorded_by, pm.recorded_at) == (
        "L", 12, "bus", None, NOW)
    assert counts(pupils)["mark_changes"] == 0


def test_reimporting_the_same_marks_changes_nothing(pupils: App, tmp_path: Path) -> None:
    path = write(tmp_path, "marks.csv", marks_csv(*(f"{u},{d},{s},{c},,,," for u in UPNS for d in (DAY, DAY2)
                                                    for s, c in (("AM", "/"), ("PM", "N")))))
    assert load(pupils, "marks", path) == ImportResult(added=16)
    before = table(pupils, Mark)
    assert load(pupils, "marks", path, now=NOW + dt.timedelta(days=1)) == ImportResult(unchanged=16)
    assert table(pupils, Mark) == before
    assert counts(pupils)["mark_changes"] == counts(pupils)["timers"] == 0


def test_abs1_code_change_updates_the_mark_records_the_change_and_enqueues_it(pupils: App,
                                                                             tmp_path: Path) -> None:
    load(pupils, "marks", write(tmp_path, "m1.csv", marks_csv(f"{UPNS[1]},{DAY},AM,N,,,,")))
    changed = write(tmp_path, "m2.csv", marks_csv(f"{UPNS[1]},{DAY},AM,I,,flu,H1,2026-09-03T11:30"))
    assert load(pupils, "marks", changed) == ImportResult(changed=1)
    m = mark(pupils, UPNS[1], DAY, "AM")
    at = dt.datetime(2026, 9, 3, 10, 30, tzinfo=dt.UTC)  # 11:30 BST
    assert (m.code, m.reason, m.recorded_by, m.recorded_at) == ("I", "flu", "H1", at)
    with pupils.sessions() as s:
        change = s.scalars(select(MarkChange)).one()
        timer = s.scalars(select(Timer)).one()
    assert (change.pupil_id, change.date, change.session, change.old_code, change.new_code, change.reason,
            change.changed_by, change.changed_at) == (m.pupil_id, DAY, "AM", "N", "I", "flu", "H1", at)
    assert (timer.key, timer.kind, timer.due_at, timer.status) == (
        f"mark_changed:{change.id}", "mark_changed", at, "pending")
    assert timer.payload == {"change_id": change.id, "pupil_id": m.pupil_id}
    # the same file again: the mark already has that code, so no second change
    assert load(pupils, "marks", changed) == ImportResult(unchanged=1)
    assert counts(pupils)["mark_changes"] == counts(pupils)["timers"] == 1


def test_abs1_code_change_without_recorded_at_is_stamped_now(pupils: App, tmp_path: Path) -> None:
    load(pupils, "marks", write(tmp_path, "m1.csv", marks_csv(f"{UPNS[0]},{DAY},PM,N,,,,")))
    load(pupils, "marks", write(tmp_path, "m2.csv", marks_csv(f"{UPNS[0]},{DAY},PM,O,,,,")))
    with pupils.sessions() as s:
        change = s.scalars(select(MarkChange)).one()
    assert (change.old_code, change.new_code, change.changed_by, change.changed_at) == ("N", "O", None, NOW)
    assert mark(pupils, UPNS[0], DAY, "PM").recorded_at == NOW


def test_same_code_other_minutes_late_or_reason_is_an_update_not_a_mark_change(pupils: App,
                                                                              tmp_path: Path) -> None:
    load(pupils, "marks", write(tmp_path, "m1.csv", marks_csv(f"{UPNS[0]},{DAY},AM,L,5,,T1,")))
    path = write(tmp_path, "m2.csv", marks_csv(f"{UPNS[0]},{DAY},AM,L,15,traffic,T2,"))
    assert load(pupils, "marks", path) == ImportResult(changed=1)
    m = mark(pupils, UPNS[0], DAY, "AM")
    assert (m.code, m.minutes_late, m.reason, m.recorded_by) == ("L", 15, "traffic", "T1")
    assert counts(pupils)["mark_changes"] == 0


def test_marks_file_without_detail_columns_leaves_them(pupils: App, tmp_path: Path) -> None:
    load(pupils, "marks", write(tmp_path, "m1.csv", marks_csv(f"{UPNS[0]},{DAY},AM,L,5,bus,,")))
    bare = write(tmp_path, "m2.csv", f"upn,date,session,code\n{UPNS[0]},{DAY},AM,L\n")
    assert load(pupils, "marks", bare) == ImportResult(unchanged=1)
    m = mark(pupils, UPNS[0], DAY, "AM")
    assert (m.minutes_late, m.reason) == (5, "bus")


def test_batches_in_no_useful_order_find_the_stored_marks(pupils: App, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches make both lookups run: register order (pupils x days) and scattered rows."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)
    days = pupils.calendar.days
    scattered = [f"{UPNS[i % 4]},{d},{'AM' if i % 3 else 'PM'},/,,,," for i, d in enumerate(days[:8])]
    in_order = [f"{u},{d},AM,/,,,," for d in days[8:10] for u in UPNS]
    path = write(tmp_path, "m.csv", marks_csv(*scattered, *in_order))
    assert load(pupils, "marks", path) == ImportResult(added=16)
    changed = marks_csv(*scattered, *in_order).replace(f"{UPNS[3]},{days[3]},PM,/",
                                                       f"{UPNS[3]},{days[3]},PM,N")
    assert load(pupils, "marks", write(tmp_path, "m2.csv", changed)) == ImportResult(changed=1, unchanged=15)


# --- all or nothing (REG-3) --------------------------------------------------------------------------
def test_reg3_unknown_code_rejected_with_row_and_nothing_stored(pupils: App, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The bad row comes after two batches were written, a new mark and a mark change: all rolled back."""
    load(pupils, "marks", write(tmp_path, "m0.csv", marks_csv(f"{UPNS[0]},{DAY},AM,N,,,,")))
    before = {m: table(pupils, m) for m in (Mark, MarkChange, Timer)}
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    path = write(tmp_path, "bad.csv", marks_csv(
        f"{UPNS[0]},{DAY},AM,I,,flu,,",  # a mark change (ABS-1)
        f"{UPNS[1]},{DAY},AM,/,,,,", f"{UPNS[2]},{DAY},AM,/,,,,", f"{UPNS[3]},{DAY},AM,/,,,,",
        f"{UPNS[1]},{DAY},PM,XX,,,,"))  # row 6
    with pytest.raises(InputError) as info:
        load(pupils, "marks", path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 6, "code")
    assert "unknown attendance code 'XX'" in str(info.value)
    assert {m: table(pupils, m) for m in (Mark, MarkChange, Timer)} == before


MARK_ERRORS = [
    (f"{UPNS[0]},{DAY},AM,ZZ,,,,", "code", "unknown attendance code"),
    (f"{UPNS[0]},2026/09/03,AM,/,,,,", "date", "YYYY-MM-DD"),
    (f"{UPNS[0]},{DAY},NOON,/,,,,", "session", "AM or PM"),
    (f"{UPNS[0]},2026-09-06,AM,/,,,,", "date", "not a school day"),
    (f"{make_upn(357, 4001, 26, 99)},{DAY},AM,/,,,,", "upn", "import pupils first"),
    (f"X{UPNS[0][1:]},{DAY},AM,/,,,,", "upn", "check letter"),
    (f"{UPNS[1]},{DAY},AM,/,,,,", "session", "already in row 2"),
    (f"{UPNS[0]},{DAY},PM,L,late,,,", "minutes_late", "not a whole number"),
    (f",{DAY},PM,/,,,,", "upn", "is empty"),
    (f"{UPNS[0]},{DAY},PM,/,,{'why' * 70},,", "reason", "at most 200"),
]


@pytest.mark.parametrize(("line", "column", "says"), MARK_ERRORS)
def test_reg3_bad_marks_row_aborts_the_file_and_stores_nothing(pupils: App, tmp_path: Path, line: str,
                                                               column: str, says: str) -> None:
    before = counts(pupils)
    good = (f"{UPNS[1]},{DAY},AM,/,,,,", f"{UPNS[2]},{DAY},AM,/,,,,")
    path = write(tmp_path, "marks.csv", marks_csv(*good, line))
    with pytest.raises(InputError) as info:
        load(pupils, "marks", path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 4, column)
    assert says in str(info.value)
    assert counts(pupils) == before


def test_mark_for_a_pupil_off_roll_is_rejected_from_the_deletion_date(pupils: App, tmp_path: Path) -> None:
    with pupils.sessions.begin() as s:
        s.execute(update(Pupil).where(Pupil.upn == UPNS[0]).values(on_roll=False, deleted_on=DAY2))
    assert load(pupils, "marks", write(tmp_path, "ok.csv", marks_csv(f"{UPNS[0]},{DAY},AM,/,,,,"))).added == 1
    with pytest.raises(InputError) as info:
        load(pupils, "marks", write(tmp_path, "late.csv", marks_csv(f"{UPNS[0]},{DAY2},AM,/,,,,")))
    assert (info.value.row, info.value.column) == (2, "upn") and "not on roll" in str(info.value)
    assert counts(pupils)["marks"] == 1


PEOPLE_ERRORS = [
    ("pupils", PUPILS + f"{UPNS[0]},Again,Again,2014-01-10,7,7A\n", 6, "upn", "already in row 2"),
    ("pupils", PUPILS + f"{make_upn(357, 4001, 26, 50)},A,B,2014-01-10,seven,7A\n", 6, "year_group",
     "not a whole number"),
    ("pupils", PUPILS.replace("2014-01-10", "10/01/2014"), 2, "date_of_birth", "YYYY-MM-DD"),
    ("contacts", f"upn,contact_id,name,relationship,parental_responsibility\n{UPNS[0]},C1,Jo,mother,Y\n"
                 f"{UPNS[0]},C1,Jo,mother,Y\n", 3, "contact_id", "already in row 2"),
    ("contacts", f"upn,contact_id,name,relationship,parental_responsibility\n{UPNS[0]},C1,Jo,mother,Y\n"
                 f"{UPNS[1]},C1,Al,father,maybe\n", 3, "parental_responsibility", "not Y or N"),
    ("contacts", f"upn,contact_id,name,relationship,parental_responsibility\n{UPNS[0]},C1,Jo,mother,Y\n"
                 f"{make_upn(357, 4001, 26, 77)},C1,Al,father,Y\n", 3, "upn", "import pupils first"),
    ("contacts", f"upn,contact_id,name,relationship\n{UPNS[0]},C1,Jo,mother\n", 1,
     "parental_responsibility", "missing required column"),
    ("contacts", f"upn,contact_id,name,relationship,parental_responsibility,channel\n{UPNS[0]},C1,Jo,mother,Y,email\n"
                 f"{UPNS[1]},C1,Al,father,Y,fax\n", 3, "channel", "'fax' is not one of post, email, sms"),
    ("staff", "staff_id,name,email,roles\nT1,Tee,t@x,office\nT1,Tee,t@x,office\n", 3, "staff_id",
     "already in row 2"),
    ("staff", "staff_id,name,email,roles\nT1,Tee,t@x,office\nT2,Two,u@x,caretaker\n", 3, "roles",
     "unknown role"),
    ("staff", "staff_id,name,email,roles\nT1,Tee,,office\n", 2, "email", "is empty"),
]


@pytest.mark.parametrize(("kind", "content", "row", "column", "says"), PEOPLE_ERRORS)
def test_bad_people_row_aborts_the_file_and_stores_nothing(pupils: App, tmp_path: Path, kind: str,
                                                           content: str, row: int, column: str,
                                                           says: str) -> None:
    before = {m: table(pupils, m) for m in (Pupil, Contact, Staff)}
    path = write(tmp_path, f"{kind}.csv", content)
    with pytest.raises(InputError) as info:
        load(pupils, kind, path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), row, column)
    assert says in str(info.value)
    assert {m: table(pupils, m) for m in (Pupil, Contact, Staff)} == before


def test_file_that_is_not_utf8_stores_nothing(app: App, tmp_path: Path) -> None:
    path = tmp_path / "pupils.csv"
    path.write_bytes(PUPILS.replace("Given2", "Ren\u00e9e").encode("cp1252"))
    with pytest.raises(InputError) as info:
        load(app, "pupils", path)
    assert (info.value.row, info.value.column) == (4, None) and "not UTF-8" in str(info.value)
    assert counts(app)["pupils"] == 0


def test_missing_file_is_an_input_error_naming_it(app: App, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(InputError) as info:
        load(app, "marks", path)
    assert info.value.file == str(path) and "no such file" in str(info.value)
