"""determinism: every logged flag decision is the one the config in force predicts (SPEC "Checks").

(a) allowlisted passengers resolve ALLOWLIST under the live config and were logged so while it was in force;
(b) every decision equals `resolve_hash` under the config of its time segment (a change inside the window splits the
    decisions into before / grace (cache TTL, either config accepted) / after);
(c) no passenger got two different decisions inside one judged, non-grace segment;
(d) the share of non-allowlisted passengers seen ON under the live config matches the rollout % within a 99.9%
    binomial interval: a false WARN in at most 0.1% of checkpoints, while a 20% relative skew at 20,000 passengers
    (5% rollout and above) is still WARN (benchmarks/RESULTS-detection.md, "Exposure").
(a)–(c) → FAIL with up to 5 shortened example hashes; (d) → WARN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.checks.base import CheckContext
from monitor.checks.stats import binomial_share_interval
from monitor.domain.aggregate import DECISION_BITS
from monitor.domain.bucketing import resolve_hash, short_hash
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import DeterminismEvidence, Exposure, Segment
from monitor.domain.flag import Decision, FlagConfig
from monitor.domain.format import pct
from monitor.domain.status import Status

NAME = DeterminismEvidence.check
MAX_EXAMPLES = 5
ALLOWLIST_BIT = DECISION_BITS[Decision.ALLOWLIST.value]
ROLLOUT_BIT = DECISION_BITS[Decision.ROLLOUT.value]
EXPOSURE_CONFIDENCE = 0.999  # (d): per-checkpoint false-WARN probability ≤ 0.1%

Resolver = tuple[FlagConfig, frozenset[str]]  # a config and its allowlist hashes


@dataclass
class Findings:
    allowlist: set[str] = field(default_factory=set)
    wrong: set[str] = field(default_factory=set)
    conflicting: set[str] = field(default_factory=set)
    unverifiable: set[str] = field(default_factory=set)
    judged: set[str] = field(default_factory=set)
    segments: list[Segment] = field(default_factory=list)

    def violators(self) -> list[str]:
        return sorted(self.allowlist | self.wrong | self.conflicting)


def _segment_plan(ctx: CheckContext) -> list[tuple[str, list[Resolver]]]:
    """Per decision segment: how it is judged and the configs whose prediction it accepts."""
    live: Resolver = (ctx.config, ctx.allowlist_hashes)
    if not ctx.stats.decisions.segment_bounds:
        return [("live", [live])]
    prev = ctx.previous_config
    if prev is None:
        return [("unverifiable", []), ("grace", [live]), ("live", [live])]
    old = FlagConfig(key=ctx.feature, enabled=prev.enabled, rollout_percentage=prev.rollout_percentage)
    previous: Resolver = (old, frozenset(prev.allowlist_hashes))
    return [("previous", [previous]), ("grace", [previous, live]), ("live", [live])]


def _judge_segment(ctx: CheckContext, index: int, mode: str, resolvers: list[Resolver], found: Findings) -> None:
    table = ctx.stats.decisions.per_hash[index]
    wrong = conflicting = unverifiable = allowlist = 0
    live_enabled = ctx.config.enabled
    for passenger, mask in table.items():
        if mode == "unverifiable":
            found.unverifiable.add(passenger)
            unverifiable += 1
            continue
        accepted = 0
        for config, allow in resolvers:
            accepted |= DECISION_BITS[resolve_hash(config, passenger, allow, ctx.bucketer).value]
        if mask & ~accepted:
            if mode == "grace" and ctx.previous_config is None:
                found.unverifiable.add(passenger)  # may be the unknown earlier config, still cached
                unverifiable += 1
                continue
            found.wrong.add(passenger)
            wrong += 1
        found.judged.add(passenger)
        if mode != "grace" and mask & (mask - 1):
            found.conflicting.add(passenger)
            conflicting += 1
        if mode == "live" and live_enabled and passenger in ctx.allowlist_hashes and mask != ALLOWLIST_BIT:
            found.allowlist.add(passenger)
            allowlist += 1
    window = ctx.stats.window
    bounds = [window.start_ms, *window.segment_bounds, window.end_ms]
    found.segments.append(
        Segment(
            index=index,
            judged_against=mode,
            from_ms=bounds[index],
            until_ms=bounds[index + 1],
            passengers=len(table),
            wrong_decision_passengers=wrong,
            conflicting_passengers=conflicting,
            unverifiable_passengers=unverifiable,
            allowlist_violations=allowlist,
        )
    )


def _static_allowlist(ctx: CheckContext, found: Findings) -> None:
    """(a) against the live config itself: with the flag enabled, every allowlisted hash must resolve ALLOWLIST."""
    if not ctx.config.enabled:
        return  # the master switch wins: OFF is the correct decision for everyone
    for passenger in ctx.allowlist_hashes:
        if resolve_hash(ctx.config, passenger, ctx.allowlist_hashes, ctx.bucketer) is not Decision.ALLOWLIST:
            found.allowlist.add(passenger)


def _exposure(ctx: CheckContext) -> Exposure | None:
    """(d) distinct non-allowlisted passengers seen ON (ROLLOUT) in the live segment against rollout %."""
    table = ctx.stats.decisions.per_hash[-1]
    seen = [mask for passenger, mask in table.items() if passenger not in ctx.allowlist_hashes]
    if not seen:
        return None
    seen_on = sum(1 for mask in seen if mask & ROLLOUT_BIT)
    expected = ctx.config.rollout_percentage / 100 if ctx.config.enabled else 0.0
    interval = binomial_share_interval(len(seen), expected, EXPOSURE_CONFIDENCE)
    share = seen_on / len(seen)
    inside = interval is not None and interval[0] <= share <= interval[1]
    return Exposure(
        seen_on=seen_on,
        seen=len(seen),
        share=share,
        expected=expected,
        interval=interval,
        inside=inside,
        confidence=EXPOSURE_CONFIDENCE,
    )


def check_determinism(ctx: CheckContext) -> CheckResult:
    decisions = ctx.stats.decisions
    found = Findings()
    _static_allowlist(ctx, found)
    for index, (mode, resolvers) in enumerate(_segment_plan(ctx)):
        _judge_segment(ctx, index, mode, resolvers, found)
    exposure = _exposure(ctx)
    violators = found.violators()
    examples = [short_hash(h) for h in violators[:MAX_EXAMPLES]]
    passengers = decisions.distinct_passengers()
    evidence = DeterminismEvidence(
        allowlist_size=len(ctx.allowlist_hashes),
        allowlist_violations=len(found.allowlist),
        decisions=decisions.total,
        passengers=passengers,
        wrong_decision_passengers=len(found.wrong),
        conflicting_passengers=len(found.conflicting),
        unverifiable_passengers=len(found.unverifiable),
        examples=examples,
        exposure=exposure,
        segments=found.segments,
        by_decision=dict(decisions.by_decision),
    )
    status, summary = _verdict(found, exposure, examples, decisions.total, passengers)
    return CheckResult(name=NAME, status=status, summary=summary, evidence=evidence)


def _verdict(
    found: Findings, exposure: Exposure | None, examples: list[str], decisions: int, passengers: int
) -> tuple[Status, str]:
    if found.allowlist or found.wrong or found.conflicting:
        counts = [
            (len(found.allowlist), "allowlisted passengers not logged ALLOWLIST"),
            (len(found.wrong), "passengers with a decision the config in force does not predict"),
            (len(found.conflicting), "passengers with two different decisions under one config"),
        ]
        what = ", ".join(f"{n} {text}" for n, text in counts if n)
        return Status.FAIL, f"{what}; e.g. {', '.join(examples)}"
    if decisions == 0:
        return Status.NODATA, "no flag decisions for this feature in the window"
    if not found.judged:
        return Status.NODATA, (
            f"{decisions} decisions, all before a config change whose earlier config is unknown: unverifiable"
        )
    note = f" ({len(found.unverifiable)} unverifiable: earlier config unknown)" if found.unverifiable else ""
    base = f"{decisions} decisions from {passengers} passengers all match the config in force{note}"
    if exposure is not None and not exposure.inside and exposure.interval is not None:
        lo, hi = exposure.interval
        summary = (
            f"{base}; but {exposure.seen_on}/{exposure.seen} passengers ON ({pct(exposure.share)}) "
            f"outside the {EXPOSURE_CONFIDENCE:.1%} range {pct(lo)}–{pct(hi)} for rollout {pct(exposure.expected, 0)}"
        )
        return Status.WARN, summary
    if exposure is not None:
        base += f"; exposure {pct(exposure.share)} of {exposure.seen} (expected {pct(exposure.expected, 0)})"
    return Status.PASS, base
