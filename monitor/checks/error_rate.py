"""error_rate: the share of 5xx over all requests in the window, with a 95% Wilson interval (SPEC "Checks")."""

from __future__ import annotations

from monitor.checks.base import CheckContext
from monitor.checks.stats import rate, wilson_interval
from monitor.domain.aggregate import StatusCounts
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import BaselineRate, ErrorRateEvidence, Rate
from monitor.domain.format import interval_text, pct, plural
from monitor.domain.status import Status

NAME = ErrorRateEvidence.check


def _baseline(ctx: CheckContext) -> BaselineRate | None:
    if ctx.baseline is None:
        return None
    previous = ctx.baseline.evidence(ErrorRateEvidence)
    return BaselineRate(
        label=ctx.baseline.label,
        created_at=ctx.baseline.created_at.isoformat(),
        rate=previous.rate if previous else None,
    )


def _rate(status: StatusCounts) -> Rate:
    return Rate(
        requests=status.requests,
        errors_5xx=status.s5xx,
        rate=rate(status.s5xx, status.requests),
        interval=wilson_interval(status.s5xx, status.requests),
    )


def check_error_rate(ctx: CheckContext) -> CheckResult:
    stats = ctx.stats
    limit = ctx.thresholds.max_5xx_rate
    minimum = ctx.thresholds.min_requests
    requests, errors = stats.status.requests, stats.status.s5xx
    share = rate(errors, requests)
    interval = wilson_interval(errors, requests)
    evidence = ErrorRateEvidence(
        requests=requests,
        errors_5xx=errors,
        rate=share,
        interval=interval,
        limit=limit,
        min_requests=minimum,
        breakdown=stats.status.to_dict(),
        routes={group: _rate(r.status) for group, r in stats.routes.items()},
        baseline=_baseline(ctx),
    )
    if requests == 0 or share is None or interval is None:
        return CheckResult(name=NAME, status=Status.NODATA, summary="no requests in the window", evidence=evidence)
    figures = f"5xx {pct(share)} ({errors}/{requests}), 95% CI {interval_text(interval)}, limit {pct(limit)}"
    if requests >= minimum:
        status = Status.FAIL if share > limit else Status.PASS
        return CheckResult(name=NAME, status=status, summary=figures, evidence=evidence)
    if interval[0] > limit:
        summary = f"{figures}: lower bound already above the limit with only {plural(requests, 'request')}"
        return CheckResult(name=NAME, status=Status.FAIL, summary=summary, evidence=evidence)
    summary = f"{figures}: {plural(requests, 'request')}, {minimum} needed for a verdict"
    return CheckResult(name=NAME, status=Status.NODATA, summary=summary, evidence=evidence)
