"""Run the insights engine on `fake_insights` and the scan engine's aggregation (`events.ingest`) side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers_events import LOG_GROUP, Event, make_stats, passenger_hash

from monitor.events import ingest
from monitor.sources.insights import InsightsLogSource
from monitor.window import WindowStats

START, END = 1_700_000_000_000, 1_700_003_600_000
HOW_MEASURED = ("engine", "aws_calls", "queries", "problems")  # how it was measured, not what
H1, H2 = passenger_hash(1), passenger_hash(2)


def scan_stats(events: Sequence[Event], **kwargs: Any) -> WindowStats:
    """What the scan engine computes: every in-window event through monitor.events, in timestamp order."""
    stats = make_stats(START, END, **kwargs)
    for ts, msg in sorted(events, key=lambda e: e[0]):
        if START <= ts < END:
            ingest(stats, ts, msg)
    return stats


def insights_stats(client: Any, **kwargs: Any) -> WindowStats:
    source_kwargs = {k: kwargs.pop(k) for k in ("max_rows", "timeout_s", "clock", "max_concurrent") if k in kwargs}
    stats = make_stats(START, END, **kwargs)
    InsightsLogSource(LOG_GROUP, client=client, sleep=lambda _s: None, **source_kwargs).read(stats)
    return stats


def measured(stats: WindowStats) -> dict[str, Any]:
    metrics = stats.metrics()
    for key in HOW_MEASURED:
        metrics.pop(key)
    return metrics


def assert_same(scan: WindowStats, insights: WindowStats) -> None:
    assert insights.problems == []
    assert measured(insights) == measured(scan)
    assert insights.cohorts.to_dict() == scan.cohorts.to_dict()
    assert insights.decisions.per_hash == scan.decisions.per_hash
    assert insights.decisions.by_decision == scan.decisions.by_decision
    assert insights.latency.to_dict() == scan.latency.to_dict()
    for name, route in scan.routes.items():
        assert insights.routes[name].status == route.status, name
        assert insights.routes[name].latency.to_dict() == route.latency.to_dict(), name
