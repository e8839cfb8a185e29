"""Overlapping rollouts: whose regression is it, when another flag's ON passengers are this flag's too (issue 12).

Buckets are unsalted (`H(id)[:8] % 100` for every flag, as the backend does), so a flag at 1% and a flag at 5% share
bucket 0: every ON passenger of the 1% flag is ON for the 5% flag, and a regression seen in one ON cohort may belong
to the other flag. With the other flags in rollout (`CheckContext.other_flags`, at their live config), the cohort
check reports, per other flag, the share of this flag's ON passengers (seen in the window, and over the phase in
passenger-hours) that are ON for it too, and tests the **exclusive part** of the ON cohort — the ON passengers for
whom no other flag is ON — with the same anytime-valid mixture SPRT (`monitor.checks.sequential`) over the phase.

The comparison: exclusive ON against this flag's OFF cohort
-----------------------------------------------------------
The exclusive part is tested against the same OFF cohort as the main test (this flag's OFF passengers), not against
the passengers OFF for every flag:
- With unsalted buckets and no allowlists the two are the same set whenever the exclusive part is not empty: it is
  not empty only when every other flag's rollout is below this one's, and those flags' ON buckets are then all
  inside this flag's ON buckets, so none of this flag's OFF passengers is ON for them. The two differ only by the
  other flags' allowlisted passengers (a handful) and by flags with a higher rollout, which leave no exclusive part.
- The same control keeps the exclusive test a sub-test of the main one (same OFF units, same hours), so the two
  ratios and intervals compare directly; that comparison is what tells where the excess lies.
- It errs on the safe side for blame: if another flag hurts its passengers and some sit in this flag's OFF cohort,
  they raise the control's failure rate, which makes the exclusive test *less* likely to call this flag guilty.
The exclusive test is valid for the same reasons as the main one: which passengers are exclusive depends only on the
configs, never on the outcome, and its units are the same first failures of the phase (an exclusive passenger whose
first failure came earlier in the phase is not at risk). Its hours are stored in the evidence (`Overlap.hour`), so
`report --rebuild` and a restarted process fold exactly what was judged.

Attribution (reported, never a verdict)
---------------------------------------
The check's status is the main test's alone: a FAIL is still a FAIL and the phase's false-FAIL budget (alpha) is
untouched — the exclusive test only explains it. `attribution`:
- "attributable": no other flag shared ON passengers over the phase, or the exclusive part's own evidence reached
  1/alpha (the passengers with only this flag fail more than OFF too);
- "not_attributable" (to this flag alone): the exclusive part's anytime-valid interval lies below the whole ON
  cohort's (hi of the exclusive ratio ≤ lo of the ON/OFF ratio; each bound holds over the phase with probability
  ≥ 1 − alpha, so both with ≥ 1 − 2·alpha): the passengers with only this flag fail less than the ON cohort as a
  whole, the excess is among those also ON for another flag;
- "undecided": otherwise — including when every ON passenger is ON for another flag too (no exclusive part: the
  logs cannot tell the flags apart; the other flag's own checkpoint, whose exclusive part may exist, can).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.checks.base import CheckContext
from monitor.checks.sequential import Design, HourCounts, Judgement, Verdict, judge, replay
from monitor.domain.aggregate import PassengerStates, passenger_key
from monitor.domain.checkpoint import Checkpoint
from monitor.domain.evidence import CohortEvidence, Overlap, OverlapFlag
from monitor.domain.flag import OtherFlag
from monitor.domain.format import e_value, pct, ratio, ratio_interval

ATTRIBUTABLE, NOT_ATTRIBUTABLE, UNDECIDED = "attributable", "not_attributable", "undecided"
NAME_CHARS = 60  # a flag name in a summary line


def flag_name(name: str) -> str:
    """A flag name for a one-line summary: printable characters only, at most `NAME_CHARS` (the phase log escapes
    it again as Markdown)."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return clean if len(clean) <= NAME_CHARS else clean[: NAME_CHARS - 1] + "…"


def window_overlap(
    passengers: PassengerStates,
    on_of: tuple[int, frozenset[int]],
    before: frozenset[int],
    hour: HourCounts,
    others: Sequence[OtherFlag],
) -> tuple[HourCounts, int, int, list[int]]:
    """One pass over the window's passengers: (the exclusive test's hour, ON passengers seen, those also ON for at
    least one other flag, per other flag those also ON for it). `on_of` is this flag's (bucket cut, allowlist keys)
    under the config in force; `hour` the main test's hour (its OFF side is the exclusive test's OFF side)."""
    cut, allow = on_of
    by_bucket = [sum(1 << i for i, g in enumerate(others) if b < g.rollout_percentage) for b in range(100)]
    by_key: dict[int, int] = {}
    for i, g in enumerate(others):
        for key in g.allowlist_keys:
            by_key[key] = by_key.get(key, 0) | 1 << i
    also = [0] * len(others)
    on_seen = shared = seen = seen_failing = units = failing = 0
    for key, state in passengers.states.items():
        bucket = state >> 1
        if bucket >= cut and key not in allow:
            continue
        on_seen += 1
        mask = by_bucket[bucket] | by_key.get(key, 0)
        if mask:
            shared += 1
            for i in range(len(others)):
                also[i] += mask >> i & 1
            continue
        failed = state & 1
        seen += 1
        seen_failing += failed
        if key not in before:
            units += 1
            failing += failed
    exclusive = hour._replace(
        on_units=units, on_failing=failing, on_seen=seen, on_seen_failing=seen_failing, on_requests=0, on_5xx=0
    )
    return exclusive, on_seen, shared, also


def phase_overlaps(history: Sequence[Checkpoint]) -> list[Overlap]:
    """The phase's earlier checkpoints that recorded the overlap's hour, oldest first (as `cohort.phase_hours`)."""
    found = []
    for cp in history:
        evidence = cp.evidence(CohortEvidence)
        if evidence is not None and evidence.overlap is not None and evidence.overlap.hour is not None:
            found.append((cp, evidence.overlap))
    found.sort(key=lambda item: (item[0].id is None, item[0].id or 0, item[0].created_at))
    return [overlap for _, overlap in found]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def overlap_evidence(ctx: CheckContext, rollout: int, hour: HourCounts, main: Judgement, design: Design) -> Overlap:
    """The overlap's evidence for this window and the phase, with the exclusive test and the attribution, for the
    enabled flag at `rollout` % (its allowlisted passengers ON too); `hour` and `main` are the main test's."""
    others = ctx.other_flags or ()
    on_of = (rollout, frozenset(passenger_key(h) for h in ctx.allowlist_hashes))
    exclusive, on_seen, shared, also = window_overlap(ctx.stats.passengers, on_of, ctx.failed_before, hour, others)
    earlier = phase_overlaps(ctx.history)
    total_on = on_seen + sum(o.on_passengers or 0 for o in earlier)
    total_shared = shared + sum(o.shared or 0 for o in earlier)
    also_phase = {g.name: n for g, n in zip(others, also, strict=True)}
    for o in earlier:
        for f in o.flags or []:
            if f.name is not None and f.name in also_phase:
                also_phase[f.name] += f.also_on or 0
    flags = [
        OverlapFlag(
            name=g.name,
            rollout_percentage=g.rollout_percentage,
            allowlist_size=g.allowlist_size,
            also_on=n,
            share=_share(n, on_seen),
            phase_share=_share(also_phase[g.name], total_on),
        )
        for g, n in zip(others, also, strict=True)
    ]
    state = replay([*(HourCounts.from_dict(o.hour or {}) for o in earlier), exclusive], design)
    ex = judge(state, design)
    hi = None if ex.interval is None or ex.interval[1] == float("inf") else ex.interval[1]
    overlap = Overlap(
        flags=flags,
        on_passengers=on_seen,
        shared=shared,
        share=_share(shared, on_seen),
        phase_share=_share(total_shared, total_on),
        hour=exclusive.to_dict(),
        phase=state.totals.to_dict(),
        verdict=ex.verdict.value,
        ratio=ex.ratio,
        interval=None if ex.interval is None else [ex.interval[0], hi],
        log_e_value=ex.log_e_value,
        e_value=ex.e_value if ex.e_value != float("inf") else None,
        p_value=ex.p_value,
        hours=ex.hours,
        checkpoints=state.checkpoints,
        attribution=None,
        attribution_reason=None,
    )
    overlap.attribution, overlap.attribution_reason = attribute(overlap, main, ex)
    return overlap


def _sharing(overlap: Overlap) -> str:
    """ "100.00% of its ON passengers are also ON for other_flag" (several flags: each with its own share, most
    shared first), over the phase."""
    flags = sorted((f for f in overlap.flags or [] if f.phase_share), key=lambda f: -(f.phase_share or 0))
    names = [flag_name(f.name or "?") for f in flags]
    which = (
        names[0]
        if len(flags) == 1
        else ", ".join(f"{n} {pct(f.phase_share)}" for n, f in zip(names, flags, strict=True))
    )
    return f"{pct(overlap.phase_share)} of its ON passengers are also ON for {which or 'another flag'}"


def attribute(overlap: Overlap, main: Judgement, ex: Judgement) -> tuple[str, str]:
    """(attribution, why): see the module doc."""
    if not overlap.phase_share:
        return ATTRIBUTABLE, "no other flag in rollout is ON for its ON passengers"
    sharing = _sharing(overlap)
    figures = (
        f"exclusive ON/OFF {ratio(ex.ratio)} (anytime-valid {ratio_interval(overlap.interval)}), "
        f"M={e_value(overlap.e_value, overlap.log_e_value)}"
    )
    if ex.verdict is Verdict.FAIL:
        return ATTRIBUTABLE, f"the ON passengers with only this flag fail more than OFF too ({figures}); {sharing}"
    phase = ex.totals
    if phase.on_units == 0:
        return UNDECIDED, (
            f"{sharing}; no ON passenger has this flag alone, so the logs cannot tell these flags apart "
            "(the other flag's checkpoints test its own exclusive part)"
        )
    lo = main.interval[0] if main.interval is not None else None
    hi = ex.interval[1] if ex.interval is not None else None
    if lo is not None and hi is not None and lo > 0 and hi <= lo:
        return NOT_ATTRIBUTABLE, (
            f"the ON passengers with only this flag fail less than the ON cohort as a whole ({figures}, below the "
            f"cohort's lower bound {ratio(lo)}): the excess is among those also ON for another flag; {sharing}"
        )
    return UNDECIDED, (
        f"the exclusive part ({phase.on_failing:,} first failures in {phase.on_units:,} passenger-hours at risk) "
        f"is not conclusive either way ({figures}); {sharing}"
    )


def attribution_line(overlap: Overlap | None) -> str:
    """The attribution as a summary's tail, "" when no other flag shares ON passengers (or unknown)."""
    if overlap is None or not overlap.phase_share or overlap.attribution is None:
        return ""
    label = {NOT_ATTRIBUTABLE: "not attributable to this flag alone"}.get(overlap.attribution, overlap.attribution)
    return f" — {label}: {overlap.attribution_reason}"
