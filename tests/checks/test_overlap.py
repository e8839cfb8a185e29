"""Overlapping rollouts in cohort_regression: a 1% and a 5% flag share bucket 0 (unsalted buckets).

Traffic is built at exact counts per bucket range (no randomness): the shares and the attribution read as the
traffic they describe.
"""

from __future__ import annotations

from datetime import timedelta

from helpers_checks import BUCKETER, checkpoint, config, ctx, hashes, requests, result, stats

from monitor.checks.base import CheckContext
from monitor.checks.cohort import check_cohort_regression
from monitor.checks.overlap import ATTRIBUTABLE, NOT_ATTRIBUTABLE, UNDECIDED, phase_overlaps
from monitor.checks.sequential import HourCounts
from monitor.domain import CheckResult, FlagConfig, Status, Window, passenger_key
from monitor.domain.evidence import CohortEvidence, Overlap
from monitor.domain.flag import OtherFlag
from monitor.phaselog.render import render_entry
from monitor.planning import other_flags

OTHER = "other_flag"
# Passengers per bucket range and how many of them fail once (each makes 5 requests): bucket 0, buckets 1–4, the rest.
B0, B1_4, REST = 150, 700, 15_000


def traffic(
    rollout: int, failing: tuple[int, int, int], others: tuple[OtherFlag, ...] | None, **kw: object
) -> CheckContext:
    """A window of the flag at `rollout` % with `failing` passengers failing in bucket 0, buckets 1–4 and 5–99."""
    cfg = config(rollout=rollout)
    s = stats(cfg)
    for (low, high, n), bad in zip(((0, 1, B0), (1, 5, B1_4), (5, 100, REST)), failing, strict=True):
        for i, h in enumerate(hashes(n, low, high)):
            requests(s, 5, 1 if i < bad else 0, passenger=h)
    return ctx(s, cfg, other_flags=others, **kw)


def at(percent: int, *allowlisted: str) -> tuple[OtherFlag, ...]:
    keys = frozenset(passenger_key(h) for h in allowlisted)
    return (OtherFlag(name=OTHER, rollout_percentage=percent, allowlist_keys=keys),)


def judged(c: CheckContext) -> tuple[CheckResult, CohortEvidence, Overlap]:
    r = check_cohort_regression(c)
    assert isinstance(r.evidence, CohortEvidence) and r.evidence.overlap is not None
    return r, r.evidence, r.evidence.overlap


CLEAN = (3, 14, 300)  # 2% of every range fails
ONE_PCT_BROKEN = (90, 14, 300)  # bucket 0 (the 1% flag's ON cohort) fails at 60%
FIVE_PCT_BROKEN = (3, 280, 300)  # buckets 1–4 (only the 5% flag is ON there) fail at 40%


def test_the_1pct_flag_sees_all_its_on_passengers_on_for_the_5pct_flag() -> None:
    r, _, ov = judged(traffic(1, CLEAN, at(5)))
    assert r.status is Status.PASS
    assert (ov.on_passengers, ov.shared, ov.share, ov.phase_share) == (B0, B0, 1.0, 1.0)
    [flag] = ov.flags or []
    assert (flag.name, flag.rollout_percentage, flag.also_on, flag.share, flag.phase_share) == (OTHER, 5, B0, 1.0, 1.0)
    assert ov.exclusive is not None and ov.exclusive.hour is not None
    assert ov.exclusive.hour["on_units"] == 0  # no exclusive part
    assert ov.others_only is not None and ov.others_only.hour is not None
    assert ov.others_only.hour["on_units"] == B1_4  # buckets 1–4: ON for the 5% flag only
    assert ov.others_only.hour["off_units"] == REST


def test_the_5pct_flag_sees_a_fifth_of_its_on_passengers_on_for_the_1pct_flag() -> None:
    _, ev, ov = judged(traffic(5, CLEAN, at(1)))
    assert (ov.on_passengers, ov.shared) == (B0 + B1_4, B0)
    assert ov.share == B0 / (B0 + B1_4)
    x = (ov.exclusive.hour if ov.exclusive else None) or {}
    assert (x["on_units"], x["on_failing"]) == (B1_4, 14)
    # the exclusive part's control is the flag's own OFF cohort, as in the main test
    assert ev.hour is not None
    assert (x["off_units"], x["off_failing"]) == (ev.hour["off_units"], ev.hour["off_failing"])
    assert ov.others_only is not None and (ov.others_only.hour or {})["on_units"] == 0  # a 1% flag inside 5%


def test_regression_only_in_the_1pct_flag_is_not_attributable_to_the_5pct_flag() -> None:
    r, ev, ov = judged(traffic(5, ONE_PCT_BROKEN, at(1)))
    assert r.status is Status.FAIL  # a FAIL stays a FAIL: the attribution explains it
    assert ov.attribution == NOT_ATTRIBUTABLE and ov.exclusive is not None and ov.exclusive.verdict != "FAIL"
    interval = ov.exclusive.interval
    assert interval is not None and ev.interval is not None
    assert interval[1] is not None and ev.interval[0] is not None and interval[1] <= ev.interval[0]
    assert "not attributable to this flag alone" in r.summary and OTHER in r.summary


def test_the_1pct_flag_with_the_regression_is_attributable_by_the_5pct_flags_passengers_without_it() -> None:
    """No exclusive part (every ON passenger is ON for the 5% flag), but the 5% flag's passengers without this one
    (buckets 1–4) are clean: the excess is where the 1% flag is ON."""
    r, ev, ov = judged(traffic(1, ONE_PCT_BROKEN, at(5)))
    assert r.status is Status.FAIL
    assert ov.exclusive is not None and (ov.exclusive.hour or {})["on_units"] == 0
    assert ov.others_only is not None and ov.others_only.verdict != "FAIL"
    interval = ov.others_only.interval
    assert interval is not None and interval[1] is not None and ev.interval is not None
    assert ev.interval[0] is not None and interval[1] <= ev.interval[0]
    assert ov.attribution == ATTRIBUTABLE and ov.attribution_reason is not None
    assert "100.00% of its ON passengers are also ON for other_flag" in ov.attribution_reason
    assert "attributable: the passengers ON for another flag but not this one fail less" in r.summary


def test_the_1pct_flag_is_not_blamed_when_the_5pct_flag_hurts_its_passengers_without_it() -> None:
    r, _, ov = judged(traffic(1, (60, 280, 300), at(5)))  # buckets 0–4 (the 5% flag's ON cohort) fail at 40%
    assert r.status is Status.FAIL
    assert ov.others_only is not None and ov.others_only.verdict == "FAIL"
    assert ov.attribution == NOT_ATTRIBUTABLE
    assert "the regression follows the other flag" in r.summary


def test_undecided_when_neither_part_says_anything() -> None:
    # one hour: bucket 0 at 13% FAILs, buckets 1–4 at 3.4% are neither clearly worse than no flag nor clearly
    # below the 1% flag's excess
    r, _, ov = judged(traffic(1, (20, 24, 300), at(5)))
    assert r.status is Status.FAIL
    assert ov.attribution == UNDECIDED and "no ON passenger has this flag alone" in (ov.attribution_reason or "")


def test_regression_in_the_5pct_flags_exclusive_buckets_is_attributable() -> None:
    r, _, ov = judged(traffic(5, FIVE_PCT_BROKEN, at(1)))
    assert r.status is Status.FAIL
    assert ov.exclusive is not None and ov.exclusive.verdict == "FAIL" and ov.attribution == ATTRIBUTABLE
    assert "attributable: the ON passengers with only this flag fail more than OFF too" in r.summary


def test_no_other_flag_leaves_the_summary_alone_and_the_exclusive_part_is_the_whole_cohort() -> None:
    r, ev, ov = judged(traffic(5, FIVE_PCT_BROKEN, ()))
    assert ov.flags == [] and ov.shared == 0 and ov.phase_share == 0.0
    assert ov.attribution == ATTRIBUTABLE and "no other flag" in (ov.attribution_reason or "")
    x = (ov.exclusive.hour if ov.exclusive else None) or {}
    assert ev.hour is not None
    assert {k: x[k] for k in ("on_units", "on_failing")} == {k: ev.hour[k] for k in ("on_units", "on_failing")}
    assert " — " not in r.summary


def test_unknown_other_flags_record_no_overlap() -> None:
    r = check_cohort_regression(traffic(5, CLEAN, None))
    assert isinstance(r.evidence, CohortEvidence) and r.evidence.overlap is None
    assert "overlap" in r.evidence.model_fields_set  # set (to None), so stored rows say so


def test_an_allowlisted_passenger_of_the_other_flag_is_shared() -> None:
    exclusive = hashes(3, 1, 5)
    _, _, ov = judged(traffic(5, CLEAN, at(1, *exclusive)))
    assert ov.shared == B0 + 3 and ov.exclusive is not None and (ov.exclusive.hour or {})["on_units"] == B1_4 - 3
    [flag] = ov.flags or []
    assert flag.allowlist_size == 3


def test_the_exclusive_evidence_accumulates_over_the_phase_from_stored_hours() -> None:
    """One hour of a mild exclusive regression is not conclusive; two stored hours like it make it attributable
    (and the phase share counts passenger-hours over every checkpoint that recorded the overlap)."""
    mild = (3, 24, 300)  # buckets 1–4 at 3.4%, the rest at 2%
    _, _, alone = judged(traffic(5, mild, at(1)))
    assert alone.exclusive is not None and alone.exclusive.verdict != "FAIL"
    earlier = []
    for i in range(2):
        stored = alone.model_dump(exclude_unset=True)
        cp = checkpoint(f"h{i + 1}", Status.PASS, [result("cohort_regression", Status.PASS, overlap=stored)])
        cp = cp.model_copy(update={"id": i + 1})
        shift = timedelta(hours=2 - i)
        cp.window = Window(start=cp.window.start - shift, end=cp.window.end - shift)
        earlier.append(cp)
    history = list(reversed(earlier))
    assert [o.exclusive for o in phase_overlaps(history)] == [alone.exclusive, alone.exclusive]
    _, _, ov = judged(traffic(5, mild, at(1), history=history))
    assert ov.exclusive is not None and ov.exclusive.checkpoints == 3 and ov.exclusive.verdict == "FAIL"
    assert ov.attribution == ATTRIBUTABLE
    assert ov.exclusive.phase is not None and ov.exclusive.phase["on_units"] == 3 * B1_4
    assert ov.phase_share == B0 / (B0 + B1_4)


def test_flag_names_cannot_inject_markdown() -> None:
    evil = "x|y\n# owned <b>"
    others = (OtherFlag(name=evil, rollout_percentage=1),)
    r = check_cohort_regression(traffic(5, ONE_PCT_BROKEN, others))
    entry = render_entry(checkpoint("h1", r.status, [r]))
    assert "\n# owned" not in entry and "<b>" not in entry
    assert "| x|y" not in entry
    assert "\n" not in r.summary


def test_other_flags_are_the_flags_in_rollout_beside_the_checked_one() -> None:
    flags = [
        FlagConfig(key="checked", enabled=True, rollout_percentage=5),
        FlagConfig(key="b_five", enabled=True, rollout_percentage=5),
        FlagConfig(key="a_allow", enabled=True, rollout_percentage=0, allowlist=("p-1",)),
        FlagConfig(key="full", enabled=True, rollout_percentage=100),
        FlagConfig(key="off", enabled=False, rollout_percentage=50),
        FlagConfig(key="zero", enabled=True, rollout_percentage=0),
    ]
    found = other_flags(flags, "checked", BUCKETER)
    assert [(f.name, f.rollout_percentage) for f in found] == [("a_allow", 0), ("b_five", 5)]
    assert found[0].allowlist_keys == frozenset({passenger_key(BUCKETER.hash_id("p-1"))})


def test_hour_counts_of_both_parts_read_back() -> None:
    _, _, ov = judged(traffic(5, CLEAN, at(1)))
    assert ov.exclusive is not None and ov.others_only is not None
    assert HourCounts.from_dict(ov.exclusive.hour or {}).on_units == B1_4
    assert HourCounts.from_dict(ov.others_only.hour or {}) == HourCounts(0, REST, 0, 300, 0, REST, 0, 300)
