"""AWS misbehaving under the installed CLI: throttling and 5xx injected by a proxy in front of moto_server."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import World, make_world
from fault_proxy import FaultPlan, fault_proxy

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    w = make_world(tmp_path, pg_url, moto_reset)
    w.traffic(1500)
    return w


def test_throttled_twice_then_succeeds(world: World) -> None:
    plan = FaultPlan("FilterLogEvents", failures=2)
    with fault_proxy(world.endpoint, plan) as proxy:
        run = world.checkpoint(
            "h1",
            "--expected-rollout",
            "5",
            "--json",
            env={"AWS_ENDPOINT_URL": proxy, "BETA_MONITOR_AWS_MAX_ATTEMPTS": "5"},
        )
    assert run.code == 0, run.stdout[-3000:] + run.stderr
    doc = run.json()
    assert doc["status"] == "PASS" and plan.failed == 2
    assert doc["metrics"]["aws_calls"]["FilterLogEvents"] >= 3  # the retries are counted and reported


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(400, "ThrottlingException", id="throttled"),
        pytest.param(500, "ServiceUnavailableException", id="aws-5xx"),
    ],
)
def test_failing_beyond_retries_is_error_never_pass(world: World, status: int, code: str) -> None:
    plan = FaultPlan("FilterLogEvents", failures=-1, status=status, code=code)
    with fault_proxy(world.endpoint, plan) as proxy:
        run = world.checkpoint(
            "h1",
            "--expected-rollout",
            "5",
            "--json",
            env={"AWS_ENDPOINT_URL": proxy, "BETA_MONITOR_AWS_MAX_ATTEMPTS": "3"},
        )
    assert run.code in (1, 2), run.stdout[-3000:] + run.stderr
    doc = run.json()
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["status"] != "PASS"
    assert checks["data_quality"]["status"] == "ERROR"
    assert code in " ".join(checks["data_quality"]["evidence"]["problems"])
    for name in ("error_rate", "cohort_regression", "determinism", "latency"):
        assert checks[name]["status"] == "ERROR", (name, checks[name]["summary"])
    assert plan.failed == 3  # exactly the configured attempts
    assert world.log.exists() and "ERROR" in world.log.read_text()  # the checkpoint is stored and reported
