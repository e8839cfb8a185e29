"""Detection benchmark: whole rollout phases of hourly checkpoints, judged by three rules side by side.

Traffic: `phase_model.py` (a persistent passenger population: heavy-tailed activity and requests per passenger,
diurnal load, 10% anonymous requests, base 5xx 0.5% per request; retry storms, sticky breakage, chronic failers).
Rules, on the same simulated hours:
- seeds' rule: ROLLBACK when the global 5xx rate is above 1% on 2 consecutive hourly checkpoints;
- old per-hour rule: today's `cohort_regression` — request-level Fisher one-sided p < 0.01 (the real
  `monitor.checks.stats.one_sided_greater_p`) AND the point-estimate effect > 0.5 pp, with ≥ 100 requests per
  cohort, judged afresh every hour;
- new rule: `monitor.checks.sequential` — the mixture SPRT over the phase's hours, through its real `fold_all` /
  `fold` / `verdict` (the functions the check calls), α = 0.01 per phase, default design.
Units of the new rule (the open question): (b) passengers failing for the first time in the phase, ρ from passengers
seen and not yet failed (recommended, the module's definition); (a) passengers failing in this hour, ρ from all
passengers seen; (b-seen) first failures with ρ from all passengers seen.

Old-rule speed-up: an hour can only FAIL with ≥ 100 requests per cohort, effect > 0.5 pp and a binomial tail of the
ON 5xx count below MARGIN × α; those hours get the exact hypergeometric p (vectorised, identical to Fisher's), every
hour with p within a factor MARGIN of α is judged by the real `one_sided_greater_p`, and a sample of the clear FAILs
and the pruned hours nearest the bound are re-judged by it every run (a disagreement aborts the run).

    python benchmarks/detection.py [--phases N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from phase_model import (
    ANON_SHARE,
    HOURS_PER_PHASE,
    MEAN_ACTIVE_HOURS,
    MEAN_REQUESTS,
    PERSISTENT_STORM_ACTIVITY,
    SIGMA_ACTIVE,
    SIGMA_HOURLY,
    SIGMA_PERSISTENT,
    STORM_RETRIES,
    TABLE,
    TROUGH,
    Counts,
    Scenario,
    passengers_per_hour,
    population,
    simulate,
)
from scipy.stats import binom, hypergeom

from monitor.checks.sequential import Design, EvidenceState, Verdict, fold, fold_all, log_mixture, verdict
from monitor.checks.stats import binomial_share_interval, one_sided_greater_p

ROLLOUTS = (1, 5, 10)
RATES = (5, 50, 500)
CELLS = tuple((r, q) for r in ROLLOUTS for q in RATES)
BASE = 0.005
SEEDS_LIMIT = 0.01
OLD_ALPHA, OLD_MIN_EFFECT, OLD_MIN_REQUESTS = 0.01, 0.005, 100
MARGIN = 4.0
VERIFY = 5
POWER_HOURS = 24
CHUNK = 90  # A/A phases are folded in chunks, and stop at a FAIL
TARGET = (5, 50)
POWER = (
    Scenario("1.5×", factor=1.5),
    Scenario("2×", factor=2.0),
    Scenario("3×", factor=3.0),
    Scenario("sticky 10% of ON at 1/3", sticky_share=0.10),
)
AA = (
    Scenario("A/A"),
    Scenario("A/A + random storms", storms_per_hour=1.0),
    Scenario("A/A + persistent storming client", persistent_storm=True),
    Scenario("A/A + chronic 2% at 5%", chronic_share=0.02, chronic_rate=0.05),
    Scenario("A/A + chronic 1% at 30%", chronic_share=0.01, chronic_rate=0.30),
)
UNITS = ("b", "a", "b-seen", "req")
FOLDED_IN = {  # A/A scenarios each unit is folded in (b and a: all); the others in a few, for time
    "b-seen": ("A/A", "A/A + chronic 1% at 30%"),
    "req": ("A/A", "A/A + random storms", "A/A + persistent storming client"),
}
UNIT_NAMES = {
    "b": "(b) first failure, ρ at risk",
    "a": "(a) this hour's failing",
    "b-seen": "(b-seen) first failure, ρ seen",
    "req": "(req) requests, for contrast",
}
L10, L20, L50, L5 = math.log(10), math.log(20), math.log(50), math.log(5)
WARN_CANDIDATES: tuple[tuple[str, Callable[[float, float], bool]], ...] = (
    ("hour e ≥ 20", lambda hour, acc: hour >= L20),
    ("hour e ≥ 50", lambda hour, acc: hour >= L50),
    ("M ≥ 10", lambda hour, acc: acc >= L10),
    ("hour e ≥ 10 and M ≥ 10 (default)", lambda hour, acc: hour >= L10 and acc >= L10),
    ("hour e ≥ 5 and M ≥ 10", lambda hour, acc: hour >= L5 and acc >= L10),
)
GRIDS = (
    ("default {1.25, 1.5, 2, 3, 5}, uniform", Design(interval=False)),
    (
        "{1.25, 1.5, 2, 3}, w .3/.3/.25/.15",
        Design(thetas=(1.25, 1.5, 2.0, 3.0), weights=(0.3, 0.3, 0.25, 0.15), interval=False),
    ),
    ("{1.5, 2}, uniform", Design(thetas=(1.5, 2.0), interval=False)),
    ("{1.1, 1.25, 1.5, 2, 3, 5}, uniform", Design(thetas=(1.1, 1.25, 1.5, 2.0, 3.0, 5.0), interval=False)),
    ("{1.75} alone", Design(thetas=(1.75,), interval=False)),
)
GRID_CELLS = ((5, 50), (1, 50), (10, 5))
SENSITIVITY = (5.0, 10.0, 20.0, 40.0)  # mean requests per active passenger-hour
DESIGN = Design(interval=False)  # the interval is report-only (O(grid) per hour); the verdict is the same
START_LOADS = (("trough (02:00)", 2), ("mean (08:00)", 8), ("peak (14:00)", 14))


def unit_rows(c: Counts, units: str) -> np.ndarray:
    """(phases, hours + 1, 12): the HourCounts fields of every hour, for one unit definition."""
    seen_or_at_risk = {"b": "units", "req": "requests"}.get(units, "seen")
    failing = {"a": "failing", "req": "errors"}.get(units, "new_failing")
    cols = [
        c.on[seen_or_at_risk],
        c.off[seen_or_at_risk],
        c.on[failing],
        c.off[failing],
        c.on["seen"],
        c.off["seen"],
        c.on["failing"],
        c.off["failing"],
        c.on["requests"],
        c.on["errors"],
        c.off["requests"],
        c.off["errors"],
    ]
    return np.stack(cols, axis=-1)


@dataclass
class Tally:
    verified: int = 0
    exact: int = 0
    folded: int = 0


def old_rule(c: Counts, tally: Tally) -> np.ndarray:
    """(phases, hours + 1) bool: would today's per-hour cohort_regression FAIL at this hour?"""
    on_req, on_err, off_req, off_err = c.on["requests"], c.on["errors"], c.off["requests"], c.off["errors"]
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = on_err / on_req - off_err / off_req
    possible = (on_req >= OLD_MIN_REQUESTS) & (off_req >= OLD_MIN_REQUESTS) & (effect > OLD_MIN_EFFECT) & (on_err > 0)
    bound = np.ones(on_req.shape)
    m = possible
    bound[m] = binom.sf(on_err[m] - 1, on_err[m] + off_err[m], on_req[m] / (on_req[m] + off_req[m]))
    cand = possible & (bound < MARGIN * OLD_ALPHA)
    p = np.ones(on_req.shape)
    p[cand] = hypergeom.sf(on_err[cand] - 1, on_req[cand] + off_req[cand], on_err[cand] + off_err[cand], on_req[cand])
    # p is Fisher's one-sided p exactly (fisher_exact computes this hypergeometric tail): hours near the threshold
    # are judged by the real function, and a sample of the clear FAILs is re-judged by it
    fail = cand & (p < OLD_ALPHA)
    band = cand & (p >= OLD_ALPHA / MARGIN) & (p < MARGIN * OLD_ALPHA)
    clear = np.flatnonzero((cand & (p < OLD_ALPHA / MARGIN)).ravel())
    sample = [np.unravel_index(f, on_req.shape) for f in clear[:: max(1, clear.size // VERIFY)][:VERIFY]]
    for r, t in [*zip(*np.nonzero(band), strict=True), *sample]:
        real = one_sided_greater_p(int(on_err[r, t]), int(on_req[r, t]), int(off_err[r, t]), int(off_req[r, t]))
        tally.exact += 1
        decided = real is not None and real < OLD_ALPHA
        if not band[r, t] and not decided:
            raise SystemExit(f"vectorised Fisher disagrees with one_sided_greater_p (phase {r}, hour {t})")
        fail[r, t] = decided
    pruned = np.flatnonzero((possible & ~(cand & (p < MARGIN * OLD_ALPHA))).ravel())
    score = np.minimum(bound, p).ravel()
    for flat in pruned[np.argsort(score[pruned])[:VERIFY]]:
        r, t = (int(i) for i in np.unravel_index(flat, on_req.shape))
        real = one_sided_greater_p(int(on_err[r, t]), int(on_req[r, t]), int(off_err[r, t]), int(off_req[r, t]))
        if real is not None and real < OLD_ALPHA:
            raise SystemExit(f"pre-filter pruned an old-rule FAIL (phase {r}, hour {t}): raise MARGIN")
        tally.verified += 1
    return fail


def seeds_rule(c: Counts) -> np.ndarray:
    over = c.global_rate() > SEEDS_LIMIT
    alarm = np.zeros(over.shape, dtype=bool)
    alarm[:, 1:] = over[:, 1:] & over[:, :-1]
    return alarm


def first_alarm(alarm: np.ndarray) -> np.ndarray:
    """Per phase, the first phase hour (1-based) with an alarm; inf when none."""
    hit = alarm[:, 1:]
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)


def first_fail(arr: np.ndarray, design: Design, tally: Tally) -> np.ndarray:
    """Per phase, the first hour the new rule FAILs at (inf when none), folding the phase's hours with `fold_all`."""
    out = np.full(arr.shape[0], np.inf)
    for p in range(arr.shape[0]):
        rows = arr[p, 1:].tolist()
        state = fold_all(EvidenceState(), rows, design)
        tally.folded += len(rows)
        if verdict(state, design) is Verdict.FAIL and state.fail_checkpoint is not None:
            out[p] = state.fail_checkpoint
    return out


@dataclass
class PowerRun:
    first: dict[str, np.ndarray] = field(default_factory=dict)  # rule or unit → first FAIL hour per phase
    signal_1: dict[str, np.ndarray] = field(default_factory=dict)  # WARN candidate → WARN or FAIL at hour 1 (b)
    signal_3: dict[str, np.ndarray] = field(default_factory=dict)  # … any WARN or FAIL in hours 1-3 (b)


def power_run(
    rng: np.random.Generator,
    rollout: int,
    rps: float,
    sc: Scenario,
    phases: int,
    tally: Tally,
    start: int | None = None,
    units: Sequence[str] = UNITS,
    mean_requests: float = MEAN_REQUESTS,
    old: bool = True,
) -> PowerRun:
    """Regression from hour 1: first FAIL hour per rule, and the new rule's hour-1 / hours 1-3 signals (units b,
    hour by hour through `fold` and `verdict`, as the check runs; the module's WARN and the candidates)."""
    c = simulate(rng, rollout, rps, sc, phases, POWER_HOURS, BASE, start=start, mean_requests=mean_requests)
    out = PowerRun()
    if old:
        out.first["seeds"] = first_alarm(seeds_rule(c))
        out.first["old"] = first_alarm(old_rule(c, tally))
    names = ["module", *(name for name, _ in WARN_CANDIDATES)]
    out.signal_1 = {name: np.zeros(phases, dtype=bool) for name in names}
    out.signal_3 = {name: np.zeros(phases, dtype=bool) for name in names}
    for u in units:
        arr = unit_rows(c, u)
        if u != "b":
            out.first[u] = first_fail(arr, DESIGN, tally)
            continue
        first = np.full(phases, np.inf)
        for p in range(phases):
            hours = arr[p, 1:].tolist()
            state = EvidenceState()
            for h in range(3):
                state = fold(state, hours[h], DESIGN)
                v = verdict(state, DESIGN)
                hour_e, acc = log_mixture(state.hour_log_lr, DESIGN), log_mixture(state.log_lr, DESIGN)
                got = {"module": v in (Verdict.FAIL, Verdict.WARN)}
                for name, rule in WARN_CANDIDATES:
                    got[name] = v is Verdict.FAIL or (bool(state.hour_log_lr) and rule(hour_e, acc))
                for name, hit in got.items():
                    out.signal_3[name][p] |= hit
                    out.signal_1[name][p] |= hit and h == 0
            state = fold_all(state, hours[3:], DESIGN)
            tally.folded += len(hours)
            if verdict(state, DESIGN) is Verdict.FAIL and state.fail_checkpoint is not None:
                first[p] = state.fail_checkpoint
        out.first[u] = first
    return out


@dataclass
class AARun:
    fails: dict[str, np.ndarray] = field(default_factory=dict)  # rule → false FAILs per phase (count or 0/1)
    dispersion: dict[str, float] = field(default_factory=dict)  # unit → overdispersion of the ON excess
    warn_hours: np.ndarray | None = None  # new rule (b): WARN hours per phase
    new_failing: np.ndarray | None = None  # distinct failing passengers (both cohorts) by hour 24 / 168 / 720


def overdispersion(arr: np.ndarray) -> float:
    """Var over phases of Σ_t (x − T·ρ) against its binomial value E Σ_t T·ρ(1 − ρ): ≈ 1 (or below) when the
    units behave as the test assumes, above 1 when a phase's excess of ON failing units is over-dispersed."""
    u_on, u_off, x, y = (arr[:, 1:, i].astype(float) for i in range(4))
    n = u_on + u_off
    rho = np.divide(u_on, n, out=np.zeros(n.shape), where=n > 0)
    total = x + y
    excess = (x - total * rho).sum(axis=1)
    return float(excess.var() / max((total * rho * (1 - rho)).sum(axis=1).mean(), 1e-12))


def aa_run(
    rng: np.random.Generator, rollout: int, rps: float, sc: Scenario, phases: int, hours: int, tally: Tally
) -> AARun:
    c = simulate(rng, rollout, rps, sc, phases, hours, BASE)
    out = AARun()
    out.fails["seeds"] = seeds_rule(c)[:, 1:].sum(axis=1)
    out.fails["old"] = old_rule(c, tally)[:, 1:].sum(axis=1)
    cumulative = np.cumsum(c.on["new_failing"][:, 1:] + c.off["new_failing"][:, 1:], axis=1)
    out.new_failing = np.stack([cumulative[:, min(h, hours) - 1] for h in (24, 168, 720)], axis=1)
    for u in UNITS:
        if u in FOLDED_IN and sc.name not in FOLDED_IN[u]:
            continue
        arr = unit_rows(c, u)
        out.dispersion[u] = overdispersion(arr)
        fails = np.zeros(phases)
        warns = np.zeros(phases)
        for p in range(phases):
            rows = arr[p, 1:].tolist()
            state = EvidenceState()
            for at in range(0, hours, CHUNK):
                state = fold_all(state, rows[at : at + CHUNK], DESIGN)
                tally.folded += len(rows[at : at + CHUNK])
                if verdict(state, DESIGN) is Verdict.FAIL:
                    break
            fails[p] = verdict(state, DESIGN) is Verdict.FAIL
            warns[p] = state.warn_hours
        out.fails[u] = fails
        if u == "b":
            out.warn_hours = warns
    return out


def warn_rates(
    rng: np.random.Generator, rollout: int, rps: float, sc: Scenario, phases: int, hours: int, tally: Tally
) -> dict[str, float]:
    """Per-hour A/A rate of each WARN candidate (units b), hour by hour through `fold` (hours after a FAIL: none)."""
    c = simulate(rng, rollout, rps, sc, phases, hours, BASE)
    arr = unit_rows(c, "b")
    counts = dict.fromkeys(["module", *(name for name, _ in WARN_CANDIDATES)], 0)
    for p in range(phases):
        state = EvidenceState()
        for row in arr[p, 1:].tolist():
            state = fold(state, row, DESIGN)
            v = verdict(state, DESIGN)
            if v is Verdict.FAIL:
                break
            counts["module"] += v is Verdict.WARN
            if not state.hour_log_lr:
                continue
            hour_e, acc = log_mixture(state.hour_log_lr, DESIGN), log_mixture(state.log_lr, DESIGN)
            for name, rule in WARN_CANDIDATES:
                counts[name] += rule(hour_e, acc)
        tally.folded += hours
    return {name: n / (phases * hours) for name, n in counts.items()}


def grid_runs(args: argparse.Namespace, tally: Tally) -> dict[tuple[str, str, int, int], np.ndarray]:
    """First FAIL hour per phase for each mixture grid (units b), on the same simulated phases per cell."""
    out = {}
    for i, sc in enumerate(POWER[:3]):
        for rollout, rps in GRID_CELLS:
            c = simulate(seeded(args, 5, i, rollout, rps), rollout, rps, sc, args.phases, POWER_HOURS, BASE)
            arr = unit_rows(c, "b")
            for name, design in GRIDS:
                out[(name, sc.name, rollout, rps)] = first_fail(arr, design, tally)
    return out


def sensitivity_runs(args: argparse.Namespace, tally: Tally) -> dict[tuple[float, str], PowerRun]:
    out = {}
    for m in SENSITIVITY:
        for i, sc in enumerate(POWER[:2]):
            out[(m, sc.name)] = power_run(
                seeded(args, 6, i, m), *TARGET, sc, args.phases, tally, units=("b", "req"), mean_requests=m, old=False
            )
    return out


# ---------------------------------------------------------------------------------------------------- formatting


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def frac(x: np.ndarray | float) -> str:
    return f"{float(np.mean(x)):.3f}"


def with_se(p: float, n: int) -> str:
    return f"{p:.3f} ± {math.sqrt(max(p * (1 - p), 1 / n) / n):.3f}"


def cell_name(rollout: int, rps: float) -> list[str]:
    return [f"{rollout}%", f"{rps:g}"]


# ---------------------------------------------------------------------------------------------------- sections


def parameters(args: argparse.Namespace, aa_hours: int) -> str:
    cmd = f"python benchmarks/detection.py --phases {args.phases} --seed {args.seed}" + (
        " --quick" if args.quick else ""
    )
    per_hour = ", ".join(
        f"{q:g} req/s ≈ {passengers_per_hour(q):,.0f} passengers/h (population {population(q):,})" for q in RATES
    )
    return "\n".join(
        [
            "## Detection benchmark: whole phases, seeds' rule vs the old per-hour rule vs the new sequential rule",
            "",
            f"Command: `{cmd}` (seed {args.seed})",
            "",
            f"- traffic: persistent passengers (`benchmarks/phase_model.py`): active hours per {HOURS_PER_PHASE}-hour "
            f"phase lognormal (mean {MEAN_ACTIVE_HOURS:g}, σ {SIGMA_ACTIVE:g}); requests per active passenger-hour "
            f"Poisson(μ·e^ε), μ lognormal (mean {MEAN_REQUESTS:g}, σ {SIGMA_PERSISTENT:g}) per passenger, e^ε hourly "
            f"(σ {SIGMA_HOURLY:g}), total σ ≈ 1.5; diurnal load with the night trough at {TROUGH:.0%} of the peak "
            f"(req/s are daily means); {ANON_SHARE:.0%} anonymous requests; base 5xx {BASE:.1%} per request",
            f"- passengers seen per hour at the mean load: {per_hour}",
            "- a phase starts at a uniformly random hour of the day; its hour 1 is the first checkpoint after the "
            "rollout step (the seeds' rule also sees hour 0, the hour before)",
            f"- retry storms: a passenger failing {STORM_RETRIES} retries in an hour: random passengers, Poisson 1 per "
            f"hour in the whole traffic; or one persistent client, ON, active in an hour with probability "
            f"min(1, {PERSISTENT_STORM_ACTIVITY:g}·load) (≈ 180 h of a phase), storming in every active hour",
            "- chronic failers (unrelated to the flag, both cohorts by hash, every active hour of the phase): 2% of "
            "passengers failing 5% of their requests (moderate), 1% failing 30% (harsh)",
            "- sticky breakage: 10% of ON passengers fail 1/3 of their requests; regressions multiply ON passengers' "
            "per-request 5xx rate",
            "- new rule: `monitor.checks.sequential`, default design (θ ∈ {1.25, 1.5, 2, 3, 5}, uniform weights, "
            f"α = {DESIGN.alpha:g} per phase; WARN when this hour's own e-value ≥ {DESIGN.warn_level:g} and the "
            "phase's M ≥ √(1/α) = 10); units (b) unless stated",
            f"- {args.phases} phases per power scenario and cell ({POWER_HOURS} hours each); A/A: {args.aa_phases} "
            f"phases of {aa_hours} hours per scenario and cell; ± = Monte-Carlo standard error (binomial; at p = 0 the "
            "error shown is that of one event)",
        ]
    )


def power_section(runs: dict[tuple[str, int, float], PowerRun]) -> str:
    rows = []
    for sc in POWER:
        for rollout, rps in CELLS:
            r = runs[(sc.name, rollout, rps)]
            f = r.first
            rows.append(
                [
                    sc.name,
                    *cell_name(rollout, rps),
                    frac(f["seeds"] == 1),
                    frac(f["seeds"] <= 3),
                    frac(f["old"] == 1),
                    frac(f["old"] <= 3),
                    frac(f["b"] == 1),
                    frac(f["b"] <= 3),
                    frac(f["b"] <= POWER_HOURS),
                    frac(r.signal_1["module"]),
                    frac(r.signal_3["module"]),
                ]
            )
    header = [
        "scenario",
        "rollout",
        "req/s",
        "seeds @1",
        "seeds ≤3",
        "old @1",
        "old ≤3",
        "new @1",
        "new ≤3",
        f"new ≤{POWER_HOURS}",
        "new WARN or FAIL @1",
        "new WARN or FAIL ≤3",
    ]
    return (
        "### Power: FAIL (ROLLBACK) at hour 1 and by hour 3 of the phase\n\n"
        "Share of phases whose first FAIL comes at hour 1 / by hour 3 / by hour 24 (seeds' rule: its ROLLBACK). "
        "'WARN or FAIL': the new rule's signal, FAIL or WARN (the gate HOLDs on WARN).\n\n" + table(header, rows)
    )


def target_section(
    runs: dict[tuple[str, int, float], PowerRun],
    starts: dict[tuple[str, str], PowerRun],
    aa: dict[tuple[str, int, float], AARun],
    n_aa: int,
) -> str:
    rollout, rps = TARGET
    rows = []
    for label, _ in (("uniform", None), *START_LOADS):
        r2 = runs[("2×", rollout, rps)] if label == "uniform" else starts[("2×", label)]
        r15 = runs[("1.5×", rollout, rps)] if label == "uniform" else starts[("1.5×", label)]
        rows.append(
            [
                label,
                frac(r2.first["b"] == 1),
                frac(r2.first["b"] <= 2),
                frac(r2.signal_1["module"]),
                frac(r15.first["b"] <= 3),
                frac(r15.first["b"] <= 6),
                frac(r2.first["req"] == 1),
                frac(r15.first["req"] <= 3),
                frac(r2.first["old"] == 1),
                frac(r15.first["old"] <= 3),
            ]
        )
    header = [
        "phase starts at",
        "new: 2× FAIL @1",
        "new: 2× FAIL ≤2",
        "new: 2× WARN or FAIL @1",
        "new: 1.5× FAIL ≤3",
        "new: 1.5× FAIL ≤6",
        "req units: 2× @1",
        "req units: 1.5× ≤3",
        "old: 2× @1",
        "old: 1.5× ≤3",
    ]
    worst = max((float(np.mean(run.fails["b"])), name, ro, q) for (name, ro, q), run in aa.items())
    p2 = float(np.mean(runs[("2×", rollout, rps)].first["b"] == 1))
    p15 = float(np.mean(runs[("1.5×", rollout, rps)].first["b"] <= 3))
    verdicts = [
        f"2× at {rollout}%/{rps} req/s FAILs at hour 1 with power ≥ 0.95: "
        f"{'met' if p2 >= 0.95 else 'NOT met'} ({p2:.3f})",
        f"1.5× at {rollout}%/{rps} req/s FAILs by hour 3 with power ≥ 0.95: "
        f"{'met' if p15 >= 0.95 else 'NOT met'} ({p15:.3f})",
        f"P(any false FAIL in a phase) ≤ 0.01 in every A/A cell, storms and chronic failers included: "
        f"{'met' if worst[0] <= 0.01 else 'NOT met'} (worst {with_se(worst[0], n_aa)}: {worst[1]}, "
        f"{worst[2]}%, {worst[3]:g} req/s)",
    ]
    return (
        f"### Targets ({rollout}% rollout, {rps} req/s)\n\n"
        "New rule (units b) by the load at the phase's start; 'req units': the same sequential test counting "
        "requests and 5xx instead of passengers (not robust to retry storms, see the A/A tables), to show what "
        "the passenger unit costs.\n\n" + table(header, rows) + "\n\n" + "\n".join(f"- {v}" for v in verdicts)
    )


def aa_section(aa: dict[tuple[str, int, float], AARun], n: int, hours: int) -> str:
    scale = HOURS_PER_PHASE / hours
    rows = []
    for sc in AA:
        for rollout, rps in CELLS:
            r = aa[(sc.name, rollout, rps)]
            warn = r.warn_hours if r.warn_hours is not None else np.zeros(1)
            rows.append(
                [
                    sc.name,
                    *cell_name(rollout, rps),
                    f"{np.mean(r.fails['seeds']) * scale:.2f}",
                    frac(r.fails["seeds"] > 0),
                    f"{np.mean(r.fails['old']) * scale:.2f}",
                    frac(r.fails["old"] > 0),
                    with_se(float(np.mean(r.fails["b"])), n),
                    f"{np.mean(warn) * scale:.2f}",
                ]
            )
    header = [
        "scenario",
        "rollout",
        "req/s",
        "seeds: FAILs / 720 h",
        "seeds: P(any)",
        "old: FAILs / 720 h",
        "old: P(any)",
        "new: P(any false FAIL in the phase)",
        "new: WARN hours / 720 h",
    ]
    note = "" if hours == HOURS_PER_PHASE else f" (quick run: {hours}-hour phases, counts scaled to 720 h)"
    return (
        f"### False FAILs with no regression (A/A), {HOURS_PER_PHASE}-hour phases{note}\n\n"
        "Old and seeds' rules: every checkpoint they would ROLL BACK at counts (per phase, and the share of "
        "phases with at least one). New rule: a FAIL ends the phase, so its figure is P(any).\n\n" + table(header, rows)
    )


def units_section(aa: dict[tuple[str, int, float], AARun], runs: dict[tuple[str, int, float], PowerRun], n: int) -> str:
    rows = []
    for sc in AA:
        for rollout, rps in CELLS:
            r = aa[(sc.name, rollout, rps)]
            cells = [
                f"{with_se(float(np.mean(r.fails[u])), n)} (D {r.dispersion[u]:.2f})" if u in r.fails else "–"
                for u in UNITS
            ]
            rows.append([sc.name, *cell_name(rollout, rps), *cells])
    header = ["A/A scenario", "rollout", "req/s", *(UNIT_NAMES[u] for u in UNITS)]
    power_rows = []
    for sc in POWER:
        for rollout, rps in CELLS:
            f = runs[(sc.name, rollout, rps)].first
            power_rows.append(
                [
                    sc.name,
                    *cell_name(rollout, rps),
                    *(f"{frac(f[u] <= 3)} / {frac(f[u] <= POWER_HOURS)}" for u in UNITS),
                ]
            )
    p_header = ["scenario", "rollout", "req/s", *(f"({u}) FAIL ≤3 / ≤{POWER_HOURS}" for u in UNITS)]
    storage = []
    for rollout, rps in CELLS:
        r = aa[("A/A", rollout, rps)]
        nf = r.new_failing if r.new_failing is not None else np.zeros((1, 3))
        means = nf.mean(axis=0)
        storage.append([*cell_name(rollout, rps), *(f"{m:,.0f}" for m in means), f"{means[2] * 8 / 2**20:.2f} MiB"])
    s_header = ["rollout", "req/s", "failing hashes by 24 h", "by 168 h", "by 720 h", "at 8 bytes each (720 h)"]
    return (
        "### Open question: which failing unit? P(any false FAIL in a phase), A/A\n\n"
        "(a) passengers failing in this hour, ρ from passengers seen; (b) passengers failing for the first time "
        "in the phase, ρ from passengers seen and not yet failed (the module's definition); (b-seen) first "
        "failures with ρ from all passengers seen; (req) requests and 5xx. (b-seen) and (req) are folded in a "
        "few scenarios only. D: variance over phases of the phase's excess of ON failing units, Σ(x − Tρ), "
        "against its binomial value — the test assumes D ≤ 1; D > 1 means the units are clustered.\n\n"
        + table(header, rows)
        + "\n\nPower of the same units (FAIL by hour 3 / by hour 24):\n\n"
        + table(p_header, power_rows)
        + "\n\nStorage for (b): the phase's distinct failing passenger hashes (both cohorts, A/A, mean per "
        "phase; a 64-bit hash prefix tells them apart):\n\n" + table(s_header, storage)
    )


def warn_section(
    rates: dict[tuple[str, int, float], dict[str, float]],
    runs: dict[tuple[str, int, float], PowerRun],
    n_phases: int,
    hours: int,
) -> str:
    names = [name for name, _ in WARN_CANDIDATES]
    rows = [
        [scen, *cell_name(rollout, rps), *(f"{got[name] * 100:.3f}%" for name in names)]
        for (scen, rollout, rps), got in rates.items()
    ]
    worst = ["worst", "all", "all", *(f"{max(got[name] for got in rates.values()) * 100:.3f}%" for name in names)]
    header = ["A/A scenario", "rollout", "req/s", *(f"{name}: WARN / hour" for name in names)]
    hit_rows = []
    for sc in POWER[:2]:
        for rollout, rps in CELLS:
            r = runs[(sc.name, rollout, rps)]
            hit_rows.append(
                [sc.name, *cell_name(rollout, rps), *(f"{frac(r.signal_1[n])} / {frac(r.signal_3[n])}" for n in names)]
            )
    h_header = ["scenario", "rollout", "req/s", *(f"{n}: WARN or FAIL @1 / ≤3" for n in names)]
    return (
        f"### WARN rule: candidates (units b), A/A WARN rate per hour ({n_phases} phases of {hours} h per cell) "
        "and the signal under a regression\n\n"
        "'hour e': this hour's own mixture e-value; 'M': the phase's accumulated evidence (FAIL at 100); a WARN "
        "is never counted in a FAIL hour.\n\n" + table(header, [*rows, worst]) + "\n\n" + table(h_header, hit_rows)
    )


def grid_section(grids: dict[tuple[str, str, int, int], np.ndarray]) -> str:
    rows = []
    for name, _ in GRIDS:
        cells = []
        for sc in POWER[:3]:
            for rollout, rps in GRID_CELLS:
                f = grids[(name, sc.name, rollout, rps)]
                cells.append(f"{frac(f == 1)} / {frac(f <= 3)} / {frac(f <= POWER_HOURS)}")
        rows.append([name, *cells])
    header = [
        "mixture grid (units b)",
        *(f"{sc.name} {ro}%/{q} @1 / ≤3 / ≤24" for sc in POWER[:3] for ro, q in GRID_CELLS),
    ]
    return "### Mixture grid: FAIL power of alternative grids on the same simulated phases\n\n" + table(header, rows)


def sensitivity_section(sens: dict[tuple[float, str], PowerRun]) -> str:
    rows = []
    rollout, rps = TARGET
    for m in SENSITIVITY:
        r2, r15 = sens[(m, "2×")], sens[(m, "1.5×")]
        rows.append(
            [
                f"{m:g}",
                f"{passengers_per_hour(rps, m):,.0f}",
                frac(r2.first["b"] == 1),
                frac(r2.first["b"] <= 3),
                frac(r15.first["b"] <= 3),
                frac(r15.first["b"] <= POWER_HOURS),
                frac(r2.first["req"] == 1),
                frac(r15.first["req"] <= 3),
            ]
        )
    header = [
        "mean requests per active passenger-hour",
        "passengers / h",
        "new: 2× @1",
        "new: 2× ≤3",
        "new: 1.5× ≤3",
        "new: 1.5× ≤24",
        "req units: 2× @1",
        "req units: 1.5× ≤3",
    ]
    return (
        f"### Sensitivity: requests per passenger ({rollout}% rollout, {rps} req/s, units b)\n\n"
        "The fewer requests a passenger makes in an hour, the closer a passenger is to a request: more failing "
        "units, and a per-passenger ratio closer to the per-request one.\n\n" + table(header, rows)
    )


def exposure_section() -> str:
    """determinism (d): exact binomial probabilities through the real `binomial_share_interval`; the hourly sample's
    ON share also carries the fixed population's chance offset (activity-weighted, variance r(1 − r)/N_eff)."""
    h, w = TABLE.active_hours, TABLE.weight
    eff_share = float(np.sum(w * h) ** 2 / np.sum(w * h**2))  # N_eff / N_pop
    z, zw = np.polynomial.hermite_e.hermegauss(41)
    zw = zw / zw.sum()

    def p_outside(n: int, r: float, true: float, conf: float, n_pop: float | None = None) -> float:
        iv = binomial_share_interval(n, r, conf)
        assert iv is not None
        lo, hi = round(iv[0] * n), round(iv[1] * n)
        shares = [true] if n_pop is None else list(np.clip(true + z * math.sqrt(r * (1 - r) / n_pop), 0, 1))
        weights = [1.0] if n_pop is None else list(zw)
        return float(
            sum(wt * (binom.cdf(lo - 1, n, s) + binom.sf(hi, n, s)) for s, wt in zip(shares, weights, strict=True))
        )

    rows = []
    for rollout in ROLLOUTS:
        r = rollout / 100
        n = 20_000
        rows.append(
            [
                f"{rollout}%",
                "20,000",
                *(f"{p_outside(n, r, r, c) * 100:.3f}%" for c in (0.99, 0.999)),
                *(f"{p_outside(n, r, r * f, c):.3f}" for c in (0.99, 0.999) for f in (1.2, 0.8)),
            ]
        )
    header = [
        "rollout",
        "passengers / h",
        "false WARN / h, 99%",
        "false WARN / h, 99.9%",
        "WARN +20%, 99%",
        "WARN −20%, 99%",
        "WARN +20%, 99.9%",
        "WARN −20%, 99.9%",
    ]
    cell_rows = []
    for rollout, rps in CELLS:
        r, n = rollout / 100, round(passengers_per_hour(rps))
        n_eff = population(rps) * eff_share
        cell_rows.append(
            [
                *cell_name(rollout, rps),
                f"{n:,}",
                *(f"{p_outside(n, r, r, c, n_eff) * 100:.3f}%" for c in (0.99, 0.999)),
                f"{p_outside(n, r, r * 1.2, 0.999, n_eff):.3f}",
            ]
        )
    c_header = [
        "rollout",
        "req/s",
        "passengers / h (mean load)",
        "false WARN / h, 99%",
        "false WARN / h, 99.9%",
        "WARN +20%, 99.9%",
    ]
    need = []
    for rollout in ROLLOUTS:
        r = rollout / 100
        n = next(n for n in (round(1000 * 1.1**k) for k in range(200)) if p_outside(n, r, 1.2 * r, 0.999) >= 0.95)
        need.append(f"{rollout}%: {n:,}")
    return (
        "### Exposure (determinism d): the ON share of passengers seen against the rollout %\n\n"
        "Exact binomial probabilities at 20,000 passengers (the skew: the true ON share is 1.2× / 0.8× the "
        "rollout %):\n\n"
        + table(header, rows)
        + "\n\nPer traffic cell, with the persistent population's chance offset of the ON share:\n\n"
        + table(c_header, cell_rows)
        + "\n\nPassengers per hour for WARN power ≥ 0.95 on a +20% skew with the 99.9% interval: "
        + "; ".join(need)
        + "."
    )


# ---------------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--phases", type=int, default=1000, help="phases per scenario and cell (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--quick", action="store_true", help="smoke run for CI: 12 phases, 48-hour A/A phases")
    args = p.parse_args(argv)
    if args.phases < 1:
        p.error("--phases must be at least 1")
    if args.quick:
        args.phases = 12
    args.aa_phases = args.phases
    args.warn_phases = max(2, args.phases // 10)
    return args


def seeded(args: argparse.Namespace, *key: float) -> np.random.Generator:
    return np.random.default_rng([args.seed, *(round(k * 1000) for k in key)])


def progress(what: str, began: float) -> None:
    print(f"[{time.perf_counter() - began:6.0f} s] {what}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    began, tally = time.perf_counter(), Tally()
    aa_hours = 48 if args.quick else HOURS_PER_PHASE
    runs: dict[tuple[str, int, float], PowerRun] = {}
    for i, sc in enumerate(POWER):
        for rollout, rps in CELLS:
            runs[(sc.name, rollout, rps)] = power_run(
                seeded(args, 1, i, rollout, rps), rollout, rps, sc, args.phases, tally
            )
    starts: dict[tuple[str, str], PowerRun] = {}
    for i, sc in enumerate(POWER[:2]):
        for label, hour in START_LOADS:
            starts[(sc.name, label)] = power_run(seeded(args, 2, i, hour), *TARGET, sc, args.phases, tally, start=hour)
    progress("power", began)
    grids = grid_runs(args, tally)
    sens = sensitivity_runs(args, tally)
    progress("grids and sensitivity", began)
    t_power = time.perf_counter() - began
    aa: dict[tuple[str, int, float], AARun] = {}
    for i, sc in enumerate(AA):
        for rollout, rps in CELLS:
            progress(f"A/A {sc.name} {rollout}% {rps} req/s", began)
            aa[(sc.name, rollout, rps)] = aa_run(
                seeded(args, 3, i, rollout, rps), rollout, rps, sc, args.aa_phases, aa_hours, tally
            )
    t_aa = time.perf_counter() - began - t_power
    rates: dict[tuple[str, int, float], dict[str, float]] = {}
    for i, sc in enumerate(AA[:3] + AA[4:]):
        for rollout, rps in CELLS:
            rates[(sc.name, rollout, rps)] = warn_rates(
                seeded(args, 4, i, rollout, rps), rollout, rps, sc, args.warn_phases, aa_hours, tally
            )
    sections = [
        parameters(args, aa_hours),
        target_section(runs, starts, aa, args.aa_phases),
        power_section(runs),
        aa_section(aa, args.aa_phases, aa_hours),
        units_section(aa, runs, args.aa_phases),
        warn_section(rates, runs, args.warn_phases, aa_hours),
        grid_section(grids),
        sensitivity_section(sens),
        exposure_section(),
    ]
    print("\n\n".join(sections))
    elapsed = time.perf_counter() - began
    cpu = time.process_time()
    print(
        f"\nOld rule: {tally.exact:,} hours judged by the real one_sided_greater_p; {tally.verified} pruned hours "
        f"nearest the bound re-judged, none would have failed. New rule: {tally.folded:,} phase-hours folded by "
        f"monitor.checks.sequential. Elapsed {elapsed:.0f} s (power, grids, sensitivity {t_power:.0f} s; "
        f"A/A {t_aa:.0f} s; WARN rates {elapsed - t_power - t_aa:.0f} s), CPU time {cpu:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
