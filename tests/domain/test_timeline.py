"""The flag's config over time (monitor.domain.timeline): eras reconstructed from the live config and the whole
`rollout set` audit, and the decision segments of a window judged against them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.domain import Checkpoint, ExpectedConfig, FlagConfig, Status, Window
from monitor.domain.timeline import Era, SegmentPlan, config_eras, plan_segments

START = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
TTL = timedelta(seconds=60)
ALLOW = frozenset({"aa", "bb"})


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def row(at: datetime, before: int | bool, after: int | bool) -> dict[str, Any]:
    """An audit row; an int is a rollout % with the switch on, False the switch off (at 0%)."""

    def state(value: int | bool) -> dict[str, Any]:
        if value is False:
            return {"enabled": False, "rollout_percentage": 0}
        return {"enabled": True, "rollout_percentage": int(value)}

    return {"at": at, "before": state(before), "after": state(after), "actor": "t", "reason": "r"}


def live(rollout: int, since: datetime | None, enabled: bool = True) -> FlagConfig:
    return FlagConfig(key="f", enabled=enabled, rollout_percentage=rollout, updated_at=since)


def plan(config: FlagConfig, audit: list[dict[str, Any]], history: list[Checkpoint] | None = None) -> SegmentPlan:
    eras = config_eras(config, ALLOW, audit, history or [])
    return plan_segments(eras, ms(START), ms(END), TTL)


def shape(p: SegmentPlan) -> list[tuple[str, list[str]]]:
    return [(s.judged_against, s.describe()) for s in p.segments]


def checkpoint(created: datetime, rollout: int, updated_at: datetime) -> Checkpoint:
    return Checkpoint(
        feature="f",
        phase="p",
        label="h",
        run_key=f"k{created.isoformat()}",
        status=Status.PASS,
        window=Window(start=created - timedelta(hours=1), end=created),
        live_config={"enabled": True, "rollout_percentage": rollout, "updated_at": updated_at.isoformat()},
        expected=ExpectedConfig(),
        checks=[],
        created_at=created,
        allowlist_hashes=["cc"],
    )


def test_two_changes_after_the_window_leave_it_judged_at_its_own_config() -> None:
    """`rollout set 10` then `rollout set 5` minutes after the window: the window ran on the 5% before both."""
    t1, t2 = END + timedelta(minutes=4), END + timedelta(minutes=9)
    audit = [row(t2, 10, 5), row(t1, 5, 10)]  # newest first
    p = plan(live(5, t2), audit)
    assert shape(p) == [("previous", ["5%"])]
    assert p.in_force.rollout_percentage == 5 and p.bounds == []


def test_a_change_inside_the_window_and_another_after_it_are_judged_segment_by_segment() -> None:
    t1, t2 = START + timedelta(minutes=20), END + timedelta(minutes=5)
    p = plan(live(5, t2), [row(t2, 10, 5), row(t1, 5, 10)])
    assert shape(p) == [("previous", ["5%"]), ("grace", ["5%", "10%"]), ("previous", ["10%"])]
    assert p.bounds == [ms(t1), ms(t1 + TTL)]
    assert p.in_force.rollout_percentage == 10  # the highest exposure in the window


def test_audited_eras_carry_the_live_allowlist() -> None:
    t1 = START + timedelta(minutes=20)
    p = plan(live(10, t1), [row(t1, 5, 10)])
    assert shape(p) == [("previous", ["5%"]), ("grace", ["5%", "10%"]), ("live", ["10%"])]
    assert {s.states[0].allowlist_hashes for s in p.segments} == {tuple(sorted(ALLOW))}


def test_changes_closer_than_the_cache_ttl_share_one_grace_accepting_every_config_they_span() -> None:
    t1 = START + timedelta(minutes=20)
    t2 = t1 + timedelta(seconds=30)
    p = plan(live(1, t2), [row(t2, 10, 1), row(t1, 5, 10)])
    assert shape(p) == [("previous", ["5%"]), ("grace", ["5%", "10%", "1%"]), ("live", ["1%"])]
    assert p.segments[1].from_ms == ms(t1) and p.segments[1].until_ms == ms(t2 + TTL)


def test_a_change_made_outside_rollout_set_makes_what_came_before_it_unverifiable() -> None:
    audited, manual = START - timedelta(hours=2), START + timedelta(minutes=30)
    p = plan(live(10, manual), [row(audited, 1, 5)])
    assert shape(p) == [("unverifiable", []), ("grace", ["10%"]), ("live", ["10%"])]
    assert p.segments[1].partial  # a mismatch in the grace may be the unknown config: unverifiable, not wrong
    assert p.in_force.rollout_percentage == 10


def test_a_checkpoint_before_an_unaudited_change_tells_the_config_before_it() -> None:
    audited, manual = START - timedelta(hours=3), START + timedelta(minutes=30)
    seen = checkpoint(START - timedelta(minutes=55), 5, audited)  # recorded 5% in force since the audited change
    p = plan(live(10, manual), [row(audited, 1, 5)], [seen])
    assert shape(p) == [("previous", ["5%"]), ("grace", ["5%", "10%"]), ("live", ["10%"])]
    assert p.segments[0].states[0].allowlist_hashes == ("cc",)  # the allowlist that checkpoint saw


def test_a_checkpoint_older_than_the_latest_audited_change_tells_nothing() -> None:
    audited, manual = START - timedelta(minutes=30), START + timedelta(minutes=30)
    stale = checkpoint(START - timedelta(hours=2), 1, START - timedelta(hours=5))
    p = plan(live(10, manual), [row(audited, 1, 5)], [stale])
    assert shape(p)[0] == ("unverifiable", [])


def test_audit_rows_that_do_not_chain_leave_the_stretch_between_them_unknown() -> None:
    t1, t2 = START - timedelta(minutes=30), START + timedelta(minutes=30)
    # 1% → 5% at t1, but the change at t2 says it replaced 10%: something set 10% in between, unaudited
    p = plan(live(25, t2), [row(t2, 10, 25), row(t1, 1, 5)])
    assert shape(p)[0] == ("unverifiable", [])
    assert shape(p)[-1] == ("live", ["25%"])


def test_an_audit_row_whose_flag_change_never_committed_is_ignored() -> None:
    changed = START - timedelta(hours=1)
    failed = END + timedelta(minutes=2)  # the audit row committed, the flag's did not (it still says 5%)
    p = plan(live(5, changed), [row(failed, 5, 10), row(changed, 1, 5)])
    assert shape(p) == [("live", ["5%"])]


def test_a_disabled_era_is_below_every_rollout() -> None:
    t1 = START + timedelta(minutes=10)
    p = plan(live(0, t1, enabled=False), [row(t1, 5, False)])
    assert shape(p) == [("previous", ["5%"]), ("grace", ["5%", "disabled"]), ("live", ["disabled"])]
    assert p.in_force.rollout_percentage == 5 and p.in_force.enabled


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        pytest.param(None, [("live", ["5%"])], id="never-changed"),
        pytest.param(START - timedelta(seconds=20), [("grace", ["5%"]), ("live", ["5%"])], id="cache-warm-at-start"),
        pytest.param(END, [("unverifiable", [])], id="changed-at-the-end-unaudited"),
    ],
)
def test_without_audit(since: datetime | None, expected: list[tuple[str, list[str]]]) -> None:
    assert shape(plan(live(5, since), [])) == expected


def test_eras_oldest_first_with_their_origin() -> None:
    t1, t2 = START, START + timedelta(minutes=10)
    eras = config_eras(live(5, t2), ALLOW, [row(t2, 10, 5), row(t1, 5, 10)])
    assert [(e.since, e.state.rollout_percentage if e.state else None, e.origin) for e in eras] == [
        (None, 5, "audit"),
        (t1, 10, "audit"),
        (t2, 5, "live"),
    ]
    assert isinstance(eras[0], Era)
