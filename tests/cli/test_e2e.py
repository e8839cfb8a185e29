"""End to end: the installed `beta-monitor` against a real moto_server (CloudWatch Logs) and the embedded PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import FEATURE, PHASE, World, make_world, put_events

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def test_pass_then_duplicate(world: World) -> None:
    world.traffic(4000)
    first = world.checkpoint("rollout-5pct-validation", "--expected-rollout", "5")
    assert first.code == 0, first.stdout + first.stderr
    assert first.line("Config:") == "Config: enabled=true, rollout=5%, allowlist=12"
    assert first.line("Expected config:") == "Expected config: rollout=5%, enabled=true"
    assert first.line("Metrics:").startswith("Metrics: 5xx_rate=")
    assert first.line("Determinism:").startswith("Determinism: PASS")
    assert first.line("Status:") == "Status: PASS, Alerts: 0"
    text = world.log.read_text()
    assert text.count("## Checkpoint: rollout-5pct-validation (") == 1
    for pid in world.allowlist:  # no passenger id leaks into output or report
        assert pid not in first.stdout and pid not in text

    again = world.checkpoint("rollout-5pct-validation", "--expected-rollout", "5", "--json")
    assert again.code == 0
    doc = again.json()
    assert doc["duplicate"] is True and doc["status"] == "PASS"
    assert world.log.read_text() == text  # nothing appended
    history = world.cli("history", FEATURE, "--json")
    assert history.code == 0 and len(history.json()) == 1


def test_no_traffic_is_warn_never_pass(world: World) -> None:
    put_events(world.endpoint, "/ecs/kaviar-backend", [])
    run = world.checkpoint("quiet-hour", "--expected-rollout", "5", "--json")
    assert run.code == 1, run.stdout + run.stderr
    doc = run.json()
    assert doc["status"] == "WARN"
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["error_rate"] == "NODATA" and checks["determinism"] == "NODATA"
    assert world.cli("history", FEATURE, "--json").json()[0]["status"] == "WARN"


def test_stale_logs_in_a_window_ending_now(world: World) -> None:
    put_events(world.endpoint, "/ecs/kaviar-backend", [])
    run = world.cli("checkpoint", FEATURE, PHASE, "now", "--expected-rollout", "5", "--json")
    assert run.code == 1, run.stdout + run.stderr
    quality = next(c for c in run.json()["checks"] if c["name"] == "data_quality")
    assert quality["status"] == "WARN" and "stale" in quality["summary"]


def test_drift_fails(world: World) -> None:
    world.traffic(2000)
    run = world.checkpoint("rollout-10pct-validation", "--expected-rollout", "10")
    assert run.code == 2, run.stdout + run.stderr
    assert run.line("Config drift:").startswith("Config drift: FAIL")
    assert run.line("Status:").startswith("Status: FAIL")
    assert "FAIL" in world.log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([FEATURE, PHASE, "x", "--expected-rollout", "150"], "outside 0-100", id="rollout-out-of-range"),
        pytest.param(["no_such_flag", PHASE, "x"], "not found", id="unknown-flag"),
        pytest.param([FEATURE, PHASE, "x", "--end", "yesterday"], "ISO 8601", id="bad-end"),
        pytest.param([FEATURE, PHASE, "x", "--window", "an hour"], "duration", id="bad-window"),
        pytest.param([FEATURE, PHASE, "x", "--source", "kafka"], "--source", id="bad-source"),
        pytest.param([FEATURE, "../etc", "x"], "PHASE", id="path-in-phase"),
    ],
)
def test_bad_input_exit_3_writes_nothing(world: World, args: list[str], message: str) -> None:
    world.traffic(200)
    run = world.cli("checkpoint", *args)
    assert run.code == 3, run.stdout + run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not world.log.exists()
    assert world.cli("history", FEATURE, "--json").json() == []


def test_missing_log_group_exit_3(world: World) -> None:
    run = world.checkpoint("x", env={"BETA_MONITOR_LOG_GROUP": "/ecs/does-not-exist"})
    assert run.code == 3, run.stdout + run.stderr
    assert "/ecs/does-not-exist" in run.stderr and "BETA_MONITOR_LOG_GROUP" in run.stderr
    assert not world.log.exists()


def test_cohort_regression_global_rate_misses(world: World) -> None:
    world.traffic(40000, on_error=0.04, off_error=0.003)
    run = world.checkpoint("rollout-5pct-validation", "--expected-rollout", "5", "--json")
    assert run.code == 2, run.stdout + run.stderr
    checks = {c["name"]: c for c in run.json()["checks"]}
    assert checks["error_rate"]["status"] == "PASS"
    assert checks["cohort_regression"]["status"] == "FAIL"
    on, off = checks["cohort_regression"]["evidence"]["on"], checks["cohort_regression"]["evidence"]["off"]
    assert on["rate"] > 0.02 and off["rate"] < 0.01
    assert run.json()["gate"]["action"] == "ROLLBACK"
    assert "Cohort regression: FAIL" in world.checkpoint("rollout-5pct-validation", "--expected-rollout", "5").stdout


def test_json_job_logs_for_containers(world: World) -> None:
    world.traffic(1000)
    run = world.checkpoint("hourly", "--expected-rollout", "5", env={"BETA_MONITOR_LOG_FORMAT": "json"})
    assert run.code == 0, run.stdout + run.stderr
    records = [json.loads(line) for line in run.stderr.splitlines()]  # every stderr line is one JSON object
    done = next(r for r in records if r["message"] == "checkpoint done")
    assert done["status"] == "PASS" and done["exit_code"] == 0 and done["feature"] == FEATURE
    assert run.line("Status:") == "Status: PASS, Alerts: 0"  # stdout keeps the facts for people
    bad = world.cli(
        "checkpoint",
        FEATURE,
        PHASE,
        "x",
        "--expected-rollout",
        "5",
        "--end",
        "nope",
        env={"BETA_MONITOR_LOG_FORMAT": "json"},
    )
    assert bad.code == 3


def test_auto_phase_follows_the_live_rollout(world: World) -> None:
    world.traffic(1000)
    run = world.cli("checkpoint", FEATURE, "auto", "hourly", "--end", world.end.isoformat(), "--json")
    assert run.code in (0, 1), run.stdout + run.stderr
    assert run.json()["phase"] == "rollout-5pct"
    assert (world.log.parent / "rollout-5pct.md").exists()
    assert world.cli("history", FEATURE, "--phase", "rollout-5pct", "--json").json()[0]["label"] == "hourly"
