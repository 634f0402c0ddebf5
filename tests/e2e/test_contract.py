"""CONTRACT.md from the outside: the JSON and CSV shapes scripts rely on, the task commands and the exit codes,
through the `casework` command (click's CliRunner on casework.cli.main).

One small demo school per database (`casework demo --pupils 15 --until 2026-10-02`: about four weeks of
synthetic marks through every workflow), so there are tasks, cases, letters and chronologies to read. Every test
runs on a SQLite file and on a throw-away PostgreSQL database (CASEWORK_TEST_PG as in tests/conftest.py;
unreachable: skipped, except under CI=true).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select

from casework.cli import main
from casework.models import Staff
from tests.conftest import throwaway_pg
from workflows.registry import outcomes_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config.yaml")
DEMO_UNTIL = "2026-10-02"

TASK_KEYS = {"id", "kind", "title", "pupil", "role", "assignee", "due", "status", "outcome", "case", "created"}
CASE_KEYS = {"id", "pupil", "workflow", "state", "opened", "updated"}
LETTER_KEYS = {"id", "pupil", "template", "channel", "created", "recipient"}
PUPIL_KEYS = {"upn", "name", "form", "year_group", "possible_sessions", "attended_sessions", "attendance_pct",
              "authorised_sessions", "unauthorised_sessions", "lates", "band", "persistent_absentee", "cases"}
CHRONOLOGY_KEYS = ["at", "pupil", "category", "summary", "staff", "case", "ref"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo school for this module, on a SQLite file and on a throw-away PostgreSQL database."""
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path_factory.mktemp('contract') / 'casework.db'}" if request.param == "sqlite"
               else stack.enter_context(throwaway_pg("casework_contract")))
        result = CliRunner().invoke(main, ["--db", url, "--config", CONFIG, "demo", "--pupils", "15",
                                           "--until", DEMO_UNTIL])
        assert result.exit_code == 0, result.output
        yield url


def cli(db: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db, "--config", CONFIG, *args])


def ok_json(db: str, *args: str) -> Any:
    result = cli(db, *args)
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.utcoffset() is not None, f"{text!r} has no UTC offset"
    return value


def staff_with_role(db: str, role: str) -> list[str]:
    engine = create_engine(db)
    try:
        with engine.connect() as c:
            rows = c.execute(select(Staff.staff_id, Staff.roles).order_by(Staff.staff_id)).all()
    finally:
        engine.dispose()
    return [sid for sid, roles in rows if role in (roles or [])]


def open_tasks(db: str, *args: str) -> list[dict[str, Any]]:
    return ok_json(db, "tasks", "--json", *args)


# --- JSON and CSV shapes ----------------------------------------------------------------------------------
def test_contract_tasks_json_has_the_contract_keys_iso_due_with_offset_and_status(db: str) -> None:
    items = open_tasks(db)
    assert items, "the demo school has open tasks"
    for t in items:
        assert TASK_KEYS <= set(t), TASK_KEYS - set(t)
        assert isinstance(t["id"], int) and isinstance(t["pupil"], str) and isinstance(t["kind"], str)
        aware(t["due"])
        aware(t["created"])
        assert t["status"] == "open" and t["outcome"] is None
    done = open_tasks(db, "--status", "done")
    assert done, "the demo's staff completed some tasks"
    for t in done:
        assert TASK_KEYS <= set(t)
        assert t["status"] == "done" and t["outcome"] in outcomes_for(t["kind"])
        aware(t["due"])


def test_contract_tasks_json_kind_and_role_are_policy_ids(db: str) -> None:
    from casework.config import load_config

    config = load_config(CONFIG)
    for t in open_tasks(db, "--status", "all"):
        assert t["kind"] in config.tasks
        assert t["role"] in config.roles


def test_contract_cases_json_keys(db: str) -> None:
    items = ok_json(db, "cases", "--json")
    assert items
    for c in items:
        assert CASE_KEYS <= set(c), CASE_KEYS - set(c)
        aware(c["opened"])
        aware(c["updated"])


def test_contract_letters_json_keys(db: str) -> None:
    items = ok_json(db, "letters", "--json")
    assert items
    for le in items:
        assert LETTER_KEYS <= set(le), LETTER_KEYS - set(le)
        aware(le["created"])
    upn = items[0]["pupil"]
    assert {le["pupil"] for le in ok_json(db, "letters", "--pupil", upn, "--json")} == {upn}


def _a_pupil_with_cases(db: str) -> str:
    return ok_json(db, "cases", "--json")[0]["pupil"]


def test_contract_pupil_show_json_keys(db: str) -> None:
    upn = _a_pupil_with_cases(db)
    p = ok_json(db, "pupil", "show", upn, "--json", "--on", DEMO_UNTIL)
    assert PUPIL_KEYS <= set(p), PUPIL_KEYS - set(p)
    assert p["upn"] == upn
    assert isinstance(p["attendance_pct"], float) and round(p["attendance_pct"], 1) == p["attendance_pct"]
    assert isinstance(p["persistent_absentee"], bool) and isinstance(p["cases"], list) and p["cases"]


def test_contract_dat1_chronology_json_entries_and_csv_header(db: str) -> None:
    upn = _a_pupil_with_cases(db)
    entries = ok_json(db, "chronology", upn, "--format", "json")
    assert entries
    for e in entries:
        assert set(CHRONOLOGY_KEYS) <= set(e), set(CHRONOLOGY_KEYS) - set(e)
        assert e["pupil"] == upn
        aware(e["at"])
    result = cli(db, "chronology", upn, "--format", "csv")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames[:len(CHRONOLOGY_KEYS)] == CHRONOLOGY_KEYS
    rows = list(reader)
    assert len(rows) == len(entries)
    assert [r["summary"].lstrip("'") for r in rows] == [e["summary"] for e in entries]


# --- task commands ---------------------------------------------------------------------------------------
def test_contract_task_complete_wrong_outcome_exits_2_listing_the_allowed_outcomes(db: str) -> None:
    task = open_tasks(db)[0]
    result = cli(db, "task", "complete", str(task["id"]), "--outcome", "WRONG")
    assert result.exit_code == 2
    assert "WRONG" in result.stderr
    assert ", ".join(outcomes_for(task["kind"])) in result.stderr
    [again] = [t for t in open_tasks(db) if t["id"] == task["id"]]
    assert again["status"] == "open"  # nothing recorded


def _unassigned_task_with_staff(db: str) -> tuple[dict[str, Any], list[str]]:
    for t in open_tasks(db):
        holders = staff_with_role(db, t["role"])
        if t["assignee"] is None and len(holders) >= 1:
            return t, holders
    pytest.fail("the demo has no unassigned open task whose role any member of staff holds")


def test_contract_task_claim_assigns_it_to_the_claimant(db: str) -> None:
    task, holders = _unassigned_task_with_staff(db)
    result = cli(db, "task", "claim", str(task["id"]), "--by", holders[0])
    assert result.exit_code == 0, result.output
    [claimed] = [t for t in open_tasks(db, "--pupil", task["pupil"]) if t["id"] == task["id"]]
    assert claimed["assignee"] == holders[0]
    outsider = next(sid for sid in staff_with_role(db, "office") + staff_with_role(db, "headteacher")
                    if sid not in holders)
    refused = cli(db, "task", "claim", str(task["id"]), "--by", outsider)
    assert refused.exit_code == 2 and f"{task['role']} role" in refused.stderr


def test_contract_task_reassign_with_a_reason_and_without_one_exits_2(db: str) -> None:
    task = open_tasks(db)[-1]
    to = staff_with_role(db, "attendance_lead")[0]
    result = cli(db, "task", "reassign", str(task["id"]), "--to", to, "--reason", "covering for absence",
                 "--at", "2026-10-02T11:15")
    assert result.exit_code == 0, result.output
    [moved] = [t for t in open_tasks(db, "--pupil", task["pupil"]) if t["id"] == task["id"]]
    assert moved["assignee"] == to
    chron = ok_json(db, "chronology", task["pupil"], "--format", "json")
    [entry] = [e for e in chron if e["ref"] == f"task:{task['id']}" and "covering for absence" in e["summary"]]
    assert dt.datetime.fromisoformat(entry["at"]) == dt.datetime(2026, 10, 2, 10, 15, tzinfo=dt.UTC)  # BST
    missing = cli(db, "task", "reassign", str(task["id"]), "--to", to)
    assert missing.exit_code == 2 and "--reason" in missing.stderr
    blank = cli(db, "task", "reassign", str(task["id"]), "--to", to, "--reason", "  ")
    assert blank.exit_code == 2 and "reason" in blank.stderr


# --- exit codes and the other JSON/CSV outputs --------------------------------------------------------------
def test_contract_pupil_show_unknown_upn_exits_2_naming_it(db: str) -> None:
    result = cli(db, "pupil", "show", "X000000000000", "--json")
    assert result.exit_code == 2
    assert "X000000000000" in result.stderr
    assert result.stdout == ""


def test_contract_ong4_radar_meeting_json_is_valid(db: str) -> None:
    rows = ok_json(db, "radar-meeting", "--on", DEMO_UNTIL, "--json")
    assert isinstance(rows, list) and rows
    assert all({"upn", "band", "band_changed"} <= set(r) for r in rows)


def test_contract_rew1_rewards_term_json_and_csv_parse(db: str) -> None:
    lists = ok_json(db, "rewards", "--term", "Autumn", "--json")
    assert isinstance(lists, dict) and lists
    assert all(isinstance(rows, list) for rows in lists.values())
    result = cli(db, "rewards", "--term", "Autumn", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == sum(len(v) for v in lists.values())
    assert {r["list"] for r in rows} <= set(lists)
    assert {r["upn"] for r in rows} == {p["upn"] for v in lists.values() for p in v}


def test_contract_rew1_rewards_unknown_term_exits_2_listing_the_terms(db: str) -> None:
    result = cli(db, "rewards", "--term", "Autumn 1", "--json")
    assert result.exit_code == 2
    assert "Autumn 1" in result.stderr and "Autumn, Spring, Summer" in result.stderr


def test_contract_pn3_pn_list_json_parses(db: str) -> None:
    rows = ok_json(db, "pn", "list", "--json")
    assert isinstance(rows, list)
    upn = _a_pupil_with_cases(db)
    assert isinstance(ok_json(db, "pn", "list", "--pupil", upn, "--json"), list)
