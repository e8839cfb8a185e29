"""cohort_regression: ON (allowlist + buckets below the rollout) against OFF with a one-sided exact test."""

from __future__ import annotations

import pytest
from helpers_checks import allowlist_hashes, allowlist_ids, config, ctx, hashes, requests, stats

from monitor.checks.cohort import check_cohort_regression, split_cohorts
from monitor.checks.stats import one_sided_greater_p
from monitor.domain import Status, WindowAggregate


def spread(s: WindowAggregate, passengers: list[str], total: int, errors: int) -> None:
    """`total` requests with `errors` 5xx, spread over `passengers` (remainders on the first)."""
    k = len(passengers)
    for i, p in enumerate(passengers):
        n = total // k + (total % k if i == 0 else 0)
        e = errors // k + (errors % k if i == 0 else 0)
        if n:
            requests(s, n, e, passenger=p)


def traffic(
    rollout: int,
    on: tuple[int, int],
    off: tuple[int, int],
    *,
    enabled: bool = True,
    allowlisted: tuple[int, int] = (0, 0),
    allow: int = 0,
    anonymous: tuple[int, int] = (0, 0),
):
    cfg = config(enabled=enabled, rollout=rollout, allow=allowlist_ids(allow))
    s = stats(cfg)
    if on[0]:
        spread(s, hashes(10, 0, rollout), *on)
    if off[0]:
        spread(s, hashes(40, rollout, 100), *off)
    if allowlisted[0]:
        spread(s, sorted(allowlist_hashes(cfg.allowlist)), *allowlisted)
    if anonymous[0]:
        requests(s, anonymous[0], anonymous[1])
    return ctx(s, cfg)


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        pytest.param(traffic(5, on=(200, 4), off=(3800, 0)), Status.FAIL, id="zero-errors-off-vs-errors-on"),
        pytest.param(traffic(5, on=(1000, 5), off=(19000, 95)), Status.PASS, id="equal-rates"),
        pytest.param(traffic(5, on=(1000, 30), off=(19000, 95)), Status.FAIL, id="clear-regression"),
        pytest.param(traffic(5, on=(1000, 0), off=(19000, 95)), Status.PASS, id="on-better"),
        pytest.param(traffic(5, on=(100, 1), off=(1000, 0)), Status.PASS, id="large-effect-not-significant"),
        pytest.param(
            traffic(50, on=(100000, 1400), off=(100000, 1000)), Status.PASS, id="significant-but-below-min-effect"
        ),
        pytest.param(traffic(5, on=(30, 3), off=(3000, 0)), Status.NODATA, id="tiny-on-cohort"),
        pytest.param(traffic(5, on=(0, 0), off=(3000, 0)), Status.NODATA, id="no-on-traffic"),
        pytest.param(traffic(5, on=(0, 0), off=(0, 0)), Status.NODATA, id="zero-traffic-never-pass"),
        pytest.param(traffic(0, on=(0, 0), off=(3000, 30)), Status.SKIP, id="rollout-0-no-allowlist"),
        pytest.param(
            traffic(5, on=(500, 50), off=(3000, 0), enabled=False, allow=3, allowlisted=(300, 30)),
            Status.SKIP,
            id="disabled-with-allowlist",
        ),
        pytest.param(traffic(100, on=(5000, 0), off=(0, 0)), Status.SKIP, id="rollout-100-no-off-cohort"),
        pytest.param(
            traffic(0, on=(0, 0), off=(3000, 0), allow=4, allowlisted=(200, 10)),
            Status.FAIL,
            id="allowlist-phase-regression",
        ),
        pytest.param(
            traffic(5, on=(1000, 5), off=(19000, 95), anonymous=(5000, 2500)),
            Status.PASS,
            id="anonymous-errors-belong-to-no-cohort",
        ),
    ],
)
def test_cohort_status(c, expected: Status) -> None:
    got = check_cohort_regression(c)
    assert got.name == "cohort_regression"
    assert got.status is expected, got.summary


def test_zero_errors_off_evidence() -> None:
    got = check_cohort_regression(traffic(5, on=(200, 4), off=(3800, 0)))
    ev = got.evidence
    assert ev.on.requests == 200 and ev.on.errors_5xx == 4 and ev.on.rate == 0.02
    assert (ev.off.requests, ev.off.errors_5xx, ev.off.rate) == (3800, 0, 0.0)
    assert ev.off.interval[0] == 0.0 and 0 < ev.off.interval[1] < 0.002
    assert ev.effect == pytest.approx(0.02)
    assert ev.p_value < 0.01
    assert ev.alpha == 0.01 and ev.min_effect == 0.005
    assert ev.needed_requests is None and ev.needed_hours is None
    assert "ON 2.00% (4/200" in got.summary and "OFF 0.00% (0/3800)" in got.summary


def test_tiny_on_cohort_says_how_much_more_traffic() -> None:
    got = check_cohort_regression(traffic(5, on=(30, 3), off=(3000, 0)))
    ev = got.evidence
    assert ev.needed_requests == 70
    # 30 ON requests in a 1 h window: 70 more take 70 / 30 h.
    assert ev.needed_hours == pytest.approx(70 / 30)
    assert "needs 70 more" in got.summary and "≈2.3 h" in got.summary
    assert ev.p_value is None


def test_no_on_traffic_cannot_estimate_hours() -> None:
    got = check_cohort_regression(traffic(5, on=(0, 0), off=(3000, 0)))
    assert got.evidence.needed_requests == 100
    assert got.evidence.needed_hours is None
    assert "hours unknown" in got.summary


def test_cohort_split_follows_the_resolver() -> None:
    c = traffic(5, on=(100, 2), off=(900, 1), allow=2, allowlisted=(50, 5), anonymous=(70, 7))
    cohorts = c.stats.cohorts
    assert split_cohorts(cohorts, True, 5) == ((150, 7), (900, 1))
    assert split_cohorts(cohorts, False, 5) == ((0, 0), (1050, 8))  # disabled: everyone OFF, allowlist included
    ev = check_cohort_regression(c).evidence
    assert ev.anonymous.model_dump() == {"requests": 70, "errors_5xx": 7}
    assert ev.on.requests == 150 and ev.off.requests == 900


@pytest.mark.parametrize(
    ("on", "off", "low", "high"),
    [
        pytest.param((200, 4), (3800, 0), 0.0, 0.001, id="few-on-errors-zero-off"),
        pytest.param((100, 1), (100, 1), 0.7, 1.0, id="equal"),
        pytest.param((100, 0), (100, 5), 0.99, 1.0, id="on-better"),
    ],
)
def test_one_sided_exact_p(on: tuple[int, int], off: tuple[int, int], low: float, high: float) -> None:
    p = one_sided_greater_p(on[1], on[0], off[1], off[0])
    assert p is not None and low <= p <= high
    assert one_sided_greater_p(0, 0, 1, 10) is None
