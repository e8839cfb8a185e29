"""`beta-monitor watch` end to end through the installed CLI on moto_server: three flags in one log group — search_v2
at 5% (healthy), favorites at 1% with 60 allowlisted beta testers (regressing: its ON passengers fail at 2% a
request) and dark_mode disabled — give two checkpoints from ONE read of the logs.

Buckets are unsalted (as the backend's): search_v2's ON cohort (buckets 0-4) holds favorites' bucket 0, so it sees
a diluted trace of the regression (its cohort evidence stays far below the FAIL threshold in this hour: M ≈ 2 of
100); telling overlapping cohorts apart is the cohort check's business, not watch's.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from e2e_support import World, make_world, put_events, seed_columns_flag
from fake_insights import FakeInsightsClient, proxy_intercept
from fault_proxy import FaultPlan, fault_proxy

from monitor.cli.demo.traffic import OtherFlag, TrafficModel, generate, passenger_ids
from monitor.domain import FlagConfig

pytestmark = pytest.mark.e2e
HEALTHY, REGRESSING, DISABLED = "search_v2", "favorites", "dark_mode"
NOT_COMPARED = ("engine", "aws_calls", "queries", "problems")


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    made = make_world(tmp_path, pg_url, moto_reset)
    with psycopg.connect(pg_url) as conn:  # make_world's own flag is not part of this story
        conn.execute("DELETE FROM feature_flag_allowlist")
        conn.execute("DELETE FROM feature_flags")
    old = made.end - timedelta(days=1)
    seed_columns_flag(pg_url, HEALTHY, enabled=True, rollout=5, allowlist=[], updated_at=old)
    seed_columns_flag(pg_url, REGRESSING, enabled=True, rollout=1, allowlist=beta_testers(), updated_at=old)
    seed_columns_flag(pg_url, DISABLED, enabled=False, rollout=0, allowlist=[], updated_at=old)
    return made


def beta_testers() -> list[str]:
    return passenger_ids(60, seed=99)


def events(world: World) -> list[tuple[int, str]]:
    regressing = FlagConfig(key=REGRESSING, enabled=True, rollout_percentage=1, allowlist=tuple(beta_testers()))
    model = TrafficModel(
        requests=12_000,
        start_ms=int((world.end - timedelta(hours=1)).timestamp() * 1000),
        end_ms=int(world.end.timestamp() * 1000),
        config=FlagConfig(key=HEALTHY, enabled=True, rollout_percentage=5),
        feature=HEALTHY,
        seed=11,
        other_flags=(OtherFlag(REGRESSING, regressing, on_error_rate=0.02),),
    )
    return list(generate(model))


@pytest.fixture
def logged(world: World) -> list[tuple[int, str]]:
    found = events(world)
    put_events(world.endpoint, "/ecs/kaviar-backend", found)
    return found


def watch(world: World, *extra: str, env: dict[str, str] | None = None) -> Any:
    return world.cli("watch", "--end", world.end.isoformat(), *extra, env=env)


def by_feature(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["feature"]: f for f in doc["features"]}


def cohort(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == "cohort_regression")


def quality(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == "data_quality")


def stored(world: World) -> list[tuple[str, str, str]]:
    with psycopg.connect(world.url) as conn:
        try:
            rows = conn.execute("SELECT feature, phase, label FROM checkpoints ORDER BY feature").fetchall()
        except psycopg.errors.UndefinedTable:  # bad input stops before the watchdog's tables are created
            return []
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_watch_checks_every_flag_in_rollout_from_one_read(world: World, logged: Any) -> None:
    run = watch(world, "--json")
    assert run.code == 2, run.stdout[-3000:] + run.stderr[-2000:]
    doc = run.json()
    assert doc["status"] == "FAIL" and doc["exit_code"] == 2
    flags = by_feature(doc)
    assert sorted(flags) == [REGRESSING, HEALTHY]
    assert flags[REGRESSING]["phase"] == "rollout-1pct" and flags[HEALTHY]["phase"] == "rollout-5pct"
    assert flags[REGRESSING]["label"] == flags[HEALTHY]["label"] == "hourly"
    assert flags[REGRESSING]["status"] == "FAIL" and cohort(flags[REGRESSING])["status"] == "FAIL"
    assert flags[REGRESSING]["gate"]["action"] == "ROLLBACK"
    assert flags[HEALTHY]["status"] != "FAIL" and cohort(flags[HEALTHY])["status"] == "PASS"
    assert DISABLED in doc["not_in_rollout"]
    # Each flag judged its own decisions; the read was one.
    for feature, flag in flags.items():
        assert flag["metrics"]["decisions"]["total"] > 0
        assert quality(flag)["evidence"]["read_cost"]["shared_by"] == 2, feature
    assert doc["aws_calls"]["FilterLogEvents"] == flags[HEALTHY]["metrics"]["aws_calls"]["FilterLogEvents"]
    assert stored(world) == [(REGRESSING, "rollout-1pct", "hourly"), (HEALTHY, "rollout-5pct", "hourly")]
    reports = world.log.parent.parent
    logs = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*.md"))
    assert logs == ["favorites/rollout-1pct.md", "index.md", "search_v2/rollout-5pct.md"]
    assert "**Status: FAIL**" in (reports / "favorites" / "rollout-1pct.md").read_text()
    assert "one read for 2 flag(s)" in (reports / "search_v2" / "rollout-5pct.md").read_text()


def test_watch_prints_a_block_per_flag_then_one_summary_line(world: World, logged: Any) -> None:
    run = watch(world)
    assert run.code == 2, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[-1].startswith("Watch: FAIL — 2 flags in rollout (1 FAIL, 1 ")
    assert "one read (0 Insights queries, 0 bytes scanned, " in lines[-1]
    assert [line for line in lines if line.startswith("Checkpoint: ") and " / " in line] == [
        f"Checkpoint: {REGRESSING} / rollout-1pct / hourly",
        f"Checkpoint: {HEALTHY} / rollout-5pct / hourly",
    ]
    assert f"Not in rollout: {DISABLED} (disabled, no expectation stored by `rollout set`): nothing recorded" in lines
    assert "Reading logs once for 2 flag(s)" in run.stderr


def test_watch_reads_the_logs_as_often_as_one_checkpoint(world: World, logged: Any) -> None:
    one = FaultPlan("FilterLogEvents", failures=0)  # counts the requests, fails none
    with fault_proxy(world.endpoint, one) as proxy:
        single = world.cli(
            "checkpoint", HEALTHY, "auto", "alone", "--end", world.end.isoformat(), "--dry-run",
            env={"AWS_ENDPOINT_URL": proxy},
        )  # fmt: skip
    assert single.code in (0, 1), single.stderr[-2000:]
    every = FaultPlan("FilterLogEvents", failures=0)
    with fault_proxy(world.endpoint, every) as proxy:
        run = watch(world, env={"AWS_ENDPOINT_URL": proxy})
    assert run.code == 2, run.stderr[-2000:]
    assert every.seen == one.seen >= 1


def test_a_redelivered_watch_records_nothing(world: World, logged: Any) -> None:
    first = watch(world, "--run-key", "2026-11-27T03:00:00Z", "--json")
    assert first.code == 2
    logs = {p: p.read_text() for p in world.log.parent.parent.rglob("*/*.md")}
    plan = FaultPlan("FilterLogEvents", failures=0)
    with fault_proxy(world.endpoint, plan) as proxy:
        again = watch(world, "--run-key", "2026-11-27T03:00:00Z", "--json", env={"AWS_ENDPOINT_URL": proxy})
    assert again.code == 2, again.stderr[-2000:]
    doc = again.json()
    assert all(f["duplicate"] for f in doc["features"]) and len(doc["features"]) == 2
    assert {f["checkpoint_id"] for f in doc["features"]} == {f["checkpoint_id"] for f in first.json()["features"]}
    assert plan.seen == 0  # nothing new to check: no read at all
    assert len(stored(world)) == 2
    assert {p: p.read_text() for p in world.log.parent.parent.rglob("*/*.md")} == logs


def test_watch_on_insights_equals_watch_on_scan(world: World, logged: list[tuple[int, str]]) -> None:
    scan = watch(world, "--source", "scan", "--dry-run", "--json")
    fake = FakeInsightsClient(logged)
    with fault_proxy(world.endpoint, intercept=proxy_intercept(fake)) as proxy:
        insights = watch(world, "--source", "insights", "--dry-run", "--json", env={"AWS_ENDPOINT_URL": proxy})
    assert insights.code == scan.code == 2, insights.stderr[-2000:]
    a, b = by_feature(scan.json()), by_feature(insights.json())
    assert sorted(a) == sorted(b) == [REGRESSING, HEALTHY]
    for feature in a:
        assert b[feature]["metrics"]["engine"] == "insights" and not b[feature]["metrics"]["problems"]
        for key in NOT_COMPARED:
            a[feature]["metrics"].pop(key), b[feature]["metrics"].pop(key)
        assert b[feature]["metrics"] == a[feature]["metrics"], feature
        assert [(c["name"], c["status"]) for c in b[feature]["checks"]] == [
            (c["name"], c["status"]) for c in a[feature]["checks"]
        ]
    calls = insights.json()["aws_calls"]
    assert calls["insights_queries"] == fake.call_count("StartQuery") == calls["StartQuery"]
    assert calls["bytes_scanned"] > 0
    cost = quality(b[HEALTHY])["evidence"]["read_cost"]  # each checkpoint's evidence says what the shared read cost
    assert cost == {
        "insights_queries": calls["insights_queries"],
        "bytes_scanned": calls["bytes_scanned"],
        "shared_by": 2,
    }
    # as many queries as one flag's checkpoint on the same events
    alone = FakeInsightsClient(logged)
    with fault_proxy(world.endpoint, intercept=proxy_intercept(alone)) as proxy:
        single = world.cli(
            "checkpoint", HEALTHY, "auto", "alone", "--end", world.end.isoformat(), "--dry-run", "--source",
            "insights", env={"AWS_ENDPOINT_URL": proxy},
        )  # fmt: skip
    assert single.code in (0, 1), single.stderr[-2000:]
    assert alone.call_count("StartQuery") == fake.call_count("StartQuery")


def test_the_index_lists_each_watched_flag_with_a_link_to_its_log(world: World, logged: Any) -> None:
    assert watch(world, "--label", "hourly <b>|x|</b>").code == 2
    index = (world.log.parent.parent / "index.md").read_text()
    rows = [line for line in index.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 2
    assert rows[0].startswith("| favorites | rollout-1pct | #")
    assert "**FAIL** | ROLLBACK | [rollout-1pct.md](favorites/rollout-1pct.md) |" in rows[0]
    assert rows[1].startswith("| search\\_v2 | rollout-5pct | #")
    assert "[rollout-5pct.md](search_v2/rollout-5pct.md) |" in rows[1]
    assert "<b>" not in index and "hourly \\<b\\>\\|x\\|\\</b\\>" in index  # the label cannot add a cell or HTML
    assert DISABLED not in index


def test_only_the_flags_asked_for_and_those_not_in_rollout_get_nothing(world: World, logged: Any) -> None:
    run = watch(world, "--feature", HEALTHY, "--feature", DISABLED, "--json")
    assert run.code in (0, 1), run.stderr[-2000:]
    doc = run.json()
    assert [f["feature"] for f in doc["features"]] == [HEALTHY]
    assert list(doc["not_in_rollout"]) == [DISABLED]
    assert stored(world) == [(HEALTHY, "rollout-5pct", "hourly")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--feature", "no_such_flag"], "no_such_flag"),
        (["--window", "9d"], "window"),
        (["--source", "nope"], "unknown --source"),
        (["--feature", "bad flag!"], "FEATURE"),
        (["--phase-log", str(Path("/tmp") / "{nope}.md")], "placeholder"),
    ],
    ids=["unknown-flag", "window-too-long", "unknown-source", "bad-name", "bad-template"],
)
def test_bad_input_exits_3_with_one_line_and_writes_nothing(world: World, args: list[str], says: str) -> None:
    run = watch(world, *args)
    assert run.code == 3, run.stdout + run.stderr
    assert says in run.stderr
    assert len([line for line in run.stderr.splitlines() if line.startswith("beta-monitor")]) == 1
    assert stored(world) == []
    assert not list(world.log.parent.parent.rglob("*.md"))


def test_no_flag_in_rollout_is_nothing_to_check(world: World) -> None:
    run = watch(world, "--feature", DISABLED, "--json")
    assert run.code == 0, run.stderr[-2000:]
    doc = run.json()
    assert doc["features"] == [] and doc["status"] == "PASS" and doc["index"] is None
    assert json.dumps(doc["aws_calls"]) == json.dumps({"insights_queries": 0, "bytes_scanned": 0})


def test_a_flag_with_an_expectation_but_no_row_is_left_alone(world: World, logged: Any) -> None:
    assert world.cli("db", "init").code == 0
    with psycopg.connect(world.url) as conn:
        conn.execute("INSERT INTO expectations (feature, enabled, rollout_percentage) VALUES ('retired_flag', true, 5)")
    run = watch(world, "--dry-run", "--json")
    assert run.code == 2, run.stderr[-2000:]
    doc = run.json()
    assert sorted(f["feature"] for f in doc["features"]) == [REGRESSING, HEALTHY]
    assert doc["not_in_rollout"]["retired_flag"] == "an expectation is stored but the flag is not in the flag table"
