"""monitor.checks.sequential: the phase's anytime-valid evidence that ON is worse than OFF, on per-hour unit counts.

Units are passengers (module doc): `*_units` passengers seen in the hour and not failing earlier in the phase,
`*_failing` those of them with a 5xx in the hour. "Exact expected counts" are the expected per-hour counts of the
benchmark's traffic model (`benchmarks/phase_model.py`) at the daily-mean load, rounded: at 5% rollout and 50 req/s
an hour holds 180,000 requests (the issue's 9,000 ON requests), 10% anonymous, the rest from ≈ 7,324 passengers
(≈ 22 requests each, lognormal-like σ 1.5) of whom 8.6% have a 5xx at the base rate 0.5%. Doubling ON's per-request
rate makes 14.8% of ON passengers fail, not 17.2%: heavy users fail anyway, so a 2× per-request regression is 1.71×
per passenger. The store/restart cases (evidence read back from the database) belong to the wiring; here `replay`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.checks.sequential import (
    DEFAULT_THETAS,
    Design,
    EvidenceState,
    HourCounts,
    Verdict,
    fold,
    fold_all,
    judge,
    log_mixture,
    logsumexp,
    replay,
    verdict,
)

DESIGN = Design()
FAST = Design(interval=False)
H = HourCounts

# Expected counts per hour at 5% / 50 req/s, mean load (phase_model): ON 366 and OFF 6,958 passengers seen;
# failing: ON 54 at 2× (31.5 without regression, 44 at 1.5×), OFF 600. Later hours have slightly fewer units at risk.
DOUBLING_HOUR = H(366, 6958, 54, 600)
ONE_AND_A_HALF = [H(366, 6958, 44, 600), H(365, 6943, 44, 597), H(364, 6928, 43, 595)]
# 1% / 5 req/s, mean load: ON 7 and OFF 725 passengers, failing 1 (0.6 expected) and 62.
SMALL_AA_HOUR = H(7, 725, 1, 62)


def run(hours: list[HourCounts], design: Design = DESIGN) -> list[Verdict]:
    """The verdict after each hour, folding hour by hour as the check does."""
    state, out = EvidenceState(), []
    for hour in hours:
        state = fold(state, hour, design)
        out.append(verdict(state, design))
    return out


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param([DOUBLING_HOUR], [Verdict.FAIL], id="2x-5pct-50rps-expected-counts-fails-in-one-hour"),
        pytest.param(
            ONE_AND_A_HALF,
            [Verdict.PASS, Verdict.PASS, Verdict.FAIL],
            id="1.5x-5pct-50rps-three-expected-hours-fail-by-the-third",
        ),
        # one ON passenger whose client retried a failing call 60 times: 1 failing unit (61 5xx), on top of the
        # smallest cell's expected hour; request-level Fisher FAILs this hour (61/207 vs 62/15,225)
        pytest.param(
            [H(8, 725, 2, 62, on_requests=207, on_5xx=61, off_requests=15225, off_5xx=76)],
            [Verdict.PASS],
            id="single-passenger-60-failing-retries",
        ),
        # sticky breakage: 100 of 1,000 ON passengers fail a third of their requests (each has a 5xx), the other 900
        # fail at the base per-passenger share 8.6%; 5% rollout, so 19,000 OFF at 8.6%
        pytest.param([H(1000, 19000, 100 + 78, 1638)], [Verdict.FAIL], id="100-of-1000-on-failing-a-third"),
        # the small cohort: 5 of 20 ON failing once vs 89 of 1,980 OFF: strong (e ≈ 27), not conclusive
        pytest.param([H(20, 1980, 5, 89)], [Verdict.WARN], id="1pct-5-of-20-on-failing-warns-not-fails"),
        pytest.param([H(366, 6958, 0, 600)], [Verdict.PASS], id="on-better"),
        pytest.param([H(366, 6958, 30, 0)], [Verdict.FAIL], id="zero-off-failing-vs-many-on"),
        pytest.param([H(366, 6958, 1, 0)], [Verdict.PASS], id="zero-off-failing-vs-one-on"),
        pytest.param(
            [H(0, 0, 0, 0), H(0, 5000, 0, 40), H(300, 0, 10, 0), H(300, 5000, 0, 0)],
            [Verdict.NODATA] * 4,
            id="no-informative-hour-is-nodata",
        ),
    ],
)
def test_verdicts(hours: list[HourCounts], expected: list[Verdict]) -> None:
    assert run(hours) == expected


def test_the_retrying_passenger_counts_once_per_phase() -> None:
    # 1% / 5 req/s, 720 hours at the expected counts (ON failing 1, 1, 0, 1, 0: 0.6 an hour) plus one ON client that
    # fails 60 retries in every hour. With the at-risk unit it is a failing unit in its first hour only (later it is
    # seen but not at risk): no FAIL in the phase. Counted again in every hour (a unit that repeats), it FAILs the
    # phase at hour 12.
    base = ([H(7, 725, x, 62) for x in (1, 1, 0, 1, 0)] * 144)[:720]
    once = [H(8, 725, base[0].on_failing + 1, 62), *base[1:]]
    state = fold_all(EvidenceState(), once, FAST)
    assert verdict(state, FAST) is Verdict.PASS and state.hours == 720 and state.log_e_max < math.log(2)
    every_hour = [H(8, 725, h.on_failing + 1, 62) for h in base]
    assert fold_all(EvidenceState(), every_hour, FAST).fail_checkpoint == 12


def test_a_single_unit_moves_the_evidence_at_most_by_the_largest_ratio() -> None:
    # one failing passenger alone in ON against a quiet OFF: M ≤ max θ, far from 1/α
    state = fold(EvidenceState(), H(1, 10_000, 1, 0), DESIGN)
    assert judge(state, DESIGN).e_value <= max(DEFAULT_THETAS)


def test_fail_stands_for_the_rest_of_the_phase_and_a_new_phase_starts_fresh() -> None:
    state = fold_all(EvidenceState(), [DOUBLING_HOUR, *[H(366, 6958, 0, 600)] * 5], FAST)
    j = judge(state, FAST)
    assert j.verdict is Verdict.FAIL and state.fail_checkpoint == 1
    assert j.log_e_value < j.log_e_max and j.p_value == pytest.approx(math.exp(-j.log_e_max))
    fresh = fold(EvidenceState(), SMALL_AA_HOUR, FAST)
    assert verdict(fresh, FAST) is Verdict.PASS and fresh.hours == 1 and fresh.totals == SMALL_AA_HOUR


def test_replay_equals_hour_by_hour_and_survives_a_serialisation_round_trip() -> None:
    hours = [*ONE_AND_A_HALF, H(0, 0, 0, 0), H(365, 6943, 44, 597, 400, 7100, 60, 610, 8000, 40, 150000, 750)]
    stored = [h.to_dict() for h in hours]  # what the store keeps per checkpoint
    again = replay([HourCounts.from_dict(d) for d in stored], DESIGN)
    state = EvidenceState()
    for hour in hours:
        state = fold(state, hour, DESIGN)
    assert again == state
    assert state.checkpoints == 5 and state.hours == 4
    assert state.totals.on_requests == 8000 and state.totals.on_units == 366 + 365 + 364 + 365
    assert fold_all(state, [], DESIGN) is state


def test_empty_hours_change_nothing_but_the_counts() -> None:
    state = fold(EvidenceState(), DOUBLING_HOUR, FAST)
    after = fold_all(state, [H(0, 0, 0, 0), H(0, 7000, 0, 600), H(366, 0, 50, 0), H(366, 6958, 0, 0)], FAST)
    assert after.log_lr == state.log_lr and after.log_e_max == state.log_e_max
    assert after.hours == 1 and after.checkpoints == 5 and after.hour_log_lr == ()


def test_huge_counts_stay_finite_and_exact() -> None:
    big = H(10**9, 19 * 10**9, 5 * 10**7, 95 * 10**7)  # ratio exactly 1: no evidence, hugely negative log M
    state = fold_all(EvidenceState(), [big] * 3, DESIGN)
    j = judge(state, DESIGN)
    assert j.verdict is Verdict.PASS and math.isfinite(j.log_e_value) and j.log_e_value < -1e6
    assert j.e_value == 0.0 and j.p_value == 1.0 and j.ratio == pytest.approx(1.0)
    worse = fold(EvidenceState(), H(10**9, 19 * 10**9, 10**8, 9 * 10**8), DESIGN)
    j = judge(worse, DESIGN)
    assert j.verdict is Verdict.FAIL and j.e_value == math.inf and j.p_value == 0.0
    assert j.interval is not None and j.interval[0] < 2.0 < j.interval[1]


@pytest.mark.parametrize("bad", [H(5, 10, 6, 1), H(5, 10, 1, 11), H(5, 10, -1, 1), H(5, 10, 1, -2)])
def test_impossible_counts_are_rejected(bad: HourCounts) -> None:
    with pytest.raises(ValueError, match="failing units"):
        fold(EvidenceState(), bad, DESIGN)


def test_rows_must_carry_every_field() -> None:
    with pytest.raises(ValueError, match="fields"):
        fold_all(EvidenceState(), [[366, 6958, 54, 600]], DESIGN)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"thetas": (1.0, 2.0)},
        {"thetas": ()},
        {"weights": (1.0,)},
        {"weights": (1, 1, 1, 1, 0)},
        {"min_relative_effect": -0.1},
        {"warn_level": 1.0},
        {"warn_phase_level": 0.0},
    ],
)
def test_design_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Design(**kwargs)  # type: ignore[arg-type]


def test_judgement_figures() -> None:
    state = fold(EvidenceState(), DOUBLING_HOUR, DESIGN)
    j = judge(state, DESIGN)
    assert j.verdict is Verdict.FAIL and j.hours == 1 and j.alpha == 0.01 and j.null_ratio == 1.0
    assert j.log_e_value == pytest.approx(4.822, abs=1e-3) and j.e_value == pytest.approx(math.exp(j.log_e_value))
    assert j.hour_log_e == pytest.approx(j.log_e_value) and j.p_value == pytest.approx(1 / j.e_value)
    assert j.ratio == pytest.approx(j.hour_ratio) == pytest.approx((54 / 366) / (600 / 6958))
    assert j.interval is not None and j.interval[0] >= 1.0 and j.interval[0] < j.ratio < j.interval[1]
    assert j.hours_to_decide == 0.0 and j.hours_to_decide_phase == 0.0
    d = j.as_dict()
    assert d["verdict"] == "FAIL" and d["totals"]["on_failing"] == 54 and d["interval"] == list(j.interval)


def test_warn_projects_the_hours_still_needed() -> None:
    hour = H(20, 1980, 5, 89)
    j = judge(fold(EvidenceState(), hour, DESIGN), DESIGN)
    assert j.verdict is Verdict.WARN and 10 <= j.hour_e_value < 100 and j.e_value >= 10
    assert j.hours_to_decide is not None and 0 < j.hours_to_decide <= 1
    # "N more hours at this rate": after ceil(N) more such hours the phase has FAILed (the projection follows the
    # best single alternative, so the mixture can only cross sooner)
    more = math.ceil(j.hours_to_decide)
    assert verdict(fold_all(EvidenceState(), [hour] * (1 + more), DESIGN), DESIGN) is Verdict.FAIL


def test_undecided_phase_projects_from_the_phase_rate() -> None:
    state = fold_all(EvidenceState(), ONE_AND_A_HALF[:2], DESIGN)
    j = judge(state, DESIGN)
    assert j.verdict is Verdict.PASS and j.hours_to_decide_phase is not None
    assert 1 < j.hours_to_decide_phase < 3  # the third expected hour does FAIL
    no_harm = judge(fold(EvidenceState(), H(366, 6958, 20, 600), DESIGN), DESIGN)
    assert no_harm.hours_to_decide is None and no_harm.hours_to_decide_phase is None


def test_warn_needs_a_strong_hour_and_half_the_evidence() -> None:
    # the same strong hour after a phase of evidence against ON is a PASS: M stays below √(1/α)
    state = fold_all(EvidenceState(), [H(366, 6958, 20, 600)] * 3 + [H(20, 1980, 5, 89)], DESIGN)
    j = judge(state, DESIGN)
    assert j.hour_e_value >= 10 and j.e_value < 10 and j.verdict is Verdict.PASS
    assert state.warn_hours == 0
    warned = fold_all(EvidenceState(), [H(20, 1980, 5, 89), SMALL_AA_HOUR], DESIGN)
    assert warned.warn_hours == 1 and verdict(warned, DESIGN) is Verdict.PASS


def test_relative_margin_moves_the_null() -> None:
    # ON 1.7× worse: FAILs against "no worse", not against "at most 2× worse"
    margin = Design(min_relative_effect=1.0)
    assert run([DOUBLING_HOUR] * 3, DESIGN)[-1] is Verdict.FAIL
    assert run([DOUBLING_HOUR] * 3, margin) == [Verdict.PASS] * 3
    # ON 4× worse FAILs both
    assert run([H(366, 6958, 120, 600)], margin) == [Verdict.FAIL]
    j = judge(fold(EvidenceState(), DOUBLING_HOUR, margin), margin)
    assert j.null_ratio == 2.0 and j.interval is not None and j.interval[0] < 2.0


def test_interval_lower_bound_agrees_with_the_verdict() -> None:
    for hours in ([DOUBLING_HOUR], ONE_AND_A_HALF, ONE_AND_A_HALF[:2], [SMALL_AA_HOUR] * 10, [H(366, 6958, 30, 0)]):
        j = judge(replay(hours, DESIGN), DESIGN)
        assert j.interval is not None
        assert (j.interval[0] >= 1.0) == (j.verdict is Verdict.FAIL)


def test_interval_off_changes_no_verdict() -> None:
    hours = [*ONE_AND_A_HALF, SMALL_AA_HOUR, H(20, 1980, 5, 89)]
    with_iv, without = replay(hours, DESIGN), replay(hours, FAST)
    assert with_iv._replace(interval=None) == without
    assert judge(without, FAST).interval is None


def test_logsumexp() -> None:
    assert logsumexp([]) == -math.inf
    assert logsumexp([-math.inf, -math.inf]) == -math.inf
    assert logsumexp([1000.0, 1000.0]) == pytest.approx(1000 + math.log(2))
    assert logsumexp([math.inf, 0.0]) == math.inf
    assert log_mixture((), DESIGN) == 0.0


@pytest.mark.parametrize("theta0", [1.0, 1.2, 2.0])
@pytest.mark.parametrize("rho", [0.01, 0.05, 0.5, 0.9])
def test_each_hour_is_a_supermartingale_step_under_the_composite_null(theta0: float, rho: float) -> None:
    """E[a^x b^y] ≤ 1, exactly (binomial generating functions), for every alternative, whenever ON's failure
    probability is at most θ₀ times OFF's — the bound the validity argument rests on."""
    n = 2000
    n_on = round(n * rho)
    n_off = n - n_on
    base = 1 + (theta0 - 1) * rho
    for theta in DEFAULT_THETAS:
        p0, p1 = theta0 * rho / base, theta0 * theta * rho / (1 + (theta0 * theta - 1) * rho)
        a, b = p1 / p0, (1 - p1) / (1 - p0)
        for q_off in (0.001, 0.05, 0.3):
            for ratio in (0.5, 1.0, theta0):
                q_on = min(1.0, ratio * q_off)
                log_e = n_on * math.log1p(q_on * (a - 1)) + n_off * math.log1p(q_off * (b - 1))
                assert log_e <= 1e-9, (theta, q_off, ratio)


@pytest.mark.parametrize("theta0", [1.0, 1.5])
def test_false_fail_rate_is_bounded_under_the_null(theta0: float) -> None:
    """Monte Carlo: heterogeneous passengers, diurnal-like unit counts, ON failing exactly θ₀ times as often as OFF
    (the composite null's boundary); α = 0.1 so that 400 phases of 100 hours resolve it."""
    rng = np.random.default_rng(7)
    design = Design(alpha=0.1, min_relative_effect=theta0 - 1, interval=False)
    phases, hours, fails = 400, 100, 0
    for _ in range(phases):
        load = 1 + 0.66 * np.cos(np.arange(hours) * 2 * np.pi / 24 + rng.uniform(0, 6.3))
        n_on = rng.poisson(30 * load)
        n_off = rng.poisson(600 * load)
        q = rng.uniform(0.02, 0.12, hours)  # this hour's OFF failure probability
        x = rng.binomial(n_on, np.minimum(1.0, theta0 * q))
        y = rng.binomial(n_off, q)
        rows = [[int(a), int(b), int(c), int(d), *[0] * 8] for a, b, c, d in zip(n_on, n_off, x, y, strict=True)]
        fails += verdict(fold_all(EvidenceState(), rows, design), design) is Verdict.FAIL
    assert fails / phases <= 0.1


def test_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(11)
    design = Design(alpha=0.05)
    misses = 0
    for _ in range(60):
        rows = []
        for _ in range(24):
            n_on, n_off = int(rng.poisson(200)), int(rng.poisson(4000))
            rows.append(H(n_on, n_off, int(rng.binomial(n_on, 0.12)), int(rng.binomial(n_off, 0.08))))
        iv = judge(replay(rows, design), design).interval
        assert iv is not None
        misses += not iv[0] < 1.5 < iv[1]
    assert misses <= 6  # each side ≤ 5% over the whole phase (60 phases: expected ≤ 6 misses; usually 0)
