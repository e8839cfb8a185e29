"""End to end: the installed `beta-monitor` against a real moto_server (CloudWatch Logs) and the embedded PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_support import Run, put_events, run_cli, seed_columns_flag

from monitor.models import FlagConfig
from monitor.traffic import TrafficModel, generate, passenger_ids

pytestmark = pytest.mark.e2e
FEATURE = "passenger_favorites_matching"
PHASE = "phase2_rollout"
ALLOWLIST = passenger_ids(12, seed=1234)


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> dict[str, object]:
    end = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    seed_columns_flag(pg_url, FEATURE, enabled=True, rollout=5, allowlist=ALLOWLIST, updated_at=end - timedelta(hours=3),
                      mirror={"enabled": True, "rollout_percentage": 5})
    env = {
        "BETA_MONITOR_DATABASE_URL": pg_url,
        "BETA_MONITOR_PHASE_LOG": str(tmp_path / "reports" / "{feature}" / "{phase}.md"),
        "BETA_MONITOR_SOURCE": "scan",
        "AWS_ENDPOINT_URL": moto_reset,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
    }
    return {"end": end, "env": env, "url": pg_url, "endpoint": moto_reset, "log": tmp_path / "reports" / FEATURE / f"{PHASE}.md"}


def _traffic(world: dict[str, object], requests: int, *, on_error: float = 0.002, off_error: float = 0.002,
             log_group: str = "/ecs/kaviar-backend") -> int:
    end: datetime = world["end"]  # type: ignore[assignment]
    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=tuple(ALLOWLIST))
    model = TrafficModel(requests=requests, start_ms=int((end - timedelta(hours=1)).timestamp() * 1000),
                         end_ms=int(end.timestamp() * 1000), config=config, on_error_rate=on_error,
                         off_error_rate=off_error, feature=FEATURE, seed=11)
    return put_events(str(world["endpoint"]), log_group, generate(model))


def _checkpoint(world: dict[str, object], label: str, *extra: str) -> Run:
    end: datetime = world["end"]  # type: ignore[assignment]
    return run_cli(["checkpoint", FEATURE, PHASE, label, "--end", end.isoformat(), *extra], world["env"])  # type: ignore[arg-type]


def test_pass_then_duplicate(world: dict[str, object]) -> None:
    _traffic(world, 4000)
    first = _checkpoint(world, "rollout-5pct-validation", "--expected-rollout", "5")
    assert first.code == 0, first.stdout + first.stderr
    assert first.line("Config:") == "Config: enabled=true, rollout=5%, allowlist=12"
    assert first.line("Expected config:") == "Expected config: rollout=5%, enabled=true"
    assert first.line("Metrics:").startswith("Metrics: 5xx_rate=")
    assert first.line("Determinism:").startswith("Determinism: PASS")
    assert first.line("Status:") == "Status: PASS, Alerts: 0"
    log: Path = world["log"]  # type: ignore[assignment]
    text = log.read_text()
    assert text.count("## Checkpoint: rollout\\-5pct\\-validation") == 1 or text.count("## Checkpoint: rollout-5pct-validation") == 1
    for pid in ALLOWLIST:  # no passenger id leaks into output or report
        assert pid not in first.stdout and pid not in text

    again = _checkpoint(world, "rollout-5pct-validation", "--expected-rollout", "5", "--json")
    assert again.code == 0
    doc = again.json()
    assert doc["duplicate"] is True and doc["status"] == "PASS"
    assert log.read_text() == text  # nothing appended
    history = run_cli(["history", FEATURE, "--json"], world["env"])  # type: ignore[arg-type]
    assert history.code == 0 and len(history.json()) == 1


def test_no_traffic_is_warn_never_pass(world: dict[str, object]) -> None:
    put_events(str(world["endpoint"]), "/ecs/kaviar-backend", [])
    run = _checkpoint(world, "quiet-hour", "--expected-rollout", "5", "--json")
    assert run.code == 1, run.stdout + run.stderr
    doc = run.json()
    assert doc["status"] == "WARN"
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["error_rate"] == "NODATA" and checks["determinism"] == "NODATA"
    assert run_cli(["history", FEATURE, "--json"], world["env"]).json()[0]["status"] == "WARN"  # type: ignore[arg-type]


def test_drift_fails(world: dict[str, object]) -> None:
    _traffic(world, 2000)
    run = _checkpoint(world, "rollout-10pct-validation", "--expected-rollout", "10")
    assert run.code == 2, run.stdout + run.stderr
    assert run.line("Config drift:").startswith("Config drift: FAIL")
    assert run.line("Status:").startswith("Status: FAIL")
    log: Path = world["log"]  # type: ignore[assignment]
    assert "FAIL" in log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([FEATURE, PHASE, "x", "--expected-rollout", "150"], "outside 0-100", id="rollout-out-of-range"),
        pytest.param(["no_such_flag", PHASE, "x"], "not found", id="unknown-flag"),
        pytest.param([FEATURE, PHASE, "x", "--end", "yesterday"], "ISO 8601", id="bad-end"),
        pytest.param([FEATURE, PHASE, "x", "--window", "an hour"], "duration", id="bad-window"),
        pytest.param([FEATURE, PHASE, "x", "--source", "kafka"], "--source", id="bad-source"),
    ],
)
def test_bad_input_exit_3_writes_nothing(world: dict[str, object], args: list[str], message: str) -> None:
    _traffic(world, 200)
    run = run_cli(["checkpoint", *args], world["env"])  # type: ignore[arg-type]
    assert run.code == 3, run.stdout + run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not Path(world["log"]).exists()  # type: ignore[arg-type]
    assert run_cli(["history", FEATURE, "--json"], world["env"]).json() == []  # type: ignore[arg-type]


def test_missing_log_group_exit_3(world: dict[str, object]) -> None:
    env = {**world["env"], "BETA_MONITOR_LOG_GROUP": "/ecs/does-not-exist"}  # type: ignore[dict-item]
    run = run_cli(["checkpoint", FEATURE, PHASE, "x", "--end", world["end"].isoformat()], env)  # type: ignore[attr-defined]
    assert run.code == 3, run.stdout + run.stderr
    assert "/ecs/does-not-exist" in run.stderr and "BETA_MONITOR_LOG_GROUP" in run.stderr
    assert not Path(world["log"]).exists()  # type: ignore[arg-type]


def test_cohort_regression_global_rate_misses(world: dict[str, object]) -> None:
    _traffic(world, 40000, on_error=0.04, off_error=0.003)
    run = _checkpoint(world, "rollout-5pct-validation", "--expected-rollout", "5", "--json")
    assert run.code == 2, run.stdout + run.stderr
    checks = {c["name"]: c for c in run.json()["checks"]}
    assert checks["error_rate"]["status"] == "PASS"
    assert checks["cohort_regression"]["status"] == "FAIL"
    on, off = checks["cohort_regression"]["evidence"]["on"], checks["cohort_regression"]["evidence"]["off"]
    assert on["rate"] > 0.02 and off["rate"] < 0.01
    assert run.json()["gate"]["action"] == "ROLLBACK"
