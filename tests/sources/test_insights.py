"""The Logs Insights engine gives the scan engine's figures: the same events, the same WindowAggregate.

Queries run on `fake_insights`, which interprets our query text over raw events (moto executes no filter, stats or
parse); the reference is `monitor.domain.contract.ingest`, exactly the scan engine's aggregation. Also: the query
evidence and the StartQuery / GetQueryResults plumbing on moto.
"""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest
from fake_insights import FakeInsightsClient, parse_query
from helpers_events import (
    FEATURE,
    LOG_GROUP,
    Event,
    decision_message,
    make_window,
    mixed_events,
    passenger_hash,
    put_events,
    recent_window,
    request_message,
)
from helpers_insights import END, H1, H2, START, assert_same, insights_stats, scan_stats

from monitor.domain import LogWindow
from monitor.domain.contract import ingest
from monitor.errors import LogGroupNotFoundError
from monitor.sources.insights import InsightsLogSource
from monitor.sources.insights.queries import ROUTE

# Messages both engines classify alike (each also goes into the big equality test).
AGREE = [
    pytest.param(request_message(passenger=H1.upper()), id="json-uppercase-hash-lowered"),
    pytest.param(
        '{"type": "http_request", "method": "GET", "path": "/api/matching", "status": 502, '
        '"duration_ms": 3, "passenger_hash": null}',
        id="json-null-hash-anonymous",
    ),
    pytest.param(request_message(passenger=""), id="json-empty-hash-anonymous"),
    pytest.param(
        '{"type": "http_request", "method": "GET", "path": "/a", "status": 200, "duration_ms": 3, '
        '"passenger_hash": 123}',
        id="json-number-hash-malformed",
    ),
    pytest.param(request_message(status=200).replace('"status": 200', '"status": 200.0'), id="json-float-status"),
    pytest.param(request_message(status=600), id="json-status-600"),
    pytest.param(request_message(status=99), id="json-status-99"),
    pytest.param(request_message().replace('"status": 200', '"status": true'), id="json-bool-status"),
    pytest.param(request_message().replace('"duration_ms": 87.5', '"duration_ms": "5"'), id="json-string-duration"),
    pytest.param(request_message(duration_ms=-1), id="json-negative-duration"),
    pytest.param(request_message(duration_ms=0, passenger=H2), id="json-zero-duration"),
    pytest.param(request_message(duration_ms=0.0005), id="json-tiny-duration-zero-bin"),
    pytest.param(request_message(method=""), id="json-empty-method"),
    pytest.param(request_message().replace('"method": "GET"', '"method": 5'), id="json-number-method"),
    pytest.param(request_message().replace('"path": "/api/matching/request"', '"path": null'), id="json-null-path"),
    pytest.param(
        json.dumps({"type": "feature_flag_decision", "feature_key": FEATURE, "decision": "OFF"}),
        id="json-decision-no-hash",
    ),
    pytest.param(decision_message(decision="ROLLOUT", passenger=H1, feature_key=""), id="json-decision-empty-key"),
    pytest.param(decision_message(decision="off", passenger=H1), id="json-decision-lowercase"),
    pytest.param(decision_message(decision="ALLOWLIST", passenger=H2.upper()), id="json-decision-uppercase-hash"),
    pytest.param(decision_message(decision="OFF", passenger=H1, feature_key="another_flag"), id="json-other-feature"),
    pytest.param('{"type": 5, "status": 500}', id="json-number-type-other"),
    pytest.param('{"type": "http_request", "method": "GET",', id="json-broken-other"),
    pytest.param('["http_request"]', id="json-array-other"),
    pytest.param(
        'type="http_request" method="GET" path="/api/matching/x y" status="503" duration_ms="12.5" '
        f'passenger_hash="{H1}"',
        id="logfmt-quoted-values",
    ),
    pytest.param(
        'type=http_request method=GET path=/api/feature-flags status=200 duration_ms=4 passenger_hash=""',
        id="logfmt-empty-hash-anonymous",
    ),
    pytest.param(
        f"type=http_request method=GET path=/x status=200 duration_ms=4 status=500 passenger_hash={H2}",
        id="logfmt-repeated-key-last-wins",
    ),
    pytest.param(
        f'type=http_request method=GET path="/a" path=/api/matching status=200 duration_ms=1 passenger_hash={H1}',
        id="logfmt-quoted-then-bare-last-wins",
    ),
    pytest.param(
        'type=http_request method=GET path=/a status=200 status="502" duration_ms=1', id="logfmt-bare-then-quoted"
    ),
    pytest.param('type=http_request method=GET path="" status=200 duration_ms=1', id="logfmt-empty-quoted-path"),
    pytest.param('type=http_request method=GET path="/a b" status=200 duration_ms="x', id="logfmt-unclosed-quote"),
    pytest.param("type=http_request method=GET path=/x status=200 duration_ms=1e-05", id="logfmt-exponent"),
    pytest.param("type=http_request method=GET path=/x status=200 duration_ms=abc", id="logfmt-bad-duration"),
    pytest.param("type=http_request method=GET path=/x status=2000 duration_ms=1", id="logfmt-status-2000"),
    pytest.param("type=http_request method=GET status=200 duration_ms=1", id="logfmt-no-path"),
    pytest.param(
        f"type=feature_flag_decision feature_key={FEATURE} decision=ROLLOUT passenger_hash={H1.upper()}",
        id="logfmt-decision-uppercase-hash",
    ),
    pytest.param(
        f"type=feature_flag_decision feature_key={FEATURE} decision=MAYBE passenger_hash={H1}", id="logfmt-decision-bad"
    ),
    pytest.param("   type=http_request method=GET path=/api/matching status=201 duration_ms=7", id="logfmt-indented"),
    pytest.param("type=startup msg=ready", id="logfmt-other-type"),
    pytest.param(
        "INFO done type=http_request method=GET path=/api/matchingfoo status=404 duration_ms=9",
        id="logfmt-after-text-prefix-route",
    ),
    pytest.param(request_message(path="/API/matching"), id="json-route-case-sensitive"),
    pytest.param("{not json at all", id="brace-not-json"),
    pytest.param("plain application log line", id="plain-other"),
]

# Documented divergences (insights/queries.py module doc): (message, scan engine's reading, Insights' reading), each
# reading = (valid requests, malformed).
DIVERGE = [
    pytest.param(
        "type=http_request method=GET path=/a status=0200 duration_ms=1",
        (1, 0),
        (0, 1),
        id="logfmt-leading-zero-status",
    ),
    pytest.param(
        "type=http_request method=GET path=/a status=+200 duration_ms=1", (1, 0), (0, 1), id="logfmt-plus-status"
    ),
    pytest.param(
        "type=http_request method=GET path=/a status=200 duration_ms=-0", (1, 0), (0, 1), id="logfmt-negative-zero"
    ),
    pytest.param(
        "type=http_request method=GET path=/a status=200 duration_ms=.5", (1, 0), (0, 1), id="logfmt-bare-fraction"
    ),
    pytest.param(
        'type=http_request method=GET path=/a status=200 duration_ms=3 msg="retry status=oops"',
        (1, 0),
        (0, 1),
        id="logfmt-key-inside-quoted-value",
    ),
    pytest.param(
        '{"type": "http_request", "method": "GET", "path": "/a", "status": "200", "duration_ms": 1, '
        '"upstream": {"status": 200}}',
        (0, 1),
        (1, 0),
        id="json-nested-key-satisfies-the-guard",
    ),
]


def contract_events(n: int, *, seed: int, passengers: int = 40) -> list[Event]:
    """Mixed contract traffic plus every AGREE edge case, a few of each, spread over the window."""
    rng = random.Random(seed)
    events = mixed_events(n, START, END, seed=seed, passengers=passengers)
    for param in AGREE:
        events += [(rng.randrange(START, END), str(param.values[0])) for _ in range(3)]
    return sorted(events, key=lambda e: e[0])


# -- the same figures as the scan engine ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seed", "n", "max_rows", "page_size"),
    [
        pytest.param(7, 3000, 10_000, 10_000, id="one-query-each"),
        pytest.param(11, 1500, 60, 10_000, id="row-limit-60-splits-by-hash-and-time"),
        pytest.param(13, 1500, 10_000, 9, id="results-in-pages-of-9"),
    ],
)
def test_insights_equals_scan_on_the_same_events(seed: int, n: int, max_rows: int, page_size: int) -> None:
    events = contract_events(n, seed=seed)
    outside = [
        (START - 1, request_message(status=500)),
        (END, request_message(status=500)),
        (END + 500, decision_message(decision="OFF", passenger=H1)),
    ]
    segment_bounds = [START - 60_000, START + 1_234_567, START + 2_000_000, END + 5]
    kwargs: dict[str, Any] = {"allowlist": [H1, passenger_hash(5)], "segment_bounds": segment_bounds}
    scan = scan_stats(events, **kwargs)
    fake = FakeInsightsClient(events + outside, page_size=page_size)
    insights = insights_stats(fake, max_rows=max_rows, **kwargs)
    assert scan.counts.malformed > 25 and scan.counts.other > 25 and scan.cohorts.anonymous_requests > 0
    assert scan.decisions.other_feature > 0 and all(scan.decisions.per_hash[i] for i in (1, 2, 3))
    assert scan.passengers.to_dict()["with_5xx"] > 0 and len(scan.passengers.states) > 20
    assert_same(scan, insights)
    assert insights.engine == "insights"
    statuses = {q["status"] for q in insights.queries}
    assert statuses == ({"Complete"} if max_rows == 10_000 else {"Complete", "Truncated"})
    if max_rows < 10_000:  # both kinds of split happened, and the answer is still exact
        assert any("[hash " in q["name"] for q in insights.queries)
        assert len({(q["start"], q["end"]) for q in insights.queries if q["name"] == "latency_bins"}) > 2
    if page_size < 10_000:
        assert any("nextToken" in kwargs for api, kwargs in fake.calls if api == "GetQueryResults")


@pytest.mark.parametrize("message", AGREE)
def test_each_edge_case_is_classified_like_the_scan_engine(message: str) -> None:
    events = [(START + 1000, message), (START + 2000, request_message(passenger=H1))]
    assert_same(scan_stats(events), insights_stats(FakeInsightsClient(events)))


@pytest.mark.parametrize(("message", "by_scan", "by_insights"), DIVERGE)
def test_documented_divergences(message: str, by_scan: tuple[int, int], by_insights: tuple[int, int]) -> None:
    events = [(START + 1000, message)]
    scan, insights = scan_stats(events), insights_stats(FakeInsightsClient(events))
    assert (scan.requests, scan.counts.malformed) == by_scan
    got = insights.aggregate
    assert (got.requests, got.counts.malformed, insights.problems) == (*by_insights, [])
    if got.counts.malformed:
        assert got.counts.malformed_samples == [
            "event breaks the log-line contract as read by Logs Insights (the scan engine reads it differently)"
        ]


def test_no_events_gives_an_empty_complete_read() -> None:
    insights = insights_stats(FakeInsightsClient([]))
    assert_same(scan_stats([]), insights)
    assert insights.aggregate.counts.first_event_ms is None and insights.aggregate.counts.events == 0


def test_a_window_without_route_groups_puts_every_request_in_other() -> None:
    events = mixed_events(300, START, END, seed=3)
    window = LogWindow(feature=FEATURE, start_ms=START, end_ms=END, route_groups=[])
    scan = window.aggregate()
    for ts, msg in events:
        ingest(scan, ts, msg)
    fake = FakeInsightsClient(events)
    insights = InsightsLogSource(LOG_GROUP, client=fake, sleep=lambda _s: None).read(window)
    assert_same(scan, insights)
    assert not any(ROUTE in q["query"] for q in insights.queries)


# -- query evidence ---------------------------------------------------------------------------------------------
def test_every_query_is_recorded_with_its_time_range_and_figures() -> None:
    events = mixed_events(500, START, END, seed=5)
    fake = FakeInsightsClient(events)
    stats = insights_stats(fake, segment_bounds=[START + 600_000])
    assert stats.aggregate.counts.malformed > 0  # so the malformed_samples query runs too
    assert len(stats.queries) == fake.call_count("StartQuery") == 12  # 9 measures, 2 segments, samples
    for entry in stats.queries:
        assert set(entry) == {
            *("name", "query", "start", "end", "status", "rows"),
            *("records_matched", "records_scanned", "bytes_scanned"),
        }
        assert entry["bytes_scanned"] > 0  # GetQueryResults' statistics, what Insights bills
        assert entry["status"] == "Complete" and entry["records_scanned"] > 0
        parse_query(entry["query"])  # a query the console (and the fake) can read back
    ranges = {
        (k["startTime"], k["endTime"], k["limit"], k["logGroupName"]) for api, k in fake.calls if api == "StartQuery"
    }
    segment_edge = (START + 600_000) // 1000
    assert ranges == {
        (START // 1000, END // 1000, 100_000, LOG_GROUP),
        (START // 1000, segment_edge, 100_000, LOG_GROUP),
        (segment_edge, END // 1000, 100_000, LOG_GROUP),
    }
    names = [q["name"] for q in stats.queries]
    assert "decisions[segment 0]" in names and "decisions[segment 1]" in names and "malformed_samples" in names
    events_entry = next(q for q in stats.queries if q["name"] == "events")
    assert f"bm_ts >= {START} and bm_ts < {END}" in events_entry["query"]
    assert events_entry["start"] == "2023-11-14T22:13:20Z" and events_entry["rows"] == 1
    assert stats.aws_calls == {"StartQuery": 12, "GetQueryResults": 3 * 12}


# -- moto: the real boto3 plumbing -------------------------------------------------------------------------------
def moto_source(**kwargs: Any) -> InsightsLogSource:
    return InsightsLogSource(
        LOG_GROUP, region="eu-west-1", endpoint_url=None, max_attempts=2, sleep=lambda _s: None, **kwargs
    )


def test_moto_start_query_and_results_on_an_empty_group(mock_aws_env: None) -> None:
    boto3.client("logs", region_name="eu-west-1").create_log_group(logGroupName=LOG_GROUP)
    start, end = recent_window()
    stats = moto_source().read(make_window(start, end))
    assert stats.problems == [] and stats.aggregate.counts.events == 0 and stats.engine == "insights"
    assert stats.aws_calls["StartQuery"] == len(stats.queries) == 10  # no malformed: no samples query
    assert stats.aws_calls["GetQueryResults"] == 10
    assert {q["status"] for q in stats.queries} == {"Complete"}


def test_moto_missing_log_group(mock_aws_env: None) -> None:
    start, end = recent_window()
    with pytest.raises(LogGroupNotFoundError, match="not found in eu-west-1"):
        moto_source().read(make_window(start, end))


def test_moto_rows_that_are_not_our_aggregates_never_pass(mock_aws_env: None) -> None:
    """moto ignores stats/filter and returns raw events: the engine must notice, not count them as figures."""
    client = boto3.client("logs", region_name="eu-west-1")
    start, end = recent_window()
    put_events(client, mixed_events(50, start, end, seed=1))
    stats = moto_source().read(make_window(start, end))
    assert stats.problems and all("without the expected fields" in p for p in stats.problems)
    assert not stats.complete
