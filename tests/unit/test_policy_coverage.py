"""Every rule of ../shared/POLICY.md is implemented somewhere (a workflow transition, a task kind or a letter
in config) and proved by a test whose name carries its id (e.g. test_fdr3_...)."""
from __future__ import annotations

from pathlib import Path

import pytest

from casework.config import load_config
from casework.policy import check, coverage, default_policy_path, rule_ids
from workflows.registry import all_workflows

ROOT = Path(__file__).resolve().parents[2]
POLICY = default_policy_path()


def _rules() -> None:
    if not POLICY.is_file():
        pytest.skip(f"{POLICY} not found (it sits beside the repository)")


def test_every_policy_rule_is_implemented_and_tested() -> None:
    _rules()
    report = coverage(load_config(ROOT / "config.yaml"), POLICY)
    assert len(report) >= 40
    unimplemented = [r for r, c in report.items() if not (c["transitions"] or c["tasks"] or c["letters"]
                                                         or c["elsewhere"])]
    assert unimplemented == []
    assert [r for r, c in report.items() if not c["tests"]] == []


def test_workflow_rule_ids_exist_in_the_policy() -> None:
    _rules()
    used = {t.rule for wf in all_workflows().values() for t in wf.table}
    assert used - set(rule_ids(POLICY)) == set()


def test_policy_check_finds_where_heys_departs_from_the_2024_framework() -> None:
    findings = {f.rule: f for f in check(load_config(ROOT / "config.yaml"))}
    assert "85 minutes" in findings["REG-2"].policy  # 08:35 to 10:00
    assert {"REG-2", "ABS-2", "ABS-4", "PN-1", "PN-3"} <= set(findings)
    assert "80 GBP" in findings["PN-3"].framework and all(f.reference for f in findings.values())


NATIONAL = ROOT / "policies" / "national-2024.md"


def test_every_national_preset_rule_is_implemented_and_tested() -> None:
    report = coverage(load_config(ROOT / "policies" / "national-2024.yaml"), NATIONAL)
    assert len(report) == 11 and all(r.startswith("NAT-") for r in report)
    assert [r for r, c in report.items() if not (c["transitions"] or c["tasks"] or c["letters"]
                                                 or c["elsewhere"])] == []
    assert [r for r, c in report.items() if not c["tests"]] == []


def test_optional_workflow_rule_ids_exist_in_the_preset_rules() -> None:
    from workflows.registry import optional_workflows

    used = {t.rule for wf in optional_workflows().values() for t in wf.table}
    assert used and used - set(rule_ids(NATIONAL)) == set()
