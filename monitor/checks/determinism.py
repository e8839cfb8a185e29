"""determinism: every logged flag decision is the one the config in force predicts (SPEC "Checks").

(a) allowlisted passengers resolve ALLOWLIST under the live config and were logged so while a config was in force;
(b) every decision equals `resolve_hash` under the config of its time segment: the configs in force over the window
    are reconstructed from the whole `rollout set` audit (`CheckContext.segment_plan`), one segment per config and
    a cache-TTL grace segment around each change accepting its neighbours; where the config is unknown (a change
    made outside `rollout set`) decisions are unverifiable, never wrong;
(c) no passenger got two different decisions inside one judged, non-grace segment;
(d) the share of non-allowlisted passengers seen ON while the config the window was judged at (the highest exposure
    in force inside it) was in force matches its rollout % within a 99.9% binomial interval: a false WARN in at most
    0.1% of checkpoints, while a 20% relative skew at 20,000 passengers (5% rollout and above) is still WARN
    (benchmarks/RESULTS-detection.md, "Exposure").
(a)–(c) → FAIL with up to 5 shortened example hashes; (d) → WARN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.checks.base import CheckContext
from monitor.checks.stats import binomial_share_interval
from monitor.domain.aggregate import DECISION_BITS
from monitor.domain.bucketing import resolve_hash, short_hash
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import DeterminismEvidence, Exposure, InForce, Segment
from monitor.domain.flag import Decision, FlagConfig
from monitor.domain.format import pct
from monitor.domain.status import Status
from monitor.domain.timeline import GRACE, LIVE, UNVERIFIABLE, FlagState, PlannedSegment, SegmentPlan

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


def _plan(ctx: CheckContext) -> SegmentPlan:
    """The segments the decisions were split into: the context's plan, or one segment under the live config."""
    window = ctx.stats.window
    plan = ctx.segment_plan
    if plan is None:
        live = FlagState.of(ctx.config, ctx.allowlist_hashes)
        plan = SegmentPlan((PlannedSegment(window.start_ms, window.end_ms, LIVE, (live,)),), live)
    if len(plan.segments) != len(ctx.stats.decisions.per_hash):
        raise ValueError("the decisions were not split by the segment plan: read the logs with its bounds")
    return plan


def _resolvers(ctx: CheckContext, segment: PlannedSegment) -> list[Resolver]:
    return [(state.as_config(ctx.feature), frozenset(state.allowlist_hashes)) for state in segment.states]


def _judge_segment(ctx: CheckContext, index: int, segment: PlannedSegment, found: Findings) -> None:
    table = ctx.stats.decisions.per_hash[index]
    mode = segment.judged_against
    resolvers = _resolvers(ctx, segment)
    wrong = conflicting = unverifiable = allowlist = 0
    for passenger, mask in table.items():
        if mode == UNVERIFIABLE:
            found.unverifiable.add(passenger)
            unverifiable += 1
            continue
        accepted = 0
        for config, allow in resolvers:
            accepted |= DECISION_BITS[resolve_hash(config, passenger, allow, ctx.bucketer).value]
        if mask & ~accepted:
            if segment.partial:
                found.unverifiable.add(passenger)  # may be the unknown neighbouring config, still cached
                unverifiable += 1
                continue
            found.wrong.add(passenger)
            wrong += 1
        found.judged.add(passenger)
        if mode != GRACE and mask & (mask - 1):
            found.conflicting.add(passenger)
            conflicting += 1
        if mode != GRACE and _allowlisted_not_logged_so(segment, passenger, mask):
            found.allowlist.add(passenger)
            allowlist += 1
    found.segments.append(
        Segment(
            index=index,
            judged_against=mode,
            from_ms=segment.from_ms,
            until_ms=segment.until_ms,
            passengers=len(table),
            wrong_decision_passengers=wrong,
            conflicting_passengers=conflicting,
            unverifiable_passengers=unverifiable,
            allowlist_violations=allowlist,
            configs=segment.describe(),
        )
    )


def _allowlisted_not_logged_so(segment: PlannedSegment, passenger: str, mask: int) -> bool:
    state = segment.states[0]
    return state.enabled and passenger in state.allowlist_hashes and mask != ALLOWLIST_BIT


def _static_allowlist(ctx: CheckContext, found: Findings) -> None:
    """(a) against the live config itself: with the flag enabled, every allowlisted hash must resolve ALLOWLIST."""
    if not ctx.config.enabled:
        return  # the master switch wins: OFF is the correct decision for everyone
    for passenger in ctx.allowlist_hashes:
        if resolve_hash(ctx.config, passenger, ctx.allowlist_hashes, ctx.bucketer) is not Decision.ALLOWLIST:
            found.allowlist.add(passenger)


def _exposure(ctx: CheckContext, plan: SegmentPlan) -> Exposure | None:
    """(d) distinct non-allowlisted passengers seen ON (ROLLOUT) while the config the window was judged at was in
    force, against its rollout %."""
    judged = plan.in_force
    seen_in: dict[str, int] = {}
    for segment, table in zip(plan.segments, ctx.stats.decisions.per_hash, strict=True):
        if segment.judged_against != GRACE and segment.states[:1] == (judged,):
            for passenger, mask in table.items():
                seen_in[passenger] = seen_in.get(passenger, 0) | mask
    seen = [mask for passenger, mask in seen_in.items() if passenger not in judged.allowlist_hashes]
    if not seen:
        return None
    seen_on = sum(1 for mask in seen if mask & ROLLOUT_BIT)
    expected = judged.rollout_percentage / 100 if judged.enabled else 0.0
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
    plan = _plan(ctx)
    for index, segment in enumerate(plan.segments):
        _judge_segment(ctx, index, segment, found)
    exposure = _exposure(ctx, plan)
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
        in_force=InForce(enabled=plan.in_force.enabled, rollout_percentage=plan.in_force.rollout_percentage),
    )
    status, summary = _verdict(found, exposure, examples, decisions.total, passengers)
    if len(plan.segments) > 1:
        summary += f" [configs in force: {_sequence(plan)}]"
    return CheckResult(name=NAME, status=status, summary=summary, evidence=evidence)


def _sequence(plan: SegmentPlan) -> str:
    """'5% → 10% → 5%' (unknown stretches as '?'), the order the window saw them in."""
    names: list[str] = []
    for segment in plan.segments:
        if segment.judged_against == GRACE:
            continue
        name = segment.states[0].describe() if segment.states else "?"
        if not names or names[-1] != name:
            names.append(name)
    return " → ".join(names)


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
            f"{decisions} decisions, all while the config in force is unknown (changed outside `rollout set`): "
            "unverifiable"
        )
    note = f" ({len(found.unverifiable)} unverifiable: config in force unknown)" if found.unverifiable else ""
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
