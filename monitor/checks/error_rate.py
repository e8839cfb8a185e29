"""error_rate: the share of 5xx over all requests in the window, with a 95% Wilson interval (SPEC "Checks")."""

from __future__ import annotations

from typing import Any

from monitor.checks.base import CheckContext
from monitor.checks.stats import rate, wilson_interval
from monitor.domain.checkpoint import CheckResult
from monitor.domain.format import interval_text, pct
from monitor.domain.status import Status

NAME = "error_rate"


def _baseline(ctx: CheckContext) -> dict[str, Any] | None:
    if ctx.baseline is None:
        return None
    previous = ctx.baseline.check(NAME)
    return {
        "label": ctx.baseline.label,
        "created_at": ctx.baseline.created_at.isoformat(),
        "rate": previous.evidence.get("rate") if previous else None,
    }


def check_error_rate(ctx: CheckContext) -> CheckResult:
    stats = ctx.stats
    limit = ctx.thresholds.max_5xx_rate
    minimum = ctx.thresholds.min_requests
    requests, errors = stats.status.requests, stats.status.s5xx
    share = rate(errors, requests)
    interval = wilson_interval(errors, requests)
    evidence: dict[str, Any] = {
        "requests": requests,
        "errors_5xx": errors,
        "rate": share,
        "interval": interval,
        "limit": limit,
        "min_requests": minimum,
        "breakdown": stats.status.to_dict(),
        "routes": {
            group: {
                "requests": r.status.requests,
                "errors_5xx": r.status.s5xx,
                "rate": rate(r.status.s5xx, r.status.requests),
                "interval": wilson_interval(r.status.s5xx, r.status.requests),
            }
            for group, r in stats.routes.items()
        },
        "baseline": _baseline(ctx),
    }
    if requests == 0 or share is None or interval is None:
        return CheckResult(name=NAME, status=Status.NODATA, summary="no requests in the window", evidence=evidence)
    figures = f"5xx {pct(share)} ({errors}/{requests}), 95% CI {interval_text(interval)}, limit {pct(limit)}"
    if requests >= minimum:
        status = Status.FAIL if share > limit else Status.PASS
        return CheckResult(name=NAME, status=status, summary=figures, evidence=evidence)
    if interval[0] > limit:
        summary = f"{figures}: lower bound already above the limit with only {requests} requests"
        return CheckResult(name=NAME, status=Status.FAIL, summary=summary, evidence=evidence)
    summary = f"{figures}: {requests} requests, {minimum} needed for a verdict"
    return CheckResult(name=NAME, status=Status.NODATA, summary=summary, evidence=evidence)
