"""`casework import {pupils,contacts,staff,marks} FILE` from the outside (CONTRACT.md; REG-3).

Exit 0 and "FILE: N added, N changed, N unchanged"; a bad file exits 2 with a message naming the file, row
and column, and nothing from it is stored.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select

from casework.cli import main
from casework.models import Contact, Mark, MarkChange, Pupil, Staff, Timer
from casework.upn import make_upn

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config.yaml")
UPNS = [make_upn(357, 4001, 26, 1), make_upn(357, 4001, 26, 2, "B")]
PUPILS = "upn,given_name,family_name,date_of_birth,year_group,form\n" \
         f"{UPNS[0]},Ann,Lee,2014-01-02,7,7A\n{UPNS[1]},Bob,Ray,2014-03-04,7,7B\n"
MARKS = f"upn,date,session,code\n{UPNS[0]},2026-09-03,AM,/\n{UPNS[1]},2026-09-03,AM,N\n"


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database made by `casework init`, so that counts can be taken before the first import."""
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    assert CliRunner().invoke(main, ["--db", url, "--config", CONFIG, "init"]).exit_code == 0
    return url


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db, "--config", CONFIG, "import", *args])


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def counts(db: str) -> dict[str, int]:
    engine = create_engine(db)
    try:
        with engine.connect() as c:
            return {m.__tablename__: c.scalar(select(func.count()).select_from(m)) or 0
                    for m in (Pupil, Contact, Staff, Mark, MarkChange, Timer)}
    finally:
        engine.dispose()


def test_import_prints_added_changed_unchanged(db: str, tmp_path: Path) -> None:
    pupils = write(tmp_path, "pupils.csv", PUPILS)
    first = run(db, "pupils", pupils)
    assert (first.exit_code, first.stdout) == (0, f"{pupils}: 2 added, 0 changed, 0 unchanged\n")
    assert first.stderr == ""  # no progress bar off a terminal
    again = run(db, "pupils", pupils)
    assert (again.exit_code, again.stdout) == (0, f"{pupils}: 0 added, 0 changed, 2 unchanged\n")
    marks = write(tmp_path, "marks.csv", MARKS)
    assert run(db, "marks", marks).stdout == f"{marks}: 2 added, 0 changed, 0 unchanged\n"
    changed = write(tmp_path, "changed.csv", MARKS.replace("AM,N", "AM,I"))
    assert run(db, "marks", changed).stdout == f"{changed}: 0 added, 1 changed, 1 unchanged\n"
    assert counts(db) == {"pupils": 2, "contacts": 0, "staff": 0, "marks": 2, "mark_changes": 1,
                               "timers": 1}


def test_reg3_unknown_code_exits_2_naming_file_row_column_and_stores_nothing(db: str, tmp_path: Path) -> None:
    assert run(db, "pupils", write(tmp_path, "pupils.csv", PUPILS)).exit_code == 0
    marks = write(tmp_path, "marks.csv", MARKS + f"{UPNS[1]},2026-09-03,PM,Q9\n")
    result = run(db, "marks", marks)
    assert result.exit_code == 2
    assert result.stderr == f"error: {marks}, row 4, column 'code': unknown attendance code 'Q9' " \
                            "(see policy.codes.table)\n"
    assert result.stdout == ""
    assert counts(db)["marks"] == 0


@pytest.mark.parametrize(("kind", "content", "where", "says"), [
    ("staff", "staff_id,name,email\nT1,Tee,t@x\n", "row 1, column 'roles'", "missing required column"),
    ("staff", "staff_id,name,email,roles\nT1,Tee,t@x,office;wizard\n", "row 2, column 'roles'",
     "unknown role 'wizard'"),
    ("pupils", PUPILS.replace("2014-03-04", "4 March 2014"), "row 3, column 'date_of_birth'", "YYYY-MM-DD"),
    ("pupils", PUPILS.replace("Bob", "B\u00f6b").encode("latin-1"), "row 3", "not UTF-8"),
    ("contacts", f"upn,contact_id,name,relationship,parental_responsibility\n{UPNS[0]},C1,Jo,mother,?\n",
     "row 2, column 'parental_responsibility'", "not Y or N"),
    ("marks", MARKS.replace("2026-09-03,AM,N", "2026-09-05,AM,N"), "row 3, column 'date'",
     "not a school day"),  # a Saturday
    ("marks", MARKS.replace("AM,N", "XM,N"), "row 3, column 'session'", "AM or PM"),
])
def test_bad_file_exits_2_naming_where_and_stores_nothing(db: str, tmp_path: Path, kind: str,
                                                         content: str | bytes, where: str, says: str) -> None:
    if kind != "pupils":
        assert run(db, "pupils", write(tmp_path, "roll.csv", PUPILS)).exit_code == 0
    before = counts(db)
    path = write(tmp_path, f"{kind}.csv", content)
    result = run(db, kind, path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}, {where}: ")
    assert says in result.stderr
    assert counts(db) == before


def test_missing_file_exits_2_naming_it(db: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.csv")
    result = run(db, "marks", missing)
    assert (result.exit_code, result.stderr) == (2, f"error: {missing}: no such file\n")


def test_the_installed_command_exits_2_on_a_bad_row(tmp_path: Path, db: str) -> None:
    """The real entry point in a child process: exit status and stderr as a script sees them."""
    pupils = write(tmp_path, "pupils.csv", PUPILS.replace(UPNS[1], UPNS[1][:-1] + "I"))
    casework = Path(sys.executable).parent / "casework"
    proc = subprocess.run([str(casework), "--db", db, "--config", CONFIG, "import", "pupils", pupils],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {pupils}, row 3, column 'upn': ")
    assert proc.stdout == ""
    assert counts(db)["pupils"] == 0
