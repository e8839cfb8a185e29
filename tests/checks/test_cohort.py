"""cohort_regression through the check: passengers as units, evidence accumulated over the phase's checkpoints.

The issue's cases are built at exact expected counts (no randomness): per-request rates become per-passenger
failure counts, so each case reads as the traffic it describes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from helpers_checks import (
    END,
    allowlist_hashes,
    allowlist_ids,
    checkpoint,
    config,
    ctx,
    hashes,
    requests,
    result,
    stats,
)

from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.bets import Bets, request_bin
from monitor.checks.cohort import check_cohort_regression, design_of, hours_covered, phase_hours, split_cohorts
from monitor.checks.sequential import HourCounts, log_mixture, replay
from monitor.checks.stats import one_sided_greater_p
from monitor.domain import Checkpoint, CheckResult, Status, Window, WindowAggregate, passenger_key
from monitor.domain.evidence import CohortEvidence


@dataclass
class Cohort:
    """`passengers` passengers of one cohort, each making `each` requests; `failing` of them have `errors` 5xx
    among those (a retry storm: `errors` above `each` adds the failing retries)."""

    passengers: int
    each: int = 5
    failing: int = 0
    errors: int = 1

    def fill(self, s: WindowAggregate, pool: list[str]) -> None:
        assert len(pool) >= self.passengers
        for i, p in enumerate(pool[: self.passengers]):
            bad = self.errors if i < self.failing else 0
            requests(s, max(self.each, bad), bad, passenger=p)


@dataclass
class Hour:
    """One window: ON and OFF cohorts at `rollout` %, optional allowlisted and anonymous traffic."""

    rollout: int
    on: Cohort
    off: Cohort
    enabled: bool = True
    allow: int = 0
    allowlisted: Cohort = field(default_factory=lambda: Cohort(0))
    anonymous: tuple[int, int] = (0, 0)

    def context(self, **kw: object) -> CheckContext:
        cfg = config(enabled=self.enabled, rollout=self.rollout, allow=allowlist_ids(self.allow))
        s = stats(cfg)
        on_pool = hashes(self.on.passengers, 0, max(self.rollout, 1)) if self.on.passengers else []
        self.on.fill(s, on_pool)
        self.off.fill(s, hashes(self.off.passengers, self.rollout, 100) if self.off.passengers else [])
        self.allowlisted.fill(s, sorted(allowlist_hashes(cfg.allowlist)))
        if self.anonymous[0]:
            requests(s, *self.anonymous)
        return ctx(s, cfg, **kw)  # type: ignore[arg-type]


def stored(*hours: HourCounts | CohortEvidence, labels: tuple[str, ...] = ()) -> list[Checkpoint]:
    """Earlier checkpoints of the phase carrying these hours (bare counts, or a check's whole evidence: counts and
    bets), oldest first given, returned newest first (as the store's history is); the latest ends one hour before
    the checked window."""
    n = len(hours)
    out = []
    for i, hour in enumerate(hours):
        label = labels[i] if labels else f"h{i + 1}"
        fields = (
            {"hour": hour.hour, "bets": hour.bets} if isinstance(hour, CohortEvidence) else {"hour": hour.to_dict()}
        )
        cp = checkpoint(label, Status.PASS, [result("cohort_regression", Status.PASS, **fields)])
        cp = cp.model_copy(update={"id": i + 1})
        shift = timedelta(hours=n - i)
        cp.window = Window(start=cp.window.start - shift, end=cp.window.end - shift)
        out.append(cp)
    return list(reversed(out))


# Exact expected counts of the cases -------------------------------------------------------------------
def expected_failing(passengers: int, per_request: float, each: int) -> int:
    """Passengers with ≥ 1 5xx among `each` requests at `per_request`, rounded: the expected count."""
    return round(passengers * (1 - (1 - per_request) ** each))


# 2× at 5% rollout, 50 req/s (180,000 requests in the hour), 10 requests per passenger, base 0.3% per request: the
# doubling the old point-estimate rule (effect > 0.5 pp) missed.
DOUBLING = Hour(
    5,
    on=Cohort(900, each=10, failing=expected_failing(900, 0.006, 10)),
    off=Cohort(17_100, each=10, failing=expected_failing(17_100, 0.003, 10)),
)
# 1.5× at 5%: 800 ON / 15,200 OFF passengers an hour, 3% of OFF passengers failing, 4.5% of ON.
ONE_AND_A_HALF = HourCounts(800, 15_200, 36, 456)
ONE_AND_A_HALF_HOUR = Hour(5, on=Cohort(800, failing=36), off=Cohort(15_200, failing=456))
# One ON passenger retrying a failing call 60 times; otherwise 0.5% per request in both cohorts.
RETRY_STORM = Hour(
    5,
    on=Cohort(100, failing=1, errors=60),
    off=Cohort(1_900, failing=expected_failing(1_900, 0.005, 5)),
)
# 100 of 1,000 ON passengers failing a third of their requests (a sticky breakage), at 10% rollout.
STICKY = Hour(
    10,
    on=Cohort(1_000, each=3, failing=100 + expected_failing(900, 0.005, 3)),
    off=Cohort(9_000, each=3, failing=expected_failing(9_000, 0.005, 3)),
)
# A 1% cohort: 5 of 20 ON passengers failing once, OFF 89 of 1,980, in a single hour.
SMALL_COHORT = Hour(1, on=Cohort(20, failing=5), off=Cohort(1_980, failing=89))
A_A = Hour(5, on=Cohort(800, failing=24), off=Cohort(15_200, failing=456))


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        pytest.param(DOUBLING.context(), Status.FAIL, id="doubling-at-expected-counts-fails-in-one-hour"),
        pytest.param(RETRY_STORM.context(), Status.PASS, id="one-on-passenger-60-failing-retries-does-not-fail"),
        pytest.param(STICKY.context(), Status.FAIL, id="100-of-1000-on-failing-a-third-fails"),
        pytest.param(SMALL_COHORT.context(), Status.WARN, id="1pct-5-of-20-on-failing-is-warn-not-fail"),
        pytest.param(A_A.context(), Status.PASS, id="a-a"),
        pytest.param(
            ONE_AND_A_HALF_HOUR.context(history=stored(ONE_AND_A_HALF, ONE_AND_A_HALF)),
            Status.FAIL,
            id="1.5x-fails-by-the-third-hour",
        ),
        pytest.param(
            ONE_AND_A_HALF_HOUR.context(history=stored(ONE_AND_A_HALF)), Status.PASS, id="1.5x-not-yet-at-hour-2"
        ),
        pytest.param(ONE_AND_A_HALF_HOUR.context(), Status.PASS, id="1.5x-not-at-hour-1"),
        pytest.param(
            Hour(5, on=Cohort(800, failing=0), off=Cohort(15_200, failing=456)).context(),
            Status.PASS,
            id="on-better",
        ),
        pytest.param(Hour(5, on=Cohort(6, failing=3), off=Cohort(3_000)).context(), Status.NODATA, id="tiny-on"),
        pytest.param(Hour(5, on=Cohort(0), off=Cohort(3_000, failing=30)).context(), Status.NODATA, id="no-on"),
        pytest.param(Hour(5, on=Cohort(0), off=Cohort(0)).context(), Status.NODATA, id="no-traffic-never-pass"),
        pytest.param(Hour(0, on=Cohort(0), off=Cohort(3_000, failing=30)).context(), Status.SKIP, id="0pct-no-allow"),
        pytest.param(
            Hour(5, on=Cohort(100, failing=50), off=Cohort(3_000), enabled=False, allow=3).context(),
            Status.SKIP,
            id="disabled-with-allowlist",
        ),
        pytest.param(Hour(100, on=Cohort(3_000, failing=300), off=Cohort(0)).context(), Status.SKIP, id="100pct"),
        pytest.param(
            Hour(0, on=Cohort(0), off=Cohort(3_000, failing=30), allow=8, allowlisted=Cohort(8, 20, 6)).context(),
            Status.FAIL,
            id="allowlist-phase-regression",
        ),
        pytest.param(
            Hour(5, on=Cohort(800, failing=24), off=Cohort(15_200, failing=456), anonymous=(5_000, 2_500)).context(),
            Status.PASS,
            id="anonymous-errors-belong-to-no-cohort",
        ),
    ],
)
def test_cohort_status(c: CheckContext, expected: Status) -> None:
    got = check_cohort_regression(c)
    assert got.name == "cohort_regression"
    assert got.status is expected, got.summary


def test_the_retry_storm_would_have_failed_counted_in_requests() -> None:
    ev = check_cohort_regression(RETRY_STORM.context()).evidence
    assert isinstance(ev, CohortEvidence)
    assert ev.on.errors_5xx == 60 and ev.on.failing_passengers == 1
    p = one_sided_greater_p(ev.on.errors_5xx, ev.on.requests or 0, ev.off.errors_5xx or 0, ev.off.requests or 0)
    assert p is not None and p < 1e-10  # requests as units: the old rule's FAIL on one client


def evidence_of(got: CheckResult) -> CohortEvidence:
    assert isinstance(got.evidence, CohortEvidence)
    return got.evidence


def test_fail_evidence_reports_every_figure() -> None:
    got = check_cohort_regression(DOUBLING.context())
    ev = evidence_of(got)
    assert (ev.on.passengers, ev.on.failing_passengers, ev.on.units, ev.on.first_failures) == (900, 53, 900, 53)
    off = (ev.off.passengers, ev.off.failing_passengers, ev.off.units, ev.off.first_failures)
    assert off == (17_100, 506, 17_100, 506)
    assert (ev.on.requests, ev.on.errors_5xx, ev.off.requests, ev.off.errors_5xx) == (9_000, 53, 171_000, 506)
    assert ev.hour == HourCounts(900, 17_100, 53, 506, 900, 17_100, 53, 506, 9_000, 53, 171_000, 506).to_dict()
    assert ev.phase == ev.hour
    assert ev.ratio == pytest.approx((53 / 900) / (506 / 17_100))
    assert ev.interval is not None and ev.interval[0] is not None and 1 < ev.interval[0] < ev.ratio
    assert ev.interval[1] is None or ev.interval[1] > ev.ratio
    assert ev.e_value is not None and ev.e_value >= 100 and ev.log_e_value == pytest.approx(math.log(ev.e_value))
    assert ev.p_value == pytest.approx(1 / ev.e_value)
    assert ev.threshold == 100 and ev.alpha == 0.01 and ev.min_relative_effect is None
    assert ev.hour_e_value == ev.e_value and ev.hour_ratio == pytest.approx(ev.ratio)
    assert (ev.hours, ev.checkpoints, ev.fail_since) == (1.0, 1, None)
    assert ev.hours_to_decide == 0 and ev.needed_requests is None
    assert got.summary.startswith("ON worse than OFF: ON/OFF 1.99× (anytime-valid ")
    assert "FAIL at 100" in got.summary
    assert "first failures this hour: ON 53 of 900 passengers, OFF 506 of 17,100" in got.summary


def test_a_fail_stands_for_the_rest_of_the_phase() -> None:
    first = evidence_of(check_cohort_regression(DOUBLING.context()))
    assert first.hour is not None
    later = check_cohort_regression(A_A.context(history=stored(HourCounts.from_dict(first.hour), labels=("h1",))))
    assert later.status is Status.FAIL
    assert later.summary.startswith("FAIL since h1 (stands for the rest of the phase): ")
    ev = evidence_of(later)
    assert ev.fail_since == "h1" and ev.checkpoints == 2 and ev.hours == 2.0
    assert ev.p_value is not None and ev.p_value <= 0.01


def test_warn_says_how_many_more_hours_at_this_rate() -> None:
    got = check_cohort_regression(SMALL_COHORT.context())
    ev = evidence_of(got)
    assert ev.hour_e_value is not None and 10 <= ev.hour_e_value < 100
    assert ev.hours_to_decide is not None and ev.hours_to_decide > 0
    assert got.summary.startswith("ON worse this hour (e=")
    assert ev.hours_to_decide == pytest.approx(0.47, abs=0.01)
    assert "; ≈28 min more at this rate to decide — ON/OFF 5.56× (anytime-valid " in got.summary


def test_nodata_says_how_much_more_traffic_over_the_phase() -> None:
    # 30 ON requests this hour and 40 at an earlier checkpoint: 70 of 100 over 2 h, 30 more ≈ 0.86 h at 35/h.
    earlier = HourCounts(8, 600, 0, 3, on_requests=40, off_requests=3_000)
    got = check_cohort_regression(Hour(5, on=Cohort(6), off=Cohort(600)).context(history=stored(earlier)))
    ev = evidence_of(got)
    assert got.status is Status.NODATA
    assert ev.needed_requests == 30 and ev.needed_hours == pytest.approx(30 / 35)
    assert got.summary == (
        "ON cohort 70 requests over the phase, needs 30 more (≈51 min at the current rate) for a verdict (min 100)"
    )
    no_on = check_cohort_regression(Hour(5, on=Cohort(0), off=Cohort(600)).context())
    assert evidence_of(no_on).needed_requests == 100 and evidence_of(no_on).needed_hours is None
    assert "hours unknown" in no_on.summary


def test_enough_on_requests_over_the_phase_judge_a_quiet_hour() -> None:
    earlier = HourCounts(100, 3_000, 0, 30, on_requests=500, off_requests=15_000)
    got = check_cohort_regression(Hour(5, on=Cohort(6), off=Cohort(600)).context(history=stored(earlier)))
    assert got.status is Status.PASS and evidence_of(got).phase["on_requests"] == 530  # type: ignore[index]


def test_a_relative_margin_sits_inside_the_null() -> None:
    history = stored(ONE_AND_A_HALF, ONE_AND_A_HALF)
    margin = Thresholds(min_relative_effect=0.5)
    got = check_cohort_regression(ONE_AND_A_HALF_HOUR.context(history=history, thresholds=margin))
    assert got.status is not Status.FAIL  # 1.5× is not "more than 1.5× worse"
    assert evidence_of(got).min_relative_effect == 0.5
    assert "for ON more than 1.5× worse" in got.summary
    tripled = Hour(5, on=Cohort(800, failing=72), off=Cohort(15_200, failing=456))
    assert check_cohort_regression(tripled.context(thresholds=margin)).status is Status.FAIL


def test_alpha_sets_the_threshold() -> None:
    ev = evidence_of(check_cohort_regression(A_A.context(thresholds=Thresholds(alpha=0.001))))
    assert ev.threshold == pytest.approx(1000) and ev.alpha == 0.001


def test_a_passenger_fails_at_most_once_per_phase() -> None:
    c = RETRY_STORM.context()
    storming = passenger_key(hashes(1, 0, 5)[0])
    again = RETRY_STORM.context(entered_before=frozenset({storming}))
    first, second = evidence_of(check_cohort_regression(c)), evidence_of(check_cohort_regression(again))
    assert (first.on.units, first.on.first_failures) == (100, 1)
    assert (second.on.units, second.on.first_failures) == (99, 0)  # no longer at risk
    assert (second.on.passengers, second.on.failing_passengers) == (100, 1)  # still seen, still failing


def test_cohorts_follow_the_resolver() -> None:
    h = Hour(
        5,
        on=Cohort(10, each=10, failing=2),
        off=Cohort(90, each=10, failing=1),
        allow=2,
        allowlisted=Cohort(2, each=25, failing=2, errors=2),
        anonymous=(70, 7),
    )
    c = h.context()
    assert split_cohorts(c.stats.cohorts, True, 5) == ((150, 6), (900, 1))
    assert split_cohorts(c.stats.cohorts, False, 5) == ((0, 0), (1050, 7))  # disabled: everyone OFF
    ev = evidence_of(check_cohort_regression(c))
    assert (ev.on.passengers, ev.on.failing_passengers, ev.off.passengers) == (12, 4, 90)
    assert ev.anonymous.model_dump() == {"requests": 70, "errors_5xx": 7}


def test_overlapping_windows_count_their_hours_once() -> None:
    same = stored(HourCounts(1_000, 19_000, 30, 570))
    same[0].window = Window(start=END - timedelta(minutes=30), end=END + timedelta(minutes=30))
    ev = evidence_of(check_cohort_regression(A_A.context(history=same)))
    assert ev.checkpoints == 2 and ev.hours == 1.5
    assert hours_covered([]) == 0.0


def test_phase_hours_fold_oldest_first_and_skip_checkpoints_without_counts() -> None:
    hours = stored(HourCounts(1, 2, 0, 0), HourCounts(3, 4, 0, 1), labels=("a", "b"))
    without = checkpoint("c", Status.WARN, [result("cohort_regression", Status.ERROR)])
    skipped = checkpoint("d", Status.PASS, [result("cohort_regression", Status.SKIP, hour=None)])
    folded = phase_hours([without, *hours, skipped])
    assert [h.label for h in folded] == ["a", "b"]
    assert folded[1].hour == HourCounts(3, 4, 0, 1)


def test_skip_records_no_hour() -> None:
    ev = evidence_of(check_cohort_regression(Hour(100, on=Cohort(3_000), off=Cohort(0)).context()))
    assert ev.hour is None and ev.e_value is None and ev.on.passengers == 3_000


# Per-passenger bets (`monitor.checks.bets`) -------------------------------------------------------------------
def test_the_verdict_bets_and_stored_bets_fold_again() -> None:
    """Three hours of 1.5× whose stored evidence is the check's own (counts and bets): FAIL by the third, not at
    the second; a restart reads the same bets back, so the figures equal a one-shot fold."""
    first = evidence_of(check_cohort_regression(ONE_AND_A_HALF_HOUR.context()))
    assert first.evidence_unit == "bets" and first.bets is not None and first.entered == 36 + 456
    second = check_cohort_regression(ONE_AND_A_HALF_HOUR.context(history=stored(first)))
    assert second.status is Status.PASS
    third = check_cohort_regression(ONE_AND_A_HALF_HOUR.context(history=stored(first, evidence_of(second))))
    assert third.status is Status.FAIL
    assert "; bets on 36 ON + 456 OFF passengers entering this hour" in third.summary
    state = replay([HourCounts.from_dict(first.hour)] * 3, design_of(Thresholds()), [Bets.from_dict(first.bets)] * 3)
    assert evidence_of(third).log_e_value == pytest.approx(log_mixture(state.log_lr, design_of(Thresholds())))


def test_busy_passengers_enter_without_a_5xx_and_allowlisted_ones_bet_on_their_own_traffic() -> None:
    h = Hour(
        5,
        on=Cohort(40, each=30, failing=2),
        off=Cohort(760, each=5, failing=10),
        allow=3,
        allowlisted=Cohort(3, each=25, failing=1, errors=2),
    )
    ev = evidence_of(check_cohort_regression(h.context()))
    assert ev.bets is not None
    bets = Bets.from_dict(ev.bets)
    assert bets.on == ((0, request_bin(30), 38), (1, request_bin(30), 2))  # every busy ON passenger enters
    assert bets.off == ((1, 5, 10),)  # quiet OFF passengers wait for a 5xx
    assert bets.allow == ((0, request_bin(25), 2), (2, request_bin(25), 1))
    assert ev.entered == 53 and bets.rollout == 5
    keys = {passenger_key(p) for p in hashes(40, 0, 5)}
    again = check_cohort_regression(h.context(entered_before=frozenset(keys)))
    assert evidence_of(again).on.units == 3  # the allowlisted testers; the 40 entered earlier are not at risk


def test_a_relative_margin_or_an_allowlist_only_phase_uses_the_split() -> None:
    margin = evidence_of(check_cohort_regression(A_A.context(thresholds=Thresholds(min_relative_effect=0.2))))
    assert margin.evidence_unit == "split" and margin.bets is not None  # recorded, not what the verdict folds
    testers = Hour(0, on=Cohort(0), off=Cohort(3_000, failing=30), allow=8, allowlisted=Cohort(8, 20, 6))
    only = evidence_of(check_cohort_regression(testers.context()))
    assert only.evidence_unit == "split" and only.bets is None
