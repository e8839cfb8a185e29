"""The benchmarks' vectorised bets fold (`benchmarks/vector_fold.py`) equals the real code, and the traffic model's
cell probabilities (`benchmarks/phase_model.py`) are consistent: the detection benchmark's figures rest on both."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from monitor.checks.bets import FLOOR, MAX_BIN, MAX_FAILURES, Bets, increments, log_factors
from monitor.checks.sequential import Design, EvidenceState, fold_all

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import phase_model
import vector_fold

THETAS = (1.25, 1.5, 2.0, 3.0, 5.0)


def _random_counts(rng: np.random.Generator, phases: int, hours: int, cells: int) -> phase_model.Counts:
    flat = rng.choice((MAX_FAILURES + 1) * (MAX_BIN + 1), size=cells, replace=False)
    shape = (phases, hours + 1)
    hist_on = rng.poisson(rng.uniform(0, 3, cells), (*shape, cells)) * (rng.random((*shape, cells)) < 0.5)
    hist_off = rng.poisson(rng.uniform(0, 30, cells), (*shape, cells)) * (rng.random((*shape, cells)) < 0.7)
    requests = rng.integers(1_000, 1_000_000, shape)
    on = {name: np.zeros(shape, dtype=np.int64) for name in phase_model.FIELDS}
    off = {name: np.zeros(shape, dtype=np.int64) for name in phase_model.FIELDS}
    on["requests"], off["requests"] = requests // 20, requests - requests // 20
    rate = rng.choice([0.0005, 0.005, 0.05, 0.3, 0.7], shape)  # q up to and above the module's 0.5 clip
    return phase_model.Counts(
        on,
        off,
        np.zeros(shape, dtype=np.int64),
        np.zeros(shape, dtype=np.int64),
        np.stack([flat // (MAX_BIN + 1), flat % (MAX_BIN + 1)], axis=1),
        hist_on.astype(np.int32),
        hist_off.astype(np.int32),
        np.minimum(np.rint(rate * requests), 3 * requests).astype(np.int64),
    )


@pytest.mark.parametrize("rollout", [1, 5, 10, 50, 90])
def test_vectorised_increments_equal_bets_increments_on_random_histograms(rollout: int) -> None:
    rng = np.random.default_rng(rollout)
    c = _random_counts(rng, phases=4, hours=5, cells=60)
    got = vector_fold.bets_increments(c, THETAS, rollout)
    assert np.all(got[:, 0] == 0)
    for phase in range(4):
        for hour in range(1, 6):
            bets = vector_fold.hour_bets(c, phase, hour, rollout)
            assert bets.entered > 0
            want = increments(bets, THETAS)
            assert got[phase, hour] == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_vectorised_factors_reach_the_cap_as_the_module_does() -> None:
    """One passenger with ten 5xx in 20 requests: its factor is capped as the module caps it, ON and OFF alike."""
    bets_on = Bets(5, on=((10, 17, 1),), rate_errors=5, rate_requests=1_000)
    bets_off = Bets(5, off=((10, 17, 1),), rate_errors=5, rate_requests=1_000)
    c = _random_counts(np.random.default_rng(0), phases=1, hours=1, cells=1)
    c.cells[:] = [[10, 17]]
    c.rate_errors[:], c.on["requests"][:], c.off["requests"][:] = 5, 500, 500
    for bets, side in ((bets_on, c.hist_on), (bets_off, c.hist_off)):
        c.hist_on[:], c.hist_off[:] = 0, 0
        side[0, 1, 0] = 1
        got = vector_fold.bets_increments(c, THETAS, 5)[0, 1]
        assert got == pytest.approx(increments(bets, THETAS), rel=1e-12)
    assert log_factors(10, 17, 5.0, 0.05, 0.005)[0] == pytest.approx(math.log(5.0))  # capped at θ
    assert log_factors(10, 17, 5.0, 0.5, 0.005)[1] == pytest.approx(math.log(FLOOR))


@pytest.mark.parametrize("rate", [0.005, 0.01, 0.3, 1 / 3])
def test_cell_pmfs_sum_to_the_probability_of_entering(rate: float) -> None:
    table = phase_model.cell_table(rate)
    assert np.all(table.pmf >= 0)
    assert table.pmf.sum(axis=(1, 2)) == pytest.approx(table.enter, rel=1e-9)
    # entering, seen without entering and not seen (r = 0) are the whole law of an active passenger
    not_seen = 1 - table.back[:, 1]
    assert table.enter + table.stay + not_seen == pytest.approx(np.ones_like(table.enter), abs=1e-9)
    # a passenger enters with a 5xx or ≥ 20 requests: no mass in (f' = 0, bin of < 20 requests)
    assert table.pmf[:, 0, : phase_model.ENTRY_BIN].sum() == 0


def test_simulated_phases_fold_the_same_vectorised_and_by_the_real_code() -> None:
    design = Design(interval=False)
    c = phase_model.simulate(np.random.default_rng(3), 5, 50, phase_model.Scenario("2×", factor=2.0), 6, 6)
    inc = vector_fold.bets_increments(c, design.thetas, 5)
    s = vector_fold.scan(inc, design, (c.on["entering"] + c.off["entering"]) > 0)
    assert vector_fold.verify(c, s, design, 5, list(range(6))) == 36
    for phase in range(6):  # the verification really compares with fold_all's first FAIL
        bets = [vector_fold.hour_bets(c, phase, t, 5) for t in range(1, 7)]
        rows = vector_fold.hour_rows(c)[phase, 1:].tolist()
        state = fold_all(EvidenceState(), rows, design, bets)
        assert (state.fail_checkpoint or math.inf) == s.first[phase]
