"""The store's questions behind the rollout's story, on a real PostgreSQL: every checkpoint of a feature across its
phases in the order of the windows they judged, its phases in the order they began, and the audit it reads."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from test_checkpoints import T0, make_checkpoint

from monitor.store.checkpoints import PostgresCheckpointStore, record_rollout


def test_timeline_is_every_phase_in_window_order_and_only_this_feature(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    hour = timedelta(hours=1)
    store.save(make_checkpoint("h1", phase="1%", at=T0))
    store.save(make_checkpoint("h2", phase="1%", at=T0 + hour))
    store.save(make_checkpoint("h1", phase="5%", at=T0 + 3 * hour))
    store.save(make_checkpoint("h1", feature="other", phase="5%", at=T0 + 2 * hour))
    # A replay of an earlier hour, stored last: the story puts it where its window is.
    store.save(make_checkpoint("replay", phase="5%", at=T0 + 2 * hour))
    # Two checkpoints of one window: the one stored first comes first.
    store.save(make_checkpoint("again-a", phase="5%", at=T0 + 4 * hour, run_key="a"))
    store.save(make_checkpoint("again-b", phase="5%", at=T0 + 4 * hour, run_key="b"))

    timeline = store.timeline("fav")
    assert [(cp.phase, cp.label) for cp in timeline] == [
        ("1%", "h1"),
        ("1%", "h2"),
        ("5%", "replay"),
        ("5%", "h1"),
        ("5%", "again-a"),
        ("5%", "again-b"),
    ]
    assert timeline[0] == store.history("fav", "1%")[-1]  # the whole checkpoint, as history reads it
    assert store.phases("fav") == ["1%", "5%"]
    assert store.timeline("nothing") == [] and store.phases("nothing") == []


def test_the_audit_the_story_reads_is_newest_first_per_feature(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    store.migrate()
    with psycopg.connect(pg_url) as conn:
        for minutes, reason, feature in ((0, "first", "fav"), (30, "second", "fav"), (10, "elsewhere", "other")):
            record_rollout(
                conn,
                feature=feature,
                actor="alice",
                at=T0 + timedelta(minutes=minutes),
                reason=reason,
                before={"enabled": True, "rollout_percentage": 1},
                after={"enabled": True, "rollout_percentage": 5},
            )
    rows = store.rollout_audit("fav")
    assert [r["reason"] for r in rows] == ["second", "first"]
    assert rows[0]["before"] == {"enabled": True, "rollout_percentage": 1} and rows[0]["at"] == T0 + timedelta(
        minutes=30
    )
