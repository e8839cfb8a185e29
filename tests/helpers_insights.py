"""Run the insights engine on `fake_insights` and the scan engine's aggregation (`contract.ingest`) side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers_events import LOG_GROUP, Event, make_window, passenger_hash

from monitor.domain import SourceResult, WindowAggregate
from monitor.domain.contract import ingest
from monitor.sources.insights import InsightsLogSource

START, END = 1_700_000_000_000, 1_700_003_600_000
H1, H2 = passenger_hash(1), passenger_hash(2)


def scan_stats(events: Sequence[Event], **kwargs: Any) -> WindowAggregate:
    """What the scan engine computes: every in-window event through the contract, in timestamp order."""
    stats = make_window(START, END, **kwargs).aggregate()
    for ts, msg in sorted(events, key=lambda e: e[0]):
        if START <= ts < END:
            ingest(stats, ts, msg)
    return stats


def insights_stats(client: Any, **kwargs: Any) -> SourceResult:
    source_kwargs = {k: kwargs.pop(k) for k in ("max_rows", "timeout_s", "clock", "max_concurrent") if k in kwargs}
    window = make_window(START, END, **kwargs)
    return InsightsLogSource(LOG_GROUP, client=client, sleep=lambda _s: None, **source_kwargs).read(window)


def assert_same(scan: WindowAggregate, read: SourceResult) -> None:
    assert read.problems == []
    insights = read.aggregate
    assert insights.to_dict() == scan.to_dict()
    assert insights.cohorts.to_dict() == scan.cohorts.to_dict()
    assert insights.passengers.states == scan.passengers.states
    assert insights.decisions.per_hash == scan.decisions.per_hash
    assert insights.decisions.by_decision == scan.decisions.by_decision
    assert insights.latency.to_dict() == scan.latency.to_dict()
    for name, route in scan.routes.items():
        assert insights.routes[name].status == route.status, name
        assert insights.routes[name].latency.to_dict() == route.latency.to_dict(), name
