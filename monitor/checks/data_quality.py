"""data_quality: can the other checks trust what was read? (SPEC "Checks").

- a truncated or failed read (the reading's `problems`) → ERROR, never PASS;
- malformed events above `max_malformed_share` of all events → WARN;
- a window that ends now with no event in its last `freshness` → WARN "logs stale" (zero requests with recent
  events is "no traffic", which is fine);
- the load balancer's request count (when configured) differing from the logged requests by more than 20% → WARN;
- a `file:` input whose lines are mostly in no format the engine reads (a CSV, an access log, binary) → WARN naming
  it, the shape of its first line and the accepted formats (nothing recognised at all is a failed read: ERROR).
"""

from __future__ import annotations

from typing import Any

from monitor.checks.base import CheckContext
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import DataQualityEvidence
from monitor.domain.format import pct, plural
from monitor.domain.reading import FILE_FORMATS
from monitor.domain.status import Status

NAME = DataQualityEvidence.check
LB_TOLERANCE = 0.20
_PROBLEM_CHARS = 400  # a problem names its input (a path, an S3 key) and what to do


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _load_balancer(ctx: CheckContext) -> tuple[dict[str, Any] | None, str | None]:
    """The cross-check figures and, when they disagree, the warning."""
    lb = ctx.reading.load_balancer
    if not lb or not isinstance(lb.get("requests"), int | float):
        return lb, None
    lb_requests, logged = lb["requests"], ctx.stats.requests
    difference = abs(logged - lb_requests) / lb_requests if lb_requests > 0 else (0.0 if logged == 0 else None)
    figures = {**lb, "log_requests": logged, "difference": difference}
    if difference is None or difference > LB_TOLERANCE:
        off = "∞" if difference is None else f"{difference * 100:.0f}%"
        return figures, (
            f"load balancer counted {lb_requests:.0f} requests, logs {logged} "
            f"(off by {off}, tolerance {LB_TOLERANCE * 100:.0f}%)"
        )
    return figures, None


def _warnings(ctx: CheckContext, share: float | None, age: float | None, lb_warning: str | None) -> list[str]:
    counts, th = ctx.stats.counts, ctx.thresholds
    warnings: list[str] = []
    if share is not None and share > th.max_malformed_share:
        warnings.append(
            f"malformed {pct(share)} of events ({counts.malformed}/{counts.events}), "
            f"limit {pct(th.max_malformed_share)}"
        )
    freshness = th.freshness.total_seconds()
    if ctx.window_ends_now and (age is None or age > freshness):
        warnings.append(f"logs stale: no event in the last {_minutes(freshness)}")
    if lb_warning:
        warnings.append(lb_warning)
    unreadable = ctx.reading.unreadable
    recognised = counts.events + counts.outside_window - counts.unrecognised
    if unreadable and recognised > 0:  # nothing recognised at all is already the read's problem (ERROR)
        more = f" (+{len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        warnings.append(f"unrecognised input: {unreadable[0]}{more}; {FILE_FORMATS}")
    return warnings


def check_data_quality(ctx: CheckContext) -> CheckResult:
    reading, counts, th = ctx.reading, ctx.stats.counts, ctx.thresholds
    share = counts.malformed / counts.events if counts.events else None
    end_ms = int(ctx.window.end.timestamp() * 1000)
    age = (end_ms - counts.last_event_ms) / 1000 if counts.last_event_ms is not None else None
    freshness = th.freshness.total_seconds()
    lb, lb_warning = _load_balancer(ctx)
    evidence = DataQualityEvidence(
        events=counts.events,
        malformed=counts.malformed,
        malformed_share=share,
        max_malformed_share=th.max_malformed_share,
        samples=list(counts.malformed_samples),
        other=counts.other,
        last_event_age_s=age,
        freshness_s=freshness,
        window_ends_now=ctx.window_ends_now,
        problems=list(reading.problems),
        aws_calls=dict(reading.aws_calls),
        queries=list(reading.queries),
        load_balancer=lb,
        engine=reading.engine,
        unrecognised=counts.unrecognised,
        inputs=dict(reading.inputs) or None,
        unreadable_inputs=list(reading.unreadable) or None,
        read_cost=reading.read_cost(),
    )
    warnings = _warnings(ctx, share, age, lb_warning)
    if reading.problems:
        more = f" (+{len(reading.problems) - 1} more)" if len(reading.problems) > 1 else ""
        summary = "; ".join([f"incomplete read: {reading.problems[0][:_PROBLEM_CHARS]}{more}", *warnings])
        return CheckResult(name=NAME, status=Status.ERROR, summary=summary, evidence=evidence)
    if warnings:
        return CheckResult(name=NAME, status=Status.WARN, summary="; ".join(warnings), evidence=evidence)
    if counts.events == 0:
        return CheckResult(name=NAME, status=Status.NODATA, summary="no events in the window", evidence=evidence)
    requests = ctx.stats.requests
    traffic = "no traffic" if requests == 0 else plural(requests, "request")
    summary = (
        f"{plural(counts.events, 'event')} ({traffic}), malformed {pct(share)}, "
        f"last event {_minutes(age) if age is not None else 'n/a'} before window end"
    )
    return CheckResult(name=NAME, status=Status.PASS, summary=summary, evidence=evidence)
