"""Overlapping rollouts: whose regression is it, when another flag's ON passengers are this flag's too (issue 12).

Buckets are unsalted (`H(id)[:8] % 100` for every flag, as the backend does), so a flag at 1% and a flag at 5% share
bucket 0: every ON passenger of the 1% flag is ON for the 5% flag, and a regression seen in one ON cohort may belong
to the other flag. With the other flags in rollout (`CheckContext.other_flags`, at their live config), the cohort
check reports, per other flag, the share of this flag's ON passengers (seen in the window, and over the phase in
passenger-hours) that are ON for it too, and tests two parts of the passengers with the same anytime-valid mixture
SPRT (`monitor.checks.sequential`) over the phase:
- the **exclusive part** — this flag's ON passengers for whom no other flag is ON — against this flag's OFF cohort;
- the **others-only part** — this flag's OFF passengers who are ON for another flag — against the passengers ON
  for no flag (the mirror: what another flag does without this one).
Both parts' hours are stored in the evidence (`Overlap.exclusive.hour`, `Overlap.others_only.hour`), so
`report --rebuild` and a restarted process fold exactly what was judged.

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
The others-only part answers the case the exclusive part cannot: a flag whose ON passengers are all ON for another
flag too (the 1% flag beside a 5% one) has no exclusive part, but the 5% flag's passengers without it (buckets 1–4)
show what the 5% flag does alone. Both tests are valid for the same reasons as the main one: which passengers are
in a part depends only on the configs, never on the outcome, and the units are the same first failures of the
phase (a passenger whose first failure came earlier in the phase is not at risk).

Attribution (reported, never a verdict)
---------------------------------------
The check's status is the main test's alone: a FAIL is still a FAIL and the phase's false-FAIL budget (alpha) is
untouched — the parts only explain it. With lo the lower bound of the whole ON cohort's anytime-valid ON/OFF
interval and each part's interval (lo', hi'), every bound holding over the phase with probability ≥ 1 − alpha
(so two of them together with ≥ 1 − 2·alpha), `attribution` is, in this order:
- "attributable": no other flag shared ON passengers over the phase, or the exclusive part's own evidence reached
  1/alpha (the passengers with only this flag fail more than OFF too);
- "not_attributable" (to this flag alone): the exclusive part's hi' ≤ lo (the passengers with only this flag fail
  less than the ON cohort as a whole: the excess is among those also ON for another flag), or the others-only
  part's evidence reached 1/alpha (another flag hurts its passengers without this one);
- "attributable": the others-only part's hi' ≤ lo (another flag alone does not come near this flag's excess: it is
  where this flag is ON — where they share passengers, possibly only with both ON);
- "undecided": otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from monitor.checks.base import CheckContext
from monitor.checks.sequential import ZERO, Design, HourCounts, Judgement, Verdict, judge, replay
from monitor.domain.aggregate import PassengerStates, bucket_of, errors_of, passenger_key
from monitor.domain.checkpoint import Checkpoint
from monitor.domain.evidence import CohortEvidence, Overlap, OverlapFlag, PartTest
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
) -> tuple[HourCounts, HourCounts, int, int, list[int]]:
    """One pass over the window's passengers: (the exclusive part's hour, the others-only part's hour, ON
    passengers seen, those also ON for at least one other flag, per other flag those also ON for it). `on_of` is
    this flag's (bucket cut, allowlist keys) under the config in force; `hour` the main test's hour (its OFF side is
    the exclusive part's control)."""
    cut, allow = on_of
    by_bucket = [sum(1 << i for i, g in enumerate(others) if b < g.rollout_percentage) for b in range(100)]
    by_key: dict[int, int] = {}
    for i, g in enumerate(others):
        for key in g.allowlist_keys:
            by_key[key] = by_key.get(key, 0) | 1 << i
    also = [0] * len(others)
    on_seen = shared = 0
    # parts: 0 exclusive ON, 1 OFF but ON for another flag, 2 ON for no flag; each seen, seen failing, at risk, failing
    seen, seen_failing, units, failing = [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]
    for key, state in passengers.states.items():
        bucket = bucket_of(state)
        mask = by_bucket[bucket] | by_key.get(key, 0)
        if bucket < cut or key in allow:
            on_seen += 1
            if mask:
                shared += 1
                for i in range(len(others)):
                    also[i] += mask >> i & 1
                continue
            part = 0
        else:
            part = 1 if mask else 2
        failed = errors_of(state) > 0
        seen[part] += 1
        seen_failing[part] += failed
        if key not in before:
            units[part] += 1
            failing[part] += failed
    exclusive = HourCounts(
        units[0], hour.off_units, failing[0], hour.off_failing, seen[0], hour.off_seen, seen_failing[0],
        hour.off_seen_failing,
    )  # fmt: skip
    others_only = HourCounts(
        units[1], units[2], failing[1], failing[2], seen[1], seen[2], seen_failing[1], seen_failing[2]
    )
    return exclusive, others_only, on_seen, shared, also


def phase_overlaps(history: Sequence[Checkpoint]) -> list[Overlap]:
    """The phase's earlier checkpoints that recorded the overlap, oldest first (as `cohort.phase_hours`)."""
    found = []
    for cp in history:
        evidence = cp.evidence(CohortEvidence)
        if evidence is not None and evidence.overlap is not None and evidence.overlap.exclusive is not None:
            found.append((cp, evidence.overlap))
    found.sort(key=lambda item: (item[0].id is None, item[0].id or 0, item[0].created_at))
    return [overlap for _, overlap in found]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _stored(part: PartTest | None) -> HourCounts:
    return HourCounts.from_dict(part.hour or {}) if part is not None else ZERO


def part_test(earlier: Sequence[PartTest | None], hour: HourCounts, design: Design) -> tuple[PartTest, Judgement]:
    """A part's test over the phase: its stored hours (an hour that recorded none folds as empty), then this one."""
    state = replay([*(_stored(p) for p in earlier), hour], design)
    j = judge(state, design)
    hi = None if j.interval is None or j.interval[1] == math.inf else j.interval[1]
    test = PartTest(
        hour=hour.to_dict(),
        phase=state.totals.to_dict(),
        verdict=j.verdict.value,
        ratio=j.ratio,
        interval=None if j.interval is None else [j.interval[0], hi],
        log_e_value=j.log_e_value,
        e_value=j.e_value if j.e_value != math.inf else None,
        p_value=j.p_value,
        hours=j.hours,
        checkpoints=state.checkpoints,
    )
    return test, j


def overlap_evidence(ctx: CheckContext, rollout: int, hour: HourCounts, main: Judgement, design: Design) -> Overlap:
    """The overlap's evidence for this window and the phase, with both parts' tests and the attribution, for the
    enabled flag at `rollout` % (its allowlisted passengers ON too); `hour` and `main` are the main test's."""
    others = ctx.other_flags or ()
    on_of = (rollout, frozenset(passenger_key(h) for h in ctx.allowlist_hashes))
    passengers = ctx.stats.passengers
    exclusive, others_only, on_seen, shared, also = window_overlap(passengers, on_of, ctx.entered_before, hour, others)
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
    ex_test, ex = part_test([o.exclusive for o in earlier], exclusive, design)
    oth_test, oth = part_test([o.others_only for o in earlier], others_only, design)
    overlap = Overlap(
        flags=flags,
        on_passengers=on_seen,
        shared=shared,
        share=_share(shared, on_seen),
        phase_share=_share(total_shared, total_on),
        exclusive=ex_test,
        others_only=oth_test,
        attribution=None,
        attribution_reason=None,
    )
    overlap.attribution, overlap.attribution_reason = attribute(overlap, main, ex, oth)
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


def _figures(name: str, test: PartTest | None, j: Judgement) -> str:
    interval = None if test is None else test.interval
    evidence = e_value(None if test is None else test.e_value, j.log_e_value)
    return f"{name} {ratio(j.ratio)} (anytime-valid {ratio_interval(interval)}), M={evidence}"


def _below(j: Judgement, lo: float | None) -> bool:
    """The part's anytime-valid interval lies at or below `lo` (the whole ON cohort's lower bound)."""
    hi = j.interval[1] if j.interval is not None else None
    return lo is not None and hi is not None and lo > 0 and hi <= lo


def attribute(overlap: Overlap, main: Judgement, ex: Judgement, oth: Judgement) -> tuple[str, str]:
    """(attribution, why): see the module doc."""
    if not overlap.phase_share:
        return ATTRIBUTABLE, "no other flag in rollout is ON for its ON passengers"
    sharing = _sharing(overlap)
    exclusive = _figures("exclusive ON/OFF", overlap.exclusive, ex)
    others = _figures("others-only/no-flag", overlap.others_only, oth)
    lo = main.interval[0] if main.interval is not None else None
    bound = f"below the cohort's lower bound {ratio(lo)}"
    if ex.verdict is Verdict.FAIL:
        return ATTRIBUTABLE, f"the ON passengers with only this flag fail more than OFF too ({exclusive}); {sharing}"
    if _below(ex, lo):
        return NOT_ATTRIBUTABLE, (
            f"the ON passengers with only this flag fail less than the ON cohort as a whole ({exclusive}, {bound}): "
            f"the excess is among those also ON for another flag; {sharing}"
        )
    if oth.verdict is Verdict.FAIL:
        return NOT_ATTRIBUTABLE, (
            f"the passengers ON for another flag but not this one fail more than those ON for no flag ({others}): "
            f"the regression follows the other flag; {sharing}"
        )
    if _below(oth, lo):
        return ATTRIBUTABLE, (
            f"the passengers ON for another flag but not this one fail less than this flag's ON cohort ({others}, "
            f"{bound}): the excess is where this flag is ON (where it shares passengers, it may take both); {sharing}"
        )
    alone = ex.totals.on_units
    part = (
        f"the exclusive part ({ex.totals.on_failing:,} first failures in {alone:,} passenger-hours at risk) is not "
        f"conclusive either way ({exclusive})"
        if alone
        else "no ON passenger has this flag alone"
    )
    return UNDECIDED, f"{sharing}; {part}, nor are the passengers with another flag only ({others})"


def attribution_line(overlap: Overlap | None) -> str:
    """The attribution as a summary's tail, "" when no other flag shares ON passengers (or unknown)."""
    if overlap is None or not overlap.phase_share or overlap.attribution is None:
        return ""
    label = {NOT_ATTRIBUTABLE: "not attributable to this flag alone"}.get(overlap.attribution, overlap.attribution)
    return f" — {label}: {overlap.attribution_reason}"
