"""`--source insights` (the production default) end to end through the installed CLI.

moto runs no Insights query, so a proxy in front of moto_server answers StartQuery / GetQueryResults / StopQuery
with the test's Insights evaluator (tests/fake_insights.py: it runs our query text over the raw events, independently
of monitor/events.py) and forwards everything else to moto. The same events read with `--source scan` must give the
same figures and the same verdicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import FEATURE, World, make_world
from fake_insights import FakeInsightsClient, proxy_intercept
from fault_proxy import fault_proxy

from monitor.cli.demo.traffic import TrafficModel, generate
from monitor.domain import FlagConfig

pytestmark = pytest.mark.e2e
NOT_COMPARED = ("engine", "aws_calls", "queries", "problems")


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def _events(world: World) -> list[tuple[int, str]]:
    from datetime import timedelta

    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=tuple(world.allowlist))
    model = TrafficModel(
        requests=3000,
        start_ms=int((world.end - timedelta(hours=1)).timestamp() * 1000),
        end_ms=int(world.end.timestamp() * 1000),
        config=config,
        on_error_rate=0.03,
        feature=FEATURE,
        seed=5,
        malformed_share=0.01,
    )
    return list(generate(model))


def _insights_front(events: list[tuple[int, str]]) -> Any:
    return proxy_intercept(FakeInsightsClient(events, statuses=lambda _q: ("Running", "Complete")))


def test_insights_equals_scan_through_the_cli(world: World) -> None:
    from e2e_support import put_events

    events = _events(world)
    put_events(world.endpoint, "/ecs/kaviar-backend", events)
    scan = world.checkpoint("via-scan", "--expected-rollout", "5", "--source", "scan", "--dry-run", "--json")
    with fault_proxy(world.endpoint, intercept=_insights_front(events)) as proxy:
        insights = world.checkpoint(
            "via-insights",
            "--expected-rollout",
            "5",
            "--json",
            env={"AWS_ENDPOINT_URL": proxy, "BETA_MONITOR_SOURCE": "insights"},
        )
    assert insights.code == scan.code, insights.stdout[-3000:] + insights.stderr[-2000:]
    a, b = scan.json(), insights.json()
    assert b["metrics"]["engine"] == "insights" and not b["metrics"]["problems"]
    assert b["metrics"]["aws_calls"].get("StartQuery", 0) >= 1 and b["metrics"]["queries"]
    for key in NOT_COMPARED:
        a["metrics"].pop(key), b["metrics"].pop(key)
    assert b["metrics"] == a["metrics"]
    assert {c["name"]: c["status"] for c in b["checks"]} == {c["name"]: c["status"] for c in a["checks"]}
    assert {c["name"]: c["status"] for c in b["checks"]}["cohort_regression"] == "FAIL"  # the ON cohort at 3%
    assert "Logs Insights queries" in world.log.read_text()  # the query texts, to rerun in the console
