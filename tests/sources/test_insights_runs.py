"""The Logs Insights engine's query runs: every status, polling, concurrency, truncation splits, the deadline and
AWS errors — each a fake logs client (`fake_insights`) scripted to answer as CloudWatch would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError
from fake_insights import FakeInsightsClient
from helpers_events import LOG_GROUP, make_window, mixed_events, passenger_hash, request_message
from helpers_insights import END, START, assert_same, insights_stats, scan_stats

from monitor.errors import LogGroupNotFoundError, SourceError, Stopped
from monitor.sources.insights import InsightsLogSource
from monitor.sources.insights.queries import ROUTE


# -- query statuses -----------------------------------------------------------------------------------------------
def statuses_for(marker: str, sequence: Sequence[str]) -> Callable[[str], Sequence[str]]:
    return lambda query: sequence if marker in query else ("Scheduled", "Running", "Complete")


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout", "Unknown", "SomethingNew"])
def test_a_query_that_does_not_complete_is_a_problem_never_a_pass(status: str) -> None:
    events = mixed_events(400, START, END, seed=9)
    fake = FakeInsightsClient(events, statuses=statuses_for("as bm_bin", ("Scheduled", "Running", status)))
    stats = insights_stats(fake)
    scan = scan_stats(events)
    failed = [q for q in stats.queries if q["status"] == status]
    assert {q["name"] for q in failed} == {"latency_bins", "latency_bins_by_route"}
    assert stats.problems == [
        f"insights query latency_bins ended {status}: its figures are missing",
        f"insights query latency_bins_by_route ended {status}: its figures are missing",
    ]
    got = stats.aggregate
    assert got.latency.count == 0 and got.routes["matching"].latency.count == 0  # nothing made up
    assert got.status == scan.status and got.cohorts.to_dict() == scan.cohorts.to_dict()
    assert not stats.complete


def test_scheduled_and_running_are_polled_until_complete_and_partial_rows_are_ignored() -> None:
    events = mixed_events(600, START, END, seed=2)
    slow = ("Scheduled", "Scheduled", "Running", "Running", "Running", "Complete")
    fake = FakeInsightsClient(events, statuses=lambda _q: slow)
    sleeps: list[float] = []
    source = InsightsLogSource(LOG_GROUP, client=fake, sleep=sleeps.append, poll_interval_s=0.5)
    stats = source.read(make_window(START, END))
    assert_same(scan_stats(events), stats)
    assert fake.call_count("GetQueryResults") == len(slow) * fake.call_count("StartQuery")
    assert sleeps and set(sleeps) == {0.5}


class InFlightClient(FakeInsightsClient):
    """Tracks how many queries were started and not yet seen finished."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open: set[str] = set()
        self.most = 0

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        response = super().start_query(**kwargs)
        self.open.add(response["queryId"])
        self.most = max(self.most, len(self.open))
        return response

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]:
        response = super().get_query_results(**kwargs)
        if response["status"] not in ("Scheduled", "Running"):
            self.open.discard(kwargs["queryId"])
        return response


@pytest.mark.parametrize("limit", [1, 4])
def test_no_more_than_max_concurrent_queries_run_at_once(limit: int) -> None:
    events = mixed_events(300, START, END, seed=4)
    fake = InFlightClient(events)
    stats = insights_stats(fake, max_concurrent=limit)
    assert fake.most == limit and not stats.problems


# -- truncation -----------------------------------------------------------------------------------------------------
def pad_broad_query(measure_marker: str, to: int) -> Callable[[str, list], list]:
    """Make the unsplit query of a measure come back with exactly `to` rows (as a truncated result does)."""

    def hook(query: str, results: list) -> list:
        if measure_marker in query and "bm_h like" not in query:
            filler = [
                [{"field": "bm_h", "value": "f" * 64}, {"field": "bm_err", "value": "0"}, {"field": "n", "value": "1"}]
            ]
            return (results + filler * to)[:to]
        return results

    return hook


def test_a_result_at_the_100000_row_limit_is_split_by_hash_prefix_and_nothing_is_lost() -> None:
    events = mixed_events(1000, START, END, seed=21, passengers=300)
    fake = FakeInsightsClient(events, rows_hook=pad_broad_query("by bm_h, bm_err", 100_000))
    stats = insights_stats(fake)
    assert_same(scan_stats(events), stats)
    cohort = [q for q in stats.queries if q["name"].startswith("cohort_requests")]
    assert cohort[0]["name"] == "cohort_requests" and cohort[0]["status"] == "Truncated"
    assert cohort[0]["rows"] == 100_000  # read in pages of 10,000 (GetQueryResults' most)
    assert sum(1 for api, kwargs in fake.calls if api == "GetQueryResults" and "nextToken" in kwargs) == 9
    assert sorted(q["name"] for q in cohort[1:]) == [f"cohort_requests[hash {c}*]" for c in "0123456789abcdef"]
    assert all(q["status"] == "Complete" and q["rows"] < 10_000 for q in cohort[1:])


def test_a_result_reporting_more_rows_than_returned_is_treated_as_truncated() -> None:
    events = mixed_events(300, START, END, seed=22)
    fake = FakeInsightsClient(events)
    original = fake.get_query_results

    def understated(**kwargs: Any) -> dict[str, Any]:
        response = original(**kwargs)
        if (
            response["status"] == "Complete"
            and "by bm_type" in fake.queries[kwargs["queryId"]]["query"]
            and kwargs["queryId"] == "q-1"
        ):
            response["statistics"]["resultCount"] = 5000.0
        return response

    fake.get_query_results = understated  # type: ignore[method-assign]
    stats = insights_stats(fake)
    assert_same(scan_stats(events), stats)
    assert [q["status"] for q in stats.queries if q["name"] == "claims"] == ["Truncated", "Complete", "Complete"]


def test_a_per_passenger_query_that_cannot_be_split_further_is_a_problem() -> None:
    events = mixed_events(200, START, END, seed=23, passengers=100)

    def always_full_under_abc(query: str, results: list) -> list:
        m = re.search(r"bm_h like /\^([0-9a-f]*)/", query)
        prefix = m.group(1) if m else ""
        if "by bm_h, bm_err" in query and "abc".startswith(prefix):
            return (
                results
                + [
                    [
                        {"field": "bm_h", "value": prefix + "0" * 8},
                        {"field": "bm_err", "value": "0"},
                        {"field": "n", "value": "1"},
                    ]
                ]
                * 50
            )[:50]
        return results

    stats = insights_stats(FakeInsightsClient(events, rows_hook=always_full_under_abc), max_rows=50)
    assert stats.problems[0] == (
        "insights query cohort_requests[hash abc*] returned 50 rows (the row limit) and "
        "cannot be split further: its figures may be truncated"
    )
    names = [q["name"] for q in stats.queries if q["status"] == "Truncated" and q["name"].startswith("cohort")]
    assert names == [
        "cohort_requests",
        "cohort_requests[hash a*]",
        "cohort_requests[hash ab*]",
        "cohort_requests[hash abc*]",
    ]
    assert not any(passenger_hash(i) in line for line in stats.problems for i in range(100))


def test_a_time_split_query_stops_splitting_below_two_seconds() -> None:
    start, end = START, START + 8_000
    events = [(start + i * 100, request_message(duration_ms=1 + i)) for i in range(80)]
    fake = FakeInsightsClient(events, rows_hook=lambda q, r: (r * 40)[:40] if "by bm_bin" in q and r else r)
    stats = InsightsLogSource(LOG_GROUP, client=fake, sleep=lambda _s: None, max_rows=40).read(make_window(start, end))
    latency = [q for q in stats.queries if q["name"] == "latency_bins"]
    assert [(q["start"], q["end"]) for q in latency][:3] == [
        ("2023-11-14T22:13:20Z", "2023-11-14T22:13:28Z"),
        ("2023-11-14T22:13:20Z", "2023-11-14T22:13:24Z"),
        ("2023-11-14T22:13:24Z", "2023-11-14T22:13:28Z"),
    ]
    assert len(latency) == 15  # 8 s → 4 s → 2 s → 1 s parts, which are not split further
    assert [q["status"] for q in latency] == ["Truncated"] * 15
    assert (
        stats.problems
        == [
            "insights query latency_bins returned 40 rows (the row limit) and cannot be split "
            "further: its figures may be truncated"
        ]
        * 8
    )


# -- deadline and AWS errors ------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("stop_error", [False, True], ids=["stop-ok", "stop-unsupported"])
def test_the_deadline_stops_unfinished_queries_and_records_a_problem(stop_error: bool) -> None:
    clock = FakeClock()
    events = mixed_events(200, START, END, seed=6)
    fake = FakeInsightsClient(events, statuses=lambda _q: ("Running",), stop_error=stop_error)
    source = InsightsLogSource(LOG_GROUP, client=fake, timeout_s=30, poll_interval_s=5, clock=clock, sleep=clock.sleep)
    stats = source.read(make_window(START, END))
    assert clock.now == 1030.0
    assert fake.call_count("StopQuery") == 4 and len(fake.stopped) == (0 if stop_error else 4)
    assert len(stats.problems) == 1 and stats.problems[0].startswith(
        "insights queries unfinished after the 30s deadline: events, claims, requests_by_status, latency_bins, "
        "cohort_requests and 5 more"
    )
    assert [q["status"] for q in stats.queries] == ["Stopped"] * 4
    got = stats.aggregate
    assert got.requests == 0 and got.counts.events == 0 and got.counts.malformed == 0


def test_a_stop_signal_stops_the_running_queries() -> None:
    """SIGTERM (ECS stopping the task) raises Stopped while queries run: they are stopped, not left to run on."""
    events = mixed_events(200, START, END, seed=6)
    fake = FakeInsightsClient(events, statuses=lambda _q: ("Running",))
    polls: list[float] = []

    def stop_on_second_poll(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise Stopped("SIGTERM")

    source = InsightsLogSource(LOG_GROUP, client=fake, sleep=stop_on_second_poll, poll_interval_s=1)
    with pytest.raises(Stopped):
        source.read(make_window(START, END))
    started = [kwargs for name, kwargs in fake.calls if name == "StartQuery"]
    assert len(started) == 4 and sorted(fake.stopped) == sorted(fake.queries)


def test_a_missing_log_group_is_a_config_error() -> None:
    with pytest.raises(LogGroupNotFoundError, match="log group '/ecs/other' not found"):
        InsightsLogSource("/ecs/other", client=FakeInsightsClient([])).read(make_window(START, END))


class FailingClient(FakeInsightsClient):
    def __init__(self, *args: Any, fail_start_at: int = -1, fail_poll_of: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_start_at, self.fail_poll_of = fail_start_at, fail_poll_of

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        if self.call_count("StartQuery") == self.fail_start_at:
            self.calls.append(("StartQuery", kwargs))
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "StartQuery")
        return super().start_query(**kwargs)

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_poll_of and self.fail_poll_of in self.queries[kwargs["queryId"]]["query"]:
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "busy"}}, "GetQueryResults")
        return super().get_query_results(**kwargs)


def test_an_aws_error_before_any_query_started_is_the_reads_failure() -> None:
    stats = insights_stats(FailingClient([], fail_start_at=0))
    assert isinstance(stats.failure, SourceError) and stats.failure.code == "AccessDeniedException"
    assert str(stats.failure).startswith("StartQuery on log group '/ecs/kaviar-backend' failed: AccessDenied")
    assert stats.problems == [f"insights read failed [AccessDeniedException]: {stats.failure}"]


def test_a_later_aws_error_is_a_problem_and_the_other_queries_still_count() -> None:
    events = mixed_events(300, START, END, seed=8)
    stats = insights_stats(FailingClient(events, fail_start_at=2, fail_poll_of="by bm_h, bm_decision"))
    scan = scan_stats(events)
    assert stats.problems == [
        "insights query requests_by_status could not start: StartQuery on log group '/ecs/kaviar-backend' failed: "
        "AccessDeniedException: not allowed",
        "insights query decisions[segment 0] failed: GetQueryResults on log group '/ecs/kaviar-backend' failed: "
        "ServiceUnavailableException: busy",
    ]
    assert [q["status"] for q in stats.queries if q["status"] != "Complete"] == ["Error", "Error"]
    got = stats.aggregate
    assert (got.counts.events, got.counts.other) == (scan.counts.events, scan.counts.other)
    assert got.cohorts.to_dict() == scan.cohorts.to_dict() and got.latency == scan.latency
    assert got.status.requests == 0 and got.counts.malformed == 0  # nothing derived from a missing query
    assert got.decisions.total == 0 and got.decisions.other_feature == scan.decisions.other_feature


def test_rows_without_the_expected_fields_are_a_problem() -> None:
    events = mixed_events(200, START, END, seed=10)

    def drop_counts(query: str, results: list) -> list:
        if "by bm_type" in query:
            return [[f for f in row if f["field"] != "n"] for row in results]
        return results

    stats = insights_stats(FakeInsightsClient(events, rows_hook=drop_counts))
    assert stats.problems == ["insights query claims returned 2 rows without the expected fields"]
    assert stats.aggregate.counts.other == 0 and stats.aggregate.counts.malformed == 0


class RecordedClient:
    """Answers with literal GetQueryResults bodies shaped as CloudWatch returns them (all values strings)."""

    ANSWERS: ClassVar[dict[str, list[list[dict[str, str]]]]] = {  # a marker of the query text → its rows
        "as first_ms": [
            [
                {"field": "events", "value": "7"},
                {"field": "first_ms", "value": "2023-11-14 22:13:21.500"},
                {"field": "last_ms", "value": "1.700000004E12"},
            ]
        ],
        "by bm_type": [[{"field": "bm_type", "value": "http_request"}, {"field": "n", "value": "4.0"}]],
        "by bm_status": [
            [{"field": "bm_status", "value": "200"}, {"field": "n", "value": "2"}],
            [{"field": "bm_status", "value": "503"}, {"field": "n", "value": "1"}],
            [{"field": "bm_status", "value": "200"}, {"field": "n", "value": "1"}],
        ],  # number vs string
        "n by bm_bin": [[{"field": "bm_bin", "value": "230"}, {"field": "n", "value": "4"}]],
        "by bm_h, bm_err": [
            [{"field": "bm_h", "value": "ab" * 32}, {"field": "bm_err", "value": "1"}, {"field": "n", "value": "1"}]
        ],
        "n by bm_err": [[{"field": "bm_err", "value": "0"}, {"field": "n", "value": "3"}]],
    }

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        query_id = f"q{len(self.texts)}"
        self.texts[query_id] = kwargs["queryString"]
        return {"queryId": query_id}

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]:
        text = self.texts[kwargs["queryId"]]
        rows = next((rows for marker, rows in self.ANSWERS.items() if marker in text and ROUTE not in text), [])
        return {
            "status": "Complete",
            "results": rows,
            "statistics": {"recordsMatched": 7.0, "recordsScanned": 7.0, "bytesScanned": 700.0},
        }

    def stop_query(self, **_kwargs: Any) -> dict[str, Any]:
        return {"success": True}


def test_recorded_response_shapes_are_read_as_cloudwatch_writes_them() -> None:
    stats = InsightsLogSource(LOG_GROUP, client=RecordedClient(), sleep=lambda _s: None).read(make_window(START, END))
    assert stats.problems == []
    got, counts = stats.aggregate, stats.aggregate.counts
    assert (counts.events, counts.other, counts.malformed) == (7, 3, 0)
    assert (counts.first_event_ms, counts.last_event_ms) == (1_700_000_001_500, 1_700_000_004_000)
    assert got.status.to_dict()["2xx"] == 3 and got.status.s5xx == 1
    assert got.latency.bins == {230: 4} and got.latency.zero == 0
    assert got.cohorts.anonymous_requests == 3 and sum(got.cohorts.bucket_5xx) == 1
    assert got.routes["other"].status.requests == 4  # no route rows: every request is in "other"
    assert stats.aws_calls == {"StartQuery": 10, "GetQueryResults": 10}
