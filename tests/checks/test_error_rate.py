"""error_rate: FAIL above the limit once enough requests, NODATA below (unless the interval already exceeds it)."""

from __future__ import annotations

import pytest
from helpers_checks import checkpoint, ctx, requests, result, stats

from monitor.checks.error_rate import check_error_rate
from monitor.checks.stats import wilson_interval
from monitor.domain import Status


@pytest.mark.parametrize(
    ("total", "errors", "expected"),
    [
        pytest.param(0, 0, Status.NODATA, id="zero-traffic-never-pass"),
        pytest.param(2000, 7, Status.PASS, id="well-below"),
        pytest.param(100, 1, Status.PASS, id="exactly-at-limit-min-requests"),
        pytest.param(300, 3, Status.PASS, id="exactly-at-limit"),
        pytest.param(1000, 11, Status.FAIL, id="just-above"),
        pytest.param(99, 0, Status.NODATA, id="below-min-requests"),
        pytest.param(99, 2, Status.NODATA, id="few-requests-interval-straddles-limit"),
        pytest.param(99, 3, Status.FAIL, id="few-requests-lower-bound-just-above-limit"),
        pytest.param(50, 10, Status.FAIL, id="few-requests-lower-bound-above-limit"),
        pytest.param(100, 100, Status.FAIL, id="all-errors"),
    ],
)
def test_error_rate_status(total: int, errors: int, expected: Status) -> None:
    s = stats()
    requests(s, total, errors)
    got = check_error_rate(ctx(s))
    assert got.name == "error_rate"
    assert got.status is expected
    assert got.evidence.requests == total
    assert got.evidence.errors_5xx == errors


def test_error_rate_evidence_and_summary() -> None:
    s = stats()
    requests(s, 1500, 5, route="matching")
    requests(s, 500, 2, route="feature_flag")
    s.add_request(429, 10.0, "other", None)
    got = check_error_rate(ctx(s))
    ev = got.evidence
    assert ev.requests == 2001 and ev.errors_5xx == 7
    assert ev.rate == pytest.approx(7 / 2001)
    assert ev.interval == pytest.approx(wilson_interval(7, 2001))
    assert ev.interval[0] < ev.rate < ev.interval[1]
    assert ev.limit == 0.01 and ev.min_requests == 100
    assert ev.breakdown["5xx"] == 7 and ev.breakdown["429"] == 1 and ev.breakdown["4xx"] == 1
    assert ev.routes["feature_flag"].model_dump() == {
        "requests": 500,
        "errors_5xx": 2,
        "rate": 0.004,
        "interval": pytest.approx(wilson_interval(2, 500)),
    }
    assert ev.routes["matching"].errors_5xx == 5
    assert ev.baseline is None
    assert got.summary == "5xx 0.35% (7/2001), 95% CI 0.17–0.72%, limit 1.00%"


def test_wilson_interval_matches_the_formula() -> None:
    interval = wilson_interval(7, 2000)
    assert interval is not None
    lo, hi = interval
    assert lo == pytest.approx(0.0016964, rel=1e-4)
    assert hi == pytest.approx(0.0072072, rel=1e-4)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 100) == [0.0, pytest.approx(0.0370, rel=1e-3)]


def test_error_rate_reports_the_baseline_rate() -> None:
    base = checkpoint("h1", Status.PASS, [result("error_rate", Status.PASS, rate=0.002)], hours_ago=3)
    s = stats()
    requests(s, 200, 1)
    ev = check_error_rate(ctx(s, baseline=base)).evidence
    assert ev.baseline is not None
    assert ev.baseline.model_dump() == {"label": "h1", "created_at": base.created_at.isoformat(), "rate": 0.002}
