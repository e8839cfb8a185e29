"""One read for several flags (`monitor.domain.shared`): each flag's reading split out of the shared read is exactly
the reading of its own read — on the contract (scan), the `file:` fast path (sequential and in two halves) and the
Insights engine (the fake evaluator runs the query texts) — and the Insights engine runs as many queries and scans
as many bytes for 20 flags as for one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from fake_insights import FakeInsightsClient
from helpers_events import LOG_GROUP, ROUTES, Event, decision_message, passenger_hash, request_message

from monitor.domain import Bucketer, LogWindow, SourceResult, WindowAggregate
from monitor.domain.contract import ingest
from monitor.domain.shared import shared_window, split_reading
from monitor.settings import parse_route_groups
from monitor.sources.file import FileLogSource
from monitor.sources.insights import InsightsLogSource

START, END = 1_700_000_000_000, 1_700_003_600_000
FEATURES = ("alpha", "beta", "gamma")


def traffic(seed: int = 3, n: int = 3000) -> list[Event]:
    """Requests of 300 passengers (some anonymous), decisions for the three features and one unwatched one."""
    rng = random.Random(seed)
    events: list[Event] = []
    for _ in range(n):
        ts = START + rng.randrange(END - START)
        pax = None if rng.random() < 0.1 else passenger_hash(rng.randrange(300))
        status = 503 if rng.random() < 0.05 else 200
        path = rng.choice(["/api/matching/request", "/api/feature-flags/x", "/api/rides"])
        events.append((ts, request_message(status=status, passenger=pax, path=path, duration_ms=rng.random() * 200)))
        if pax is not None:
            feature = rng.choice([*FEATURES, "unwatched"])
            events.append(
                (ts, decision_message(decision=rng.choice(["OFF", "ROLLOUT"]), passenger=pax, feature_key=feature))
            )
    return sorted(events)


def windows() -> list[LogWindow]:
    """Three flags with different allowlists and config changes (so their decision segments differ)."""
    routes, bucketer = parse_route_groups(ROUTES), Bucketer()
    allow = [
        frozenset({passenger_hash(1), passenger_hash(2)}),
        frozenset({passenger_hash(2), passenger_hash(7)}),
        frozenset(),
    ]
    bounds: list[list[int]] = [[], [START + 600_000], [START + 600_000, START + 1_800_000]]
    return [
        LogWindow(
            feature=f,
            start_ms=START,
            end_ms=END,
            route_groups=routes,
            bucketer=bucketer,
            allowlist_hashes=a,
            segment_bounds=b,
        )
        for f, a, b in zip(FEATURES, allow, bounds, strict=True)
    ]


def contract_read(window: LogWindow, events: list[Event]) -> WindowAggregate:
    stats = window.aggregate()
    for ts, message in events:
        ingest(stats, ts, message)
    return stats


def assert_equal(split: WindowAggregate, own: WindowAggregate) -> None:
    assert split.to_dict() == own.to_dict()
    assert split.cohorts.to_dict() == own.cohorts.to_dict()
    assert split.passengers.states == own.passengers.states
    assert split.decisions.per_hash == own.decisions.per_hash
    assert split.decisions.by_decision == own.decisions.by_decision
    assert split.decisions.other_feature == own.decisions.other_feature


def test_a_split_of_the_shared_contract_read_is_each_flags_own_read() -> None:
    events = traffic()
    shared = shared_window(windows())
    reading = SourceResult(contract_read(shared, events), "scan")
    for window in windows():
        split = split_reading(reading, window)
        assert split.window == window
        assert_equal(split.aggregate, contract_read(window, events))
    assert reading.aggregate.allowlisted  # the allowlisted passengers' requests were kept apart, by hash


def test_one_window_is_its_own_shared_window() -> None:
    window = windows()[0]
    assert shared_window([window]) is window
    reading = SourceResult(window.aggregate(), "scan")
    assert split_reading(reading, window) is reading


def test_windows_of_different_time_ranges_do_not_share_a_read() -> None:
    first = windows()[0]
    other = LogWindow(feature="beta", start_ms=START, end_ms=END + 60_000)
    with pytest.raises(ValueError, match="same time range"):
        shared_window([first, other])


def write_export(path: Path, events: list[Event]) -> Path:
    from monitor.cli.demo.traffic import export_line

    path.write_text("".join(export_line(ts, message) + "\n" for ts, message in events))
    return path


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "two-halves"])
def test_a_split_of_the_shared_file_read_is_each_flags_own_read(tmp_path: Path, parallel: bool) -> None:
    events = traffic()
    path = write_export(tmp_path / "export.jsonl", events)
    options: dict[str, Any] = {"workers": 2, "parallel_min_bytes": 1} if parallel else {"workers": 1}
    reading = FileLogSource(path, **options).read(shared_window(windows()))
    assert reading.problems == []
    for window in windows():
        own = FileLogSource(path, workers=1).read(window)
        assert_equal(split_reading(reading, window).aggregate, own.aggregate)


def test_a_split_of_the_shared_insights_read_is_each_flags_own_read() -> None:
    events = traffic()
    reading = InsightsLogSource(LOG_GROUP, client=FakeInsightsClient(events), sleep=lambda _s: None).read(
        shared_window(windows())
    )
    assert reading.problems == []
    for window in windows():
        assert_equal(split_reading(reading, window).aggregate, contract_read(window, events))


def insights_cost(flags: int) -> dict[str, int]:
    events = traffic(n=600)
    routes = parse_route_groups(ROUTES)
    flag_windows = [
        LogWindow(feature=f"flag{i}", start_ms=START, end_ms=END, route_groups=routes) for i in range(flags)
    ]
    client = FakeInsightsClient(events)
    reading = InsightsLogSource(LOG_GROUP, client=client, sleep=lambda _s: None).read(shared_window(flag_windows))
    assert reading.problems == []
    return {**reading.read_cost(), "start_query": client.call_count("StartQuery")}


def test_insights_runs_as_many_queries_and_scans_as_many_bytes_for_20_flags_as_for_one() -> None:
    one, twenty = insights_cost(1), insights_cost(20)
    assert one["start_query"] == twenty["start_query"] == one["insights_queries"] == twenty["insights_queries"]
    assert one["bytes_scanned"] == twenty["bytes_scanned"] > 0
    assert (one["shared_by"], twenty["shared_by"]) == (1, 1)  # set by `watch`, not by the engine
