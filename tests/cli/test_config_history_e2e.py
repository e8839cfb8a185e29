"""The config in force, reconstructed from the whole `rollout set` audit, and the gate's commands — through the
installed CLI on moto_server and a real PostgreSQL.

- a window judged after the flag moved twice since it ended is judged against the config in force during it;
- a change inside the window and another after it are judged segment by segment;
- `gate`, `report` and the phase log name the same rollback command, including once the flag is rolled back;
- `gate` on a phase never seen says so.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from e2e_support import FEATURE, PHASE, World, make_world, put_events

from monitor.cli.demo.traffic import TrafficModel, generate
from monitor.domain import FlagConfig
from monitor.store.rollout import PostgresRolloutWriter

pytestmark = pytest.mark.e2e
LOG_GROUP = "/ecs/kaviar-backend"


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def traffic(world: World, rollout: int, start: datetime, end: datetime, requests: int, seed: int) -> None:
    """Requests and decisions between `start` and `end`, decided as the backend would at `rollout` %."""
    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=rollout, allowlist=tuple(world.allowlist))
    model = TrafficModel(
        requests=requests,
        start_ms=int(start.timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        config=config,
        feature=FEATURE,
        seed=seed,
    )
    put_events(world.endpoint, LOG_GROUP, generate(model))


def rollout_set_at(world: World, percent: int, at: datetime) -> None:
    """`rollout set` as it ran at `at` (the writer the command uses, with its clock in the past)."""
    PostgresRolloutWriter(world.url, world.url).set_rollout(
        FEATURE, percent, True, reason=f"to {percent}%", actor="test", now=at
    )


def determinism(run_json: dict) -> dict:  # type: ignore[type-arg]
    return next(c for c in run_json["checks"] if c["name"] == "determinism")


def test_two_rollout_changes_after_the_window_leave_it_judged_at_its_own_config(world: World) -> None:
    world.traffic(6000, rollout=5)
    for percent in ("10", "5"):  # both minutes after the window (it ended 10 minutes ago)
        assert world.cli("rollout", "set", FEATURE, percent, "--reason", f"to {percent}%").code == 0
    run = world.checkpoint("h1", "--expected-rollout", "5", "--json")
    doc = run.json()
    check = determinism(doc)
    assert check["status"] == "PASS", check["summary"]
    assert check["evidence"]["in_force"] == {"enabled": True, "rollout_percentage": 5}
    assert [s["judged_against"] for s in check["evidence"]["segments"]] == ["previous"]
    assert doc["gate"]["action"] != "ROLLBACK"
    assert run.code == 0, run.stdout[-2000:]


def test_a_change_inside_the_window_and_another_after_it_are_judged_segment_by_segment(world: World) -> None:
    start, change = world.end - timedelta(hours=1), world.end - timedelta(minutes=30)
    rollout_set_at(world, 10, change)
    rollout_set_at(world, 5, world.end + timedelta(minutes=2))  # after the window: changes nothing in it
    traffic(world, 5, start, change, 3000, seed=1)
    traffic(world, 10, change, world.end, 3000, seed=2)
    run = world.checkpoint("h1", "--json")
    check = determinism(run.json())
    assert check["status"] == "PASS", check["summary"]
    segments = check["evidence"]["segments"]
    assert [(s["judged_against"], s["configs"]) for s in segments] == [
        ("previous", ["5%"]),
        ("grace", ["5%", "10%"]),
        ("previous", ["10%"]),
    ]
    assert all(s["passengers"] > 0 for s in segments[::2]) and check["evidence"]["wrong_decision_passengers"] == 0
    assert check["evidence"]["in_force"]["rollout_percentage"] == 10
    assert "[configs in force: 5% → 10%]" in check["summary"]
    entry = world.log.read_text()
    assert "| previous (5%) |" in entry and "| grace (5% or 10%) |" in entry and "| previous (10%) |" in entry


def _phase_log_command(world: World) -> str:
    match = re.findall(r"^- Command: `(beta-monitor rollout set [^`]+)`$", world.log.read_text(), re.MULTILINE)
    assert match, world.log.read_text()[-3000:]
    return match[-1]


def test_gate_report_and_phase_log_name_one_rollback_command_even_once_rolled_back(
    tmp_path: Path, pg_url: str, moto_reset: str
) -> None:
    world = make_world(tmp_path, pg_url, moto_reset, rollout=10)
    world.traffic(12000, rollout=10, on_error=0.06)
    run = world.checkpoint("rollout-10pct-validation", "--expected-rollout", "10", "--json")
    assert run.json()["gate"]["action"] == "ROLLBACK", run.stdout[-3000:]
    logged = _phase_log_command(world)
    assert shlex.split(logged)[4] == "5"  # the step below the 10% the phase was judged at

    def gate_and_report() -> tuple[dict, str]:  # type: ignore[type-arg]
        gate = world.cli("gate", FEATURE, PHASE, "--json")
        assert gate.code == 2, gate.stdout + gate.stderr
        report = world.cli("report", FEATURE, PHASE)
        assert report.code == 0, report.stderr
        return gate.json(), report.stdout

    gate, report = gate_and_report()
    assert gate["command"] == logged and gate["note"] is None
    assert f"- Command: `{logged}`" in report

    assert world.cli("rollout", "set", FEATURE, "5", "--reason", "gate ROLLBACK").code == 0
    gate, report = gate_and_report()
    assert gate["command"] == logged  # never another step down (1%)
    assert gate["note"].startswith("already rolled back to 5% at ")
    assert "nothing more to run" in gate["note"]
    assert f"- Command: `{logged}`" in report and "- Note: already rolled back to 5% at " in report
    text = world.cli("gate", FEATURE, PHASE)
    assert text.line("Note:").startswith("Note: already rolled back to 5% at ")
    assert text.line("Command:") == f"Command: {logged}"


def test_gate_on_a_phase_never_seen_says_so(world: World) -> None:
    world.traffic(2000)
    assert world.checkpoint("h1", "--expected-rollout", "5").code == 0
    unseen = world.cli("gate", FEATURE, "phase9_typo")
    assert unseen.code == 1, unseen.stdout + unseen.stderr
    assert unseen.line("Gate:") == "Gate: HOLD (0 checkpoints in phase9_typo)"
    assert unseen.line("Reason:") == (
        f"Reason: no checkpoint stored for {FEATURE} / phase9_typo (phases with checkpoints: {PHASE})"
    )
    fresh = world.cli("gate", FEATURE, "phase9_typo", "--json").json()
    assert fresh["action"] == "HOLD" and fresh["checkpoints"] == 0
    nothing = world.cli("gate", "no_such_flag", PHASE)
    assert nothing.code == 3
    assert "no checkpoint stored for no_such_flag and no flag 'no_such_flag'" in nothing.stderr
