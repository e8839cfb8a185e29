"""The gate: ADVANCE / HOLD / ROLLBACK over a phase's checkpoints, with the command that carries it out."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers_checks import FEATURE, checkpoint, result

from monitor.domain import Checkpoint, FlagConfig, GateAction, GateDecision, Status
from monitor.gate import decide_gate, next_label, no_checkpoint_gate

STEPS = [0, 1, 5, 10, 25, 50, 100]
CHANGED = datetime(2026, 11, 22, 15, 55, tzinfo=UTC)
P, W, F, N = Status.PASS, Status.WARN, Status.FAIL, Status.NODATA


def cp(
    label: str,
    status: Status = P,
    *,
    rate: float = 0.002,
    error_rate: Status | None = None,
    determinism: Status = P,
    cohort: Status = P,
    cohort_ev: dict[str, Any] | None = None,
    rollout: int = 5,
    enabled: bool = True,
) -> Checkpoint:
    checks = [
        result("error_rate", error_rate or (F if rate > 0.01 else P), rate=rate, requests=2000, min_requests=100),
        result("cohort_regression", cohort, **(cohort_ev or {})),
        result("determinism", determinism),
        result("config_drift", P),
        result("latency", Status.SKIP),
        result("data_quality", P),
    ]
    # One hourly window each, in label order (h1 before h2): two PASS checkpoints cover two hours.
    digits = "".join(ch for ch in label if ch.isdigit())
    return checkpoint(label, status, checks, rollout=rollout, enabled=enabled, hours_ago=50 - int(digits or 0))


def flag(rollout: int | None, enabled: bool = True) -> FlagConfig | None:
    if rollout is None:
        return None
    return FlagConfig(key=FEATURE, enabled=enabled, rollout_percentage=rollout, updated_at=CHANGED)


def gate(
    checkpoints: list[Checkpoint], live: int | None = 5, steps: list[int] = STEPS, enabled: bool = True
) -> GateDecision:
    return decide_gate(FEATURE, "p5", checkpoints, max_5xx_rate=0.01, phase_steps=steps, live=flag(live, enabled))


@pytest.mark.parametrize(
    ("checkpoints", "action"),
    [
        pytest.param([], GateAction.HOLD, id="no-checkpoint"),
        pytest.param([cp("h1")], GateAction.HOLD, id="one-pass"),
        pytest.param([cp("h1"), cp("h2")], GateAction.ADVANCE, id="two-pass"),
        pytest.param([cp("h1", W), cp("h2"), cp("h3")], GateAction.ADVANCE, id="warn-then-two-pass"),
        pytest.param([cp("h1"), cp("h2", W), cp("h3")], GateAction.HOLD, id="streak-broken"),
        pytest.param([cp("h1", F, rate=0.02), cp("h2", F, rate=0.03)], GateAction.ROLLBACK, id="5xx-over-twice"),
        pytest.param([cp("h1"), cp("h2", F, rate=0.03)], GateAction.HOLD, id="5xx-over-once"),
        pytest.param(
            [cp("h1", F, rate=0.02), cp("h2"), cp("h3", F, rate=0.02)], GateAction.HOLD, id="5xx-over-not-consecutive"
        ),
        pytest.param(
            [cp("h1", W, rate=0.05, error_rate=N), cp("h2", W, rate=0.05, error_rate=N)],
            GateAction.HOLD,
            id="high-rate-on-too-few-requests-is-not-rollback",
        ),
        pytest.param([cp("h1"), cp("h2", F, determinism=F)], GateAction.ROLLBACK, id="determinism-fail"),
        pytest.param([cp("h1"), cp("h2", F, cohort=F)], GateAction.ROLLBACK, id="cohort-fail"),
        pytest.param([cp("h1", F, cohort=F), cp("h2"), cp("h3")], GateAction.HOLD, id="fail-since-phase-began"),
        pytest.param(
            [cp("h1"), cp("h2", determinism=Status.NODATA)], GateAction.HOLD, id="determinism-not-pass-on-latest"
        ),
    ],
)
def test_gate_action(checkpoints: list[Checkpoint], action: GateAction) -> None:
    assert gate(checkpoints).action is action


def test_two_pass_advances_to_the_next_step() -> None:
    decision = gate([cp("h1"), cp("h2")])
    assert decision.action is GateAction.ADVANCE
    assert decision.command == f"beta-monitor rollout set {FEATURE} 10 --reason 'gate ADVANCE after h2'"
    assert decision.missing == []
    assert "2 consecutive PASS checkpoints (latest h2)" in decision.reasons


def test_one_pass_holds_for_one_more() -> None:
    decision = gate([cp("h1")])
    assert decision.action is GateAction.HOLD
    assert decision.missing == ["1 more PASS checkpoint"]
    assert decision.command == f"beta-monitor checkpoint {FEATURE} p5 h2"


def test_no_checkpoint_yet() -> None:
    decision = gate([])
    assert decision.reasons == [f"no checkpoint stored for {FEATURE} / p5"]
    assert decision.command == f"beta-monitor checkpoint {FEATURE} p5 checkpoint-1"


@pytest.mark.parametrize(
    ("known", "fragment"),
    [
        pytest.param(["p1", "p2"], "(phases with checkpoints: p1, p2)", id="names-the-known-phases"),
        pytest.param([], f"(no phase of {FEATURE} has one yet)", id="none-at-all"),
    ],
)
def test_a_phase_never_seen_says_so(known: list[str], fragment: str) -> None:
    decision = no_checkpoint_gate(FEATURE, "p9", known)
    assert decision.action is GateAction.HOLD
    assert decision.reasons == [f"no checkpoint stored for {FEATURE} / p9 {fragment}"]


def judged_at(label: str, judged: int, live_config: int, status: Status = F) -> Checkpoint:
    """A checkpoint that read `live_config` % but judged its window at `judged` % (the flag changed after it)."""
    point = cp(label, status, determinism=F if status is F else P, rollout=live_config)
    point.checks = [
        result("determinism", c.status, in_force={"enabled": True, "rollout_percentage": judged})
        if c.name == "determinism"
        else c
        for c in point.checks
    ]
    return point


def test_the_rollback_goes_below_the_rollout_the_phase_was_judged_at_not_the_live_one() -> None:
    decision = gate([judged_at("h1", 10, 5)], live=None)
    assert shlex.split(decision.command)[4] == "5"
    assert decision.note is None


@pytest.mark.parametrize(
    ("live", "enabled", "note"),
    [
        pytest.param(10, True, None, id="still-at-the-judged-rollout"),
        pytest.param(
            5,
            True,
            "already rolled back to 5% at 2026-11-22T15:55:00Z (this phase was judged at 10%): the command is carried "
            "out, nothing more to run",
            id="rolled-back-to-the-step",
        ),
        pytest.param(
            1,
            True,
            "already rolled back to 1% at 2026-11-22T15:55:00Z, past the command's step (this phase was judged at "
            "10%): do not run the command",
            id="rolled-back-further",
        ),
        pytest.param(0, False, "already rolled back to disabled", id="switched-off"),
    ],
)
def test_an_already_rolled_back_flag_is_said_and_the_command_stays_the_same(
    live: int, enabled: bool, note: str | None
) -> None:
    decision = gate([judged_at("h1", 10, 10)], live=live, enabled=enabled)
    assert decision.action is GateAction.ROLLBACK
    assert shlex.split(decision.command)[4] == "5"  # the step below 10%, whatever the flag is now
    assert (decision.note is None) if note is None else (decision.note or "").startswith(note)


def test_an_already_advanced_flag_is_said() -> None:
    decision = gate([cp("h1"), cp("h2")], live=10)
    assert decision.action is GateAction.ADVANCE
    assert shlex.split(decision.command)[4] == "10"
    assert (decision.note or "").startswith("already advanced to 10%")


def test_5xx_twice_rolls_back_one_step() -> None:
    decision = gate([cp("h1", F, rate=0.02), cp("h2", F, rate=0.03)])
    assert decision.reasons == ["5xx above 1.00% on 2 consecutive checkpoints (2.00% at h1, 3.00% at h2)"]
    args = shlex.split(decision.command)
    assert args[:5] == ["beta-monitor", "rollout", "set", FEATURE, "1"]
    assert args[5:] == ["--reason", "gate ROLLBACK: 5xx above 1.00% on 2 consecutive checkpoints"]


def test_5xx_once_says_a_second_rolls_back() -> None:
    decision = gate([cp("h1"), cp("h2", F, rate=0.03)])
    assert any("a second one in a row rolls back" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("live", "recorded", "steps", "target"),
    [
        pytest.param(5, 5, STEPS, ["1"], id="previous-step"),
        pytest.param(1, 1, STEPS, ["0"], id="down-to-allowlist-only"),
        pytest.param(0, 0, STEPS, ["0", "--disable"], id="nothing-below-disables"),
        pytest.param(1, 1, [1, 5, 100], ["0", "--disable"], id="plan-without-0"),
        pytest.param(None, 10, STEPS, ["5"], id="live-unknown-uses-the-checkpoint-config"),
    ],
)
def test_rollback_target(live: int | None, recorded: int, steps: list[int], target: list[str]) -> None:
    points = [cp("h1", rollout=recorded), cp("h2", F, determinism=F, rollout=recorded)]
    args = shlex.split(gate(points, live=live, steps=steps).command)
    assert args[:4] == ["beta-monitor", "rollout", "set", FEATURE]
    assert args[4:-2] == target
    assert args[-2] == "--reason" and args[-1].startswith("gate ROLLBACK: determinism FAIL at h2")


@pytest.mark.parametrize(
    ("live", "enabled", "expected"),
    [
        pytest.param(5, True, f"beta-monitor rollout set {FEATURE} 10 --reason 'gate ADVANCE after h2'", id="5-to-10"),
        pytest.param(0, True, f"beta-monitor rollout set {FEATURE} 1 --reason 'gate ADVANCE after h2'", id="allowlist"),
        pytest.param(
            5,
            False,
            f"beta-monitor rollout set {FEATURE} 10 --enable --reason 'gate ADVANCE after h2'",
            id="disabled-enables",
        ),
        pytest.param(100, True, f"beta-monitor report {FEATURE} p5", id="complete"),
    ],
)
def test_advance_command(live: int, enabled: bool, expected: str) -> None:
    decision = gate([cp("h1", rollout=live, enabled=enabled), cp("h2", rollout=live, enabled=enabled)], live=live)
    assert decision.action is GateAction.ADVANCE
    assert decision.command == expected


def test_fail_since_phase_began_blocks_advance() -> None:
    decision = gate([cp("h1", F, cohort=F), cp("h2"), cp("h3")])
    assert any(r.startswith("FAIL since the phase began (h1)") for r in decision.reasons)
    assert "a new phase once the cause of the FAIL is fixed" in decision.missing


@pytest.mark.parametrize(
    ("evidence", "fragment"),
    [
        pytest.param({"needed_hours": 3.2, "needed_requests": 70}, "≈3 h more traffic at this rate", id="hours"),
        pytest.param({"needed_hours": 0.5, "needed_requests": 10}, "≈30 min more traffic at this rate", id="minutes"),
        pytest.param({"needed_hours": None, "needed_requests": 100}, "100 more requests in the cohorts", id="no-rate"),
    ],
)
def test_hold_says_how_much_more_traffic(evidence: dict[str, Any], fragment: str) -> None:
    decision = gate([cp("h1"), cp("h2", W, cohort=N, cohort_ev=evidence)])
    assert decision.action is GateAction.HOLD
    assert any(fragment in m for m in decision.missing), decision.missing
    assert "2 more PASS checkpoints" in decision.missing


@pytest.mark.parametrize(
    ("hours", "fragment"),
    [
        pytest.param(2.6, "≈3 h more traffic at this rate (cohort_regression: ON worse this hour", id="hours"),
        pytest.param(0.43, "≈26 min more traffic at this rate (cohort_regression: ON worse", id="minutes"),
        pytest.param(None, None, id="no-projection"),
    ],
)
def test_hold_on_an_undecided_warn_says_how_long_to_a_verdict(hours: float | None, fragment: str | None) -> None:
    decision = gate([cp("h1"), cp("h2", W, cohort=W, cohort_ev={"hours_to_decide": hours})])
    assert decision.action is GateAction.HOLD
    cohort = [m for m in decision.missing if "cohort_regression" in m]
    assert cohort == ([] if fragment is None else [next(m for m in cohort if fragment in m)])


def test_a_pass_cohort_adds_no_traffic_to_wait_for() -> None:
    decision = gate([cp("h1"), cp("h2", cohort_ev={"hours_to_decide": 50.0, "needed_hours": 2.0})])
    assert decision.action is GateAction.ADVANCE and decision.missing == []


def test_command_arguments_are_quoted() -> None:
    decision = decide_gate(
        "flag; rm -rf /", "phase 1", [cp("it's h2")], max_5xx_rate=0.01, phase_steps=STEPS, live=flag(5)
    )
    assert shlex.split(decision.command) == ["beta-monitor", "checkpoint", "flag; rm -rf /", "phase 1", "it's h3"]
    decision = decide_gate("flag x", "p", [cp("a'1"), cp("a'2")], max_5xx_rate=0.01, phase_steps=STEPS, live=flag(5))
    assert shlex.split(decision.command) == [
        "beta-monitor",
        "rollout",
        "set",
        "flag x",
        "10",
        "--reason",
        "gate ADVANCE after a'2",
    ]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("h3", "h4", id="plain"),
        pytest.param("hour-09", "hour-10", id="padded"),
        pytest.param("baseline", "baseline-2", id="no-number"),
        pytest.param(None, "checkpoint-1", id="none"),
    ],
)
def test_next_label(label: str | None, expected: str) -> None:
    assert next_label(label) == expected
