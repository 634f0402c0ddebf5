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


def test_pn3_reg2_policy_check_takes_the_frameworks_figures_from_the_preset_not_from_code() -> None:
    """PN-3: with a framework whose amounts were the school's own, that departure is no longer reported, and
    the wording quotes the framework file's figures."""
    import yaml

    from casework.config import _Loader, merge_overlay, parse_config

    heys = load_config(ROOT / "config.yaml")
    overlay = yaml.load((ROOT / "policies" / "national-2024.yaml").read_text(), Loader=_Loader)  # noqa: S506
    overlay.pop("extends")
    overlay["policy"]["penalty_notices"]["amounts"] = [{"amount_gbp": 60, "paid_within_days": 21},
                                                        {"amount_gbp": 120, "paid_within_days": 28}]
    overlay["policy"]["registration"]["am"]["close"] = "10:00"
    tree = merge_overlay(yaml.safe_load((ROOT / "config.yaml").read_text()), overlay)
    framework = parse_config(tree, "a framework with the school's amounts")
    rules = {f.rule for f in check(heys, framework)}
    assert "PN-3" not in rules and "REG-2" not in rules and "PN-1" in rules
    assert "80 GBP within 21 days" in {f.rule: f.framework for f in check(heys)}["PN-3"]
