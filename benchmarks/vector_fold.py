"""The cohort test's fold, vectorised with numpy over simulated phases, and checked against the real one.

`monitor.checks.sequential.fold_all` folds one phase's hours in Python (with `Bets`, O(cells·#θ) per hour through
`monitor.checks.bets.increments`); the benchmarks fold millions of phase-hours, so they compute the same per-hour
increments with numpy — `bets_increments` re-implements `bets.log_factors` over every cell and θ at once, with the
hour's q = rate_errors / rate_requests; `split_increments` the binary split's — and `scan` folds them (cumulative
sums, the mixture, its running maximum, FAIL and WARN as `fold_all` decides them). `verify` re-folds phases by the
real `fold_all` with real `Bets` objects built from the simulated histograms: the first FAIL hour and the WARN count
must agree exactly, else the run aborts. Checked per run on a sample of phases plus every phase whose evidence came
within `NEAR` (in log) of the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from phase_model import Counts

from monitor.checks.bets import Bets, bet_cap, representative
from monitor.checks.sequential import Design, EvidenceState, HourCounts, fold_all

NEAR = 0.05  # phases whose log M came this close to log(1/α) (either side) are re-folded by the real code


def hour_rows(c: Counts, units: str = "b") -> np.ndarray:
    """(phases, hours + 1, 12): the HourCounts fields of every hour. Units "b": the binary split of the at-risk
    passengers (seen and not yet entered) and those of them failing (the previous rule); "req": requests and 5xx."""
    at_risk, failing = ("units", "new_failing") if units == "b" else ("requests", "errors")
    cols = [
        c.on[at_risk],
        c.off[at_risk],
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


def bets_increments(c: Counts, thetas: tuple[float, ...], rollout: int) -> np.ndarray:
    """(phases, hours + 1, #θ): per hour, Σ over the entering passengers' cells of n·log g_side(cell, θ) (hour 0: 0).
    Computed on the non-zero cells only; q per phase-hour from the hour's rate counts, as `Bets.rate`."""
    p = rollout / 100
    phases, slots = c.rate_errors.shape
    out = np.zeros((phases, slots, len(thetas)))
    f_cells = c.cells[:, 0].astype(float)
    r_cells = np.maximum(np.array([representative(int(b)) for b in c.cells[:, 1]]), f_cells)
    th = np.array(thetas)
    log_theta = np.log(th)
    q_all = np.clip(
        np.divide(c.rate_errors, c.rate_requests, out=np.zeros(c.rate_errors.shape), where=c.rate_requests > 0),
        0.0,
        0.5,
    )
    # the module's cap on g1, per θ: `bets.bet_cap` = min(θ, 1 + (1 − FLOOR)(1 − p)/p), so that g0 ≥ FLOOR too
    cap = np.array([bet_cap(t, p) for t in thetas])
    log_cap = np.log(cap)[None, :]
    cap_g0 = np.log((1.0 - p * cap) / (1.0 - p))[None, :]
    index = np.arange(phases)[:, None] * len(thetas) + np.arange(len(thetas))[None, :]
    for t in range(1, slots):
        q = q_all[:, t, None]
        cq_phase = np.log1p(-np.minimum(th[None, :] * q, 0.999)) - np.log1p(-q)  # (phases, #θ)
        for side, hist in ((0, c.hist_on[:, t]), (1, c.hist_off[:, t])):
            rows, cols = np.nonzero(hist)
            if rows.size == 0:
                continue
            n = hist[rows, cols].astype(float)[:, None]
            f, r = f_cells[cols][:, None], r_cells[cols][:, None]
            log_l = f * log_theta + (r - f) * cq_phase[rows]
            log_den = np.logaddexp(math.log1p(-p), math.log(p) + log_l)
            if side == 0:
                g = np.minimum(log_l - log_den, log_cap)
            else:
                g = np.where(log_l - log_den > log_cap, cap_g0, -log_den)
            out[:, t] += np.bincount(index[rows].ravel(), weights=(n * g).ravel(), minlength=index.size).reshape(
                phases, len(thetas)
            )
    return out


def split_increments(rows: np.ndarray, design: Design) -> np.ndarray:
    """(phases, hours + 1, #θ): the binary split's per-hour log Λ(θ_k) (`sequential._split_increments`); 0 where
    the hour carries no evidence."""
    n_on, n_off, x, y = (rows[..., i].astype(float) for i in range(4))
    t, n = x + y, n_on + n_off
    valid = (t > 0) & (n_on > 0) & (n_off > 0)
    rho = np.divide(n_on, n, out=np.zeros(n.shape), where=n > 0)
    base = np.log1p((design.theta0 - 1.0) * rho)
    inc = np.stack([x * lt - t * (np.log1p(cc * rho) - base) for lt, cc in design.terms], axis=-1)
    inc[~valid] = 0.0
    inc[:, 0] = 0.0
    return inc


@dataclass
class Scan:
    first: np.ndarray  # first FAIL hour (1-based), inf when none
    warn_hours: np.ndarray  # WARN hours before the FAIL (`fold_all`'s warn_hours)
    warn: np.ndarray  # (phases, hours): WARN in that hour
    hour_e: np.ndarray  # (phases, hours): this hour's log mixture (−inf without evidence)
    acc: np.ndarray  # (phases, hours): the phase's log M after the hour
    before_fail: np.ndarray  # (phases, hours): no FAIL at or before this hour
    closest: np.ndarray  # per phase, how near the running max of log M came to log(1/α) around the decision


def _logsumexp(v: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    z = v + log_w
    top = z.max(axis=-1)
    return top + np.log(np.exp(z - top[..., None]).sum(axis=-1))


def scan(inc: np.ndarray, design: Design, evidence: np.ndarray | None = None) -> Scan:
    """Fold per-hour increments (hours 1.. of `inc`) as `fold_all` does: FAIL at the first hour the running maximum
    of log M reaches log(1/α); WARN (before any FAIL) when the hour has evidence, max_k inc ≥ log warn_level, its
    mixture ≥ log warn_level and the phase's log M ≥ log warn_phase_level."""
    body = inc[:, 1:]
    log_w = np.array(design.log_weights)
    cum = np.cumsum(body, axis=1)
    acc = _logsumexp(cum, log_w)
    running = np.maximum.accumulate(np.maximum(acc, 0.0), axis=1)
    failed = running >= design.log_threshold
    first = np.where(failed.any(axis=1), failed.argmax(axis=1) + 1.0, np.inf)
    has = np.any(body != 0, axis=2) if evidence is None else evidence[:, 1:]
    hour_e = np.where(has, _logsumexp(body, log_w), -np.inf)
    warn = (
        has
        & ~failed
        & (body.max(axis=2) >= design.log_warn)
        & (hour_e >= design.log_warn)
        & (acc >= design.log_warn_phase)
    )
    # how close the decision came: the running maximum's distance to the threshold before the FAIL hour (or over
    # the phase) and its excess at the FAIL hour
    below = np.where(failed, -np.inf, running).max(axis=1)
    at_fail = np.where(failed, running, np.inf).min(axis=1)
    closest = np.minimum(design.log_threshold - below, at_fail - design.log_threshold)
    return Scan(first, warn.sum(axis=1), warn, hour_e, acc, ~failed, closest)


def hour_bets(c: Counts, phase: int, t: int, rollout: int) -> Bets:
    cells = [(int(f), int(b)) for f, b in c.cells]

    def side(hist: np.ndarray) -> tuple[tuple[int, int, int], ...]:
        return tuple(sorted((*cells[i], int(hist[i])) for i in np.flatnonzero(hist)))

    return Bets(
        rollout,
        side(c.hist_on[phase, t]),
        side(c.hist_off[phase, t]),
        int(c.rate_errors[phase, t]),
        int(c.rate_requests[phase, t]),
    )


def pick(s: Scan, sample: int) -> list[int]:
    """A sample of phases, evenly spread, plus every phase within NEAR of the threshold."""
    phases = s.first.size
    chosen = set(range(0, phases, max(1, phases // sample))[:sample]) if sample else set()
    chosen |= {int(p) for p in np.flatnonzero(s.closest < NEAR)}
    return sorted(chosen)


def verify(c: Counts, s: Scan, design: Design, rollout: int | None, phases: list[int], units: str = "b") -> int:
    """Re-fold `phases` by the real `fold_all` (with real `Bets` when `rollout` is given, else the binary split):
    the first FAIL hour and the WARN count must equal the vectorised scan's; abort the run otherwise. Returns the
    phase-hours folded."""
    rows_all = hour_rows(c, units)
    last = rows_all.shape[1] - 1
    folded = 0
    for p in phases:
        rows = [HourCounts._make(int(v) for v in row) for row in rows_all[p, 1 : last + 1]]
        bets = [hour_bets(c, p, t, rollout) for t in range(1, last + 1)] if rollout is not None else None
        state = fold_all(EvidenceState(), rows, design, bets)
        folded += len(rows)
        real = float(state.fail_checkpoint) if state.fail_checkpoint is not None else math.inf
        if real != s.first[p] or state.warn_hours != s.warn_hours[p]:
            raise SystemExit(
                f"the vectorised fold disagrees with sequential.fold_all (phase {p}: FAIL {s.first[p]} vs {real}, "
                f"WARN hours {s.warn_hours[p]} vs {state.warn_hours})"
            )
    return folded
