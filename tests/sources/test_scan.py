"""The `scan` engine on moto: paging, the window's edges, several streams, a missing group, parity with `file:`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers_events import (
    LOG_GROUP,
    decision_message,
    make_window,
    mixed_events,
    passenger_hash,
    put_events,
    recent_window,
    reference_stats,
    request_message,
    snapshot,
    write_export,
)

from monitor.domain import LogWindow, SourceResult
from monitor.errors import LogGroupNotFoundError
from monitor.sources.file import FileLogSource
from monitor.sources.scan import ScanLogSource

pytestmark = pytest.mark.usefixtures("mock_aws_env")


def logs() -> Any:
    return boto3.client("logs", region_name="eu-west-1")


def scan(window: LogWindow, **kwargs: Any) -> SourceResult:
    source = ScanLogSource(LOG_GROUP, region="eu-west-1", endpoint_url=None, max_attempts=3, **kwargs)
    return source.read(window)


def test_scan_pages_through_every_stream() -> None:
    start, end = recent_window()
    events = mixed_events(500, start, end, seed=1)
    put_events(logs(), events, streams=4)
    progress: list[int] = []
    result = scan(make_window(start, end), page_size=50, progress=progress.append)
    assert result.engine == "scan"
    assert result.aggregate.counts.events == 500
    assert len(progress) >= 10 and progress[-1] == 500 and progress == sorted(progress)
    assert result.aws_calls["FilterLogEvents"] == len(progress)
    assert result.aws_calls["DescribeLogGroups"] == 1
    assert snapshot(result) == snapshot(reference_stats(events, start, end))
    assert result.problems == []


def test_scan_window_start_included_end_excluded() -> None:
    start, end = recent_window()
    ok = request_message(status=200)
    events = [(start - 1, ok), (start, ok), (start + 1, request_message(status=503)), (end - 1, ok), (end, ok)]
    put_events(logs(), events, streams=2)
    stats = scan(make_window(start, end)).aggregate
    assert stats.counts.events == 3
    assert stats.status.to_dict()["2xx"] == 2 and stats.status.to_dict()["5xx"] == 1
    assert (stats.counts.first_event_ms, stats.counts.last_event_ms) == (start, end - 1)
    assert stats.counts.outside_window == 0  # the query itself stops before `end` (the API's endTime is inclusive)


def test_scan_and_file_give_identical_metrics(tmp_path: Path) -> None:
    start, end = recent_window()
    events = mixed_events(1200, start, end, seed=21)
    events += [(start - 5_000, request_message(status=500)), (end + 1, request_message(status=500))]
    put_events(logs(), events, streams=3)
    by_scan = scan(make_window(start, end), page_size=300)
    by_file = FileLogSource(write_export(tmp_path / "export.jsonl", events)).read(make_window(start, end))
    scan_metrics, file_metrics = by_scan.metrics(), by_file.metrics()
    for m in (scan_metrics, file_metrics):
        m.pop("engine"), m.pop("aws_calls"), m.pop("outside_window"), m.pop("inputs")  # how it was read
    assert scan_metrics == file_metrics
    assert snapshot(by_scan)["cohorts"] == snapshot(by_file)["cohorts"]
    assert by_file.aggregate.counts.outside_window == 2  # the API never returns out-of-window events to scan
    counts = by_scan.aggregate.counts
    assert counts.malformed > 0 and counts.other > 0 and by_scan.aggregate.decisions.total > 0


def test_scan_with_config_change_segments() -> None:
    start, end = recent_window()
    h = passenger_hash(7)
    mid = start + 1_800_000
    events = [
        (start + 1000, decision_message(decision="OFF", passenger=h)),
        (mid + 1000, decision_message(decision="ROLLOUT", passenger=h)),
    ]
    put_events(logs(), events, streams=1)
    stats = scan(make_window(start, end, segment_bounds=[mid])).aggregate
    assert stats.decisions.per_hash == [{h: 1}, {h: 4}]


def test_missing_log_group_is_named() -> None:
    logs().create_log_group(logGroupName=LOG_GROUP + "-old")  # a prefix match is not the group
    start, end = recent_window()
    with pytest.raises(LogGroupNotFoundError) as err:
        scan(make_window(start, end))
    assert str(err.value) == (f"log group '{LOG_GROUP}' not found in eu-west-1: check BETA_MONITOR_LOG_GROUP")


def test_scan_uses_an_injected_client_and_counts_its_calls() -> None:
    start, end = recent_window()
    put_events(logs(), [(start + 10, request_message())], streams=1)
    client = logs()
    result = ScanLogSource(LOG_GROUP, client=client).read(make_window(start, end))
    assert result.aggregate.requests == 1
    assert result.aws_calls == {"DescribeLogGroups": 1, "FilterLogEvents": 1}
    ScanLogSource(LOG_GROUP, client=client).read(make_window(start, end))  # counting does not leak between reads
    assert result.aws_calls == {"DescribeLogGroups": 1, "FilterLogEvents": 1}


def test_empty_window_reads_nothing() -> None:
    start, _ = recent_window()
    put_events(logs(), [(start, request_message())], streams=1)
    result = scan(make_window(start, start))
    assert result.aggregate.counts.events == 0 and "FilterLogEvents" not in result.aws_calls


def test_page_size_is_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        ScanLogSource(LOG_GROUP, page_size=0)
