"""data_quality: can the other checks trust what was read? (SPEC "Checks").

- a truncated or failed read (`stats.problems`) → ERROR, never PASS;
- malformed events above `max_malformed_share` of all events → WARN;
- a window that ends now with no event in its last `freshness` → WARN "logs stale" (zero requests with recent
  events is "no traffic", which is fine);
- the load balancer's request count (when configured) differing from the logged requests by more than 20% → WARN.
"""

from __future__ import annotations

from typing import Any

from monitor.checks.base import CheckContext
from monitor.checks.stats import pct
from monitor.models import CheckResult, Status

NAME = "data_quality"
LB_TOLERANCE = 0.20


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _load_balancer(ctx: CheckContext) -> tuple[dict[str, Any] | None, str | None]:
    """The cross-check figures and, when they disagree, the warning."""
    lb = ctx.stats.load_balancer
    if not lb or not isinstance(lb.get("requests"), int | float):
        return lb, None
    lb_requests, logged = lb["requests"], ctx.stats.requests
    difference = abs(logged - lb_requests) / lb_requests if lb_requests > 0 else (0.0 if logged == 0 else None)
    figures = {**lb, "log_requests": logged, "difference": difference}
    if difference is None or difference > LB_TOLERANCE:
        off = "∞" if difference is None else f"{difference * 100:.0f}%"
        return figures, (f"load balancer counted {lb_requests:.0f} requests, logs {logged} "
                         f"(off by {off}, tolerance {LB_TOLERANCE * 100:.0f}%)")
    return figures, None


def _warnings(ctx: CheckContext, share: float | None, age: float | None, lb_warning: str | None) -> list[str]:
    stats, th = ctx.stats, ctx.thresholds
    warnings: list[str] = []
    if share is not None and share > th.max_malformed_share:
        warnings.append(f"malformed {pct(share)} of events ({stats.malformed}/{stats.events}), "
                        f"limit {pct(th.max_malformed_share)}")
    freshness = th.freshness.total_seconds()
    if ctx.window_ends_now and (age is None or age > freshness):
        warnings.append(f"logs stale: no event in the last {_minutes(freshness)}")
    if lb_warning:
        warnings.append(lb_warning)
    return warnings


def check_data_quality(ctx: CheckContext) -> CheckResult:
    stats, th = ctx.stats, ctx.thresholds
    share = stats.malformed / stats.events if stats.events else None
    end_ms = int(ctx.window.end.timestamp() * 1000)
    age = (end_ms - stats.last_event_ms) / 1000 if stats.last_event_ms is not None else None
    freshness = th.freshness.total_seconds()
    lb, lb_warning = _load_balancer(ctx)
    evidence: dict[str, Any] = {
        "events": stats.events,
        "malformed": stats.malformed,
        "malformed_share": share,
        "max_malformed_share": th.max_malformed_share,
        "samples": list(stats.malformed_samples),
        "other": stats.other,
        "last_event_age_s": age,
        "freshness_s": freshness,
        "window_ends_now": ctx.window_ends_now,
        "problems": list(stats.problems),
        "aws_calls": dict(stats.aws_calls),
        "queries": list(stats.queries),
        "load_balancer": lb,
        "engine": stats.engine,
    }
    warnings = _warnings(ctx, share, age, lb_warning)
    if stats.problems:
        more = f" (+{len(stats.problems) - 1} more)" if len(stats.problems) > 1 else ""
        summary = "; ".join([f"incomplete read: {stats.problems[0][:200]}{more}", *warnings])
        return CheckResult(name=NAME, status=Status.ERROR, summary=summary, evidence=evidence)
    if warnings:
        return CheckResult(name=NAME, status=Status.WARN, summary="; ".join(warnings), evidence=evidence)
    if stats.events == 0:
        return CheckResult(name=NAME, status=Status.NODATA, summary="no events in the window", evidence=evidence)
    traffic = "no traffic" if stats.requests == 0 else f"{stats.requests} requests"
    summary = (f"{stats.events} events ({traffic}), malformed {pct(share)}, "
               f"last event {_minutes(age) if age is not None else 'n/a'} before window end")
    return CheckResult(name=NAME, status=Status.PASS, summary=summary, evidence=evidence)
