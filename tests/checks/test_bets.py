"""Per-passenger bets (`monitor.checks.bets`): fair bets on the hash coin, folded over the phase."""

from __future__ import annotations

import math
import random

import pytest

from monitor.checks.bets import (
    FLOOR,
    MAX_BIN,
    MAX_FAILURES,
    Bets,
    cell_of,
    entering,
    enters,
    increments,
    log_factors,
    representative,
    request_bin,
)
from monitor.checks.sequential import Design, EvidenceState, HourCounts, fold, log_mixture, replay
from monitor.domain.aggregate import ENTRY_REQUESTS

THETAS = Design().thetas


@pytest.mark.parametrize("p", [0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("q", [0.0, 0.001, 0.005, 0.05, 0.4])
def test_every_bet_is_fair_under_the_null(p: float, q: float) -> None:
    """E[g(Z)] = p·g1 + (1 − p)·g0 = 1 for every cell and alternative: the martingale's step."""
    for f in range(MAX_FAILURES + 1):
        for b in range(0, MAX_BIN + 1, 3):
            for theta in THETAS:
                log_g1, log_g0 = log_factors(f, b, theta, p, q)
                assert p * math.exp(log_g1) + (1 - p) * math.exp(log_g0) == pytest.approx(1.0, rel=1e-12)
                assert log_g1 <= math.log(theta) + 1e-12  # one passenger counts as one failing passenger at most
                assert log_g0 >= math.log(FLOOR) - 1e-12  # ... and halves it at most


def test_a_bet_leans_on_what_the_passenger_did() -> None:
    p, q = 0.05, 0.005
    one_light, two_light = log_factors(1, 5, 2.0, p, q)[0], log_factors(2, 5, 2.0, p, q)[0]
    one_heavy = log_factors(1, request_bin(400), 2.0, p, q)[0]
    clean_heavy = log_factors(0, request_bin(400), 2.0, p, q)[0]
    assert two_light > one_light > 0  # more 5xx in few requests: more likely ON if ON is worse
    assert one_heavy < 0 and clean_heavy < one_heavy  # one 5xx in 400 requests is what OFF does


def test_bins_are_exact_below_16_then_quarter_octaves() -> None:
    assert [request_bin(r) for r in (0, 1, 15, 16, 19, 20, 32, 10**12)] == [0, 1, 15, 16, 16, 17, 20, MAX_BIN]
    for r in (16, 20, 50, 333, 4_000, 90_000):
        lo, hi = 16 * 2 ** ((request_bin(r) - 16) / 4), 16 * 2 ** ((request_bin(r) - 15) / 4)
        assert lo <= r < hi and lo <= representative(request_bin(r)) < hi


def test_who_enters_and_where() -> None:
    assert not enters(ENTRY_REQUESTS - 1, 0) and enters(ENTRY_REQUESTS, 0) and enters(1, 1)
    assert cell_of(60, 60) == (MAX_FAILURES, request_bin(60))  # a storm counts 10 5xx
    bets = entering([(True, 5, 1), (True, 5, 0), (False, 25, 0), (False, 25, 0), (False, 3, 2)], rollout=5)
    assert bets == Bets(5, on=((1, 5, 1),), off=((0, request_bin(25), 2), (2, 3, 1)), rate_errors=3, rate_requests=63)
    assert bets.rate == pytest.approx(3 / 63)
    assert bets.entered == 4
    assert Bets.from_dict(bets.to_dict()) == bets


@pytest.mark.parametrize(
    "data",
    [
        {"rollout": 0, "on": [], "off": []},
        {"rollout": 100, "on": [], "off": []},
        {"rollout": 5, "on": [[11, 3, 1]], "off": []},
        {"rollout": 5, "on": [[1, 3, 0]], "off": []},
        {"rollout": 5, "on": [], "off": [[1, MAX_BIN + 1, 2]]},
        {"rollout": 5, "on": [], "off": [], "rate_errors": 7, "rate_requests": 2},
    ],
)
def test_stored_bets_out_of_range_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Bets.from_dict(data)


def test_one_storming_passenger_moves_the_evidence_by_at_most_the_cap() -> None:
    hour = HourCounts(100, 1_900, 1, 47, on_requests=560, on_5xx=60, off_requests=9_500, off_5xx=48)
    storm = Bets(5, on=((*cell_of(60, 60), 1),), rate_errors=51, rate_requests=10_060)
    assert increments(storm, THETAS) == pytest.approx([math.log(min(t, 10)) for t in THETAS])  # ≤ θ each
    assert entering([(True, 60, 60), *[(False, 5, 0)] * 10], 5).rate == pytest.approx(3 / 110)  # q: 3 of its 60
    state = replay([hour] * 30, Design(), [storm] * 30)  # even if it entered every hour (it cannot: once a phase)
    assert state.log_e_max <= math.log(5) * 30  # bounded by the cap, not by its 60 retries


def _phase(rng: random.Random, p: float, theta: float, hours: int, storms: bool) -> EvidenceState:
    """One phase of heavy-tailed passengers (each in the evidence once), folded hour by hour through `fold`."""
    design, state, q = Design(interval=False), EvidenceState(), 0.005
    for _ in range(hours):
        seen = []
        for _ in range(400):
            on = rng.random() < p
            r = 1 + int(rng.lognormvariate(1.5, 1.5))
            rate = q * theta if on else q
            if storms and rng.random() < 0.0025:  # ≈ one retry storm an hour
                r, f = 60, 60
            else:
                f = sum(rng.random() < rate for _ in range(min(r, 400)))
            seen.append((on, r, f))
        state = fold(state, HourCounts(1, 1, 0, 0), design, entering(seen, round(p * 100)))
    return state


def test_false_fails_stay_within_alpha_under_storms_and_the_test_has_power() -> None:
    """A/A with heavy-tailed passengers and retry storms: the running maximum of M reaches 1/α in at most α of the
    phases (Ville), here with α = 0.1 to see it on 300 phases; a 3× regression is caught."""
    rng = random.Random(7)
    null = [_phase(rng, 0.1, 1.0, 6, storms=True) for _ in range(300)]
    crossed = sum(s.log_e_max >= math.log(10) for s in null)
    assert crossed <= 0.1 * 300 + 3 * math.sqrt(300 * 0.1 * 0.9)
    assert sum(log_mixture(s.log_lr, Design()) < 0 for s in null) > 200  # under the null M drifts to 0
    worse = [_phase(rng, 0.1, 3.0, 6, storms=True) for _ in range(40)]
    assert sum(s.log_e_max >= math.log(10) for s in worse) >= 30
