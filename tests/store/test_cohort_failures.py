"""cohort_regression's state in the store: each checkpoint's HourCounts (in its evidence) and first-failure keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from monitor.checks.cohort import phase_hours
from monitor.checks.overlap import phase_overlaps
from monitor.checks.sequential import HourCounts
from monitor.domain import Checkpoint, CheckResult, ExpectedConfig, Status, Window
from monitor.domain.evidence import CohortEvidence
from monitor.store.checkpoints import PostgresCheckpointStore

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HOUR = HourCounts(900, 17_100, 53, 506, 905, 17_180, 55, 512, 9_000, 60, 171_000, 520)
EXTREMES = {-(2**63), -1, 0, 1, 2**63 - 1}


def cohort_checkpoint(label: str, *, phase: str = "5%", feature: str = "fav", at: datetime = T0) -> Checkpoint:
    return Checkpoint(
        feature=feature,
        phase=phase,
        label=label,
        run_key=f"{feature}|{phase}|{label}",
        status=Status.PASS,
        window=Window(start=at - timedelta(hours=1), end=at),
        live_config={"key": feature, "enabled": True, "rollout_percentage": 5},
        expected=ExpectedConfig(),
        checks=[
            CheckResult(name="cohort_regression", status=Status.PASS, summary="ok", evidence={"hour": HOUR.to_dict()})
        ],
        created_at=at,
    )


def _stored_rows(url: str) -> list[tuple[str, str, list[int]]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT feature, phase, keys FROM cohort_failures ORDER BY checkpoint_id").fetchall()


def test_hour_counts_round_trip_in_the_evidence(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    saved, _ = store.save(cohort_checkpoint("h1"))
    [read] = store.history("fav", "5%")
    evidence = read.evidence(CohortEvidence)
    assert evidence is not None and evidence.hour == HOUR.to_dict()
    assert [h.hour for h in phase_hours([read])] == [HOUR] and read == saved


def test_failure_keys_round_trip_per_feature_and_phase(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    store.save(cohort_checkpoint("h1"), EXTREMES)
    store.save(cohort_checkpoint("h2", at=T0 + timedelta(hours=1)), {42})
    asked = [*EXTREMES, 42, 7, 7]
    assert store.entered_before("fav", "5%", asked) == {*EXTREMES, 42}
    assert store.entered_before("fav", "10%", asked) == set()  # a new phase starts empty
    assert store.entered_before("other", "5%", asked) == set()
    assert store.entered_before("fav", "5%", []) == set()
    assert store.entered_before("fav", "5%", [3]) == set()


def test_a_duplicate_stores_no_failures(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    first, created = store.save(cohort_checkpoint("h1"), {1})
    again, created_again = store.save(cohort_checkpoint("h1"), {2})
    assert created and not created_again and again.id == first.id
    assert _stored_rows(pg_url) == [("fav", "5%", [1])]
    assert store.entered_before("fav", "5%", [1, 2]) == {1}


def test_no_failures_no_row(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    store.save(cohort_checkpoint("h1"))
    store.save(cohort_checkpoint("h2", at=T0 + timedelta(hours=1)), set())
    assert _stored_rows(pg_url) == []


def test_overlap_evidence_round_trips_and_folds_after_a_restart(pg_url: str) -> None:
    """The exclusive part's hour and the per-flag overlap are stored with the checkpoint: a fresh store (a restarted
    process, `report --rebuild`) reads back exactly what later checkpoints fold."""
    overlap = {
        "flags": [
            {
                "name": "other_flag",
                "rollout_percentage": 1,
                "allowlist_size": 0,
                "also_on": 180,
                "share": 0.2,
                "phase_share": 0.2,
            }
        ],
        "on_passengers": 900,
        "shared": 180,
        "share": 0.2,
        "phase_share": 0.2,
        "exclusive": {"hour": HOUR._replace(on_units=720, on_failing=40).to_dict(), "verdict": "PASS"},
        "others_only": {"hour": HourCounts(0, 16_000, 0, 480).to_dict(), "verdict": "NODATA"},
        "attribution": "attributable",
        "attribution_reason": "the ON passengers with only this flag fail more than OFF too",
    }
    cp = cohort_checkpoint("h1")
    cp.checks = [
        CheckResult(
            name="cohort_regression",
            status=Status.PASS,
            summary="ok",
            evidence={"hour": HOUR.to_dict(), "overlap": overlap},
        )
    ]
    PostgresCheckpointStore(pg_url).save(cp)
    [read] = PostgresCheckpointStore(pg_url).history("fav", "5%")
    evidence = read.evidence(CohortEvidence)
    assert evidence is not None and evidence.overlap is not None
    assert evidence.overlap.model_dump(exclude_unset=True) == overlap
    [folded] = phase_overlaps([read])
    assert folded.exclusive is not None and folded.others_only is not None
    assert HourCounts.from_dict(folded.exclusive.hour or {}) == HOUR._replace(on_units=720, on_failing=40)
    assert HourCounts.from_dict(folded.others_only.hour or {}) == HourCounts(0, 16_000, 0, 480)
