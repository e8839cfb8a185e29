"""Per-passenger bets: the cohort test's evidence from each passenger's own requests and 5xx (issue 9).

Pure: `math` and `monitor.domain`. `monitor.checks.sequential` folds one hour's `Bets` into the phase's
evidence in place of the hour's binary first-failure split, whenever the hour carries them (a rollout strictly
between 0 and 100%, no relative margin): the cohort check records them per checkpoint.

Why: counting a passenger as "failed or not" throws away what the passenger's own traffic says. A busy passenger
fails in the hour whether its 5xx rate is 0.5% or 1%, so a doubling per request shows as ≈1.7× per passenger and the
binary test needed ≈2× the traffic of a request-level one. A request-level test is not an option: requests of one
passenger are not independent (retry storms, one broken client) and it false-FAILs under them (`monitor.checks.stats`,
"Units"). Betting on each passenger's cohort keeps the passenger as the unit and uses its whole hour.

The test: a randomisation test on the hash
------------------------------------------
A passenger's cohort is its hash bucket: ON when the bucket is below the rollout %, so with a uniform hash a
passenger outside the allowlist is ON with probability p = rollout / 100, independently of everything it does and of
every other passenger. Under the null "the flag changes no passenger's 5xx" (the sharp null of a randomised
experiment) a passenger's requests and 5xx are the same whichever cohort it is in, so its cohort Z is still a
p-coin given them. A passenger enters the evidence once per phase, at the end of the first hour in which it had a
5xx or made at least `ENTRY_REQUESTS` requests (a rule on its outcomes alone), with that hour's requests r and 5xx
f. At entry we bet on Z with the factor

    g(Z) = g1 if ON, g0 = (1 − p·g1) / (1 − p) if OFF,    g1 = min(L / (1 − p + p·L), cap(θ, p)),
    log L(θ) = f'·log θ + (r − f')·(log(1 − θq) − log(1 − q)),   f' = min(f, MAX_FAILURES),

where L(θ) is the likelihood ratio of (r, f) for a passenger whose per-request 5xx rate is θq against one at q (q
= the hour's 5xx rate over every passenger seen, both cohorts, each passenger's 5xx capped at `RATE_FAILURES` so that
one storm does not inflate it: a function of the outcomes only), so g1 = P(ON | r, f) under "ON is θ
times worse" divided by p. E[g(Z)] = p·g1 + (1 − p)·g0 = 1 for any g1 ≤ 1/p, whatever (r, f) are, so the product of
the entered passengers' factors, per θ, is a nonnegative martingale with mean 1 under the null (each Z is a fresh
coin, independent of the order in which passengers enter), and so is the mixture over θ: Ville's inequality gives
P(∃t: M_t ≥ 1/α) ≤ α over the whole phase. Nothing is assumed about requests: retries, storms, chronic failers and
diurnal load change the factors, not their mean. This is the betting (e-value) view of a randomisation test:
Shafer, "Testing by betting", JRSS A 2021; Ramdas, Grünwald, Vovk & Shafer, "Game-theoretic statistics and safe
anytime-valid inference", Stat. Sci. 2023; Waudby-Smith & Ramdas, "Estimating means of bounded random variables by
betting", JRSS B 2024.

Allowlisted passengers are always ON, not by the coin, so they cannot be bet on this way. They enter like everyone
else (once per phase, same rule) with a model-based factor instead: min(L(θ), θ), L computed from their own r and
f against the hour's q. If an allowlisted passenger's requests fail independently at a rate ≤ q (the null, here an
assumption about requests, which the coin did not need), E[L] = 1 for the binomial likelihood ratio, and capping f
and the factor only lowers it: a supermartingale step again. Conditioning on each tester's own traffic is what keeps
busy testers (15 requests an hour where a passenger makes 1) from looking worse by being busy.

Guards: cap(θ, p) = min(θ, 1 + (1 − FLOOR)(1 − p)/p) bounds one passenger's factor. The first term: no passenger
counts for more than one failing passenger would in the binary split at ratio θ (whose factor is θ/(1 + ρ(θ − 1))
≤ θ), whatever its 5xx — a retry storm's likelihood ratio is huge for every θ, and with a flat cap of 10 one
persistent storming ON client raised every alternative tenfold and false-FAILed 5.8% of A/A phases at 1% and
5 req/s (`benchmarks/detection.py`); capped at θ it moves the low-ratio alternatives, the ones that decay slowest
under the null, hardly at all. The second keeps the bet from going all-in the other way: g0 ≥ `FLOOR` (without it
one OFF storm would wipe out the evidence of every alternative) — the bet λ(Z − p) of Waudby-Smith & Ramdas held to
a fraction of its range;
`MAX_FAILURES` caps f. r is binned (exact below 16, quarter-octaves above; the factor uses the bin's representative
r, still a function of the outcomes only), so an hour is a small histogram per cohort, stored with the checkpoint
and folded again by `report --rebuild`.

Measured (`benchmarks/detection.py`, `benchmarks/RESULTS-detection.md`): at 5% rollout, 50 req/s, a 2× regression
FAILs at hour 1 in 0.77 of phases from a random hour of the day (0.51 with the binary split; 0.79 counting requests,
which retry storms break), 0.91 from the mean load; false FAILs per 720-hour A/A phase ≤ 0.013 in 44 of 45 cells,
0.028 with one persistent storming client put ON (not by the coin) at 1% and 5 req/s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from monitor.domain.aggregate import enters_with as enters

MAX_FAILURES = 10  # f is capped here (a storm's 50 retries count as 10)
RATE_FAILURES = 3  # in q, each passenger's 5xx count at most this much
FLOOR = 0.5  # ... and at least ×FLOOR (the bet is never all-in: an OFF storm halves the evidence at most)
EXACT_BELOW = 16  # requests below this are their own bin; above, quarter-octave bins
BINS_PER_OCTAVE = 4
MAX_BIN = EXACT_BELOW + BINS_PER_OCTAVE * 16  # ≈ 1M requests in an hour and above share the last bin
_log, _log1p, _exp, _expm1 = math.log, math.log1p, math.exp, math.expm1

Cell = tuple[int, int, int]  # (f', bin, passengers)


def request_bin(requests: int) -> int:
    """The bin of a passenger's requests in the hour: the count itself below `EXACT_BELOW`, then quarter-octaves."""
    if requests < EXACT_BELOW:
        return max(requests, 0)
    return min(EXACT_BELOW + int(BINS_PER_OCTAVE * math.log2(requests / EXACT_BELOW)), MAX_BIN)


def representative(bin_: int) -> float:
    """The requests a bin stands for: itself below `EXACT_BELOW`, the geometric centre of its quarter-octave above."""
    if bin_ < EXACT_BELOW:
        return float(bin_)
    return EXACT_BELOW * 2.0 ** ((bin_ - EXACT_BELOW + 0.5) / BINS_PER_OCTAVE)


def cell_of(requests: int, failures: int) -> tuple[int, int]:
    """(f', bin): an entering passenger's place in the hour's histogram."""
    return min(failures, MAX_FAILURES), request_bin(requests)


class Bets(NamedTuple):
    """One hour's entering passengers: the rollout % that flipped their coins and, for the ON and OFF passengers by
    the coin and for the allowlisted ones (`allow`), a histogram of (capped 5xx, request bin) → passengers; and q's
    parts over every passenger seen in the hour, both
    cohorts: Σ min(5xx, `RATE_FAILURES`) and Σ requests. Store one per checkpoint with its `HourCounts`."""

    rollout: int
    on: tuple[Cell, ...] = ()
    off: tuple[Cell, ...] = ()
    rate_errors: int = 0
    rate_requests: int = 0
    allow: tuple[Cell, ...] = ()

    @property
    def rate(self) -> float:
        """q, the hour's 5xx rate with each passenger's 5xx capped at `RATE_FAILURES` (a storm's 50 retries would
        otherwise inflate q for everyone); 0 without requests."""
        return self.rate_errors / self.rate_requests if self.rate_requests > 0 else 0.0

    @property
    def entered(self) -> int:
        return sum(n for cells in (self.on, self.off, self.allow) for _, _, n in cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout,
            "on": [list(c) for c in self.on],
            "off": [list(c) for c in self.off],
            "rate_errors": self.rate_errors,
            "rate_requests": self.rate_requests,
            "allow": [list(c) for c in self.allow],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bets:
        rollout = int(data["rollout"])
        if not 0 < rollout < 100:
            raise ValueError(f"bets need a rollout strictly between 0 and 100%, not {rollout}")
        sides = []
        for side in ("on", "off", "allow"):
            cells = tuple(sorted((int(f), int(b), int(n)) for f, b, n in data.get(side, ())))
            if any(not (0 <= f <= MAX_FAILURES and 0 <= b <= MAX_BIN and n > 0) for f, b, n in cells):
                raise ValueError(f"a {side} cell out of range in {data}")
            sides.append(cells)
        errors, requests = int(data.get("rate_errors", 0)), int(data.get("rate_requests", 0))
        if not 0 <= errors <= requests * RATE_FAILURES:
            raise ValueError(f"the pooled rate's counts are out of range in {data}")
        return cls(rollout, sides[0], sides[1], errors, requests, sides[2])


class BetsBuilder:
    """Collects an hour's entering passengers: `add` one per passenger, `build` the histogram."""

    __slots__ = ("counts", "rate_errors", "rate_requests", "rollout")

    def __init__(self, rollout: int) -> None:
        self.rollout = rollout
        self.counts: tuple[dict[tuple[int, int], int], ...] = ({}, {}, {})  # ON, OFF, allowlisted
        self.rate_errors = self.rate_requests = 0

    def seen(self, requests: int, failures: int) -> None:
        """Every passenger seen in the hour, either cohort, entering or not: q's parts."""
        self.rate_requests += requests
        self.rate_errors += min(failures, RATE_FAILURES)

    def add(self, on: bool, requests: int, failures: int, allowlisted: bool = False) -> None:
        """An entering passenger (call `seen` for it too)."""
        table = self.counts[2 if allowlisted else 0 if on else 1]
        cell = cell_of(requests, failures)
        table[cell] = table.get(cell, 0) + 1

    def build(self) -> Bets:
        on, off, allow = ((tuple(sorted((f, b, n) for (f, b), n in t.items()))) for t in self.counts)
        return Bets(self.rollout, on, off, self.rate_errors, self.rate_requests, allow)


def _log_likelihood_ratio(f: int, bin_: int, theta: float, q: float) -> float:
    """log L(θ): (r, f') at a per-request rate θq against q, r the bin's representative."""
    q = min(max(q, 0.0), 0.5)
    r = max(representative(bin_), float(f))
    return f * _log(theta) + (r - f) * (_log1p(-min(theta * q, 0.999)) - _log1p(-q))


def bet_cap(theta: float, p: float) -> float:
    """The most an ON passenger's factor may be: θ (one failing passenger's worth), and below 1/p enough that an OFF
    passenger's factor stays ≥ `FLOOR`."""
    return min(theta, 1.0 + (1.0 - FLOOR) * (1.0 - p) / p)


def log_factors(f: int, bin_: int, theta: float, p: float, q: float) -> tuple[float, float]:
    """(log g1, log g0): the log factors of an entering passenger at (f', bin) if ON, if OFF, for the alternative θ."""
    log_l = _log_likelihood_ratio(f, bin_, theta, q)
    # uncapped: g1 = L / (1 − p + p·L), g0 = 1 / (1 − p + p·L); in logs, without overflow either way
    log_den = log_l + _log(p + (1.0 - p) * _exp(-log_l)) if log_l > 0 else _log1p(p * _expm1(log_l))
    log_g1 = log_l - log_den
    cap = bet_cap(theta, p)
    if log_g1 <= _log(cap):
        return log_g1, -log_den
    return _log(cap), _log((1.0 - p * cap) / (1.0 - p))


def log_allowlisted_factor(f: int, bin_: int, theta: float, q: float) -> float:
    """log min(L(θ), θ): an allowlisted passenger's factor (a likelihood ratio, no coin), capped as the bets are."""
    return min(_log_likelihood_ratio(f, bin_, theta, q), _log(theta))


def increments(bets: Bets, thetas: Sequence[float]) -> list[float]:
    """Per alternative θ_k: the log of the product of this hour's entering passengers' factors."""
    p, q = bets.rollout / 100, bets.rate
    out = []
    for theta in thetas:
        total = 0.0
        for side, cells in ((0, bets.on), (1, bets.off)):
            for f, b, n in cells:
                total += n * log_factors(f, b, theta, p, q)[side]
        for f, b, n in bets.allow:
            total += n * log_allowlisted_factor(f, b, theta, q)
        out.append(total)
    return out


def entering(passengers: Iterable[tuple[bool, int, int]], rollout: int, allowlisted: int = 0) -> Bets:
    """The `Bets` of an hour's passengers given as (on, requests, failures), the first `allowlisted` of them on the
    allowlist: q from all, cells of those who enter."""
    builder = BetsBuilder(rollout)
    for i, (on, requests, failures) in enumerate(passengers):
        builder.seen(requests, failures)
        if enters(requests, failures):
            builder.add(on, requests, failures, allowlisted=i < allowlisted)
    return builder.build()
