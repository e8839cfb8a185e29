"""What a checkpoint measures: window, run key, expected config, baseline and config segments (monitor.planning)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.checks.base import Thresholds
from monitor.domain import Checkpoint, ExpectedConfig, FlagConfig, SegmentPlan, Status, Window
from monitor.errors import ConfigError
from monitor.planning import (
    CheckpointRequest,
    auto_phase,
    compute_window,
    config_plan,
    pick_baseline,
    run_key_of,
)
from monitor.settings import load_settings

NOW = datetime(2026, 11, 22, 14, 7, 31, tzinfo=UTC)
WINDOW = Window(start=datetime(2026, 11, 22, 13, 0, tzinfo=UTC), end=datetime(2026, 11, 22, 14, 0, tzinfo=UTC))


def _cp(label: str, status: Status, created: datetime, rollout: int = 5) -> Checkpoint:
    return Checkpoint(
        feature="f",
        phase="p",
        label=label,
        run_key=label,
        status=status,
        window=WINDOW,
        live_config={"enabled": True, "rollout_percentage": rollout},
        expected=ExpectedConfig(),
        checks=[],
        created_at=created,
        allowlist_hashes=["aa"],
    )


def test_window_ends_at_now_minus_lag_floored() -> None:
    window, ends_now = compute_window(load_settings(), CheckpointRequest("f", "p", "l"), NOW)
    assert window.end == datetime(2026, 11, 22, 14, 2, tzinfo=UTC) and window.start == window.end - timedelta(hours=1)
    assert ends_now


def test_explicit_end_in_the_past_is_not_now() -> None:
    end = NOW - timedelta(hours=3)
    window, ends_now = compute_window(load_settings(), CheckpointRequest("f", "p", "l", end=end, window="30m"), NOW)
    assert window.end == end and window.seconds == 1800 and not ends_now


def test_end_in_the_future_is_refused() -> None:
    with pytest.raises(ConfigError, match="future"):
        compute_window(load_settings(), CheckpointRequest("f", "p", "l", end=NOW + timedelta(hours=1)), NOW)


def test_default_run_key_names_feature_phase_label_and_end() -> None:
    assert run_key_of(CheckpointRequest("f", "p", "l"), WINDOW) == "f|p|l|2026-11-22T14:00:00+00:00"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("2026-11-22T14:05:00Z", "f|p|2026-11-22T14:05:00Z", id="scheduler-time-is-scoped"),
        pytest.param("f|p|hourly|2026-11-22T14:05:00Z", "f|p|hourly|2026-11-22T14:05:00Z", id="already-scoped"),
    ],
)
def test_explicit_run_key_is_scoped_to_feature_and_phase(given: str, stored: str) -> None:
    assert run_key_of(CheckpointRequest("f", "p", "l", run_key=given), WINDOW) == stored


def test_baseline_is_the_first_pass_or_the_named_label() -> None:
    t = WINDOW.end
    history = [_cp("h3", Status.PASS, t), _cp("h2", Status.PASS, t), _cp("h1", Status.WARN, t)]  # newest first
    assert pick_baseline(history, None).label == "h2"  # type: ignore[union-attr]
    assert pick_baseline(history, "h1").label == "h1"  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        pick_baseline(history, "nope")


def _config(changed: datetime) -> FlagConfig:
    return FlagConfig(key="f", enabled=True, rollout_percentage=10, updated_at=changed)


def _kinds(plan: SegmentPlan) -> list[str]:
    return [segment.judged_against for segment in plan.segments]


@pytest.mark.parametrize(
    ("changed", "kinds"),
    [
        pytest.param(WINDOW.start - timedelta(hours=2), ["live"], id="long-before"),
        pytest.param(WINDOW.start - timedelta(seconds=30), ["grace", "live"], id="cache-still-warm-at-start"),
        pytest.param(WINDOW.start + timedelta(minutes=20), ["unverifiable", "grace", "live"], id="inside"),
        pytest.param(WINDOW.end + timedelta(minutes=3), ["unverifiable"], id="after-the-end"),
    ],
)
def test_config_plan_when_a_change_can_touch_the_window(changed: datetime, kinds: list[str]) -> None:
    plan = config_plan(_config(changed), WINDOW, Thresholds(), [])
    assert _kinds(plan) == kinds
    grace = [s for s in plan.segments if s.judged_against == "grace"]
    assert all(s.until_ms - s.from_ms <= 60_000 for s in grace)


def test_previous_config_from_the_audit_row_of_that_change() -> None:
    changed = WINDOW.end + timedelta(minutes=3)
    audit = [
        {
            "at": changed,
            "before": {"enabled": True, "rollout_percentage": 5},
            "after": {"enabled": True, "rollout_percentage": 10},
        }
    ]
    history = [_cp("h1", Status.PASS, WINDOW.start, rollout=1)]  # older than the audit: the audit wins
    plan = config_plan(_config(changed), WINDOW, Thresholds(), history, audit=audit, allowlist_hashes=frozenset({"bb"}))
    assert _kinds(plan) == ["previous"]
    assert plan.in_force.rollout_percentage == 5 and plan.in_force.allowlist_hashes == ("bb",)


def test_previous_config_from_the_last_checkpoint_before_the_change() -> None:
    changed = WINDOW.start + timedelta(minutes=20)
    history = [_cp("h2", Status.PASS, changed + timedelta(minutes=1), 10), _cp("h1", Status.PASS, WINDOW.start, 5)]
    plan = config_plan(_config(changed), WINDOW, Thresholds(), history)
    assert _kinds(plan) == ["previous", "grace", "live"]
    assert plan.segments[0].states[0].rollout_percentage == 5


def test_previous_config_unknown() -> None:
    plan = config_plan(_config(WINDOW.start + timedelta(minutes=5)), WINDOW, Thresholds(), [])
    assert _kinds(plan)[0] == "unverifiable"


@pytest.mark.parametrize(
    ("enabled", "rollout", "allowlist", "phase"),
    [
        pytest.param(True, 5, ("a",), "rollout-5pct", id="rollout"),
        pytest.param(True, 0, ("a",), "allowlist", id="allowlist-only"),
        pytest.param(True, 0, (), "rollout-0pct", id="nothing-on"),
        pytest.param(False, 10, ("a",), "disabled", id="disabled"),
    ],
)
def test_auto_phase_is_named_after_the_live_rollout(
    enabled: bool, rollout: int, allowlist: tuple[str, ...], phase: str
) -> None:
    config = FlagConfig(key="f", enabled=enabled, rollout_percentage=rollout, allowlist=allowlist)
    assert auto_phase(config) == phase
