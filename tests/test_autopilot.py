"""Acting on the gate (monitor.autopilot), the phase-log entry form at a sub-hourly cadence and the gate's hours of
evidence: pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers_checks import FEATURE, result

from monitor.autopilot import Autopilot, advance_target, rollback_target
from monitor.domain import Checkpoint, ExpectedConfig, GateAction, Status, Window
from monitor.domain.act import ActKind, ActOutcome, AutoAct, FlagLevel
from monitor.gate import decide_gate
from monitor.phaselog.cadence import BRIEF, FULL, entry_form
from monitor.settings import Settings

STEPS = [0, 1, 5, 10, 25, 50, 100]
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
P, W, F = Status.PASS, Status.WARN, Status.FAIL


def level(rollout: int, enabled: bool = True) -> FlagLevel:
    return FlagLevel(enabled=enabled, rollout_percentage=rollout)


@pytest.mark.parametrize(
    ("judged", "to", "target"),
    [
        pytest.param(level(10), "previous", level(5), id="previous-step"),
        pytest.param(level(1), "previous", level(0), id="to-the-allowlist-step"),
        pytest.param(level(0), "previous", level(0, enabled=False), id="below-the-first-step-disables"),
        pytest.param(level(7), "previous", level(5), id="off-plan-goes-to-the-step-below"),
        pytest.param(level(50), "zero", level(0), id="zero-keeps-the-allowlist"),
        pytest.param(level(50), "disable", level(50, enabled=False), id="disable-keeps-the-percentage"),
    ],
)
def test_rollback_target(judged: FlagLevel, to: str, target: FlagLevel) -> None:
    assert rollback_target(judged, STEPS, to) == target


@pytest.mark.parametrize(
    ("judged", "target"),
    [
        pytest.param(level(5), level(10), id="next-step"),
        pytest.param(level(7), level(10), id="off-plan"),
        pytest.param(level(100), None, id="complete"),
        pytest.param(level(5, enabled=False), None, id="never-turns-a-flag-on"),
    ],
)
def test_advance_target(judged: FlagLevel, target: FlagLevel | None) -> None:
    assert advance_target(judged, STEPS) == target


def cp(
    label: str,
    status: Status = P,
    *,
    minutes: int = 60,
    index: int = 1,
    rate: float = 0.002,
    cohort: Status = P,
    rollout: int = 10,
    entry: str = FULL,
    judged_at: int | None = None,
) -> Checkpoint:
    """The index-th window of `minutes` of the phase (index 1 ends at T0 + minutes)."""
    end = T0 + timedelta(minutes=minutes * index)
    checks = [
        result("error_rate", F if rate > 0.01 else P, rate=rate, requests=2000, min_requests=100),
        result("cohort_regression", cohort),
        result("determinism", P, **({} if judged_at is None else {"in_force": {"rollout_percentage": judged_at}})),
    ]
    made = Checkpoint(
        id=index,
        feature=FEATURE,
        phase="p",
        label=label,
        run_key=f"{FEATURE}|p|{label}",
        status=status,
        window=Window(start=end - timedelta(minutes=minutes), end=end),
        live_config={"key": FEATURE, "enabled": True, "rollout_percentage": rollout, "allowlist_size": 0},
        expected=ExpectedConfig(),
        checks=checks,
        created_at=end,
        entry=entry,
    )
    return made


def gated(checkpoints: list[Checkpoint]) -> list[Checkpoint]:
    """Each checkpoint with the gate over the phase up to it (as the runner stores it)."""
    for i, c in enumerate(checkpoints):
        c.gate = decide_gate(FEATURE, "p", checkpoints[: i + 1], max_5xx_rate=0.01, phase_steps=STEPS, live=None)
    return checkpoints


def pilot(**settings: Any) -> Autopilot:
    return Autopilot(Settings(**settings), None, None, lambda: T0)


def test_no_switch_no_plan_and_rollback_never_advances() -> None:
    failing = gated([cp("h1", F, cohort=F)])[-1]
    assert pilot().plan(failing, []) is None
    assert pilot(auto_advance=True).plan(failing, []) is None  # an advance switch never rolls back
    passing = gated([cp("h1", index=1), cp("h2", index=2)])
    assert passing[-1].gate is not None and passing[-1].gate.action is GateAction.ADVANCE
    assert pilot(auto_rollback=True).plan(passing[-1], [passing[0]]) is None  # nor a rollback switch advance


def test_planned_rollback_and_its_guards() -> None:
    failing = gated([cp("h1", F, cohort=F)])[-1]
    planned = pilot(auto_rollback=True).plan(failing, [])
    assert planned == AutoAct(
        kind=ActKind.ROLLBACK, outcome=ActOutcome.DRY_RUN, before=level(10), after=level(5), actor="beta-monitor (auto)"
    )
    assert planned.line == "Dry run: auto-rollback would roll back 10% → 5%; nothing changed"
    done = planned.model_copy(update={"outcome": ActOutcome.DONE, "at": T0})
    assert done.line == "Rolled back 10% → 5% at 2026-11-27T00:00:00Z, by beta-monitor (auto)"
    earlier = cp("h0", F, cohort=F, index=0)
    earlier.gate = failing.gate.model_copy(update={"act": done}) if failing.gate else None
    spent = pilot(auto_rollback=True).plan(failing, [earlier])
    assert spent is not None and spent.outcome is ActOutcome.SKIPPED
    assert spent.detail.startswith("this phase already had its automatic change at h0 (Rolled back 10% → 5%")
    moved = gated([cp("h1", F, cohort=F, rollout=5, judged_at=10)])[-1]  # read 5%, the window judged at 10%
    refused = pilot(auto_rollback=True).plan(moved, [])
    assert refused is not None and refused.outcome is ActOutcome.SKIPPED
    assert refused.detail == "the flag moved during the window (judged at 10%, read 5%): a person is acting"


@pytest.mark.parametrize(
    ("statuses", "minutes", "forms"),
    [
        pytest.param([P] * 4, 60, [FULL] * 4, id="hourly-always-full"),
        pytest.param([P] * 13, 10, [FULL] + [BRIEF] * 5 + [FULL] + [BRIEF] * 5 + [FULL], id="ten-minutes"),
        pytest.param([P, P, W, W, P, P], 10, [FULL, BRIEF, FULL, BRIEF, FULL, BRIEF], id="status-changes"),
        pytest.param([P] * 5, 15, [FULL, BRIEF, BRIEF, BRIEF, FULL], id="fifteen-minutes"),
    ],
)
def test_entry_form(statuses: list[Status], minutes: int, forms: list[str]) -> None:
    history: list[Checkpoint] = []
    got = []
    for i, status in enumerate(statuses, start=1):
        current = cp(f"m{i}", status, minutes=minutes, index=i)
        current.entry = entry_form(current, history)
        got.append(current.entry)
        history.insert(0, current)
    assert got == forms


def test_entry_form_is_full_when_the_job_acts() -> None:
    first = cp("m1", F, minutes=10, index=1)
    second = cp("m2", F, minutes=10, index=2)
    assert entry_form(second, [first]) == BRIEF
    assert entry_form(second, [first], acting=True) == FULL


def test_the_gate_counts_hours_of_pass_evidence_not_checkpoints() -> None:
    ten = gated([cp(f"m{i}", minutes=10, index=i) for i in range(1, 13)])
    assert [c.gate.action for c in ten if c.gate] == [GateAction.HOLD] * 11 + [GateAction.ADVANCE]
    assert ten[5].gate is not None
    assert ten[5].gate.missing == ["6 more PASS checkpoints (≈1 h more PASS evidence: 2 h needed)"]
    assert ten[5].gate.reasons == [
        "6 consecutive PASS checkpoints so far (latest m6) covering ≈1 h of windows, 2 h of PASS evidence needed"
    ]
    hourly = gated([cp("h1", index=1), cp("h2", index=2)])
    assert hourly[-1].gate is not None and hourly[-1].gate.action is GateAction.ADVANCE
    same_hour = gated([cp("h1", index=1), cp("h1-again", index=1)])  # one hour of windows seen twice
    assert same_hour[-1].gate is not None and same_hour[-1].gate.action is GateAction.HOLD


def test_sub_hourly_5xx_rolls_back_after_two_hours_of_windows() -> None:
    over = gated([cp(f"m{i}", F, minutes=10, index=i, rate=0.03) for i in range(1, 13)])
    actions = [c.gate.action for c in over if c.gate]
    assert actions == [GateAction.HOLD] * 11 + [GateAction.ROLLBACK]
    assert over[-1].gate is not None
    assert over[-1].gate.reasons[0].endswith("at m12, 12 checkpoints over ≈2 h)")
    hourly = gated([cp("h1", F, index=1, rate=0.03), cp("h2", F, index=2, rate=0.03)])
    assert hourly[-1].gate is not None and hourly[-1].gate.action is GateAction.ROLLBACK
    cohort = gated([cp("m1", F, minutes=10, index=1, cohort=F)])  # the anytime-valid cohort test needs no hours
    assert cohort[-1].gate is not None and cohort[-1].gate.action is GateAction.ROLLBACK


def test_a_planned_act_without_a_writer_fails_and_a_warn_act_raises_the_exit_code() -> None:
    from monitor.runner import CheckpointOutcome

    failing = gated([cp("h1", F, cohort=F)])[-1]
    autopilot = pilot(auto_rollback=True)
    act = autopilot.act(failing, autopilot.plan(failing, []))
    assert act is not None and act.outcome is ActOutcome.FAILED
    assert (
        act.line == "Auto-rollback FAILED (no flag writer configured): nothing changed, run the gate's command by hand"
    )
    passing = gated([cp("h1", index=1), cp("h2", index=2)])[-1]
    warned = AutoAct(kind=ActKind.ADVANCE, outcome=ActOutcome.SKIPPED, detail="config changed", warn=True)
    assert CheckpointOutcome(checkpoint=passing).exit_code == 0
    assert CheckpointOutcome(checkpoint=passing, act=warned).exit_code == 1
