"""latency: p95 overall and per route group against the baseline checkpoint's evidence."""

from __future__ import annotations

import pytest
from helpers_checks import checkpoint, ctx, requests, result, stats

from monitor.checks.latency import check_latency
from monitor.domain import Checkpoint, Status, WindowAggregate


def baseline(p95: float | None = 100.0, routes: dict[str, float] | None = None) -> Checkpoint:
    route_evidence = {g: {"p95_ms": v} for g, v in (routes or {}).items()}
    return checkpoint(
        "h1", Status.PASS, [result("latency", Status.SKIP, p95_ms=p95, routes=route_evidence)], hours_ago=5
    )


def traffic(matching_ms: float, flags_ms: float = 50.0, n: int = 500, flags_n: int | None = None) -> WindowAggregate:
    s = stats()
    requests(s, n, 0, duration=matching_ms, route="matching")
    requests(s, n if flags_n is None else flags_n, 0, duration=flags_ms, route="feature_flag")
    return s


@pytest.mark.parametrize(
    ("s", "base", "status"),
    [
        pytest.param(stats(), baseline(), Status.NODATA, id="no-requests"),
        pytest.param(traffic(100.0), None, Status.SKIP, id="no-baseline"),
        pytest.param(traffic(100.0), baseline(None), Status.SKIP, id="baseline-without-p95"),
        pytest.param(traffic(100.0), baseline(100.0), Status.PASS, id="same"),
        pytest.param(traffic(110.0), baseline(100.0), Status.PASS, id="plus-10pct"),
        pytest.param(traffic(130.0), baseline(100.0), Status.WARN, id="plus-30pct-warn"),
        pytest.param(traffic(170.0), baseline(100.0), Status.FAIL, id="plus-70pct-fail"),
        pytest.param(traffic(60.0), baseline(100.0), Status.PASS, id="faster"),
        pytest.param(traffic(300.0, n=40), baseline(100.0), Status.NODATA, id="too-few-requests-to-judge"),
        # overall p95 unchanged (the slow group is under 5% of the traffic), one route group regressed
        pytest.param(
            traffic(100.0, 160.0, n=2000, flags_n=100),
            baseline(100.0, {"feature_flag": 100.0}),
            Status.FAIL,
            id="route-group-regression",
        ),
        pytest.param(
            traffic(100.0, 130.0, n=2000, flags_n=100),
            baseline(100.0, {"feature_flag": 100.0}),
            Status.WARN,
            id="route-group-warn",
        ),
        pytest.param(
            traffic(100.0, 300.0, n=2000, flags_n=50),
            baseline(100.0, {"feature_flag": 100.0}),
            Status.PASS,
            id="route-group-too-small-to-judge",
        ),
    ],
)
def test_latency_status(s: WindowAggregate, base: Checkpoint | None, status: Status) -> None:
    got = check_latency(ctx(s, baseline=base))
    assert got.name == "latency"
    assert got.status is status, got.summary


def test_no_baseline_still_records_p95() -> None:
    got = check_latency(ctx(traffic(100.0, flags_ms=50.0)))
    ev = got.evidence
    assert ev.p95_ms == pytest.approx(100.0, rel=0.01)
    assert ev.routes["matching"].p95_ms == pytest.approx(100.0, rel=0.01)
    assert ev.routes["feature_flag"].p95_ms == pytest.approx(50.0, rel=0.01)
    assert ev.baseline_p95_ms is None and ev.baseline_label is None
    assert got.summary.startswith("no baseline yet: this checkpoint's p95")


def test_route_regression_is_named_in_the_summary() -> None:
    base = baseline(100.0, {"feature_flag": 100.0})
    got = check_latency(ctx(traffic(100.0, 160.0, n=2000, flags_n=100), baseline=base))
    assert got.evidence.change == pytest.approx(0.0, abs=0.015)
    assert got.evidence.routes["feature_flag"].status == "FAIL"
    assert "; feature_flag p95 " in got.summary


def test_evidence_against_baseline() -> None:
    base = baseline(100.0, {"matching": 100.0, "feature_flag": 50.0})
    got = check_latency(ctx(traffic(130.0, flags_ms=50.0), baseline=base))
    ev = got.evidence
    assert ev.baseline_p95_ms == 100.0 and ev.baseline_label == "h1"
    assert ev.baseline_created_at == base.created_at.isoformat()
    assert ev.change == pytest.approx(0.30, abs=0.015)
    assert ev.routes["matching"].status == "WARN"
    assert ev.routes["feature_flag"].status == "PASS"
    assert ev.routes["feature_flag"].change == pytest.approx(0.0, abs=0.015)
    assert ev.routes["other"].status == "NODATA"
    assert "vs baseline 100.0 ms (h1) +30" in got.summary
