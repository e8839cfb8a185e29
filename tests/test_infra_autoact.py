"""The template's cadence and acting-on-the-gate parameters (issue 14): wired to the settings they name, off by
default, and no new IAM permission (the flag-table write is a database grant, documented in infra/README.md)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_cfn import load_template

from monitor.errors import ConfigError
from monitor.settings import Settings, window_length

WIRED = {
    "CheckpointWindow": ("BETA_MONITOR_WINDOW", "1h"),
    "AutoRollback": ("BETA_MONITOR_AUTO_ROLLBACK", "false"),
    "RollbackTo": ("BETA_MONITOR_ROLLBACK_TO", "previous"),
    "AutoAdvance": ("BETA_MONITOR_AUTO_ADVANCE", "false"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def environment(template: dict[str, Any]) -> dict[str, Any]:
    [definition] = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in definition["Environment"]}


@pytest.mark.parametrize("parameter", sorted(WIRED))
def test_each_parameter_sets_its_setting_with_the_settings_default(template: dict[str, Any], parameter: str) -> None:
    variable, default = WIRED[parameter]
    assert environment(template)[variable] == {"Ref": parameter}
    assert template["Parameters"][parameter]["Default"] == default
    field = Settings.model_fields[variable.removeprefix("BETA_MONITOR_").lower()]
    assert str(field.default).lower() == default


def test_allowed_values_are_what_the_settings_accept(template: dict[str, Any]) -> None:
    for value in template["Parameters"]["RollbackTo"]["AllowedValues"]:
        assert Settings(rollback_to=value).rollback_to == value  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="previous"):
        Settings(rollback_to="halfway")  # type: ignore[call-arg]
    for name in ("AutoRollback", "AutoAdvance"):
        assert template["Parameters"][name]["AllowedValues"] == ["false", "true"]


@pytest.mark.parametrize(("window", "ok"), [("10m", True), ("1h", True), ("90m", True), ("10 minutes", False)])
def test_window_pattern_admits_what_the_cli_reads(template: dict[str, Any], window: str, ok: bool) -> None:
    import re

    pattern = template["Parameters"]["CheckpointWindow"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, window)) is ok
    if ok:
        window_length(window)
    else:
        with pytest.raises(ConfigError):
            window_length(window)


def test_acting_on_the_gate_adds_no_iam_permission(template: dict[str, Any]) -> None:
    statements = template["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {a for a in actions if a.split(":")[0] in ("rds", "rds-db", "rds-data", "secretsmanager")}
    assert "rate(10 minutes)" in template["Parameters"]["ScheduleExpression"]["Description"]
