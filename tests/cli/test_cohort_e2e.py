"""cohort_regression end to end through the installed CLI: hourly exports replayed with `--source file:` (and once
with `scan` on moto_server), one process per checkpoint, so every hour's evidence is read back from the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from e2e_support import FEATURE, PHASE, World, make_world, put_events, seed_columns_flag
from helpers_cohort_traffic import CohortTraffic, write_hour

pytestmark = pytest.mark.e2e

HOURS = 4
# 2.1× per request for ON passengers at 5%: at exactly 2× this seed's bets evidence ends hours 3 and 4 within 0.02
# (in log) of 1/α, a knife-edge rather than a test; at 2.1× hour 2 is 0.6 below it and hour 3 1.1 above.
REGRESSION = CohortTraffic(on_5xx=0.0084, seed=1)
A_A = CohortTraffic(seed=1)
STORM = CohortTraffic(seed=1, storm_retries=60)  # one ON passenger retrying a failing call 60 times, every hour


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    made = make_world(tmp_path, pg_url, moto_reset)
    seed_columns_flag(  # the config is older than every window replayed here
        pg_url,
        FEATURE,
        enabled=True,
        rollout=5,
        allowlist=made.allowlist,
        updated_at=made.end - timedelta(days=1),
        mirror={"enabled": True, "rollout_percentage": 5},
    )
    return made


def hour_end(world: World, index: int, hours: int) -> Any:
    """The end of hour `index` (0-based) of `hours` consecutive hours ending at the world's end."""
    return world.end - timedelta(hours=hours - 1 - index)


def exports(world: World, tmp_path: Path, traffic: CohortTraffic, hours: int) -> list[Path]:
    return [
        write_hour(tmp_path / f"{traffic.seed}-{traffic.on_5xx}-{traffic.storm_retries}-h{i + 1}.jsonl", events)
        for i in range(hours)
        for events in [traffic.hour(hour_end(world, i, hours), i)]
    ]


def checkpoint(world: World, label: str, path: Path, end: Any, *extra: str, phase: str = PHASE) -> dict[str, Any]:
    run = world.cli("checkpoint", FEATURE, phase, label, "--end", end.isoformat(), "--source", f"file:{path}", *extra)
    assert run.code in (0, 1, 2), run.stdout + run.stderr
    doc = run.json() if "--json" in extra else None
    return doc or {}


def cohort(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == "cohort_regression")


def failure_rows(world: World) -> int:
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT count(*) FROM cohort_failures").fetchone()
    return int(row[0]) if row else 0


def test_a_2x_regression_fails_by_the_third_hour_and_the_fail_stands(world: World, tmp_path: Path) -> None:
    paths = exports(world, tmp_path, REGRESSION, HOURS)
    docs = [checkpoint(world, f"h{i + 1}", path, hour_end(world, i, HOURS), "--json") for i, path in enumerate(paths)]
    results = [cohort(d) for d in docs]
    assert [r["status"] for r in results] == ["WARN", "PASS", "FAIL", "FAIL"]  # h1 alone is strong (e ≥ 10)
    evidence = [r["evidence"] for r in results]
    # Each run is its own process: the phase's earlier hours come back from the database.
    assert [e["checkpoints"] for e in evidence] == [1, 2, 3, 4]
    assert [e["hours"] for e in evidence] == [1.0, 2.0, 3.0, 4.0]
    assert evidence[0]["e_value"] < evidence[1]["e_value"] < 100 <= evidence[2]["e_value"]
    assert results[2]["summary"].startswith("ON worse than OFF: ON/OFF ")
    assert results[3]["summary"].startswith("FAIL since h3 (stands for the rest of the phase): ")
    assert evidence[3]["fail_since"] == "h3" and evidence[3]["p_value"] <= 0.01
    assert docs[2]["gate"]["action"] == "ROLLBACK" and docs[3]["gate"]["action"] == "ROLLBACK"
    first = evidence[0]["on"]
    assert first["units"] == first["passengers"] and first["first_failures"] == first["failing_passengers"]
    later = evidence[1]["on"]
    assert later["units"] < later["passengers"]  # some ON passengers had failed in h1: no longer at risk
    assert docs[0]["metrics"]["passengers"]["seen"] == REGRESSION.active  # a summary, never the keys
    rows = failure_rows(world)
    assert rows == HOURS

    # A re-delivered run and a dry run store nothing.
    again = checkpoint(world, "h2", paths[1], hour_end(world, 1, HOURS), "--json")
    assert again["duplicate"] is True and cohort(again)["evidence"]["checkpoints"] == 2
    dry = checkpoint(world, "h5", paths[3], hour_end(world, 3, HOURS), "--json", "--dry-run")
    assert cohort(dry)["evidence"]["checkpoints"] == 5 and cohort(dry)["evidence"]["hours"] == 4.0  # overlap once
    assert failure_rows(world) == rows and len(world.cli("history", FEATURE, "--json").json()) == HOURS

    # A new phase starts fresh evidence.
    fresh = cohort(checkpoint(world, "h4", paths[3], hour_end(world, 3, HOURS), "--json", phase="phase3_rollout"))
    assert fresh["evidence"]["checkpoints"] == 1 and fresh["evidence"]["fail_since"] is None
    assert fresh["evidence"]["e_value"] == pytest.approx(fresh["evidence"]["hour_e_value"])
    assert fresh["evidence"]["on"]["units"] == fresh["evidence"]["on"]["passengers"]

    # The phase log, rebuilt from the database, is byte for byte what the appends wrote, evidence included.
    appended = world.log.read_text(encoding="utf-8")
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert world.log.read_text(encoding="utf-8") == appended
    assert appended.count("- Evidence that ON is worse: M = ") == HOURS
    assert "- FAIL since h3: the evidence crossed 1/α there" in appended
    assert "| Cohort | Requests | 5xx | 5xx rate | Passengers | With ≥ 1 5xx | At risk | First failures |" in appended
    summary = world.cli("report", FEATURE, PHASE)
    assert summary.code == 0 and "| Cohort evidence M |" in summary.stdout


def test_an_a_a_phase_stays_pass(world: World, tmp_path: Path) -> None:
    paths = exports(world, tmp_path, A_A, 3)
    docs = [checkpoint(world, f"h{i + 1}", p, hour_end(world, i, 3), "--json") for i, p in enumerate(paths)]
    assert [cohort(d)["status"] for d in docs] == ["PASS", "PASS", "PASS"]
    assert [d["status"] for d in docs] == ["PASS", "PASS", "PASS"]
    assert docs[-1]["gate"]["action"] == "ADVANCE"
    assert all(cohort(d)["evidence"]["e_value"] < 10 for d in docs)


def test_a_retry_storming_on_passenger_does_not_fail(world: World, tmp_path: Path) -> None:
    paths = exports(world, tmp_path, STORM, 3)
    docs = [checkpoint(world, f"h{i + 1}", p, hour_end(world, i, 3), "--json") for i, p in enumerate(paths)]
    assert [cohort(d)["status"] for d in docs] == ["PASS", "PASS", "PASS"]
    for doc in docs:
        on = cohort(doc)["evidence"]["on"]
        assert on["errors_5xx"] >= 60  # the storm is there, in requests
    h2 = cohort(docs[1])["evidence"]["on"]
    assert h2["failing_passengers"] > h2["first_failures"]  # the stormer fails again, but not for the first time


def test_scan_on_moto_accumulates_like_the_file_engine(world: World, tmp_path: Path) -> None:
    traffic = CohortTraffic(on_5xx=0.008, seed=3)
    hours = [traffic.hour(hour_end(world, i, 2), i) for i in range(2)]
    put_events(world.endpoint, "/ecs/kaviar-backend", [e for hour in hours for e in hour])
    scanned = []
    for i in range(2):
        run = world.checkpoint(f"h{i + 1}", "--json", end=hour_end(world, i, 2))
        assert run.code in (1, 2), run.stdout + run.stderr
        scanned.append(cohort(run.json()))
    assert [c["status"] for c in scanned] == ["WARN", "FAIL"]
    assert "more at this rate to decide" in scanned[0]["summary"]
    assert scanned[1]["evidence"]["checkpoints"] == 2
    assert scanned[0]["evidence"]["hours_to_decide"] > 0
    replayed = [
        cohort(checkpoint(world, f"h{i + 1}", write_hour(tmp_path / f"h{i}.jsonl", events), end, "--json", phase="p2"))
        for i, events in enumerate(hours)
        for end in [hour_end(world, i, 2)]
    ]
    assert [c["evidence"]["hour"] for c in replayed] == [c["evidence"]["hour"] for c in scanned]
    assert [c["evidence"]["e_value"] for c in replayed] == [c["evidence"]["e_value"] for c in scanned]
