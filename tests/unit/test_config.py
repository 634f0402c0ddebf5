"""casework/config.py: the packaged policy loads; a bad one is refused with every problem by key path."""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from casework.cli import main
from casework.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "bad.yaml")
    return err.value.problems


def test_packaged_config_loads() -> None:
    cfg = load_config(ROOT / "config.yaml")
    st = cfg.policy.stages
    assert (st.stage_2.lower, st.stage_3.lower, st.stage_4.lower) == (94, 91, 87)
    assert st.min_possible_sessions == 20
    assert cfg.policy.registration.am.close == dt.time(10, 0)  # REG-2
    assert [c for c, v in cfg.policy.codes.table.items() if v.late] == ["L", "U"]
    assert cfg.code("U").category == "unauthorised" and cfg.code("L").category == "present"
    assert cfg.policy.figures.persistent_absence_below == 90.0
    assert set(cfg.codes_in("not_counted")) >= {"X", "D", "#"}


def test_reg2_unquoted_yaml_times_are_clock_times(data: dict[str, Any]) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8").replace('close: "10:00"', "close: 10:00")
    assert "close: 10:00" in text  # YAML 1.1 reads this as the integer 600
    cfg = parse_config(yaml.safe_load(text))
    assert cfg.policy.registration.am.close == dt.time(10, 0)


def test_invalid_config_lists_every_cross_reference_problem(data: dict[str, Any]) -> None:
    data["policy"]["stages"]["stage_3"]["lower"] = 95  # above stage_2's 94
    data["policy"]["codes"]["no_reason"] = "NN"
    data["tasks"]["second_call"]["role"] = "janitor"
    data["policy"]["absence"]["reasons"]["holiday"] = "HOL"
    found = problems(data)
    for start in ("policy.stages.stage_3.lower: must be below stage_2.lower",
                  "policy.codes.no_reason: 'NN' is not in policy.codes.table",
                  "tasks.second_call.role: unknown role 'janitor'",
                  "policy.absence.reasons.holiday: unknown code 'HOL'"):
        assert any(p.startswith(start) for p in found), (start, found)


def test_invalid_config_lists_every_shape_problem(data: dict[str, Any]) -> None:
    data["policy"]["registration"]["am"]["open"] = "8h35"
    data["policy"]["registration"]["pm"]["close"] = "25:00"
    del data["policy"]["figures"]["days_in_year"]
    data["policy"]["stages"]["min_possible_sessions"] = -1
    data["tasks"]["home_visit"]["colour"] = "red"
    found = problems(data)
    for start in ("policy.registration.am.open:", "policy.registration.pm.close:",
                  "policy.figures.days_in_year: Field required", "policy.stages.min_possible_sessions:",
                  "tasks.home_visit.colour:"):
        assert any(p.startswith(start) for p in found), (start, found)
    assert "8h35" in next(p for p in found if p.startswith("policy.registration.am.open"))


def test_invalid_config_lists_shape_and_cross_reference_problems_together(data: dict[str, Any]) -> None:
    data["policy"]["registration"]["am"]["open"] = "8h35"
    data["policy"]["stages"]["stage_3"]["lower"] = 95
    found = problems(data)
    assert any(p.startswith("policy.registration.am.open:") for p in found)
    assert any(p.startswith("policy.stages.stage_3.lower:") for p in found)


def test_stage_bands_must_not_gap(data: dict[str, Any]) -> None:
    data["policy"]["stages"]["stage_4"]["upper"] = 90
    expected = "policy.stages.stage_4.upper: must equal stage_3.lower (91.0) so bands do not gap"
    assert expected in problems(data)


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert problems([1, 2]) == ["(top): must be a mapping"]  # type: ignore[arg-type]
    bad = tmp_path / "bad.yaml"
    bad.write_text("school: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.problems[0].startswith("line ")


def test_cli_init_with_a_bad_config_exits_2_listing_the_problems(data: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    bad = copy.deepcopy(data)
    bad["policy"]["stages"]["stage_3"]["lower"] = 95
    bad["tasks"]["second_call"]["role"] = "janitor"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    db = tmp_path / "casework.db"
    result = CliRunner().invoke(main, ["--config", str(path), "--db", f"sqlite:///{db}", "init"])
    assert result.exit_code == 2, result.output
    assert "policy.stages.stage_3.lower: must be below stage_2.lower" in result.output
    assert "tasks.second_call.role: unknown role 'janitor'" in result.output
    assert not db.exists()  # the config is checked before the database is touched


# --- presets: `extends` (policies/national-2024.yaml is an overlay of the school's config.yaml) ----------
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_merges_mappings_and_replaces_values_and_lists(tmp_path: Path) -> None:
    base = load_config(ROOT / "config.yaml")
    f = _write(tmp_path / "p.yaml", f"extends: {ROOT / 'config.yaml'}\n"
               "policy:\n  meetings: {rearrange_within_days: 5}\n  punctuality: {parentmail_at_lates: [4]}\n")
    cfg = load_config(f)
    assert cfg.policy.meetings.rearrange_within_days == 5  # MTG-2 replaced ...
    assert cfg.policy.meetings.missed_before_referral == base.policy.meetings.missed_before_referral  # ... MTG-3 kept
    assert cfg.policy.punctuality.parentmail_at_lates == [4]  # a list replaces, never appends
    assert cfg.policy.stages == base.policy.stages and cfg.tasks == base.tasks


def test_extends_replace_tag_replaces_a_whole_mapping(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.yaml", "extends: default\npolicy:\n  penalty_notices:\n"
               "    count_separately: !replace {all_unauthorised: [G, N, O, U]}\n")
    assert list(load_config(f).policy.penalty_notices.count_separately) == ["all_unauthorised"]
    merged = _write(tmp_path / "m.yaml", "extends: default\npolicy:\n  penalty_notices:\n"
                    "    count_separately: {all_unauthorised: [G, N, O, U]}\n")
    assert len(load_config(merged).policy.penalty_notices.count_separately) == 3  # without the tag: merged


def test_extends_a_loop_a_missing_base_and_a_bad_value_are_clear_errors(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    _write(a, "extends: b.yaml\n")
    _write(b, "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loop of extends"):
        load_config(a)
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(_write(tmp_path / "c.yaml", "extends: nowhere.yaml\n"))
    bad = _write(tmp_path / "d.yaml", "extends: default\npolicy:\n  meetings: {rearrange_within_days: seven}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert any(p.startswith("policy.meetings.rearrange_within_days:") for p in err.value.problems)


def test_the_national_preset_is_a_valid_overlay_and_policy_check_names_the_heys_departures(tmp_path: Path) -> None:
    runner = CliRunner()
    national = runner.invoke(main, ["policy", "check", "--config", str(ROOT / "policies" / "national-2024.yaml")])
    assert national.exit_code == 0 and national.output.strip().endswith("0 difference(s) from the national framework")
    heys = runner.invoke(main, ["--config", str(ROOT / "config.yaml"), "policy", "check", "--json"])
    rules = {f["rule"]: f["policy"] for f in yaml.safe_load(heys.output)}
    assert "85 minutes" in rules["REG-2"]  # AM register open 08:35-10:00
    assert {"ABS-2", "ABS-4", "PN-1", "PN-2", "PN-3"} <= rules.keys()
    missing = runner.invoke(main, ["policy", "check", "--config", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_nat_pn2_improvement_period_bounds_must_be_shortest_then_longest(data: dict[str, Any]) -> None:
    data["policy"]["penalty_notices"]["notice_to_improve"] = {
        "improvement_period": {"weeks": 4, "time": "18:00"}, "allowed_weeks": [6, 3]}
    found = problems(data)
    assert any(p.startswith("policy.penalty_notices.notice_to_improve.allowed_weeks:") and "[6.0, 3.0]" in p
               for p in found), found


def test_reg4_reasons_on_attended_sessions_must_be_known_reasons(data: dict[str, Any]) -> None:
    data["policy"]["absence"]["reasons_on_attended_sessions"] = ["truancy", "skiving"]
    assert problems(data) == ["policy.absence.reasons_on_attended_sessions[1]: 'skiving' is not one of "
                              "policy.absence.reasons"]


def test_stgr_improvement_by_another_definition_is_refused_not_silently_never_met(data: dict[str, Any]) -> None:
    data["policy"]["improvement"]["attendance_at_or_above_band_upper"] = False
    assert problems(data) == ["policy.improvement.attendance_at_or_above_band_upper: Input should be True"]
