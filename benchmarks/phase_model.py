"""Traffic model of the detection benchmark: a persistent passenger population, simulated hour by hour over a phase.

Passengers (the identified traffic; 10% of requests are anonymous) persist through the phase with the same cohort
(the hash: ON with probability = rollout %), the same activity level and the same client:
- activity: expected active hours per 720-hour phase A ~ lognormal (mean 8 h, σ 1.0, capped at 400 h: a passenger is
  active in hour t with probability A·d(t)/720, where the diurnal load d(t) = 1 + (2/3)·cos(2π(h − 14)/24) has a
  night trough at 20% of the 14:00 peak and a daily mean of 1);
- requests in an active hour ~ Poisson(μ·e^ε): a persistent intensity μ ~ lognormal (mean 20, σ 1.0) times an hourly
  factor e^ε (lognormal, mean 1, σ 1.1), so requests per active passenger-hour are lognormal-like with σ ≈ 1.5
  (≈ 21 per passenger seen; a passenger with no request in the hour is not seen);
- each request fails (5xx) independently with the passenger's rate: base 0.5%; × the regression factor for ON
  passengers; 1/3 for the sticky-broken share of ON passengers; the chronic rate for chronic failers (both cohorts).
The population size follows from the daily mean req/s: N = 0.9·3600·req/s·720 / (E[requests per active hour] ·
E[active hours]) (≈ 73,000 passengers at 5 req/s, 7.3 M at 500 req/s).

Simulation by exchangeable classes, never one draw per passenger or request: passengers are grouped by (activity
bin × intensity bin × kind); within a class and cohort they are exchangeable. The 25 classes (quantiles
0–50–80–95–99–100% of each distribution) keep the heavy tails; within a bin a passenger's hourly probabilities are
the bin's averages (over the bin's intensities and the hourly factor, a quadrature of λ).

What the cohort test needs (`monitor.checks.bets`): a passenger ENTERS the phase's evidence once, at the end of the
first hour with a 5xx or ≥ ENTRY_REQUESTS (20) requests, in the cell (f' = min(5xx, 10), request_bin(requests)).
Per class and per-request 5xx rate, `CellTable` holds the exact probability of each cell for an active passenger
(r ~ Poisson(λ), f | r ~ Binomial(r, rate), i.e. f ~ Poisson(λ·rate) and r − f ~ Poisson(λ·(1 − rate))
independent: Poisson cdfs at the bins' edges, f' = 10 taking the bin's rest; averaged over the λ quadrature), and
P(enter | active) = Σ cells (a test checks the sum). The at-risk set of a class is its passengers not yet entered.
Per hour, class and cohort, the passengers entering are an exact binomial draw (they leave the at-risk count: the
depletion is tracked per class, by ENTERING). Their cells: one multinomial per (hour, cohort, kind), vectorised
over phases, with pvals = the kind's classes' cell pmfs (given entering) mixed by the hour's entering counts per
class — an approximation like the matched binomial below: the mean count of every cell is exact, but each entering
passenger is drawn from the mixture rather than from its own class (cells of probability below 1e-12 for every class
are left out, the rest renormalised). Not one multinomial per (hour, cohort) across kinds: that spreads the ON
cohort's count of chronic-like cells (a mean-preserving spread, which the bets' product — convex in it — turns into
E[M] > 1): with it the A/A false-FAIL rate of the bets test was 1.3–2.2% in the 5 req/s chronic cells (400 phases
each), an artefact of the model, not of the test. Mixing intensity classes within a kind has the same effect, much
smaller (the plain A/A cells are within α).
The other counts follow the product's at-risk semantics: units = at-risk passengers seen (entering + seen without
entering), new_failing = entering with f > 0 (the binary rule's failing units),
failing = every passenger seen with a 5xx. Per cohort, the at-risk passengers seen without entering, the entered
passengers seen again and how many of those fail are sums of independent binomials (a binomial with the sum's mean
and variance). 5xx: the entering passengers' f' from their cells (plus a Poisson excess above the cap) and, for the
returning ones, one per failing passenger plus a Poisson excess; requests = 5xx plus a Poisson number of successful
ones, with the classes' conditional means. q's parts (`Bets.rate`): rate_requests = the identified requests;
rate_errors = Σ min(5xx, 3): exact from the entering passengers' cells, and for the returning failing passengers one
each plus a Poisson excess with the classes' mean of min(f, 3) − 1 (an approximation; storms add 3 each).

Checked against a per-passenger simulation with continuous activity and intensity (`check_phase_model.py`: 5 req/s;
A/A and 2× at 5% rollout, harsh chronic failers at 1%). Over the first 24 h (150 per-passenger phases against 3,000
model phases): entering, new_failing and units per hour within 1.5%, every OFF cell group with ≥ 2 entering
passengers an hour (f' = 0, 1, 2, ≥ 3 × requests < 20, 20–63, 64–255, ≥ 256) within 2.7%. Over 168 h (60 phases
against 1,200): seen, failing, requests, 5xx and q within 1.5%, units within 1.1%, entering and new_failing 3% high
(within a class the heavy passengers enter first; the model's classes deplete evenly), the OFF cell groups within
5% (worst 4.9%); the model's ON 5xx in the chronic cell 8% low (1.3 against 1.4 an hour: a handful of chronic ON
passengers). With 16 classes (quantiles 0–60–90–99–100%) entering was 5% high over 168 h; with 49 (seven bins) 1.4%,
at twice the time.
Retry storms: a passenger failing 50 retries in an hour (r = f = 50: the cell (10, request_bin(50)), entering if
it had not entered yet), either at random in the traffic (Poisson, rate per hour; not yet entered with the cohort's
share of at-risk passengers among those seen) or one persistent client, ON, active in an hour with probability
min(1, 0.25·d(t)) (≈ 180 hours of the phase), failing 50 retries each time (entering once).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.stats import norm, poisson

from monitor.checks.bets import (
    BINS_PER_OCTAVE,
    EXACT_BELOW,
    MAX_BIN,
    MAX_FAILURES,
    RATE_FAILURES,
    cell_of,
    enters,
    request_bin,
)
from monitor.domain.aggregate import ENTRY_REQUESTS

HOURS_PER_PHASE = 720
ANON_SHARE = 0.10
MEAN_REQUESTS = 20.0  # E[requests] per active passenger-hour (incl. hours with 0 requests: not seen)
SIGMA_PERSISTENT = 1.0
SIGMA_HOURLY = 1.1
MEAN_ACTIVE_HOURS = 8.0  # per 720-hour phase
SIGMA_ACTIVE = 1.0
MAX_ACTIVE_HOURS = 400.0
EDGES = (0.0, 0.5, 0.8, 0.95, 0.99, 1.0)  # quantile bins of activity and of intensity
TROUGH = 0.2  # night load / peak load
PEAK_HOUR = 14
STORM_RETRIES = 50
PERSISTENT_STORM_ACTIVITY = 0.25
FIELDS = ("seen", "units", "failing", "new_failing", "entering", "requests", "errors")


def diurnal(hour_of_day: np.ndarray | int) -> np.ndarray:
    """Load relative to the daily mean: a sinusoid with the trough at TROUGH × the peak."""
    amp = (1 - TROUGH) / (1 + TROUGH)
    return 1 + amp * np.cos(2 * np.pi * (np.asarray(hour_of_day) - PEAK_HOUR) / 24)


@dataclass(frozen=True)
class Scenario:
    name: str
    factor: float = 1.0  # ON passengers' per-request 5xx rate multiplier
    sticky_share: float = 0.0  # share of ON passengers failing `sticky_rate` of their requests
    sticky_rate: float = 1 / 3
    storms_per_hour: float = 0.0  # random passengers failing STORM_RETRIES retries in an hour
    persistent_storm: bool = False  # one ON client failing STORM_RETRIES retries in every active hour
    chronic_share: float = 0.0  # share of passengers failing `chronic_rate` of requests, unrelated to the flag
    chronic_rate: float = 0.0


def _lognormal_bin_samples(mean: float, sigma: float, lo: float, hi: float, k: int = 96) -> np.ndarray:
    """k values spread evenly in probability over the quantile bin [lo, hi) of a lognormal with that mean."""
    u = lo + (hi - lo) * (np.arange(k) + 0.5) / k
    return np.exp(math.log(mean) - sigma**2 / 2 + sigma * norm.ppf(u))


@dataclass(frozen=True)
class ClassTable:
    """Classes = activity bin × intensity bin (activity-major): population weight, expected active hours per phase,
    and per intensity bin the quadrature of the hourly request intensity λ = μ·e^ε (values and weights)."""

    weight: np.ndarray
    active_hours: np.ndarray
    lam: list[np.ndarray]
    lam_weight: np.ndarray

    @staticmethod
    def build(mean_requests: float = MEAN_REQUESTS) -> ClassTable:
        bins = list(itertools.pairwise(EDGES))
        act = [
            np.minimum(_lognormal_bin_samples(MEAN_ACTIVE_HOURS, SIGMA_ACTIVE, lo, hi), MAX_ACTIVE_HOURS).mean()
            for lo, hi in bins
        ]
        z, zw = hermegauss(24)
        hourly = np.exp(SIGMA_HOURLY * z - SIGMA_HOURLY**2 / 2)
        lam = [
            (_lognormal_bin_samples(mean_requests, SIGMA_PERSISTENT, lo, hi)[:, None] * hourly[None, :]).ravel()
            for lo, hi in bins
        ]
        lam_weight = np.tile(zw / zw.sum(), 96) / 96
        share = np.array([hi - lo for lo, hi in bins])
        return ClassTable(np.outer(share, share).ravel(), np.repeat(np.array(act), len(bins)), lam, lam_weight)

    def hourly(self, p: float) -> np.ndarray:
        """Per class, for an active passenger at 5xx rate p: [P(seen and failing), P(seen, not failing),
        E[requests | failing], E[requests | seen, not failing], E[5xx | failing]]."""
        w, rows = self.lam_weight, []
        for lam in self.lam:
            e0, ep = np.exp(-lam), np.exp(-p * lam)
            fail = 1 - np.sum(w * ep)
            ok = (1 - np.sum(w * e0)) - fail
            req_fail = np.sum(w * ((1 - p) * lam * (1 - ep) + p * lam))
            req_ok = np.sum(w * (1 - p) * lam * ep)
            err_fail = np.sum(w * p * lam)
            tiny = 1e-300
            rows.append([fail, ok, req_fail / max(fail, tiny), req_ok / max(ok, tiny), err_fail / max(fail, tiny)])
        return np.tile(np.array(rows), (len(self.lam), 1))


TABLE = ClassTable.build()
_TABLES = {MEAN_REQUESTS: TABLE}


def class_table(mean_requests: float = MEAN_REQUESTS) -> ClassTable:
    if mean_requests not in _TABLES:
        _TABLES[mean_requests] = ClassTable.build(mean_requests)
    return _TABLES[mean_requests]


def mean_active_hours() -> float:
    return float(np.sum(TABLE.weight * TABLE.active_hours))


def population(rps: float, mean_requests: float = MEAN_REQUESTS) -> int:
    return round((1 - ANON_SHARE) * 3600 * rps * HOURS_PER_PHASE / (mean_requests * mean_active_hours()))


def passengers_per_hour(rps: float, mean_requests: float = MEAN_REQUESTS) -> float:
    """Passengers seen per hour at the daily mean load."""
    table = class_table(mean_requests)
    seen = table.hourly(0.005)[:, :2].sum(axis=1)
    return float(population(rps, mean_requests) * np.sum(table.weight * table.active_hours / HOURS_PER_PHASE * seen))


# ------------------------------------------------------------------------------------- the bets' cells per class

N_F, N_B = MAX_FAILURES + 1, MAX_BIN + 1
RETURN_FIELDS = ("fail", "seen", "req_fail", "req_ok", "err_fail", "rate_err_fail")


def _bin_lows() -> np.ndarray:
    """The lowest request count of every bin of `monitor.checks.bets.request_bin`, and a last edge past the top bin."""
    lows = []
    for b in range(N_B):
        r = b if b < EXACT_BELOW else math.ceil(EXACT_BELOW * 2 ** ((b - EXACT_BELOW) / BINS_PER_OCTAVE))
        while request_bin(r) < b:
            r += 1
        while r > 0 and request_bin(r - 1) >= b:
            r -= 1
        lows.append(r)
    return np.array([*lows, 2**62], dtype=np.int64)


BIN_LO = _bin_lows()
ENTRY_BIN = request_bin(ENTRY_REQUESTS)
assert BIN_LO[ENTRY_BIN] == ENTRY_REQUESTS, "a bin straddles the entry rule's request count"
ENTERS = np.array([[enters(int(BIN_LO[b]), f) for b in range(N_B)] for f in range(N_F)])  # (N_F, N_B)
STORM_CELL = cell_of(STORM_RETRIES, STORM_RETRIES)


@dataclass(frozen=True)
class CellTable:
    """Per class, for an active passenger at one per-request 5xx rate (r ~ Poisson(λ) over the class's λ quadrature,
    f | r ~ Binomial(r, rate), i.e. f ~ Poisson(λ·rate) and r − f ~ Poisson(λ·(1 − rate)) independent):

    pmf (classes, N_F, N_B): P(enter and cell (f', bin)), exact (Poisson cdfs at the bins' edges; f' = 10 is the
    bin's rest); enter: P(enter) = Σ pmf; stay: P(seen without entering) = P(f = 0, 1 ≤ r < ENTRY_REQUESTS);
    req_enter / req_stay: E[r | enter] / E[r | seen, stays]; err_enter: E[f | enter]; err_excess:
    E[(f − MAX_FAILURES)⁺ | enter] (the 5xx the cap hides); and for a passenger who entered earlier
    (`RETURN_FIELDS`): P(f > 0), P(seen), E[r | f > 0], E[r | seen, f = 0], E[f | f > 0],
    E[min(f, RATE_FAILURES) | f > 0]."""

    pmf: np.ndarray
    enter: np.ndarray
    stay: np.ndarray
    req_enter: np.ndarray
    req_stay: np.ndarray
    err_enter: np.ndarray
    err_excess: np.ndarray
    back: np.ndarray  # (classes, len(RETURN_FIELDS))

    @staticmethod
    def build(table: ClassTable, rate: float) -> CellTable:
        w, ks, n_act = table.lam_weight, np.arange(MAX_FAILURES), len(EDGES) - 1
        keys = ("pmf", "enter", "stay", "req_enter", "req_stay", "err_enter", "excess", "back")
        rows: dict[str, list] = {k: [] for k in keys}
        tiny = 1e-300
        for lam in table.lam:
            m1, m0 = lam * rate, lam * (1 - rate)
            pk = poisson.pmf(ks[:, None], m1[None, :])  # (10, nodes): P(f = k)
            cdf = poisson.cdf(BIN_LO[None, :, None] - ks[:, None, None] - 1, m0[None, None, :])  # P(r − f < lo − k)
            cdf[:, -1, :] = 1.0
            joint = np.empty((N_F, N_B, lam.size))
            joint[:MAX_FAILURES] = pk[:, None, :] * np.diff(cdf, axis=1)
            r_cdf = poisson.cdf(BIN_LO[:, None] - 1, lam[None, :])
            r_cdf[-1] = 1.0
            joint[MAX_FAILURES] = np.maximum(np.diff(r_cdf, axis=0) - joint[:MAX_FAILURES].sum(axis=0), 0.0)
            pmf = (joint * ENTERS[:, :, None]) @ w
            j = np.arange(ENTRY_REQUESTS)
            quiet = poisson.pmf(j[:, None], lam[None, :]) * (1 - rate) ** j[:, None]  # P(r = j, f = 0)
            stay = (quiet[1:] @ w).sum()
            stay_req = (j[:, None] * quiet).sum(axis=0) @ w
            enter = pmf.sum()
            e_min = pk[1] + 2 * pk[2] + 3 * (1 - pk[0] - pk[1] - pk[2])  # E[min(f, RATE_FAILURES)]
            e_cap = (ks[:, None] * pk).sum(axis=0) + MAX_FAILURES * (1 - pk.sum(axis=0))  # E[min(f, 10)]
            fail = 1 - np.sum(w * np.exp(-m1))
            seen = 1 - np.sum(w * np.exp(-lam))
            ok = seen - fail
            req_fail = np.sum(w * (lam - m0 * np.exp(-m1)))
            req_ok = np.sum(w * m0 * np.exp(-m1))
            rows["pmf"].append(pmf)
            rows["enter"].append(enter)
            rows["stay"].append(stay)
            rows["req_enter"].append((np.sum(w * lam) - stay_req) / max(enter, tiny))
            rows["req_stay"].append(stay_req / max(stay, tiny))
            rows["err_enter"].append(np.sum(w * m1) / max(enter, tiny))
            rows["excess"].append(np.sum(w * (m1 - e_cap)) / max(enter, tiny))
            rows["back"].append(
                [
                    fail,
                    seen,
                    req_fail / max(fail, tiny),
                    req_ok / max(ok, tiny),
                    np.sum(w * m1) / max(fail, tiny),
                    np.sum(w * e_min) / max(fail, tiny),
                ]
            )

        def tile(v: list) -> np.ndarray:  # classes are activity-major: the intensity rows repeat per activity bin
            return np.concatenate([np.array(v)] * n_act)

        return CellTable(*(tile(rows[k]) for k in keys))


_CELL_TABLES: dict[tuple[float, float], CellTable] = {}


def cell_table(rate: float, mean_requests: float = MEAN_REQUESTS) -> CellTable:
    key = (mean_requests, rate)
    if key not in _CELL_TABLES:
        _CELL_TABLES[key] = CellTable.build(class_table(mean_requests), rate)
    return _CELL_TABLES[key]


def _stack(tables: list[CellTable]) -> CellTable:
    return CellTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in CellTable.__dataclass_fields__))


def support(tables: list[CellTable], floor: float = 1e-12) -> np.ndarray:
    """Flat cell indices (f'·N_B + bin) that an entering passenger of some class reaches with probability above
    `floor`, plus the storm's cell; most likely first (the multinomial stops early once every passenger is placed)."""
    cond = np.concatenate([t.pmf.reshape(len(t.enter), -1) / np.maximum(t.enter, 1e-300)[:, None] for t in tables])
    mass = cond.max(axis=0)
    mass[STORM_CELL[0] * N_B + STORM_CELL[1]] = 1.0
    keep = np.flatnonzero(mass > floor)
    return keep[np.argsort(-cond.mean(axis=0)[keep], kind="stable")]


@dataclass
class Counts:
    """Per-hour counts, arrays of shape (phases, hours + 1); hour 0 is the hour before the phase.

    Per cohort ("on"/"off"): seen (passengers seen), units (seen and not yet entered in the phase: the at-risk set),
    failing (seen with ≥ 1 5xx), new_failing (at-risk passengers with ≥ 1 5xx in the hour: they enter), entering
    (at-risk passengers entering the bets, with a 5xx or ≥ ENTRY_REQUESTS requests), requests, errors (5xx). Plus:
    hist_on / hist_off (phases, hours + 1, len(cells)): the entering passengers per cell, cells[i] = (f', bin);
    rate_errors: Σ min(5xx, RATE_FAILURES) over every identified passenger seen (both cohorts); anonymous requests
    and 5xx."""

    on: dict[str, np.ndarray]
    off: dict[str, np.ndarray]
    anon_requests: np.ndarray
    anon_errors: np.ndarray
    cells: np.ndarray  # (K, 2): f', bin
    hist_on: np.ndarray
    hist_off: np.ndarray
    rate_errors: np.ndarray

    @property
    def rate_requests(self) -> np.ndarray:
        return self.on["requests"] + self.off["requests"]

    def global_rate(self) -> np.ndarray:
        req = self.on["requests"] + self.off["requests"] + self.anon_requests
        err = self.on["errors"] + self.off["errors"] + self.anon_errors
        return np.divide(err, req, out=np.zeros(req.shape), where=req > 0)


def simulate(
    rng: np.random.Generator,
    rollout: int,
    rps: float,
    scenario: Scenario,
    phases: int,
    hours: int,
    base: float = 0.005,
    start: int | None = None,
    mean_requests: float = MEAN_REQUESTS,
    slots_per_hour: int = 1,
) -> Counts:
    """`phases` phases of `hours` hourly checkpoints (plus hour 0 before the phase, with no regression), each phase's
    hour 1 starting at hour of day `start`, or at a uniformly random one.

    `slots_per_hour` > 1 (the time-to-rollback benchmark's sub-hourly cadence): `hours` counts slots of 1/s hour
    instead, the load per slot is 1/s of the hour's, and an active passenger-hour falls in one slot (a session
    shorter than a slot, with the hour's requests): the same passengers and requests per hour, looked at s times."""
    table = class_table(mean_requests)
    n_classes = len(table.weight)
    kinds = (
        ["normal"]
        + (["chronic"] if scenario.chronic_share > 0 else [])
        + (["sticky"] if scenario.sticky_share > 0 else [])
    )
    r = rollout / 100
    p_off = {"normal": base, "chronic": scenario.chronic_rate, "sticky": base}
    p_on = {
        "normal": min(base * scenario.factor, 1.0),
        "chronic": scenario.chronic_rate,
        "sticky": scenario.sticky_rate,
    }
    tab_off = _stack([cell_table(p_off[k], mean_requests) for k in kinds])
    tab_on = _stack([cell_table(p_on[k], mean_requests) for k in kinds])
    cells = support([tab_off, tab_on])
    storm_index = int(np.flatnonzero(cells == STORM_CELL[0] * N_B + STORM_CELL[1])[0])
    act = np.tile(table.active_hours, len(kinds)) / (HOURS_PER_PHASE * slots_per_hour)
    # population per phase: class sizes, cohorts, kinds
    size = rng.poisson(population(rps, mean_requests) * table.weight, (phases, n_classes))
    chronic = rng.binomial(size, scenario.chronic_share) if "chronic" in kinds else np.zeros_like(size)
    normal = size - chronic
    normal_on = rng.binomial(normal, r)
    chronic_on = rng.binomial(chronic, r)
    sticky_on = rng.binomial(normal_on, scenario.sticky_share) if "sticky" in kinds else np.zeros_like(size)
    members_on = (
        [normal_on - sticky_on]
        + ([chronic_on] if "chronic" in kinds else [])
        + ([sticky_on] if "sticky" in kinds else [])
    )
    members_off = (
        [normal - normal_on]
        + ([chronic - chronic_on] if "chronic" in kinds else [])
        + ([np.zeros_like(size)] if "sticky" in kinds else [])
    )
    m_on, m_off = np.concatenate(members_on, axis=1), np.concatenate(members_off, axis=1)
    day_start = rng.integers(0, 24, phases) if start is None else np.full(phases, start)
    shape = (phases, hours + 1)
    counts = Counts(
        {f: np.zeros(shape, dtype=np.int64) for f in FIELDS},
        {f: np.zeros(shape, dtype=np.int64) for f in FIELDS},
        np.zeros(shape, dtype=np.int64),
        np.zeros(shape, dtype=np.int64),
        np.stack([cells // N_B, cells % N_B], axis=1),
        np.zeros((*shape, cells.size), dtype=np.int32),
        np.zeros((*shape, cells.size), dtype=np.int32),
        np.zeros(shape, dtype=np.int64),
    )
    storm_entered = np.zeros(phases, dtype=bool)
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for t in range(hours + 1):
        d = diurnal(day_start + (t - 1) / slots_per_hour)
        a = np.minimum(1.0, d[:, None] * act[None, :])
        for name, cohort, hist, members, tab in (
            ("on", counts.on, counts.hist_on, m_on, tab_on if t else tab_off),  # hour 0: the flag changes nothing
            ("off", counts.off, counts.hist_off, m_off, tab_off),
        ):
            if t <= 1:  # hour 0 ends the previous phase; the phase starts at hour 1 with nobody entered yet
                state[name] = (members.copy(), np.zeros_like(members))
            at_risk, entered = state[name]
            counts.rate_errors[:, t] += _hour(rng, cohort, hist[:, t], t, at_risk, entered, a, tab, cells, len(kinds))
        counts.anon_requests[:, t] = rng.poisson(ANON_SHARE * 3600 * rps * d / slots_per_hour)
        counts.anon_errors[:, t] = rng.binomial(counts.anon_requests[:, t], base)
        if scenario.storms_per_hour > 0:
            _random_storms(rng, counts, t, r, scenario.storms_per_hour / slots_per_hour, storm_index)
        if scenario.persistent_storm:
            if t <= 1:
                storm_entered[:] = False
            active = rng.random(phases) < np.minimum(1.0, PERSISTENT_STORM_ACTIVITY * d / slots_per_hour)
            first = active & ~storm_entered
            _add_storm(counts, "on", t, active.astype(np.int64), first.astype(np.int64), storm_index)
            storm_entered |= first
    return counts


def _hour(
    rng: np.random.Generator,
    cohort: dict[str, np.ndarray],
    hist: np.ndarray,
    t: int,
    at_risk: np.ndarray,
    entered: np.ndarray,
    a: np.ndarray,
    tab: CellTable,
    cells: np.ndarray,
    kinds: int = 1,
) -> np.ndarray:
    """One hour of one cohort; fills `hist` (phases, K) and returns the hour's Σ min(5xx, RATE_FAILURES).

    Exact per class: the at-risk passengers entering (they leave the at-risk set). Their cells: one multinomial per
    phase and kind (normal, chronic, sticky), over the kind's classes' cell pmfs mixed by the entering counts (each
    entering passenger's cell is drawn from the mixture rather than from its own class: the cells' mean counts are
    exact, their joint law is an approximation).
    Per cohort, from sums of independent binomials (a moment-matched binomial, Ehm 1991): the at-risk passengers
    seen without entering, and the entered passengers seen again, and how many of those fail."""
    p_enter = a * tab.enter[None, :]
    p_stay = np.minimum(1.0, a * tab.stay[None, :] / np.maximum(1 - p_enter, 1e-12))
    back = tab.back
    p_fail, p_seen = a * back[None, :, 0], a * back[None, :, 1]
    new = rng.binomial(at_risk, p_enter)
    rest = at_risk - new
    stay = matched_binomial(rng, (rest * p_stay).sum(axis=1), (rest * p_stay * (1 - p_stay)).sum(axis=1))
    seen_again = matched_binomial(rng, (entered * p_seen).sum(axis=1), (entered * p_seen * (1 - p_seen)).sum(axis=1))
    fail_mass = (entered * p_fail).sum(axis=1)
    seen_mass = (entered * p_seen).sum(axis=1)
    share = np.divide(fail_mass, seen_mass, out=np.zeros(seen_mass.shape), where=seen_mass > 0)
    again = rng.binomial(seen_again, np.minimum(share, 1.0))

    def mean_of(mass: np.ndarray, column: np.ndarray) -> np.ndarray:
        total = mass.sum(axis=1)
        return np.divide(mass @ column, total, out=np.zeros(total.shape), where=total > 0)

    stay_mass = rest * p_stay
    # the entering passengers' cells
    n_new = new.sum(axis=1)
    cond = tab.pmf.reshape(len(tab.enter), -1)[:, cells] / np.maximum(tab.enter, 1e-300)[:, None]
    per_kind = len(tab.enter) // kinds
    hist[:] = 0
    for k in range(kinds):  # one multinomial per kind: mixing kinds would spread the ON count of chronic-like cells
        part = slice(k * per_kind, (k + 1) * per_kind)
        mix = new[:, part] @ cond[part]
        total = mix.sum(axis=1, keepdims=True)
        pvals = np.divide(mix, total, out=np.full(mix.shape, 1.0 / mix.shape[1]), where=total > 0)
        hist += rng.multinomial(new[:, part].sum(axis=1), pvals).astype(hist.dtype)
    f_cells = (cells // N_B).astype(np.int64)
    new_failing = hist[:, f_cells > 0].sum(axis=1)
    cohort["entering"][:, t] = n_new
    cohort["new_failing"][:, t] = new_failing
    cohort["units"][:, t] = n_new + stay
    cohort["failing"][:, t] = new_failing + again
    cohort["seen"][:, t] = n_new + stay + seen_again
    excess_back = mean_of(entered * p_fail, np.maximum(back[:, 4] - 1, 0))
    err_new = hist @ f_cells + rng.poisson(new @ tab.err_excess)
    err_back = again + rng.poisson(again * excess_back)
    mean_ok_requests = (
        new @ (tab.req_enter - tab.err_enter)
        + stay * mean_of(stay_mass, tab.req_stay)
        + again * (mean_of(entered * p_fail, back[:, 2]) - mean_of(entered * p_fail, back[:, 4]))
        + (seen_again - again) * mean_of(entered * (p_seen - p_fail), back[:, 3])
    )
    errors = err_new + err_back
    cohort["errors"][:, t] = errors
    ok_requests = rng.poisson(np.maximum(mean_ok_requests, 0.0))
    cohort["requests"][:, t] = np.maximum(errors + ok_requests, n_new + stay + seen_again)  # ≥ 1 per passenger
    rate_back = again + np.minimum(rng.poisson(again * (mean_of(entered * p_fail, back[:, 5]) - 1)), 2 * again)
    at_risk -= new
    entered += new
    return hist @ np.minimum(f_cells, RATE_FAILURES) + rate_back


def matched_binomial(rng: np.random.Generator, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """A draw of a sum of independent binomials with this mean and variance: Binomial(N, p) with N·p = mean and
    N·p·(1 − p) ≈ var (the matched binomial approximation of a Poisson-binomial sum)."""
    p = np.clip(1 - np.divide(var, mean, out=np.ones(mean.shape), where=mean > 0), 1e-9, 1.0)
    n = np.rint(mean / p)
    p = np.divide(mean, n, out=np.zeros(mean.shape), where=n > 0)
    return rng.binomial(n.astype(np.int64), np.minimum(p, 1.0))


def _add_storm(counts: Counts, side: str, t: int, storms: np.ndarray, new: np.ndarray, index: int) -> None:
    """`storms` passengers (per phase) failing STORM_RETRIES retries (r = f = 50); `new` of them had not entered the
    phase's bets: they enter now, in the cell (MAX_FAILURES, request_bin(50))."""
    cohort, hist = (counts.on, counts.hist_on) if side == "on" else (counts.off, counts.hist_off)
    cohort["seen"][:, t] += storms
    cohort["failing"][:, t] += storms
    cohort["units"][:, t] += new
    cohort["new_failing"][:, t] += new
    cohort["entering"][:, t] += new
    hist[:, t, index] += new.astype(hist.dtype)
    cohort["requests"][:, t] += STORM_RETRIES * storms
    cohort["errors"][:, t] += STORM_RETRIES * storms
    counts.rate_errors[:, t] += min(STORM_RETRIES, RATE_FAILURES) * storms


def _random_storms(rng: np.random.Generator, counts: Counts, t: int, r: float, rate: float, index: int) -> None:
    """Storms hit random passengers: ON with probability r; not yet entered in the phase with the cohort's share of
    passengers seen this hour who had not entered earlier."""
    total = rng.poisson(rate, counts.on["seen"].shape[0])
    n_on = np.asarray(rng.binomial(total, r))
    for side, n in (("on", n_on), ("off", total - n_on)):
        cohort = counts.on if side == "on" else counts.off
        seen = cohort["seen"][:, t]
        fresh = np.divide(cohort["units"][:, t], seen, out=np.ones(seen.shape), where=seen > 0)
        _add_storm(counts, side, t, n, np.asarray(rng.binomial(n, fresh)), index)
