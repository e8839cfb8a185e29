"""Check `phase_model.simulate` against a per-passenger simulation: mean counts per hour, and mean cell counts of the
entering passengers' histograms (the bets test's input), ON and OFF.

The per-passenger simulation draws every passenger of the population with continuous activity and intensity (not
the model's 16 classes): active hours per phase A ~ lognormal (mean 8, σ 1, capped at 400), intensity μ ~ lognormal
(mean 20, σ 1), each hour active with probability min(1, A·d(t)/720), requests r ~ Poisson(μ·e^ε) with the hourly
factor e^ε (lognormal, mean 1, σ 1.1), 5xx f ~ Binomial(r, rate); it enters at its first hour with f > 0 or
r ≥ ENTRY_REQUESTS, in the cell (min(f, 10), request_bin(r)).

    python benchmarks/check_phase_model.py [--phases N] [--hours H] [--rps R] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from phase_model import (
    HOURS_PER_PHASE,
    MAX_ACTIVE_HOURS,
    MEAN_ACTIVE_HOURS,
    MEAN_REQUESTS,
    N_B,
    N_F,
    SIGMA_ACTIVE,
    SIGMA_HOURLY,
    SIGMA_PERSISTENT,
    Scenario,
    diurnal,
    population,
    simulate,
)

from monitor.checks.bets import MAX_FAILURES, RATE_FAILURES, request_bin
from monitor.domain.aggregate import ENTRY_REQUESTS

FIELDS = ("seen", "units", "entering", "new_failing", "failing", "requests", "errors")


def _lognormal(rng: np.random.Generator, mean: float, sigma: float, size: int) -> np.ndarray:
    return np.exp(math.log(mean) - sigma**2 / 2 + sigma * rng.standard_normal(size))


def per_passenger(
    rng: np.random.Generator, rollout: int, rps: float, sc: Scenario, phases: int, hours: int, base: float
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Mean per hour (hours 1..H) of each field per cohort (2, len(FIELDS)), of q's capped errors and requests, and
    the mean histogram (2, N_F, N_B)."""
    sums = np.zeros((2, len(FIELDS)))
    rate_parts = np.zeros(2)
    hist = np.zeros((2, N_F * N_B))
    bins = np.array([request_bin(r) for r in range(200_000)])
    for _ in range(phases):
        n = rng.poisson(population(rps))
        act = np.minimum(_lognormal(rng, MEAN_ACTIVE_HOURS, SIGMA_ACTIVE, n), MAX_ACTIVE_HOURS) / HOURS_PER_PHASE
        mu = _lognormal(rng, MEAN_REQUESTS, SIGMA_PERSISTENT, n)
        on = rng.random(n) < rollout / 100
        chronic = rng.random(n) < sc.chronic_share
        rate = np.where(chronic, sc.chronic_rate, np.where(on, min(base * sc.factor, 1.0), base))
        entered = np.zeros(n, dtype=bool)
        start = int(rng.integers(0, 24))
        for t in range(1, hours + 1):
            d = float(diurnal(start + t - 1))
            idx = np.flatnonzero(rng.random(n) < np.minimum(1.0, act * d))
            lam = mu[idx] * np.exp(SIGMA_HOURLY * rng.standard_normal(idx.size) - SIGMA_HOURLY**2 / 2)
            r = rng.poisson(lam)
            f = rng.binomial(r, rate[idx])
            seen = r > 0
            idx, r, f = idx[seen], r[seen], f[seen]
            fresh = ~entered[idx]
            enter = fresh & ((f > 0) | (r >= ENTRY_REQUESTS))
            cell = np.minimum(f, MAX_FAILURES) * N_B + bins[np.minimum(r, bins.size - 1)]
            side = np.where(on[idx], 0, 1)
            for s in (0, 1):
                m = side == s
                sums[s] += [
                    m.sum(),
                    (m & fresh).sum(),
                    (m & enter).sum(),
                    (m & enter & (f > 0)).sum(),
                    (m & (f > 0)).sum(),
                    r[m].sum(),
                    f[m].sum(),
                ]
                hist[s] += np.bincount(cell[m & enter], minlength=N_F * N_B)
            rate_parts += [np.minimum(f, RATE_FAILURES).sum(), r.sum()]
            entered[idx[enter]] = True
    scale = phases * hours
    return {"sums": sums / scale}, rate_parts / scale, (hist / scale).reshape(2, N_F, N_B)


def model(
    rng: np.random.Generator, rollout: int, rps: float, sc: Scenario, phases: int, hours: int, base: float
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    c = simulate(rng, rollout, rps, sc, phases, hours, base)
    sums = np.array([[cohort[f][:, 1:].mean() for f in FIELDS] for cohort in (c.on, c.off)])
    rate_parts = np.array([c.rate_errors[:, 1:].mean(), c.rate_requests[:, 1:].mean()])
    hist = np.zeros((2, N_F * N_B))
    flat = c.cells[:, 0] * N_B + c.cells[:, 1]
    for s, h in enumerate((c.hist_on, c.hist_off)):
        hist[s, flat] = h[:, 1:].mean(axis=(0, 1))
    return {"sums": sums}, rate_parts, hist.reshape(2, N_F, N_B)


def groups(hist: np.ndarray) -> dict[str, float]:
    """Cell groups with enough mass to compare: f' = 0, 1, 2, 3+; bins 0-15, 16-19 (≈ 16-19 requests) … octaves."""
    out = {}
    f_groups = {"f'=0": [0], "f'=1": [1], "f'=2": [2], "f'≥3": list(range(3, N_F))}
    b_groups = {"r<20": range(17), "r 20-63": range(17, 24), "r 64-255": range(24, 32), "r≥256": range(32, N_B)}
    for fname, fs in f_groups.items():
        for bname, bs in b_groups.items():
            out[f"{fname}, {bname}"] = float(hist[np.ix_(fs, list(bs))].sum())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--phases", type=int, default=40)
    p.add_argument("--hours", type=int, default=168)
    p.add_argument("--rps", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    worst_fields, worst_cells = 0.0, 0.0
    for rollout, sc in (
        (5, Scenario("A/A")),
        (5, Scenario("2×", factor=2.0)),
        (1, Scenario("chronic 1% at 30%", chronic_share=0.01, chronic_rate=0.3)),
    ):
        rng = np.random.default_rng([args.seed, rollout])
        ref, ref_rate, ref_hist = per_passenger(rng, rollout, args.rps, sc, args.phases, args.hours, 0.005)
        got, got_rate, got_hist = model(rng, rollout, args.rps, sc, 20 * args.phases, args.hours, 0.005)
        print(
            f"\n## {sc.name}, {rollout}% rollout, {args.rps:g} req/s, {args.hours} h "
            f"({args.phases} per-passenger phases, {20 * args.phases} model phases): mean per hour"
        )
        print(
            "\n| count | ON per-passenger | ON model | ratio | OFF per-passenger | OFF model | ratio |\n|" + "---|" * 7
        )
        for i, name in enumerate(FIELDS):
            a, b = ref["sums"][:, i], got["sums"][:, i]
            ratios = b / np.maximum(a, 1e-12)
            worst_fields = max(worst_fields, float(np.max(np.abs(ratios - 1))))
            print(
                f"| {name} | {a[0]:,.2f} | {b[0]:,.2f} | {ratios[0]:.3f} "
                f"| {a[1]:,.2f} | {b[1]:,.2f} | {ratios[1]:.3f} |"
            )
        q_ref, q_got = ref_rate[0] / ref_rate[1], got_rate[0] / got_rate[1]
        print(f"| q (capped 5xx / requests) | {q_ref:.5f} | {q_got:.5f} | {q_got / q_ref:.3f} | | | |")
        print("\nEntering passengers per hour by cell group:\n")
        print("| cells | ON per-passenger | ON model | OFF per-passenger | OFF model | OFF ratio |\n|" + "---|" * 6)
        g_ref = [groups(ref_hist[s]) for s in (0, 1)]
        g_got = [groups(got_hist[s]) for s in (0, 1)]
        for key in g_ref[1]:
            a1, b1 = g_ref[1][key], g_got[1][key]
            ratio = b1 / a1 if a1 > 0 else float("nan")
            if a1 >= 2.0:  # ≥ 2 per hour: enough per-passenger mass to compare (≥ 13,000 passengers over the run)
                worst_cells = max(worst_cells, abs(ratio - 1))
            print(f"| {key} | {g_ref[0][key]:.3f} | {g_got[0][key]:.3f} | {a1:.3f} | {b1:.3f} | {ratio:.3f} |")
    print(
        f"\nWorst relative difference: counts {worst_fields:.3f}; OFF cell groups with ≥ 2 per hour {worst_cells:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
