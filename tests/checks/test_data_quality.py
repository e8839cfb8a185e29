"""data_quality: incomplete reads are ERROR, malformed share and stale logs WARN, load balancer cross-check."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_checks import END_MS, ctx, reading, requests, stats

from monitor.checks.data_quality import check_data_quality
from monitor.domain import SourceResult, Status

MIN = 60_000


def window(
    *,
    reqs: int = 1000,
    other: int = 0,
    malformed: int = 0,
    last_min_ago: float | None = 1,
    problems: tuple[str, ...] = (),
    lb: dict[str, Any] | None = None,
) -> SourceResult:
    s = stats()
    at = END_MS - int(last_min_ago * MIN) if last_min_ago is not None else END_MS - 50 * MIN
    if reqs:
        requests(s, reqs, 0, at_ms=at)
    if other:
        s.seen(at, other)
        s.counts.other += other
    for i in range(malformed):
        s.seen(at)
        s.add_malformed(f"http_request without status (line {i})")
    result = reading(s)
    result.problems.extend(problems)
    result.load_balancer = lb
    return result


@pytest.mark.parametrize(
    ("s", "ends_now", "status", "fragment"),
    [
        pytest.param(window(), True, Status.PASS, "1000 requests", id="healthy"),
        pytest.param(window(reqs=0, other=40), True, Status.PASS, "no traffic", id="no-traffic-but-fresh-logs"),
        pytest.param(window(last_min_ago=20), True, Status.WARN, "logs stale: no event in the last 15 min", id="stale"),
        pytest.param(window(last_min_ago=14), True, Status.PASS, "", id="fresh-enough"),
        pytest.param(window(last_min_ago=20), False, Status.PASS, "", id="stale-ok-for-a-past-window"),
        pytest.param(window(reqs=0), True, Status.WARN, "logs stale", id="no-events-at-all"),
        pytest.param(window(reqs=0), False, Status.NODATA, "no events", id="no-events-past-window"),
        pytest.param(
            window(reqs=980, malformed=20),
            True,
            Status.WARN,
            "malformed 2.00% of events (20/1000)",
            id="malformed-above",
        ),
        pytest.param(window(reqs=990, malformed=10), True, Status.PASS, "", id="malformed-exactly-at-limit"),
        pytest.param(
            window(problems=("insights query 2 of 3 timed out",)),
            True,
            Status.ERROR,
            "incomplete read: insights query 2 of 3 timed out",
            id="problem-is-error-never-pass",
        ),
        pytest.param(
            window(reqs=0, problems=("scan truncated", "second")),
            True,
            Status.ERROR,
            "(+1 more); logs stale",
            id="problem-and-stale",
        ),
        pytest.param(window(lb={"requests": 1100}), True, Status.PASS, "", id="lb-within-20pct"),
        pytest.param(
            window(lb={"requests": 1500}),
            True,
            Status.WARN,
            "load balancer counted 1500 requests, logs 1000",
            id="lb-disagrees",
        ),
        pytest.param(window(reqs=0, other=5, lb={"requests": 0}), True, Status.PASS, "", id="lb-zero-both"),
        pytest.param(window(lb={"requests": 0}), True, Status.WARN, "load balancer", id="lb-zero-logs-some"),
        pytest.param(window(lb={"error": "no datapoints"}), True, Status.PASS, "", id="lb-without-count"),
    ],
)
def test_data_quality(s: SourceResult, ends_now: bool, status: Status, fragment: str) -> None:
    got = check_data_quality(ctx(s, window_ends_now=ends_now))
    assert got.name == "data_quality"
    assert got.status is status, got.summary
    assert fragment in got.summary


def test_evidence_shape() -> None:
    s = window(reqs=980, malformed=20, other=3, last_min_ago=2, lb={"requests": 1000})
    s.count_call("FilterLogEvents", 4)
    s.queries.append({"query": "stats count()", "rows": 1})
    ev = check_data_quality(ctx(s)).evidence
    assert ev.events == 1003 and ev.malformed == 20 and ev.other == 3
    assert ev.malformed_share == pytest.approx(20 / 1003)
    assert len(ev.samples) == 5 and ev.samples[0].startswith("http_request without status")
    assert ev.last_event_age_s == 120.0 and ev.freshness_s == 900.0
    assert ev.problems == [] and ev.aws_calls == {"FilterLogEvents": 4}
    assert ev.queries == [{"query": "stats count()", "rows": 1}]
    assert ev.load_balancer["requests"] == 1000 and ev.load_balancer["log_requests"] == 980
    assert ev.load_balancer["difference"] == pytest.approx(0.02)


def unreadable_input(reqs: int, unrecognised: int) -> SourceResult:
    """A `file:` read where one input was mostly in no format the engine reads (a CSV beside an export)."""
    s = window(reqs=reqs, other=unrecognised)
    s.aggregate.counts.unrecognised = unrecognised
    s.unreadable.append(
        f"b.csv: {unrecognised} of {unrecognised} lines in no format beta-monitor reads (first line: X)"
    )
    s.inputs.update({"export wrapper lines": 1, "other lines": 1})
    return s


def test_an_unreadable_input_beside_readable_ones_is_warn_naming_it() -> None:
    got = check_data_quality(ctx(unreadable_input(1000, 51)))
    assert got.status is Status.WARN
    assert got.summary.startswith("unrecognised input: b.csv: 51 of 51 lines in no format beta-monitor reads")
    assert "accepted: {timestamp, message} lines" in got.summary and "gzip" in got.summary
    ev = got.evidence
    assert ev.unrecognised == 51 and ev.inputs == {"export wrapper lines": 1, "other lines": 1}
    assert ev.unreadable_inputs == [s for s in unreadable_input(1000, 51).unreadable]


def test_nothing_recognised_is_left_to_the_reads_problem() -> None:
    s = unreadable_input(0, 40)
    s.problems.append("nothing readable: b.csv: …")
    got = check_data_quality(ctx(s))
    assert got.status is Status.ERROR and "unrecognised input" not in got.summary
    assert got.summary.startswith("incomplete read: nothing readable: b.csv")


def test_other_engines_say_nothing_about_inputs() -> None:
    ev = check_data_quality(ctx(window())).evidence
    assert ev.unrecognised == 0 and ev.inputs is None and ev.unreadable_inputs is None
