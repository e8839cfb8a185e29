"""latency: p95 of duration_ms overall and per route group against the phase baseline (SPEC "Checks").

Above +latency_warn → WARN, above +latency_fail → FAIL. Without a baseline the check is SKIP but its evidence carries
this checkpoint's p95 figures, so the checkpoint can become the baseline. A p95 over fewer than `min_requests`
requests (overall or in a route group) is reported but not judged: a handful of requests has no stable p95.
"""

from __future__ import annotations

from monitor.checks.base import CheckContext
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import LatencyEvidence, RouteLatency
from monitor.domain.format import plural
from monitor.domain.status import Status

NAME = LatencyEvidence.check


def _judge(p95: float | None, base: float | None, count: int, ctx: CheckContext) -> tuple[Status, float | None]:
    """Status and relative change of one p95 against its baseline."""
    if p95 is None or count < ctx.thresholds.min_requests:
        return Status.NODATA, None
    if base is None or base <= 0:
        return Status.SKIP, None
    change = p95 / base - 1
    if change > ctx.thresholds.latency_fail:
        return Status.FAIL, change
    if change > ctx.thresholds.latency_warn:
        return Status.WARN, change
    return Status.PASS, change


def _baseline_figures(ctx: CheckContext) -> tuple[float | None, dict[str, RouteLatency]]:
    base = ctx.baseline.evidence(LatencyEvidence) if ctx.baseline is not None else None
    if base is None:
        return None, {}
    return base.p95_ms, base.routes or {}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def check_latency(ctx: CheckContext) -> CheckResult:
    stats, th = ctx.stats, ctx.thresholds
    base_p95, base_routes = _baseline_figures(ctx)
    p95 = stats.latency.quantile(0.95)
    status, change = _judge(p95, base_p95, stats.latency.count, ctx)
    routes: dict[str, RouteLatency] = {}
    for group, r in stats.routes.items():
        route_p95 = r.latency.quantile(0.95)
        route_base = base_routes[group].p95_ms if group in base_routes else None
        route_status, route_change = _judge(route_p95, route_base, r.latency.count, ctx)
        routes[group] = RouteLatency(
            p95_ms=route_p95,
            baseline_p95_ms=route_base,
            change=route_change,
            status=route_status,
            requests=r.latency.count,
        )
    evidence = LatencyEvidence(
        p95_ms=p95,
        baseline_p95_ms=base_p95,
        baseline_label=ctx.baseline.label if ctx.baseline else None,
        baseline_created_at=ctx.baseline.created_at.isoformat() if ctx.baseline else None,
        change=change,
        requests=stats.latency.count,
        warn_above=th.latency_warn,
        fail_above=th.latency_fail,
        routes=routes,
    )
    if stats.latency.count == 0:
        return CheckResult(name=NAME, status=Status.NODATA, summary="no requests in the window", evidence=evidence)
    if base_p95 is None:
        return CheckResult(
            name=NAME,
            status=Status.SKIP,
            evidence=evidence,
            summary=f"no baseline yet: this checkpoint's p95 {_ms(p95)} is recorded",
        )
    return _result(ctx, status, evidence, routes)


def _result(ctx: CheckContext, status: Status, ev: LatencyEvidence, routes: dict[str, RouteLatency]) -> CheckResult:
    th = ctx.thresholds
    summary = f"p95 {_ms(ev.p95_ms)} vs baseline {_ms(ev.baseline_p95_ms)} ({ev.baseline_label})"
    if ev.change is not None:
        summary += f" {ev.change * 100:+.1f}%"
    elif status is Status.NODATA:
        summary += f": {plural(ev.requests or 0, 'request')}, {th.min_requests} needed to judge"
    worst = status
    for group, r in routes.items():
        if r.status in (Status.WARN, Status.FAIL) and r.change is not None:
            summary += f"; {group} p95 {_ms(r.p95_ms)} {r.change * 100:+.1f}%"
            worst = Status.worst(worst, r.status)
    summary += f" (WARN above +{th.latency_warn * 100:.0f}%, FAIL above +{th.latency_fail * 100:.0f}%)"
    return CheckResult(name=NAME, status=worst, summary=summary, evidence=ev)
