"""Anytime-valid evidence that ON is worse than OFF, accumulated over a rollout phase (issue 9).

Pure: the standard library's `math` only. The cohort check folds one `HourCounts` (and its `Bets`) per checkpoint
into an `EvidenceState` (`fold`, O(#θ) per hour, plus O(grid) for the interval, plus O(cells·#θ) for the bets) and
reads the verdict with `judge`.

The test: a one-sided mixture SPRT on how each hour's failing units split between ON and OFF
-------------------------------------------------------------------------------------------------
Hour t of the phase: n_on(t), n_off(t) units in the cohorts, x(t) ON and y(t) OFF units failing, T(t) = x(t) + y(t),
ρ(t) = n_on(t) / (n_on(t) + n_off(t)). If an ON unit fails θ times as often as an OFF unit, a failing unit is ON with
probability π(θ, t) = θρ / (θρ + 1 − ρ). With θ₀ = 1 + `min_relative_effect` (1 by default), the likelihood ratio of
"ratio θ₀·θ" against "ratio θ₀" after t hours is

    Λ_t(θ) = Π_{s≤t} (π(θ₀θ, s) / π(θ₀, s))^{x(s)} · ((1 − π(θ₀θ, s)) / (1 − π(θ₀, s)))^{T(s) − x(s)}
    log Λ_t(θ) = Σ_{s≤t} [ x(s)·log θ − T(s)·(log1p((θ₀θ − 1)ρ(s)) − log1p((θ₀ − 1)ρ(s))) ]

and the evidence is the mixture M_t = Σ_k w_k Λ_t(θ_k) over a grid (default θ ∈ {1.25, 1.5, 2, 3, 5}, w_k = 1/5).
FAIL once M_t ≥ 1/α (α = `BETA_MONITOR_ALPHA`, the false-FAIL probability over the whole phase). The anytime-valid
p-value is 1 / max_{s≤t} M_s; a FAIL stands for the rest of the phase (a new phase starts from `EvidenceState()`).

Why it is valid — the null is composite: "in every hour, the mean failure probability of the hour's ON units is at
most θ₀ times that of its OFF units", units failing independently of each other given the hour's units and the past.
For one hour write a = π(θ₀θ)/π(θ₀) > 1, b = (1 − π(θ₀θ))/(1 − π(θ₀)) < 1, so the hour's factor is a^x·b^y. With
failure probabilities q_i (any heterogeneity across units and hours), independence and 1 + u ≤ eᵘ give
    E[a^x·b^y | past] = Π_{ON}(1 + q_i(a − 1)) · Π_{OFF}(1 + q_i(b − 1)) ≤ exp((a − 1)·n_on·q̄_on + (b − 1)·n_off·q̄_off),
and since π(θ₀)/(1 − π(θ₀)) = θ₀·n_on/n_off, (a − 1)·n_on·θ₀ + (b − 1)·n_off = 0 exactly; with q̄_on ≤ θ₀·q̄_off and
a > 1 the exponent is ≤ 0. So each Λ_t(θ_k), and the mixture, is a nonnegative supermartingale with M_0 = 1, and Ville's
inequality gives P(∃t: M_t ≥ 1/α) ≤ α, however often one looks and however long the phase. The hour's load, the base
rate and the diurnal cycle cancel (only ρ enters), so no baseline is estimated. For θ₀ = 1 the same bound follows from
conditioning on T: the exact null law of x is hypergeometric, which is smaller in the convex order than Binomial(T, ρ)
(Hoeffding 1963, Thm 4), the law under which E[a^x b^{T−x}] = 1.

Units: passengers, counted once per phase
-----------------------------------------
Each hour's evidence is, by default, its per-passenger bets (`monitor.checks.bets`: a randomisation test on the hash
coin, stronger and assumption-free; each passenger enters once per phase, in its first hour with a 5xx or with
`ENTRY_REQUESTS` requests): `fold` takes them in place of the split below whenever the hour has them and θ₀ = 1.
The per-θ factors are then the bets' instead of Λ's; everything else here (M_t, FAIL, WARN, the projection) is the
same. The split below remains for θ₀ > 1, for phases with an allowlist only, for the report's ratio and interval
and for the overlap's parts: its unit is a passenger's first failure among the passengers seen and not yet entered
(the at-risk set); why the passenger: `monitor.checks.stats`, "Units". The engines keep, per window, each
passenger's bucket, requests and 5xx (`monitor.domain.aggregate.PassengerStates`); the store keeps the phase's
entered passenger keys, reset with the phase.

Interval, estimate, WARN, projection
------------------------------------
- ON/OFF ratio: the Mantel–Haenszel risk ratio over the phase's hours, Σ x·n_off/n / Σ y·n_on/n (Greenland & Robins,
  Biometrics 1985), O(1) to update.
- Anytime-valid interval: on a log grid of ratios r = θ₀·2^(m/8), the "greater" test above with r as its null and the
  "less" mirror (alternatives r/θ_k); a grid ratio leaves the interval for good once either side's mixture reaches
  1/α (a running intersection, Howard et al. 2021). Reported as the open interval (lo, hi) between the contiguous
  rejected ends of the grid (≈ 9% steps); as each side's null is composite, P(ratio ≤ lo) ≤ α and P(ratio ≥ hi) ≤ α
  over the whole phase, for any ratio. The "greater" side at θ₀ is the verdict's own test: lo ≥ θ₀ implies FAIL
  (and FAIL gives lo ≥ θ₀ whenever the rejections below θ₀ are monotone, as they are in practice).
- WARN ("ON worse this hour; N more hours at this rate to decide"): not FAIL, this hour's own mixture e-value
  Σ_k w_k·Λ_hour(θ_k) ≥ `warn_level` (10) AND the phase's M_t ≥ `warn_phase_level` (√(1/α) = 10: halfway to FAIL on
  the log scale). Chosen by simulation (`benchmarks/detection.py`, section WARN): its A/A rate is ≤ 0.01% of hours
  in every cell, storms and chronic failers included (a strong hour alone, e ≥ 20, WARNs up to 0.2% of A/A hours,
  ≈ 1.2 per 720 h; under A/A M_t drifts to 0, so the second condition removes nearly all of those), and it gives the
  highest hour-1 signal rate of the candidates measured (2× at 5%, 50 req/s: ≈ 0.7 WARN or FAIL at hour 1).
- Projection: M_t ≥ w_k·Λ_t(θ_k), so at a per-hour drift d_k of log Λ(θ_k) > 0 the evidence crosses 1/α within
  (log(1/α) − log w_k − log Λ_t(θ_k)) / d_k hours; the minimum over k, from this hour's drift (`hours_to_decide`) and
  from the phase's average drift (`hours_to_decide_phase`). None when no component drifts upwards.

References: Johari, Pekelis & Walsh, "Always valid inference: continuous monitoring of A/B tests", Oper. Res. 2022
(arXiv 1512.04922; mSPRT); Lindon, Sanden & Shirikian, "Rapid regression detection in software deployments through
sequential testing", KDD 2022 (arXiv 2205.14762); Lindon & Malek, "Anytime-valid inference for multinomial count data",
NeurIPS 2022 (arXiv 2011.03567); Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", Ann. Stat. 2021; Ville, "Étude critique de la notion de collectif", 1939.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import add
from typing import Any, NamedTuple

from monitor.checks.bets import Bets
from monitor.checks.bets import increments as bet_increments

DEFAULT_THETAS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0)
DEFAULT_WARN_LEVEL = 10.0
INTERVAL_STEPS_PER_DOUBLING = 8  # grid ratio 2^(1/8) ≈ 1.09
INTERVAL_HALF_WIDTH = 40  # grid points each side of θ₀: θ₀ · 2^(±5), i.e. θ₀/32 … 32·θ₀
_log1p, _exp, _log, _INF = math.log1p, math.exp, math.log, math.inf


class Verdict(enum.StrEnum):
    FAIL = "FAIL"  # the evidence reached 1/α at some hour of the phase
    WARN = "WARN"  # this hour alone is strong evidence; the phase is not yet conclusive
    PASS = "PASS"
    NODATA = "NODATA"  # no informative hour in the phase yet (failing units, both cohorts present)


class HourCounts(NamedTuple):
    """One checkpoint window's cohort counts (store one per checkpoint; the phase's evidence is their fold).

    Test inputs (see the module doc for the unit): `*_units` passengers at risk (seen in the hour, no 5xx earlier in
    the phase) and `*_failing` those of them with ≥ 1 5xx in the hour. Report only: `*_seen` all passengers seen in
    the hour, `*_seen_failing` all of them with ≥ 1 5xx in the hour, `*_requests` and `*_5xx`. `fold` rejects
    negative test counts and more failing units than units.
    """

    on_units: int
    off_units: int
    on_failing: int
    off_failing: int
    on_seen: int = 0
    off_seen: int = 0
    on_seen_failing: int = 0
    off_seen_failing: int = 0
    on_requests: int = 0
    on_5xx: int = 0
    off_requests: int = 0
    off_5xx: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self._asdict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HourCounts:
        hour = cls(**{name: int(data.get(name, 0)) for name in cls._fields})
        if min(hour) < 0:
            raise ValueError(f"negative count in {hour}")
        return hour


ZERO = HourCounts(0, 0, 0, 0)


@dataclass(frozen=True)
class Design:
    """The test's settings, fixed for a phase.

    alpha: false-FAIL probability over the whole phase. thetas / weights: the mixture's alternative ratios (on top of
    θ₀) and their weights (uniform when None). min_relative_effect: θ₀ − 1, a margin inside the null (0.2: ON must be
    more than 1.2× worse to FAIL). WARN (not FAIL) when this hour's own mixture e-value ≥ warn_level and the phase's
    M_t ≥ warn_phase_level (default √(1/α): halfway to FAIL on the log scale). interval: track the anytime-valid
    interval (O(grid·#θ) per hour; the verdict does not need it).
    """

    alpha: float = 0.01
    thetas: tuple[float, ...] = DEFAULT_THETAS
    weights: tuple[float, ...] | None = None
    min_relative_effect: float = 0.0
    warn_level: float = DEFAULT_WARN_LEVEL
    warn_phase_level: float | None = None
    interval: bool = True
    theta0: float = field(init=False, repr=False)
    log_weights: tuple[float, ...] = field(init=False, repr=False)
    log_threshold: float = field(init=False, repr=False)  # log(1/α)
    log_warn: float = field(init=False, repr=False)
    log_warn_phase: float = field(init=False, repr=False)
    terms: tuple[tuple[float, float], ...] = field(init=False, repr=False)  # (log θ_k, θ₀θ_k − 1)
    grid: tuple[float, ...] = field(init=False, repr=False)
    grid_terms: tuple[tuple[float, tuple[float, ...], tuple[float, ...]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be within (0, 1)")
        if not self.thetas or min(self.thetas) <= 1:
            raise ValueError("every alternative ratio must be above 1")
        weights = self.weights if self.weights is not None else (1.0,) * len(self.thetas)
        if len(weights) != len(self.thetas) or min(weights) <= 0:
            raise ValueError("one positive weight per alternative")
        if self.min_relative_effect < 0:
            raise ValueError("min_relative_effect must be 0 or more")
        if self.warn_level <= 1 or (self.warn_phase_level is not None and self.warn_phase_level <= 0):
            raise ValueError("warn_level must be above 1, warn_phase_level above 0")
        theta0, total = 1.0 + self.min_relative_effect, sum(weights)
        half, steps = INTERVAL_HALF_WIDTH, INTERVAL_STEPS_PER_DOUBLING
        grid = tuple(theta0 * 2.0 ** (m / steps) for m in range(-half, half + 1)) if self.interval else ()
        derived = {
            "theta0": theta0,
            "log_weights": tuple(_log(w / total) for w in weights),
            "log_threshold": -_log(self.alpha),
            "log_warn": _log(self.warn_level),
            "log_warn_phase": -_log(self.alpha) / 2 if self.warn_phase_level is None else _log(self.warn_phase_level),
            "terms": tuple((_log(t), theta0 * t - 1.0) for t in self.thetas),
            "grid": grid,
            "grid_terms": tuple(
                (r - 1.0, tuple(r * t - 1.0 for t in self.thetas), tuple(r / t - 1.0 for t in self.thetas))
                for r in grid
            ),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: derived once here


class IntervalState(NamedTuple):
    """Per grid ratio r: cumulative log Λ of the "greater" (r·θ_k) and "less" (r/θ_k) alternatives against r, and
    whether either side's mixture has reached 1/α (then r is out of the interval for the rest of the phase)."""

    up: tuple[tuple[float, ...], ...]
    down: tuple[tuple[float, ...], ...]
    out_low: tuple[bool, ...]  # rejected by the "greater" side: the ratio is above r
    out_high: tuple[bool, ...]  # rejected by the "less" side: the ratio is below r


class EvidenceState(NamedTuple):
    """The phase's evidence after its folded hours. `EvidenceState()` starts a phase (and a new phase starts afresh).

    log_lr: per alternative θ_k, log Λ_t(θ_k) (empty before the first informative hour: all 0). log_e_max: the
    maximum over the phase of log M_s, M_0 = 1 (FAIL once ≥ log 1/α). hour_log_lr: the last folded hour's own
    log Λ(θ_k) (empty when that hour carried no evidence). hours: informative hours; checkpoints: hours folded.
    mh_num / mh_den: Mantel–Haenszel sums Σ x·n_off/n and Σ y·n_on/n. warn_hours: hours of the phase that were WARN;
    fail_checkpoint: the folded hour (1 = first) at which the evidence first reached 1/α, else None.
    """

    log_lr: tuple[float, ...] = ()
    log_e_max: float = 0.0
    hour_log_lr: tuple[float, ...] = ()
    hours: int = 0
    checkpoints: int = 0
    totals: HourCounts = ZERO
    last: HourCounts | None = None
    mh_num: float = 0.0
    mh_den: float = 0.0
    warn_hours: int = 0
    fail_checkpoint: int | None = None
    interval: IntervalState | None = None


def logsumexp(values: Sequence[float]) -> float:
    """log Σ exp(v), exact for any finite or infinite inputs (−inf for an empty sum)."""
    top = max(values, default=-_INF)
    if top in (_INF, -_INF):
        return top
    return top + _log(sum([_exp(v - top) for v in values]))


def log_mixture(log_lr: Sequence[float], design: Design) -> float:
    """log Σ_k w_k Λ(θ_k); 0 (= log 1) for no evidence."""
    if not log_lr:
        return 0.0
    return logsumexp(list(map(add, design.log_weights, log_lr)))


def fold(state: EvidenceState, hour: HourCounts, design: Design, bets: Bets | None = None) -> EvidenceState:
    """The phase's evidence after one more hour: O(#θ), plus O(grid·#θ) when `design.interval`, plus O(cells·#θ)
    with `bets`.

    The hour's evidence is its `bets` (`monitor.checks.bets`) when it has them and the design has no relative margin,
    else the binary split of its first failures. An hour without evidence (no entering passenger; for the split, no
    failing unit or no units in one cohort) counts in `checkpoints` and the totals, not in `hours`.
    """
    return fold_all(state, (hour,), design, None if bets is None else (bets,))


def replay(hours: Iterable[HourCounts], design: Design, bets: Sequence[Bets | None] | None = None) -> EvidenceState:
    """The phase's state from its stored hours (and their bets, aligned), oldest first (after a restart, or when the
    design changed)."""
    return fold_all(EvidenceState(), hours, design, bets)


def _split_increments(hour: Sequence[int], design: Design) -> list[float] | None:
    """The binary split's per-θ log Λ of one hour; None when the hour carries no evidence."""
    n_on, n_off, x, y = hour[0], hour[1], hour[2], hour[3]
    t = x + y
    if t == 0 or n_on == 0 or n_off == 0:
        return None
    rho = n_on / (n_on + n_off)
    base = _log1p((design.theta0 - 1.0) * rho)
    return [x * lt - t * (_log1p(c * rho) - base) for lt, c in design.terms]


def _bet_increments(bets: Bets, design: Design) -> list[float] | None:
    return bet_increments(bets, design.thetas) if bets.entered else None


def fold_all(  # noqa: C901
    state: EvidenceState,
    hours: Iterable[Sequence[int]],
    design: Design,
    bets: Sequence[Bets | None] | None = None,
) -> EvidenceState:
    """`fold` over several hours at once, oldest first: one loop and no per-hour state object (the benchmark folds
    millions of hours). `hours` are `HourCounts`, or sequences of all its fields in order (the first four are the
    split's); `bets`, when given, one per hour (None: that hour has
    none)."""
    rows = hours if isinstance(hours, list) else list(hours)
    if not rows:
        return state
    if bets is not None and len(bets) != len(rows):
        raise ValueError(f"{len(bets)} bets for {len(rows)} hours")
    use_bets = bets is not None and design.theta0 == 1.0
    threshold, log_warn = design.log_threshold, design.log_warn
    log_warn_phase = design.log_warn_phase
    log_lr = list(state.log_lr) if state.log_lr else [0.0] * len(design.terms)
    log_e_max, inc = state.log_e_max, list(state.hour_log_lr)
    n_hours, checkpoints, warn_hours, fail_at = state.hours, state.checkpoints, state.warn_hours, state.fail_checkpoint
    mh_num, mh_den, interval, grid = state.mh_num, state.mh_den, state.interval, bool(design.grid)
    for i, hour in enumerate(rows):
        n_on, n_off, x, y = hour[0], hour[1], hour[2], hour[3]
        if x < 0 or y < 0 or x > n_on or y > n_off:
            raise ValueError(f"failing units must be within 0 and the cohort's units: {hour}")
        checkpoints += 1
        t, n = x + y, n_on + n_off
        split = t > 0 and n_on > 0 and n_off > 0
        if split:  # the report's ratio and interval are the split's, whichever evidence the verdict uses
            mh_num += x * n_off / n
            mh_den += y * n_on / n
            if grid:
                interval = _interval_fold(interval, x, t, n_on / n, design)
        hour_bets = bets[i] if use_bets and bets is not None else None
        got = _bet_increments(hour_bets, design) if hour_bets is not None else _split_increments(hour, design)
        if got is None:
            inc = []
            continue
        inc = got
        log_lr = list(map(add, log_lr, inc))
        if max(log_lr) > log_e_max:  # log M ≤ max_k log Λ(θ_k): only then can the running maximum move
            log_e_max = max(log_e_max, log_mixture(log_lr, design))
        if fail_at is None:
            if log_e_max >= threshold:
                fail_at = checkpoints
            elif (
                max(inc) >= log_warn
                and log_mixture(inc, design) >= log_warn
                and log_mixture(log_lr, design) >= log_warn_phase
            ):
                warn_hours += 1
        n_hours += 1
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(HourCounts._fields):
        raise ValueError(f"an hour has {len(HourCounts._fields)} fields, not {len(columns)}")
    totals = HourCounts._make(total + sum(col) for total, col in zip(state.totals, columns, strict=True))
    return EvidenceState(
        tuple(log_lr) if n_hours else (),
        log_e_max,
        tuple(inc),
        n_hours,
        checkpoints,
        totals,
        HourCounts._make(rows[-1]),
        mh_num,
        mh_den,
        warn_hours,
        fail_at,
        interval,
    )


def _interval_fold(prev: IntervalState | None, x: int, t: int, rho: float, design: Design) -> IntervalState:
    zero = (0.0,) * len(design.thetas)
    lts, lws, threshold = [lt for lt, _ in design.terms], design.log_weights, design.log_threshold
    ups, downs, out_low, out_high = [], [], [], []
    for i, (c0, c_up, c_down) in enumerate(design.grid_terms):
        base = _log1p(c0 * rho)
        up = tuple(
            [
                p + x * lt - t * (_log1p(c * rho) - base)
                for p, lt, c in zip(prev.up[i] if prev else zero, lts, c_up, strict=True)
            ]
        )
        down = tuple(
            [
                p - x * lt - t * (_log1p(c * rho) - base)
                for p, lt, c in zip(prev.down[i] if prev else zero, lts, c_down, strict=True)
            ]
        )
        ups.append(up)
        downs.append(down)
        low = bool(prev and prev.out_low[i])
        high = bool(prev and prev.out_high[i])
        out_low.append(low or (max(up) >= threshold and logsumexp(list(map(add, lws, up))) >= threshold))
        out_high.append(high or (max(down) >= threshold and logsumexp(list(map(add, lws, down))) >= threshold))
    return IntervalState(tuple(ups), tuple(downs), tuple(out_low), tuple(out_high))


def verdict(state: EvidenceState, design: Design) -> Verdict:
    """FAIL / WARN / PASS / NODATA of the phase after its last folded hour (the cheap part of `judge`)."""
    if state.log_e_max >= design.log_threshold:
        return Verdict.FAIL
    if state.hours == 0:
        return Verdict.NODATA
    inc = state.hour_log_lr
    if (
        inc
        and max(inc) >= design.log_warn
        and log_mixture(inc, design) >= design.log_warn
        and log_mixture(state.log_lr, design) >= design.log_warn_phase
    ):
        return Verdict.WARN
    return Verdict.PASS


def _hours_to_cross(log_lr: Sequence[float], drift: Sequence[float], design: Design) -> float | None:
    """Hours at per-hour drifts `drift` until some w_k·Λ(θ_k), hence the mixture, reaches 1/α; None if never."""
    best = _INF
    for lw, have, d in zip(design.log_weights, log_lr, drift, strict=True):
        need = design.log_threshold - lw - have
        if need <= 0:
            return 0.0
        if d > 0:
            best = min(best, need / d)
    return None if best == _INF else best


def _interval_bounds(iv: IntervalState | None, design: Design) -> tuple[float, float] | None:
    """(lo, hi): lo = the largest grid ratio below which every grid ratio was rejected by the "greater" side (0 if
    none), hi = the smallest above which every one was rejected by the "less" side (inf if none). Each test's null
    is composite (ratio ≤ r, resp. ≥ r), so P(true ratio ≤ lo) ≤ α and P(true ratio ≥ hi) ≤ α, whatever the
    ratio, on the grid or between its points. None without an interval, or if the two sides cross."""
    if iv is None:
        return None
    grid, n = design.grid, len(design.grid)
    below = next((i for i, out in enumerate(iv.out_low) if not out), n)  # grid[:below] all rejected from below
    above = next((i for i in range(n - 1, -1, -1) if not iv.out_high[i]), -1)  # grid[above + 1:] all rejected
    lo = grid[below - 1] if below > 0 else 0.0
    hi = grid[above + 1] if above + 1 < n else _INF
    return (lo, hi) if lo < hi else None


def _safe_exp(v: float) -> float:
    return _exp(v) if v < 709 else _INF


@dataclass(frozen=True)
class Judgement:
    """What the cohort check reports after a checkpoint: the verdict and the phase's evidence up to it."""

    verdict: Verdict
    alpha: float
    null_ratio: float  # θ₀ = 1 + min_relative_effect
    log_e_value: float  # log M_t, the accumulated evidence now
    e_value: float
    log_e_max: float  # the maximum over the phase; FAIL once ≥ log(1/α)
    p_value: float  # anytime-valid: min(1, 1 / max_s M_s)
    hours: int  # hours of evidence
    ratio: float | None  # ON/OFF failing-unit ratio over the phase (Mantel–Haenszel); None when undefined
    interval: tuple[float, float] | None  # anytime-valid open interval (lo, hi) of the ratio, each bound at 1 − alpha
    hour_log_e: float  # this hour's own mixture evidence (0 when the hour had none)
    hour_e_value: float
    hour_ratio: float | None  # this hour's (x / n_on) / (y / n_off)
    hours_to_decide: float | None  # more hours to FAIL at this hour's rate (0 once FAIL); None: not drifting up
    hours_to_decide_phase: float | None  # the same at the phase's average rate
    totals: HourCounts

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["verdict"] = self.verdict.value
        out["interval"] = list(self.interval) if self.interval is not None else None
        out["totals"] = self.totals.to_dict()
        return out


def judge(state: EvidenceState, design: Design) -> Judgement:
    """The verdict and every figure the report shows, from the phase's state."""
    v = verdict(state, design)
    last, inc = state.last, state.hour_log_lr
    hour_ratio = None
    if last is not None and last.on_units and last.off_units and last.off_failing:
        hour_ratio = (last.on_failing / last.on_units) / (last.off_failing / last.off_units)
    soon: float | None = 0.0
    later: float | None = 0.0
    if v is not Verdict.FAIL:
        soon = _hours_to_cross(state.log_lr, inc, design) if inc else None
        later = _hours_to_cross(state.log_lr, [v / state.hours for v in state.log_lr], design) if state.hours else None
    log_e, hour_log_e = log_mixture(state.log_lr, design), log_mixture(inc, design)
    return Judgement(
        verdict=v,
        alpha=design.alpha,
        null_ratio=design.theta0,
        log_e_value=log_e,
        e_value=_safe_exp(log_e),
        log_e_max=state.log_e_max,
        p_value=min(1.0, _safe_exp(-state.log_e_max)),
        hours=state.hours,
        ratio=state.mh_num / state.mh_den if state.hours and state.mh_den > 0 else None,
        interval=_interval_bounds(state.interval, design),
        hour_log_e=hour_log_e,
        hour_e_value=_safe_exp(hour_log_e),
        hour_ratio=hour_ratio,
        hours_to_decide=soon,
        hours_to_decide_phase=later,
        totals=state.totals,
    )
