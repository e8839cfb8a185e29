"""Overlapping rollouts end to end: two flags in one flag table and one log group on moto_server, a 5% flag and a
1% flag sharing bucket 0 (unsalted buckets), read with `scan` by the installed CLI.

The regression belongs to the 1% flag: its ON passengers (bucket 0) fail, and they are ON for the 5% flag too. The
5% flag's checkpoint FAILs (a FAIL stays a FAIL) and says why it is not its own: its exclusive part (buckets 1–4) is
clean. The 1% flag's checkpoint FAILs too and is attributable: it has no exclusive part, but the 5% flag's
passengers without it (buckets 1–4) are clean.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_support import FEATURE, PHASE, World, make_world, put_events, seed_columns_flag

from monitor.domain import Bucketer

pytestmark = pytest.mark.e2e

SECOND = "second_flag"
DORMANT = "dormant_flag"
BUCKETER = Bucketer()


def _request(status: int, passenger: str) -> str:
    return json.dumps(
        {
            "type": "http_request",
            "method": "GET",
            "path": "/api/matching/request",
            "status": status,
            "duration_ms": 80.0,
            "passenger_hash": passenger,
        }
    )


def _decision(feature: str, passenger: str, on: bool) -> str:
    body = {"type": "feature_flag_decision", "feature_key": feature, "passenger_hash": passenger}
    return json.dumps({**body, "decision": "ROLLOUT" if on else "OFF"})


def hour_of_traffic(world: World, *, active: int = 8_000, bucket0_5xx: float = 0.3, base_5xx: float = 0.004) -> list:
    """One hour: `active` of 20,000 passengers, 1–9 requests each, a 5xx at `bucket0_5xx` in bucket 0 (ON for both
    flags) and `base_5xx` elsewhere; each passenger's decision for both flags is logged."""
    rng = random.Random(7)
    start_ms = int((world.end - timedelta(hours=1)).timestamp() * 1000)
    population = [BUCKETER.hash_id(f"overlap-{i}") for i in range(20_000)]
    events: list[tuple[int, str]] = []
    for h in rng.sample(population, active):
        bucket = BUCKETER.bucket_of_hash(h)
        events.append((start_ms + rng.randrange(3_600_000), _decision(FEATURE, h, bucket < 5)))
        events.append((start_ms + rng.randrange(3_600_000), _decision(SECOND, h, bucket < 1)))
        rate = bucket0_5xx if bucket == 0 else base_5xx
        for _ in range(rng.randint(1, 9)):
            events.append((start_ms + rng.randrange(3_600_000), _request(503 if rng.random() < rate else 200, h)))
    return events


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    made = make_world(tmp_path, pg_url, moto_reset)
    since = made.end - timedelta(days=1)
    seed_columns_flag(pg_url, FEATURE, enabled=True, rollout=5, allowlist=[], updated_at=since)
    seed_columns_flag(pg_url, SECOND, enabled=True, rollout=1, allowlist=[], updated_at=since)
    seed_columns_flag(pg_url, DORMANT, enabled=False, rollout=50, allowlist=[], updated_at=since)
    put_events(made.endpoint, "/ecs/kaviar-backend", hour_of_traffic(made))
    return made


def cohort(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == "cohort_regression")


def test_two_flags_sharing_bucket_0_show_the_overlap_and_its_attribution(world: World, tmp_path: Path) -> None:
    run = world.checkpoint("h1", "--json")
    assert run.code == 2, run.stdout + run.stderr
    doc = run.json()
    result = cohort(doc)
    assert result["status"] == "FAIL"  # the false-FAIL budget is untouched: a FAIL stays a FAIL
    overlap = result["evidence"]["overlap"]
    [flag] = overlap["flags"]  # the disabled flag is not in rollout: it shares nothing
    assert (flag["name"], flag["rollout_percentage"], flag["allowlist_size"]) == (SECOND, 1, 0)
    on = result["evidence"]["on"]["passengers"]
    assert overlap["on_passengers"] == on and 0 < flag["also_on"] == overlap["shared"] < on
    assert flag["share"] == pytest.approx(flag["also_on"] / on) and 0.1 < flag["share"] < 0.35
    assert flag["phase_share"] == flag["share"]  # the phase's first checkpoint
    assert overlap["exclusive"]["hour"]["on_units"] == on - flag["also_on"]
    assert overlap["attribution"] == "not_attributable" and overlap["exclusive"]["verdict"] != "FAIL"
    assert "not attributable to this flag alone" in result["summary"]
    assert any("not attributable to this flag alone" in r for r in doc["gate"]["reasons"])
    assert doc["gate"]["action"] == "ROLLBACK"

    entry = world.log.read_text(encoding="utf-8")
    assert "Overlapping rollouts (buckets are unsalted" in entry
    assert "| second\\_flag | 1% | 0 |" in entry
    assert "- Attribution: **not attributable to this flag alone** — " in entry
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert world.log.read_text(encoding="utf-8") == entry  # the overlap comes back from the database

    # The 1% flag: every ON passenger is ON for the 5% flag too (no exclusive part), but the 5% flag's passengers
    # without it are clean: the excess is where the 1% flag is ON.
    second = world.cli("checkpoint", SECOND, "auto", "h1", "--end", world.end.isoformat(), "--json")
    assert second.code == 2, second.stdout + second.stderr
    other = cohort(second.json())
    assert other["status"] == "FAIL"
    [five] = other["evidence"]["overlap"]["flags"]
    assert (five["name"], five["share"]) == (FEATURE, 1.0)
    assert other["evidence"]["overlap"]["attribution"] == "attributable"
    assert other["evidence"]["overlap"]["others_only"]["verdict"] != "FAIL"
    assert "100.00% of its ON passengers are also ON for passenger_favorites_matching" in other["summary"]
    second_log = tmp_path / "reports" / SECOND / "rollout-1pct.md"
    assert "- Attribution: **attributable to this flag** — the passengers ON for another flag but not this one" in (
        second_log.read_text(encoding="utf-8")
    )
