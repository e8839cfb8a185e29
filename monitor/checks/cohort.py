"""cohort_regression: the 5xx rate of passengers whose flag is ON against those OFF (SPEC "Checks").

Cohorts are assigned by hashing, as the resolver would under the live config: ON = allowlisted passengers plus the
buckets below the rollout % (only when the flag is enabled), OFF = every other bucket. Anonymous requests belong to
neither. The test is one-sided and exact (see `monitor.checks.stats`), so "0 errors OFF vs a few errors ON" is judged.
"""

from __future__ import annotations

from monitor.checks.base import CheckContext
from monitor.checks.stats import one_sided_greater_p, rate, wilson_interval
from monitor.domain.aggregate import CohortCounts
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import CohortEvidence, Counts, Rate
from monitor.domain.format import interval_text, pct
from monitor.domain.status import Status

NAME = CohortEvidence.check


Tally = tuple[int, int]  # (requests, 5xx)


def split_cohorts(cohorts: CohortCounts, enabled: bool, rollout_percentage: int) -> tuple[Tally, Tally]:
    """((ON requests, ON 5xx), (OFF requests, OFF 5xx)) under the given config."""
    cut = rollout_percentage if enabled else 0
    on_req = sum(cohorts.bucket_requests[:cut])
    on_err = sum(cohorts.bucket_5xx[:cut])
    off_req = sum(cohorts.bucket_requests[cut:])
    off_err = sum(cohorts.bucket_5xx[cut:])
    if enabled:
        on_req += cohorts.allowlisted_requests
        on_err += cohorts.allowlisted_5xx
    else:  # disabled: the master switch wins, allowlisted passengers are OFF too
        off_req += cohorts.allowlisted_requests
        off_err += cohorts.allowlisted_5xx
    return (on_req, on_err), (off_req, off_err)


def _cohort(requests: int, errors: int) -> Rate:
    return Rate(
        requests=requests,
        errors_5xx=errors,
        rate=rate(errors, requests),
        interval=wilson_interval(errors, requests),
    )


def _hours_text(hours: float | None) -> str:
    if hours is None:
        return "hours unknown: no traffic in this cohort yet"
    if hours < 1:
        return f"≈{max(1, round(hours * 60))} min at the current rate"
    return f"≈{hours:.1f} h at the current rate"


def _shortfall(requests: int, minimum: int, seconds: float) -> tuple[int, float | None]:
    """(requests still needed, hours needed at this cohort's request rate over the window)."""
    needed = max(0, minimum - requests)
    if requests <= 0 or seconds <= 0:
        return needed, None
    return needed, needed / (requests / seconds) / 3600


def check_cohort_regression(ctx: CheckContext) -> CheckResult:
    th = ctx.thresholds
    enabled, rollout = ctx.in_force()
    (on_req, on_err), (off_req, off_err) = split_cohorts(ctx.stats.cohorts, enabled, rollout)
    c = ctx.stats.cohorts
    on = _cohort(on_req, on_err)
    evidence = CohortEvidence(
        on=on,
        off=_cohort(off_req, off_err),
        anonymous=Counts(requests=c.anonymous_requests, errors_5xx=c.anonymous_5xx),
        p_value=None,
        effect=None,
        alpha=th.alpha,
        min_effect=th.min_effect,
        needed_requests=None,
        needed_hours=None,
        min_cohort_requests=th.min_cohort_requests,
    )
    if not enabled or (rollout == 0 and not ctx.allowlist_hashes):
        state = "flag disabled" if not enabled else "rollout 0% and empty allowlist"
        return CheckResult(
            name=NAME, status=Status.SKIP, summary=f"no ON cohort at this rollout ({state})", evidence=evidence
        )
    if rollout == 100:
        return CheckResult(
            name=NAME, status=Status.SKIP, summary="no OFF cohort at this rollout (100%)", evidence=evidence
        )
    if on_req < th.min_cohort_requests or off_req < th.min_cohort_requests:
        return _nodata(ctx, evidence, on_req, off_req)
    p_value = one_sided_greater_p(on_err, on_req, off_err, off_req)
    effect = on_err / on_req - off_err / off_req
    evidence.p_value, evidence.effect = p_value, effect
    figures = (
        f"ON {pct(on_err / on_req)} ({on_err}/{on_req}, CI {interval_text(on.interval)}) vs "
        f"OFF {pct(off_err / off_req)} ({off_err}/{off_req}), effect {effect * 100:+.2f} pp, "
        f"one-sided p={p_value:.2g}"
    )
    if p_value is not None and p_value < th.alpha and effect > th.min_effect:
        summary = f"{figures}: ON worse (p < {th.alpha:g}, effect > {th.min_effect * 100:.2f} pp)"
        return CheckResult(name=NAME, status=Status.FAIL, summary=summary, evidence=evidence)
    return CheckResult(name=NAME, status=Status.PASS, summary=figures, evidence=evidence)


def _nodata(ctx: CheckContext, evidence: CohortEvidence, on_req: int, off_req: int) -> CheckResult:
    """Too little traffic in a cohort: say how many requests, and at the current rate how many hours, are missing."""
    minimum, seconds = ctx.thresholds.min_cohort_requests, ctx.window.seconds
    short = [
        (label, n, *_shortfall(n, minimum, seconds)) for label, n in (("ON", on_req), ("OFF", off_req)) if n < minimum
    ]
    hours = [h for *_, h in short]
    evidence.needed_requests = max(needed for _, _, needed, _ in short)
    evidence.needed_hours = None if None in hours else max(h for h in hours if h is not None)
    parts = [f"{label} cohort {n} requests, needs {needed} more ({_hours_text(h)})" for label, n, needed, h in short]
    summary = "; ".join(parts) + f" for a verdict (min {minimum})"
    return CheckResult(name=NAME, status=Status.NODATA, summary=summary, evidence=evidence)
