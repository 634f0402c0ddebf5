"""`casework demo` on an empty folder: the embedded SQLite database, the sample school simulated through the
engine with staff acting, the report and the demo accounts; a second run changes nothing."""
from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from casework.cli import main


def _counts(db: Path) -> tuple[int, ...]:
    eng = create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        counts = tuple(c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                       for t in ("pupils", "cases", "tasks", "letters", "chronology"))
    eng.dispose()
    return counts


def test_demo_creates_casework_db_and_is_idempotent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CASEWORK_DB", raising=False)
    monkeypatch.delenv("CASEWORK_CONFIG", raising=False)
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--pupils", "60", "--until", "2026-09-25"])
    assert first.exit_code == 0, first.output
    assert os.path.exists(tmp_path / "casework.db")
    for text_ in ("Cases by workflow and state", "Open tasks by role", "Letters and messages by template",
                  "first_day", "escalation", "casework serve", "heys-demo-2026"):
        assert text_ in first.output, text_
    before = _counts(tmp_path / "casework.db")
    assert before[0] == 60 and all(before)
    again = runner.invoke(main, ["demo", "--pupils", "60", "--until", "2026-09-25"])
    assert again.exit_code == 0 and "already holds a school of 60 pupils" in again.output
    assert _counts(tmp_path / "casework.db") == before


def test_default_demo_is_300_pupils_through_the_autumn_term_with_every_workflow_at_work(
        tmp_path: Path, monkeypatch) -> None:
    """The issue's demo: no options, 300 pupils, the autumn term (both autumn half terms), and a case of every
    workflow the policy runs (STG, FDR, MTG, ONG, PUN, REC, ABS, PN, CW, CME, SUS...)."""
    from casework.context import App
    from workflows.registry import active_workflows

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CASEWORK_DB", raising=False)
    monkeypatch.delenv("CASEWORK_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "simulating 300 pupils to 18 December 2026" in result.output
    eng = create_engine(f"sqlite:///{tmp_path / 'casework.db'}")
    with eng.connect() as c:
        pupils = c.execute(text("SELECT count(*) FROM pupils")).scalar_one()
        last_day = c.execute(text("SELECT count(*) FROM marks WHERE date = '2026-12-18'")).scalar_one()
        workflows = set(c.execute(text("SELECT DISTINCT workflow FROM cases")).scalars())
    eng.dispose()
    assert pupils == 300 and last_day >= 2 * 290  # the term's last day is registered (a few may be off roll)
    active = set(active_workflows(App().config))
    assert len(active) == 13 and workflows == active, sorted(active - workflows)
    assert f"workflows at work: {len(active)} of {len(active)}" in result.output
