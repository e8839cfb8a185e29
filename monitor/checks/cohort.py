"""cohort_regression: is the feature hurting the passengers who have it? (SPEC "Checks").

Cohorts are assigned by hashing under the config in force, as the resolver would: ON = allowlisted passengers plus
the buckets below the rollout % (only when the flag is enabled), OFF = every other bucket; anonymous requests belong
to neither. The unit is the passenger (`monitor.checks.stats`, "Units"), entering the phase's evidence once: in its
first window with a 5xx or with `ENTRY_REQUESTS` requests. Per checkpoint the window's figures are stored: the
`HourCounts` (at-risk passengers — seen, not entered earlier in the phase — and their failures) and the `Bets` (the
entering passengers outside the allowlist: a histogram of their capped 5xx and requests, `monitor.checks.bets`). The
verdict folds the phase's stored hours, oldest first, and this one through the anytime-valid mixture SPRT of
`monitor.checks.sequential` — each hour's bets when it has them, else the binary split of its first failures: FAIL
once the evidence reaches 1/alpha at any checkpoint of the phase (it stands for the rest of the phase: "FAIL since
<label>"); NODATA while the phase has fewer than `min_cohort_requests` requests in a cohort; WARN when this hour alone
is strong but the phase is not yet conclusive; else PASS.

Overlapping windows (a labelled checkpoint beside the hourly one, a replay of an older hour) need no clipping: a
passenger enters the evidence at most once per phase, because the runner passes the keys of the passengers who
entered at earlier checkpoints (`CheckContext.entered_before`) and stores this window's new ones. If alpha or the
minimum relative effect change mid-phase, replaying the stored hours under the new design is exactly the test the
new settings define, from the phase's start. A checkpoint whose read was incomplete (its log-based checks ERROR)
still records its counts: the test conditions on the passengers it saw, so they remain evidence that later
checkpoints fold. SKIP records none (no ON or no OFF cohort: no evidence either way). When other flags in rollout
share ON passengers (unsalted buckets), `monitor.checks.overlap` adds the overlap, the exclusive part's test (the
binary split) and the attribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.bets import Bets, BetsBuilder
from monitor.checks.overlap import attribution_line, overlap_evidence
from monitor.checks.sequential import Design, HourCounts, Judgement, Verdict, judge, replay
from monitor.checks.stats import rate, wilson_interval
from monitor.domain.aggregate import CohortCounts, bucket_of, enters, errors_of, passenger_key, requests_of
from monitor.domain.checkpoint import Checkpoint, CheckResult, Window
from monitor.domain.evidence import CohortEvidence, CohortWindow, Counts
from monitor.domain.format import e_value, ratio, ratio_interval
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


def window_hour(ctx: CheckContext, enabled: bool, rollout_percentage: int) -> tuple[HourCounts, Bets | None]:
    """This window's `HourCounts` under the config in force — per cohort the passengers seen (and with ≥ 1 5xx), the
    units at risk (not in `ctx.entered_before`) with their failures, requests and 5xx — and its `Bets`: the at-risk
    passengers who enter the evidence now, the allowlisted ones apart (None when the rollout is not strictly between
    0 and 100%: no coin was flipped)."""
    cut = rollout_percentage if enabled else 0
    allow = {passenger_key(h) for h in ctx.allowlist_hashes} if enabled else set()
    before = ctx.entered_before
    builder = BetsBuilder(cut) if 0 < cut < 100 else None
    # [ON, OFF] each: seen, seen with a 5xx, at risk, failing at risk
    seen, seen_failing, units, failing = [0, 0], [0, 0], [0, 0], [0, 0]
    for key, state in ctx.stats.passengers.states.items():
        allowed = key in allow
        on = allowed or bucket_of(state) < cut
        side = 0 if on else 1
        errors = errors_of(state)
        failed = errors > 0
        seen[side] += 1
        seen_failing[side] += failed
        if builder is not None:
            builder.seen(requests_of(state), errors)
        if key not in before:
            units[side] += 1
            failing[side] += failed
            if builder is not None and enters(state):
                builder.add(on, requests_of(state), errors, allowlisted=allowed)
    (on_req, on_err), (off_req, off_err) = split_cohorts(ctx.stats.cohorts, enabled, rollout_percentage)
    hour = HourCounts(
        on_units=units[0],
        off_units=units[1],
        on_failing=failing[0],
        off_failing=failing[1],
        on_seen=seen[0],
        off_seen=seen[1],
        on_seen_failing=seen_failing[0],
        off_seen_failing=seen_failing[1],
        on_requests=on_req,
        on_5xx=on_err,
        off_requests=off_req,
        off_5xx=off_err,
    )
    return hour, None if builder is None else builder.build()


def design_of(thresholds: Thresholds) -> Design:
    """The sequential test's design from the settings: alpha per phase, the relative margin (None = 0)."""
    return Design(alpha=thresholds.alpha, min_relative_effect=thresholds.min_relative_effect or 0.0)


@dataclass(frozen=True)
class StoredHour:
    """One earlier checkpoint of the phase, as the fold sees it."""

    label: str
    window: Window
    hour: HourCounts
    bets: Bets | None = None


def phase_hours(history: Sequence[Checkpoint]) -> list[StoredHour]:
    """The phase's earlier checkpoints that recorded cohort counts, oldest first (by id; by time when unsaved)."""
    found = []
    for cp in history:
        evidence = cp.evidence(CohortEvidence)
        if evidence is not None and evidence.hour is not None:
            bets = None if evidence.bets is None else Bets.from_dict(evidence.bets)
            found.append((cp, HourCounts.from_dict(evidence.hour), bets))
    found.sort(key=lambda item: (item[0].id is None, item[0].id or 0, item[0].created_at))
    return [StoredHour(cp.label, cp.window, hour, bets) for cp, hour, bets in found]


def hours_covered(windows: Sequence[Window]) -> float:
    """Hours in the union of the windows (overlapping windows count once)."""
    total, start, end = timedelta(0), None, None
    for w_start, w_end in sorted((w.start, w.end) for w in windows):
        if end is None or w_start > end:
            if start is not None and end is not None:
                total += end - start
            start, end = w_start, w_end
        else:
            end = max(end, w_end)
    if start is not None and end is not None:
        total += end - start
    return total.total_seconds() / 3600


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _cohort(hour: HourCounts, side: str) -> CohortWindow:
    """One cohort's window figures ("on" or "off") from the hour's counts."""
    requests, errors = getattr(hour, f"{side}_requests"), getattr(hour, f"{side}_5xx")
    return CohortWindow(
        requests=requests,
        errors_5xx=errors,
        rate=rate(errors, requests),
        interval=wilson_interval(errors, requests),
        passengers=getattr(hour, f"{side}_seen"),
        failing_passengers=getattr(hour, f"{side}_seen_failing"),
        units=getattr(hour, f"{side}_units"),
        first_failures=getattr(hour, f"{side}_failing"),
    )


def _window_evidence(ctx: CheckContext, hour: HourCounts) -> CohortEvidence:
    """The evidence with the window's figures and the settings; the phase's figures unset (None)."""
    th, c = ctx.thresholds, ctx.stats.cohorts
    return CohortEvidence(
        on=_cohort(hour, "on"),
        off=_cohort(hour, "off"),
        anonymous=Counts(requests=c.anonymous_requests, errors_5xx=c.anonymous_5xx),
        hour=None,
        phase=None,
        ratio=None,
        interval=None,
        log_e_value=None,
        e_value=None,
        p_value=None,
        threshold=1 / th.alpha,
        hour_e_value=None,
        hour_ratio=None,
        hours=None,
        checkpoints=None,
        fail_since=None,
        hours_to_decide=None,
        hours_to_decide_phase=None,
        needed_requests=None,
        needed_hours=None,
        alpha=th.alpha,
        min_relative_effect=th.min_relative_effect,
        min_cohort_requests=th.min_cohort_requests,
        overlap=None,
    )


def _record_phase(evidence: CohortEvidence, hour: HourCounts, j: Judgement, hours: float, checkpoints: int) -> None:
    evidence.hour = hour.to_dict()
    evidence.phase = j.totals.to_dict()
    evidence.ratio = j.ratio
    evidence.interval = None if j.interval is None else [j.interval[0], _finite(j.interval[1])]
    evidence.log_e_value = j.log_e_value
    evidence.e_value = _finite(j.e_value)
    evidence.p_value = j.p_value
    evidence.hour_e_value = _finite(j.hour_e_value)
    evidence.hour_ratio = j.hour_ratio
    evidence.hours = hours
    evidence.checkpoints = checkpoints
    evidence.hours_to_decide = j.hours_to_decide
    evidence.hours_to_decide_phase = j.hours_to_decide_phase


def check_cohort_regression(ctx: CheckContext) -> CheckResult:
    enabled, rollout = ctx.in_force()
    hour, bets = window_hour(ctx, enabled, rollout)
    evidence = _window_evidence(ctx, hour)
    if not enabled or (rollout == 0 and not ctx.allowlist_hashes):
        why = "flag disabled" if not enabled else "rollout 0% and empty allowlist"
        return _result(Status.SKIP, f"no ON cohort at this rollout ({why})", evidence)
    if rollout == 100:
        return _result(Status.SKIP, "no OFF cohort at this rollout (100%)", evidence)
    design = design_of(ctx.thresholds)
    earlier = phase_hours(ctx.history)
    state = replay([*(s.hour for s in earlier), hour], design, [*(s.bets for s in earlier), bets])
    j = judge(state, design)
    hours = hours_covered([*(s.window for s in earlier), ctx.window])
    _record_phase(evidence, hour, j, hours, state.checkpoints)
    evidence.bets = None if bets is None else bets.to_dict()
    evidence.entered = None if bets is None else bets.entered
    evidence.evidence_unit = "bets" if bets is not None and design.theta0 == 1.0 else "split"
    if ctx.other_flags is not None:
        evidence.overlap = overlap_evidence(ctx, rollout, hour, j, design)
    if j.verdict is Verdict.FAIL:
        at = state.fail_checkpoint
        evidence.fail_since = earlier[at - 1].label if at is not None and at <= len(earlier) else None
        return _result(Status.FAIL, _fail_summary(evidence, j) + attribution_line(evidence.overlap), evidence)
    short = _shortfall(j.totals, ctx.thresholds.min_cohort_requests, hours, evidence)
    if short:
        return _result(Status.NODATA, short, evidence)
    if j.verdict is Verdict.WARN:
        return _result(Status.WARN, _warn_summary(evidence, j), evidence)
    return _result(Status.PASS, _phase_text(evidence, j), evidence)


def _result(status: Status, summary: str, evidence: CohortEvidence) -> CheckResult:
    return CheckResult(name=NAME, status=status, summary=summary, evidence=evidence)


def _phase_text(ev: CohortEvidence, j: Judgement) -> str:
    """The phase's evidence on one line: ratio with its interval, M against 1/α (and p), hours, this hour's units."""
    margin = f" for ON more than {j.null_ratio:g}× worse" if j.null_ratio > 1 else ""
    return (
        f"ON/OFF {ratio(ev.ratio)} (anytime-valid {ratio_interval(ev.interval)}), "
        f"evidence M={e_value(ev.e_value, ev.log_e_value)} (FAIL at {1 / j.alpha:g}{margin}, p={j.p_value:.2g}) "
        f"over {_hours(ev.hours)} in {ev.checkpoints} checkpoint{'s' if ev.checkpoints != 1 else ''}; "
        f"first failures this hour: ON {ev.on.first_failures:,} of {ev.on.units:,} passengers, "
        f"OFF {ev.off.first_failures:,} of {ev.off.units:,}{_entered_text(ev)}"
    )


def _entered_text(ev: CohortEvidence) -> str:
    """ "; bets on N ON + M OFF passengers entering this hour" when the verdict's evidence is the bets."""
    if ev.evidence_unit != "bets" or ev.bets is None:
        return ""
    on, off, allow = (sum(n for _, _, n in ev.bets.get(side, ())) for side in ("on", "off", "allow"))
    testers = f" + {allow:,} allowlisted" if allow else ""
    return f"; bets on {on:,} ON + {off:,} OFF{testers} passengers entering this hour"


def _fail_summary(ev: CohortEvidence, j: Judgement) -> str:
    head = f"FAIL since {ev.fail_since} (stands for the rest of the phase)" if ev.fail_since else "ON worse than OFF"
    return f"{head}: {_phase_text(ev, j)}"


def _warn_summary(ev: CohortEvidence, j: Judgement) -> str:
    more = "a verdict at this rate unknown" if j.hours_to_decide is None else _hours(j.hours_to_decide)
    return (
        f"ON worse this hour (e={e_value(ev.hour_e_value)}, ON/OFF {ratio(ev.hour_ratio)} this hour); "
        f"{more} more at this rate to decide — {_phase_text(ev, j)}"
    )


def _hours(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    if hours < 1:
        return f"≈{max(1, round(hours * 60))} min"
    return f"≈{hours:.1f} h" if hours < 10 else f"≈{hours:.0f} h"


def _shortfall(totals: HourCounts, minimum: int, hours: float, evidence: CohortEvidence) -> str | None:
    """NODATA's summary when a cohort has fewer than `minimum` requests over the phase, with the traffic still
    needed (and, at the phase's request rate so far, the hours); None when both cohorts have enough."""
    short = [(name, n) for name, n in (("ON", totals.on_requests), ("OFF", totals.off_requests)) if n < minimum]
    if not short:
        return None
    parts, needed_hours = [], []
    for name, n in short:
        needed = minimum - n
        per_hour = n / hours if hours > 0 else 0.0
        eta = needed / per_hour if per_hour > 0 else None
        needed_hours.append(eta)
        when = _hours(eta) + " at the current rate" if eta is not None else "hours unknown: no traffic in it yet"
        parts.append(f"{name} cohort {n:,} requests over the phase, needs {needed:,} more ({when})")
    evidence.needed_requests = max(minimum - n for _, n in short)
    evidence.needed_hours = None if None in needed_hours else max(h for h in needed_hours if h is not None)
    return "; ".join(parts) + f" for a verdict (min {minimum})"
