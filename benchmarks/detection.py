"""Detection benchmark: whole rollout phases of hourly checkpoints, judged by the rules side by side.

Traffic: `phase_model.py` (a persistent passenger population: heavy-tailed activity and requests per passenger,
diurnal load, 10% anonymous requests, base 5xx 0.5% per request; retry storms, sticky breakage, chronic failers).
Rules, on the same simulated hours:
- seeds' rule: ROLLBACK when the global 5xx rate is above 1% on 2 consecutive hourly checkpoints;
- old per-hour rule: the first `cohort_regression` — request-level Fisher one-sided p < 0.01 (the real
  `monitor.checks.stats.one_sided_greater_p`) AND the point-estimate effect > 0.5 pp, with ≥ 100 requests per
  cohort, judged afresh every hour;
- previous rule "(b)": `monitor.checks.sequential`'s mixture SPRT on the binary split of each hour's first
  failures (at-risk passengers = seen and not yet entered the bets; failing = those of them with a 5xx);
- new rule, the bets test: the same mixture SPRT folding per-passenger bets on the hash coin (`monitor.checks.bets`:
  each passenger enters once per phase, at its first hour with a 5xx or ≥ 20 requests), default design, α = 0.01
  per phase, through `sequential.fold_all(..., bets=...)`;
- "req units", for contrast: the binary split counting requests and 5xx (not robust to retry storms).

Folding: `vector_fold.py` computes every hour's increments with numpy (a re-implementation of `bets.log_factors`
over the cells and θ, q per hour; the split's formula) and folds them cumulatively; per cell and scenario a sample
of phases (VERIFY, VERIFY_AA for 720-hour phases) plus every phase whose evidence came within `NEAR` of the
threshold is re-folded by the real `fold_all` with real `Bets` objects (or the real split): the first FAIL hour
and the WARN count must agree exactly, else the run aborts.

Old-rule speed-up: an hour can only FAIL with ≥ 100 requests per cohort, effect > 0.5 pp and a binomial tail of the
ON 5xx count below MARGIN × α; those hours get the exact hypergeometric p (vectorised, identical to Fisher's), every
hour with p within a factor MARGIN of α is judged by the real `one_sided_greater_p`, and a sample of the clear FAILs
and the pruned hours nearest the bound are re-judged by it every run (a disagreement aborts the run).

Dropped with the bets test: the "which failing unit?" comparison ((a) this hour's failing passengers, (b-seen)
first failures with ρ from everyone seen, the over-dispersion D): the bets test settles the unit (the passenger,
entering once per phase); its storage is the phase's entered passengers (A/A section).

    python benchmarks/detection.py [--phases N] [--aa-phases N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

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
from vector_fold import NEAR, Scan, bets_increments, hour_rows, pick, scan, split_increments, verify

from monitor.checks.sequential import Design
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
VERIFY_AA = 1  # per chunk of 720-hour A/A phases (plus the near-threshold ones)
CHUNK = 250  # A/A phases simulated and folded per chunk (its histograms: phases × hours × cells)
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
L10, L20, L50, L5 = math.log(10), math.log(20), math.log(50), math.log(5)
WARN_CANDIDATES: tuple[tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]], ...] = (
    ("hour e ≥ 20", lambda hour, acc: hour >= L20),
    ("hour e ≥ 50", lambda hour, acc: hour >= L50),
    ("M ≥ 10", lambda hour, acc: acc >= L10),
    ("hour e ≥ 10 and M ≥ 10 (default)", lambda hour, acc: (hour >= L10) & (acc >= L10)),
    ("hour e ≥ 5 and M ≥ 10", lambda hour, acc: (hour >= L5) & (acc >= L10)),
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


@dataclass
class Tally:
    verified: int = 0  # old rule: pruned hours re-judged
    exact: int = 0  # old rule: hours judged by the real one_sided_greater_p
    folded: int = 0  # phase-hours re-folded by the real sequential.fold_all (vectorised fold checked)
    phases: int = 0  # phases re-folded
    near: int = 0  # of which within NEAR of the threshold
    vector: int = 0  # phase-hours folded by the vectorised fold


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


def judge_bets(c: Counts, rollout: int, design: Design, tally: Tally, sample: int = VERIFY) -> Scan:
    """The bets test on every phase (vectorised), a sample and the near-threshold phases re-folded by the real
    `fold_all` with real `Bets` (a disagreement aborts the run)."""
    inc = bets_increments(c, design.thetas, rollout)
    entered = (c.on["entering"] + c.off["entering"]) > 0
    s = scan(inc, design, entered)
    return _checked(c, s, design, rollout, sample, tally)


def judge_split(c: Counts, units: str, design: Design, tally: Tally, sample: int = VERIFY) -> Scan:
    """The binary split (units "b": the previous rule; "req": requests and 5xx), vectorised and checked the same way."""
    rows = hour_rows(c, units)
    s = scan(split_increments(rows, design), design)
    return _checked(c, s, design, None, sample, tally, units)


def _checked(
    c: Counts, s: Scan, design: Design, rollout: int | None, sample: int, tally: Tally, units: str = "b"
) -> Scan:
    phases = pick(s, sample)
    tally.vector += s.first.size * (s.acc.shape[1])
    tally.folded += verify(c, s, design, rollout, phases, units=units)
    tally.phases += len(phases)
    tally.near += int(np.sum(s.closest < NEAR))
    return s


@dataclass
class PowerRun:
    first: dict[str, np.ndarray] = field(default_factory=dict)  # rule → first FAIL hour per phase
    signal_1: dict[str, np.ndarray] = field(default_factory=dict)  # WARN candidate → WARN or FAIL at hour 1 (bets)
    signal_3: dict[str, np.ndarray] = field(default_factory=dict)  # … any WARN or FAIL in hours 1-3 (bets)


def warn_signals(s: Scan) -> dict[str, np.ndarray]:
    """(phases, hours) bool per WARN candidate and the module's rule: the verdict after that hour is FAIL (sticky)
    or the candidate's WARN."""
    failed, has = ~s.before_fail, np.isfinite(s.hour_e)
    out = {"module": failed | s.warn}
    for name, rule in WARN_CANDIDATES:
        out[name] = failed | (has & rule(s.hour_e, s.acc))
    return out


def power_run(
    rng: np.random.Generator,
    rollout: int,
    rps: float,
    sc: Scenario,
    phases: int,
    tally: Tally,
    start: int | None = None,
    rules: Sequence[str] = ("seeds", "old", "b", "req"),
    mean_requests: float = MEAN_REQUESTS,
) -> PowerRun:
    """Regression from hour 1: first FAIL hour per rule (the bets test always), and the bets test's hour-1 /
    hours 1-3 signals (the module's WARN and the candidates)."""
    c = simulate(rng, rollout, rps, sc, phases, POWER_HOURS, BASE, start=start, mean_requests=mean_requests)
    out = PowerRun()
    if "seeds" in rules:
        out.first["seeds"] = first_alarm(seeds_rule(c))
    if "old" in rules:
        out.first["old"] = first_alarm(old_rule(c, tally))
    for u in ("b", "req"):
        if u in rules:
            out.first[u] = judge_split(c, u, DESIGN, tally).first
    s = judge_bets(c, rollout, DESIGN, tally)
    out.first["bets"] = s.first
    for name, hit in warn_signals(s).items():
        out.signal_1[name] = np.asarray(hit[:, 0])
        out.signal_3[name] = np.asarray(hit[:, :3].any(axis=1))
    return out


@dataclass
class AARun:
    fails: dict[str, np.ndarray] = field(default_factory=dict)  # rule → false FAILs per phase (count or 0/1)
    warn_hours: np.ndarray | None = None  # bets: WARN hours per phase
    warn_counts: dict[str, int] = field(default_factory=dict)  # WARN candidate → A/A hours it WARNs (before FAIL)
    hours: int = 0  # phase-hours behind warn_counts
    entered: np.ndarray | None = None  # distinct entered passengers (both cohorts) by hour 24 / 168 / 720


def aa_run(
    rng: np.random.Generator, rollout: int, rps: float, sc: Scenario, phases: int, hours: int, tally: Tally
) -> AARun:
    """A/A phases in chunks of CHUNK (the histograms of a chunk: phases × hours × cells)."""
    out = AARun()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("seeds", "old", "b", "req", "bets", "warn", "entered")}
    out.warn_counts = dict.fromkeys(["module", *(name for name, _ in WARN_CANDIDATES)], 0)
    for at in range(0, phases, CHUNK):
        c = simulate(rng, rollout, rps, sc, min(CHUNK, phases - at), hours, BASE)
        parts["seeds"].append(seeds_rule(c)[:, 1:].sum(axis=1))
        parts["old"].append(old_rule(c, tally)[:, 1:].sum(axis=1))
        for u in ("b", "req"):
            parts[u].append(np.isfinite(judge_split(c, u, DESIGN, tally, VERIFY_AA).first))
        s = judge_bets(c, rollout, DESIGN, tally, VERIFY_AA)
        parts["bets"].append(np.isfinite(s.first))
        parts["warn"].append(s.warn_hours)
        has = np.isfinite(s.hour_e)
        out.warn_counts["module"] += int(s.warn.sum())
        for name, rule in WARN_CANDIDATES:
            out.warn_counts[name] += int((s.before_fail & has & rule(s.hour_e, s.acc)).sum())
        out.hours += s.acc.size
        cumulative = np.cumsum(c.on["entering"][:, 1:] + c.off["entering"][:, 1:], axis=1)
        parts["entered"].append(np.stack([cumulative[:, min(h, hours) - 1] for h in (24, 168, 720)], axis=1))
    for k in ("seeds", "old", "b", "req", "bets"):
        out.fails[k] = np.concatenate(parts[k]).astype(float)
    out.warn_hours = np.concatenate(parts["warn"])
    out.entered = np.concatenate(parts["entered"])
    return out


def grid_runs(args: argparse.Namespace, tally: Tally) -> dict[tuple[str, str, int, int], np.ndarray]:
    """First FAIL hour per phase for each mixture grid (the bets test), on the same simulated phases per cell."""
    out = {}
    for i, sc in enumerate(POWER[:3]):
        for rollout, rps in GRID_CELLS:
            c = simulate(seeded(args, 5, i, rollout, rps), rollout, rps, sc, args.phases, POWER_HOURS, BASE)
            for name, design in GRIDS:
                out[(name, sc.name, rollout, rps)] = judge_bets(c, rollout, design, tally).first
    return out


def sensitivity_runs(args: argparse.Namespace, tally: Tally) -> dict[tuple[float, str], PowerRun]:
    out = {}
    for m in SENSITIVITY:
        for i, sc in enumerate(POWER[:2]):
            out[(m, sc.name)] = power_run(
                seeded(args, 6, i, m), *TARGET, sc, args.phases, tally, rules=("b", "req"), mean_requests=m
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
            "## Detection benchmark: whole phases, seeds' rule vs the old per-hour rule vs the previous sequential "
            "rule (b) vs the bets test",
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
            "- new rule ('bets'): `monitor.checks.sequential.fold_all` with each hour's `monitor.checks.bets.Bets` "
            "(a passenger enters once per phase, at its first hour with a 5xx or ≥ 20 requests; its cell: (min(5xx, "
            "10), request bin); q = the hour's 5xx rate with each passenger's 5xx capped at 3), default design "
            f"(θ ∈ {{1.25, 1.5, 2, 3, 5}}, uniform weights, α = {DESIGN.alpha:g} per phase; WARN when this hour's own "
            f"e-value ≥ {DESIGN.warn_level:g} and the phase's M ≥ √(1/α) = 10)",
            "- previous rule (b): the same SPRT on the binary split of first failures (at risk: seen and not yet "
            "entered; failing: those of them with a 5xx in the hour); req units: the split on requests and 5xx",
            f"- folding: vectorised (`benchmarks/vector_fold.py`); per cell and scenario {VERIFY} phases ({VERIFY_AA} "
            f"per chunk of {CHUNK} A/A phases) plus every phase within {NEAR:g} (log) of the threshold re-folded by "
            "the real `fold_all` (with real `Bets`): the same first FAIL hour and WARN count, else the run aborts",
            f"- {args.phases} phases per power scenario and cell ({POWER_HOURS} hours each); A/A: {args.aa_phases} "
            f"phases of {aa_hours} hours per scenario and cell; ± = Monte-Carlo standard error (binomial; at p = 0 the "
            "error shown is that of one event)",
        ]
    )


POWER_HEADER = [
    "scenario",
    "rollout",
    "req/s",
    "seeds @1",
    "seeds ≤3",
    "old @1",
    "old ≤3",
    "(b) @1",
    "bets @1",
    "(b) ≤3",
    "bets ≤3",
    f"(b) ≤{POWER_HOURS}",
    f"bets ≤{POWER_HOURS}",
    "bets WARN or FAIL @1",
    "bets WARN or FAIL ≤3",
]
AA_HEADER = [
    "scenario",
    "rollout",
    "req/s",
    "seeds: FAILs / 720 h",
    "seeds: P(any)",
    "old: FAILs / 720 h",
    "old: P(any)",
    "req units: P(any)",
    "(b): P(any)",
    "bets: P(any false FAIL in the phase)",
    "bets: WARN hours / 720 h",
]


def power_row(name: str, rollout: int, rps: float, r: PowerRun) -> list[str]:
    """One row of the power table (`POWER_HEADER`)."""
    f = r.first
    return [
        name,
        *cell_name(rollout, rps),
        frac(f["seeds"] == 1),
        frac(f["seeds"] <= 3),
        frac(f["old"] == 1),
        frac(f["old"] <= 3),
        frac(f["b"] == 1),
        frac(f["bets"] == 1),
        frac(f["b"] <= 3),
        frac(f["bets"] <= 3),
        frac(f["b"] <= POWER_HOURS),
        frac(f["bets"] <= POWER_HOURS),
        frac(r.signal_1["module"]),
        frac(r.signal_3["module"]),
    ]


def aa_row(name: str, rollout: int, rps: float, r: AARun, n: int, scale: float = 1.0) -> list[str]:
    """One row of the A/A table (`AA_HEADER`); `scale` turns a quick run's counts into per-720-h ones."""
    warn = r.warn_hours if r.warn_hours is not None else np.zeros(1)
    return [
        name,
        *cell_name(rollout, rps),
        f"{np.mean(r.fails['seeds']) * scale:.2f}",
        frac(r.fails["seeds"] > 0),
        f"{np.mean(r.fails['old']) * scale:.2f}",
        frac(r.fails["old"] > 0),
        with_se(float(np.mean(r.fails["req"])), n),
        with_se(float(np.mean(r.fails["b"])), n),
        with_se(float(np.mean(r.fails["bets"])), n),
        f"{np.mean(warn) * scale:.2f}",
    ]


def power_section(runs: dict[tuple[str, int, float], PowerRun]) -> str:
    rows = [power_row(sc.name, rollout, rps, runs[(sc.name, rollout, rps)]) for sc in POWER for rollout, rps in CELLS]
    header = POWER_HEADER
    return (
        "### Power: FAIL (ROLLBACK) at hour 1 and by hour 3 of the phase\n\n"
        "Share of phases whose first FAIL comes at hour 1 / by hour 3 / by hour 24 (seeds' rule: its ROLLBACK). "
        "(b): the previous rule (binary first failures), beside the bets test on the same phases. 'WARN or FAIL': "
        "the bets test's signal, FAIL or WARN (the gate HOLDs on WARN).\n\n" + table(header, rows)
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
                frac(r2.first["bets"] == 1),
                frac(r2.first["bets"] <= 2),
                frac(r2.signal_1["module"]),
                frac(r15.first["bets"] <= 3),
                frac(r15.first["bets"] <= 6),
                frac(r2.first["b"] == 1),
                frac(r15.first["b"] <= 3),
                frac(r2.first["req"] == 1),
                frac(r15.first["req"] <= 3),
                frac(r2.first["old"] == 1),
                frac(r15.first["old"] <= 3),
            ]
        )
    header = [
        "phase starts at",
        "bets: 2× FAIL @1",
        "bets: 2× FAIL ≤2",
        "bets: 2× WARN or FAIL @1",
        "bets: 1.5× FAIL ≤3",
        "bets: 1.5× FAIL ≤6",
        "(b): 2× @1",
        "(b): 1.5× ≤3",
        "req units: 2× @1",
        "req units: 1.5× ≤3",
        "old: 2× @1",
        "old: 1.5× ≤3",
    ]
    worst = max((float(np.mean(run.fails["bets"])), name, ro, q) for (name, ro, q), run in aa.items())
    p2 = float(np.mean(runs[("2×", rollout, rps)].first["bets"] == 1))
    p15 = float(np.mean(runs[("1.5×", rollout, rps)].first["bets"] <= 3))
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
        "The bets test by the load at the phase's start; (b): the previous rule (binary first failures); "
        "'req units': the sequential split counting requests and 5xx instead of passengers (not robust to retry "
        "storms, see the A/A tables), to show what the passenger unit costs.\n\n"
        + table(header, rows)
        + "\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
    )


def aa_section(aa: dict[tuple[str, int, float], AARun], n: int, hours: int) -> str:
    scale = HOURS_PER_PHASE / hours
    rows = [aa_row(sc.name, rollout, rps, aa[(sc.name, rollout, rps)], n, scale) for sc in AA for rollout, rps in CELLS]
    header = AA_HEADER
    storage = []
    for rollout, rps in CELLS:
        r = aa[("A/A", rollout, rps)]
        ent = r.entered if r.entered is not None else np.zeros((1, 3))
        means = ent.mean(axis=0)
        storage.append([*cell_name(rollout, rps), *(f"{m:,.0f}" for m in means), f"{means[2] * 8 / 2**20:.2f} MiB"])
    s_header = ["rollout", "req/s", "entered hashes by 24 h", "by 168 h", "by 720 h", "at 8 bytes each (720 h)"]
    note = "" if hours == HOURS_PER_PHASE else f" (quick run: {hours}-hour phases, counts scaled to 720 h)"
    return (
        f"### False FAILs with no regression (A/A), {HOURS_PER_PHASE}-hour phases{note}\n\n"
        "Old and seeds' rules: every checkpoint they would ROLL BACK at counts (per phase, and the share of "
        "phases with at least one). Sequential rules (req units, (b), bets): a FAIL ends the phase, so the figure "
        f"is P(any); {n} phases per scenario and cell.\n\n"
        + table(header, rows)
        + "\n\nStorage for the bets test: the phase's distinct entered passenger hashes (both cohorts, A/A, mean "
        "per phase; a 64-bit hash prefix tells them apart):\n\n" + table(s_header, storage)
    )


def warn_section(aa: dict[tuple[str, int, float], AARun], runs: dict[tuple[str, int, float], PowerRun]) -> str:
    names = ["module", *(name for name, _ in WARN_CANDIDATES)]
    rates = {key: {n: r.warn_counts[n] / max(r.hours, 1) for n in names} for key, r in aa.items()}
    cand = names[1:]
    rows = [
        [scen, *cell_name(rollout, rps), *(f"{got[name] * 100:.3f}%" for name in cand)]
        for (scen, rollout, rps), got in rates.items()
    ]
    worst = ["worst", "all", "all", *(f"{max(got[name] for got in rates.values()) * 100:.4f}%" for name in cand)]
    header = ["A/A scenario", "rollout", "req/s", *(f"{name}: WARN / hour" for name in cand)]
    hit_rows = []
    for sc in POWER[:2]:
        for rollout, rps in CELLS:
            r = runs[(sc.name, rollout, rps)]
            hit_rows.append(
                [sc.name, *cell_name(rollout, rps), *(f"{frac(r.signal_1[n])} / {frac(r.signal_3[n])}" for n in cand)]
            )
    h_header = ["scenario", "rollout", "req/s", *(f"{n}: WARN or FAIL @1 / ≤3" for n in cand)]
    module_worst = max(got["module"] for got in rates.values())
    return (
        "### WARN rule: candidates (the bets test), A/A WARN rate per hour (every A/A phase and hour before a FAIL) "
        "and the signal under a regression\n\n"
        "'hour e': this hour's own mixture e-value; 'M': the phase's accumulated evidence (FAIL at 100); a WARN "
        f"is never counted in a FAIL hour. The module's own WARN (as `fold_all` counts it): worst A/A cell "
        f"{module_worst * 100:.4f}% of hours.\n\n" + table(header, [*rows, worst]) + "\n\n" + table(h_header, hit_rows)
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
        "mixture grid (bets)",
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
                frac(r2.first["bets"] == 1),
                frac(r2.first["bets"] <= 3),
                frac(r15.first["bets"] <= 3),
                frac(r15.first["bets"] <= POWER_HOURS),
                frac(r2.first["b"] == 1),
                frac(r15.first["b"] <= 3),
                frac(r2.first["req"] == 1),
                frac(r15.first["req"] <= 3),
            ]
        )
    header = [
        "mean requests per active passenger-hour",
        "passengers / h",
        "bets: 2× @1",
        "bets: 2× ≤3",
        "bets: 1.5× ≤3",
        "bets: 1.5× ≤24",
        "(b): 2× @1",
        "(b): 1.5× ≤3",
        "req units: 2× @1",
        "req units: 1.5× ≤3",
    ]
    return (
        f"### Sensitivity: requests per passenger ({rollout}% rollout, {rps} req/s)\n\n"
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
    p.add_argument(
        "--aa-phases", type=int, default=None, help="720-hour A/A phases per scenario and cell (default: --phases)"
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--quick", action="store_true", help="smoke run for CI: 12 phases, 48-hour A/A phases")
    args = p.parse_args(argv)
    if args.phases < 1 or (args.aa_phases is not None and args.aa_phases < 1):
        p.error("--phases must be at least 1")
    if args.quick:
        args.phases = 12
    args.aa_phases = args.phases if args.aa_phases is None or args.quick else args.aa_phases
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
    sections = [
        parameters(args, aa_hours),
        target_section(runs, starts, aa, args.aa_phases),
        power_section(runs),
        aa_section(aa, args.aa_phases, aa_hours),
        warn_section(aa, runs),
        grid_section(grids),
        sensitivity_section(sens),
        exposure_section(),
    ]
    print("\n\n".join(sections))
    elapsed = time.perf_counter() - began
    cpu = time.process_time()
    print(
        f"\nOld rule: {tally.exact:,} hours judged by the real one_sided_greater_p; {tally.verified} pruned hours "
        f"nearest the bound re-judged, none would have failed. Sequential rules: {tally.vector:,} phase-hours folded "
        f"vectorised; {tally.phases:,} phases ({tally.near:,} of them within {NEAR:g} of the threshold) re-folded by "
        f"the real monitor.checks.sequential.fold_all ({tally.folded:,} phase-hours, with real Bets for the bets "
        f"test): the same first FAIL hour and WARN count in every one. Elapsed {elapsed:.0f} s (power, grids, "
        f"sensitivity {t_power:.0f} s; A/A {t_aa:.0f} s), CPU time {cpu:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
