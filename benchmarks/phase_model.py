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
bin × intensity bin × kind); within a class and cohort they are exchangeable. The 16 bins (quantiles 0–60–90–99–100%
of each distribution) keep the heavy tails; within a bin a passenger's hourly probabilities are the bin's averages.
Per hour, class and cohort, the passengers failing for the first time in the phase are an exact binomial draw (they
leave the class's at-risk count, so depletion is tracked per class); per cohort, the at-risk passengers seen without
failing, the already-failed passengers seen again and how many of those fail are drawn as sums of independent
binomials (a binomial with the sum's mean and variance). 5xx = one per failing passenger plus a Poisson excess;
requests = 5xx plus a Poisson number of successful ones, with the classes' conditional means. Checked against a
per-passenger simulation with continuous activity and intensity (150 phases of 720 h at 1% and 5% rollout, 5 req/s,
A/A and harsh chronic failers): the same mean counts within 5%, the same over-dispersion of the phase's ON excess
within ≈ 20%.
Retry storms: a passenger failing 50 retries in an hour, either at random in the traffic (Poisson, rate per hour)
or one persistent client, ON, active in an hour with probability min(1, 0.25·d(t)) (≈ 180 hours of the phase),
failing 50 retries each time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.stats import norm

HOURS_PER_PHASE = 720
ANON_SHARE = 0.10
MEAN_REQUESTS = 20.0  # E[requests] per active passenger-hour (incl. hours with 0 requests: not seen)
SIGMA_PERSISTENT = 1.0
SIGMA_HOURLY = 1.1
MEAN_ACTIVE_HOURS = 8.0  # per 720-hour phase
SIGMA_ACTIVE = 1.0
MAX_ACTIVE_HOURS = 400.0
EDGES = (0.0, 0.6, 0.9, 0.99, 1.0)  # quantile bins of activity and of intensity
TROUGH = 0.2  # night load / peak load
PEAK_HOUR = 14
STORM_RETRIES = 50
PERSISTENT_STORM_ACTIVITY = 0.25
FIELDS = ("seen", "units", "failing", "new_failing", "requests", "errors")


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


@dataclass
class Counts:
    """Per-hour counts, arrays of shape (phases, hours + 1); hour 0 is the hour before the phase.

    Per cohort ("on"/"off"): seen (passengers seen), units (seen and no 5xx earlier in the phase), failing (seen
    with ≥ 1 5xx), new_failing (failing for the first time in the phase), requests, errors (5xx). Plus anonymous
    requests and 5xx."""

    on: dict[str, np.ndarray]
    off: dict[str, np.ndarray]
    anon_requests: np.ndarray
    anon_errors: np.ndarray

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
    tables_off = np.concatenate([table.hourly(p_off[k]) for k in kinds])
    tables_on = np.concatenate([table.hourly(p_on[k]) for k in kinds])
    tables_before = np.concatenate([table.hourly(p_off[k]) for k in kinds])  # hour 0: the flag changes nothing yet
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
    on = {f: np.zeros(shape, dtype=np.int64) for f in FIELDS}
    off = {f: np.zeros(shape, dtype=np.int64) for f in FIELDS}
    anon_req = np.zeros(shape, dtype=np.int64)
    anon_err = np.zeros(shape, dtype=np.int64)
    storm_failed = np.zeros(phases, dtype=bool)
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for t in range(hours + 1):
        d = diurnal(day_start + (t - 1) / slots_per_hour)
        a = np.minimum(1.0, d[:, None] * act[None, :])
        for name, cohort, members, tab in (
            ("on", on, m_on, tables_on if t else tables_before),
            ("off", off, m_off, tables_off),
        ):
            if t <= 1:  # hour 0 ends the previous phase; the phase starts at hour 1 with nobody failing yet
                state[name] = (members.copy(), np.zeros_like(members))
            at_risk, failed = state[name]
            _hour(rng, cohort, t, at_risk, failed, a, tab)
        anon_req[:, t] = rng.poisson(ANON_SHARE * 3600 * rps * d / slots_per_hour)
        anon_err[:, t] = rng.binomial(anon_req[:, t], base)
        if scenario.storms_per_hour > 0:
            _random_storms(rng, on, off, t, r, scenario.storms_per_hour / slots_per_hour)
        if scenario.persistent_storm:
            if t <= 1:
                storm_failed[:] = False
            active = rng.random(phases) < np.minimum(1.0, PERSISTENT_STORM_ACTIVITY * d / slots_per_hour)
            first = active & ~storm_failed
            _add_storm(on, t, active.astype(np.int64), first.astype(np.int64))
            storm_failed |= first
    return Counts(on, off, anon_req, anon_err)


def _hour(
    rng: np.random.Generator,
    cohort: dict[str, np.ndarray],
    t: int,
    at_risk: np.ndarray,
    failed: np.ndarray,
    a: np.ndarray,
    tab: np.ndarray,
) -> None:
    """One hour of one cohort. Exact per class: the passengers failing for the first time (they leave the at-risk
    set). Per cohort, from sums of independent binomials (a moment-matched binomial, Ehm 1991): the at-risk
    passengers seen without failing, and the already-failed passengers seen again, and how many of those fail."""
    p_fail = a * tab[None, :, 0]
    p_seen = a * (tab[None, :, 0] + tab[None, :, 1])
    p_ok = np.minimum(1.0, a * tab[None, :, 1] / np.maximum(1 - p_fail, 1e-12))
    new = rng.binomial(at_risk, p_fail)
    rest = at_risk - new
    ok_new = matched_binomial(rng, (rest * p_ok).sum(axis=1), (rest * p_ok * (1 - p_ok)).sum(axis=1))
    seen_again = matched_binomial(rng, (failed * p_seen).sum(axis=1), (failed * p_seen * (1 - p_seen)).sum(axis=1))
    fail_mass = (failed * p_fail).sum(axis=1)
    seen_mass = (failed * p_seen).sum(axis=1)
    share = np.divide(fail_mass, seen_mass, out=np.zeros(seen_mass.shape), where=seen_mass > 0)
    again = rng.binomial(seen_again, np.minimum(share, 1.0))
    # mean requests and 5xx excess of the passengers seen: per class weights of each group
    ok_mass = (rest * p_ok).sum(axis=1)
    req_ok_new = np.divide((rest * p_ok) @ tab[:, 3], ok_mass, out=np.zeros(ok_mass.shape), where=ok_mass > 0)
    req_fail_f = np.divide((failed * p_fail) @ tab[:, 2], fail_mass, out=np.zeros(fail_mass.shape), where=fail_mass > 0)
    ok_f_mass = (failed * (p_seen - p_fail)).sum(axis=1)
    req_ok_f = np.divide(
        (failed * (p_seen - p_fail)) @ tab[:, 3], ok_f_mass, out=np.zeros(ok_f_mass.shape), where=ok_f_mass > 0
    )
    excess = np.maximum(tab[:, 4] - 1, 0)
    excess_f = np.divide((failed * p_fail) @ excess, fail_mass, out=np.zeros(fail_mass.shape), where=fail_mass > 0)
    at_risk -= new
    failed += new
    n_new = new.sum(axis=1)
    cohort["new_failing"][:, t] = n_new
    cohort["units"][:, t] = n_new + ok_new
    cohort["failing"][:, t] = n_new + again
    cohort["seen"][:, t] = n_new + ok_new + seen_again
    mean_excess = new @ excess + again * excess_f
    errors = n_new + again + rng.poisson(mean_excess)
    mean_requests = new @ tab[:, 2] + ok_new * req_ok_new + again * req_fail_f + (seen_again - again) * req_ok_f
    ok_requests = rng.poisson(np.maximum(mean_requests - (n_new + again + mean_excess), 0.0))
    cohort["errors"][:, t] = errors
    cohort["requests"][:, t] = np.maximum(errors + ok_requests, n_new + ok_new + seen_again)  # ≥ 1 per passenger


def matched_binomial(rng: np.random.Generator, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """A draw of a sum of independent binomials with this mean and variance: Binomial(N, p) with N·p = mean and
    N·p·(1 − p) ≈ var (the matched binomial approximation of a Poisson-binomial sum)."""
    p = np.clip(1 - np.divide(var, mean, out=np.ones(mean.shape), where=mean > 0), 1e-9, 1.0)
    n = np.rint(mean / p)
    p = np.divide(mean, n, out=np.zeros(mean.shape), where=n > 0)
    return rng.binomial(n.astype(np.int64), np.minimum(p, 1.0))


def _add_storm(cohort: dict[str, np.ndarray], t: int, storms: np.ndarray, new: np.ndarray) -> None:
    """`storms` passengers (per phase) failing STORM_RETRIES retries; `new` of them had not failed in the phase."""
    cohort["seen"][:, t] += storms
    cohort["failing"][:, t] += storms
    cohort["units"][:, t] += new
    cohort["new_failing"][:, t] += new
    cohort["requests"][:, t] += STORM_RETRIES * storms
    cohort["errors"][:, t] += STORM_RETRIES * storms


def _random_storms(
    rng: np.random.Generator, on: dict[str, np.ndarray], off: dict[str, np.ndarray], t: int, r: float, rate: float
) -> None:
    """Storms hit random passengers: ON with probability r; not yet failing in the phase with the cohort's share of
    passengers seen this hour who had not failed earlier."""
    total = rng.poisson(rate, on["seen"].shape[0])
    n_on = np.asarray(rng.binomial(total, r))
    for cohort, n in ((on, n_on), (off, total - n_on)):
        seen = cohort["seen"][:, t]
        fresh = np.divide(cohort["units"][:, t], seen, out=np.ones(seen.shape), where=seen > 0)
        _add_storm(cohort, t, n, np.asarray(rng.binomial(n, fresh)))
