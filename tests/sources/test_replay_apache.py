"""Replay a real access log (Apache combined format) through `scan` (moto) and `file:`, and check the status counts
against an independent count made with a plain regex over the raw lines."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers_events import LOG_GROUP, make_window, put_events, recent_window, snapshot, write_export

from monitor.sources.file import FileLogSource
from monitor.sources.scan import ScanLogSource

# 10,000 lines of a real Apache access log, vendored with its attribution (tests/data/README.md).
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "apache_access_sample.log.gz"
COMBINED = re.compile(
    r"^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-)'
)
STATUS = re.compile(r'" (\d{3}) ')  # the independent count: just the status after the quoted request
EXTRA = [  # lines a converter cannot read: they must be counted as `other`, never as requests
    '10.0.0.1 - - [20/May/2015:21:05:59 +0000] "GET /truncated',
    "garbage that is not an access log line",
]


def sample_lines() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8", errors="replace") as sample:
        return sample.read().splitlines() + EXTRA


def convert(lines: list[str], start_ms: int, end_ms: int) -> tuple[list[tuple[int, str]], int]:
    """Request events with the log's timestamps squeezed into [start_ms, end_ms), order kept; unreadable lines are
    kept as they are (an application line). Returns the events and how many lines were unreadable."""
    parsed: list[tuple[float, Any]] = []
    unreadable = 0
    for line in lines:
        m = COMBINED.match(line)
        if m is None:
            unreadable += 1
            parsed.append((float("nan"), line))
            continue
        when = datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        message = {
            "type": "http_request",
            "method": m["method"],
            "path": m["path"],
            "status": int(m["status"]),
            "duration_ms": 0.0 if m["bytes"] == "-" else int(m["bytes"]) / 1000,
            "passenger_hash": hashlib.sha256(m["ip"].encode()).hexdigest(),
        }
        parsed.append((when, json.dumps(message)))
    times = [t for t, _ in parsed if not math.isnan(t)]
    first, span = min(times), (max(times) - min(times)) or 1.0
    events = []
    for i, (when, message) in enumerate(parsed):
        at = when
        if math.isnan(when):  # unreadable: placed after the line before it
            at = parsed[i - 1][0] if i and not math.isnan(parsed[i - 1][0]) else first
        events.append((start_ms + int((at - first) / span * (end_ms - start_ms - 1)), message))
    return events, unreadable


def independent_counts(lines: list[str]) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    unmatched = 0
    for line in lines:
        m = STATUS.search(line)
        if m is None:
            unmatched += 1
            continue
        code = m.group(1)
        counts[code[0] + "xx"] += 1
        if code in ("401", "403", "429"):
            counts[code] += 1
    return counts, unmatched


@pytest.mark.usefixtures("mock_aws_env")
def test_replay_scan_and_file_match_an_independent_count(tmp_path: Path) -> None:
    lines = sample_lines()
    start, end = recent_window()
    events, unreadable = convert(lines, start, end)
    expected, unmatched = independent_counts(lines)
    assert unmatched == unreadable == len(EXTRA)  # the two parsers agree on which lines are not requests

    put_events(boto3.client("logs", region_name="eu-west-1"), events, streams=3)
    window = make_window(start, end)
    by_scan = ScanLogSource(LOG_GROUP, region="eu-west-1", endpoint_url=None, max_attempts=3).read(window)
    by_file = FileLogSource(write_export(tmp_path / "apache.jsonl", events)).read(window)

    for stats in (by_scan.aggregate, by_file.aggregate):
        status = stats.status.to_dict()
        got = {key: status[key] for key in ("2xx", "3xx", "4xx", "5xx", "401", "403", "429")}
        assert got == {key: expected.get(key, 0) for key in got}
        assert status["requests"] == len(lines) - unreadable
        assert stats.counts.other == unreadable and stats.counts.malformed == 0
        assert stats.counts.events == len(lines) and stats.counts.outside_window == 0
    assert snapshot(by_scan) == snapshot(by_file)
    assert expected["5xx"] == 3 and expected["403"] == 2  # what the sample holds (guards against a vacuous pass)


def test_replay_of_a_real_log_in_every_aws_format_matches_the_wrapper(tmp_path: Path) -> None:
    """The same real traffic as an export task on disk (two streams, gzip), as `filter-log-events` pages and as our
    wrapper lines: identical figures, and the independent count still holds."""
    from helpers_formats import cli_document, export_layout, write_layout

    lines = sample_lines()
    start, end = 1_700_000_000_000, 1_700_003_600_000
    events, unreadable = convert(lines, start, end)
    window = make_window(start, end)
    wrapper = FileLogSource(write_export(tmp_path / "apache.jsonl", events)).read(window)
    layout = FileLogSource(write_layout(tmp_path / "export", export_layout(events, streams=2))).read(window)
    pages = tmp_path / "pages.json"
    pages.write_bytes(cli_document(events, pages=4))
    document = FileLogSource(pages).read(window)
    assert snapshot(layout) == snapshot(document) == snapshot(wrapper)
    expected, _ = independent_counts(lines)
    assert wrapper.aggregate.status.to_dict()["5xx"] == expected["5xx"] == 3
    assert layout.aggregate.counts.other == unreadable and layout.aggregate.counts.unrecognised == 0
