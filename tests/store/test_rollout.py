"""`rollout set` on a real PostgreSQL: flag update + audit + expectation, same database and two databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from monitor.domain import ExpectedConfig
from monitor.errors import ConfigError, FlagNotFoundError, StoreError
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.flags import PostgresFlagSource, create_flag_tables, upsert_flag
from monitor.store.rollout import PostgresRolloutWriter

FEATURE = "passenger_favorites_matching"
SEEDED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 2, 9, 30, 1, 250000, tzinfo=UTC)


@pytest.fixture(params=["same-db", "two-dbs"])
def urls(request: pytest.FixtureRequest, pg_url: str) -> tuple[str, str]:
    """(flags URL, watchdog store URL)."""
    if request.param == "same-db":
        return pg_url, pg_url
    return request.getfixturevalue("second_pg_url"), pg_url


def _seed(flags_url: str, schema: str, *, mirror: bool = True) -> None:
    create_flag_tables(flags_url, schema=schema)
    upsert_flag(flags_url, schema, FEATURE, True, 5, ["p1", "p2"], SEEDED, mirror=mirror)
    upsert_flag(flags_url, schema, "bystander", True, 50, ["p9"], SEEDED)


def _flag_rows(flags_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(flags_url) as conn:
        return conn.execute("SELECT * FROM feature_flags ORDER BY 1").fetchall()


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_set_rollout_updates_flag_audit_and_expectation(urls: tuple[str, str], schema: str) -> None:
    flags_url, store_url = urls
    _seed(flags_url, schema)
    writer = PostgresRolloutWriter(flags_url, store_url, schema=schema)

    result = writer.set_rollout(FEATURE, 10, None, reason="step up", actor="alice", now=NOW)

    assert result == {
        "before": {"enabled": True, "rollout_percentage": 5},
        "after": {"enabled": True, "rollout_percentage": 10},
    }
    config = PostgresFlagSource(flags_url, schema=schema).get(FEATURE)
    assert (config.enabled, config.rollout_percentage, config.updated_at) == (True, 10, NOW)
    assert config.allowlist == ("p1", "p2")
    if schema == "columns":
        assert config.mirror == {"enabled": True, "rollout_percentage": 10}
    assert PostgresFlagSource(flags_url, schema=schema).get("bystander").rollout_percentage == 50

    store = PostgresCheckpointStore(store_url)
    assert store.expectation(FEATURE) == ExpectedConfig(rollout_percentage=10, enabled=True, source="stored")
    [audit] = store.rollout_audit(FEATURE)
    assert (audit["actor"], audit["at"], audit["reason"]) == ("alice", NOW, "step up")
    assert (audit["before"], audit["after"]) == (result["before"], result["after"])


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_disable_then_enable(urls: tuple[str, str], schema: str) -> None:
    flags_url, store_url = urls
    _seed(flags_url, schema)
    writer = PostgresRolloutWriter(flags_url, store_url, schema=schema)
    source = PostgresFlagSource(flags_url, schema=schema)

    off = writer.set_rollout(FEATURE, 5, False, reason="incident", actor="bob", now=NOW)
    assert off["after"] == {"enabled": False, "rollout_percentage": 5}
    assert source.get(FEATURE).enabled is False

    on = writer.set_rollout(FEATURE, 1, True, reason="resume", actor="bob", now=NOW)
    assert on == {
        "before": {"enabled": False, "rollout_percentage": 5},
        "after": {"enabled": True, "rollout_percentage": 1},
    }
    assert PostgresCheckpointStore(store_url).expectation(FEATURE) == ExpectedConfig(
        rollout_percentage=1, enabled=True, source="stored"
    )
    assert [a["reason"] for a in PostgresCheckpointStore(store_url).rollout_audit(FEATURE)] == ["resume", "incident"]


def test_null_config_json_stays_null(pg_url: str) -> None:
    _seed(pg_url, "columns", mirror=False)
    PostgresRolloutWriter(pg_url, pg_url).set_rollout(FEATURE, 25, None, reason="r", actor="a", now=NOW)
    config = PostgresFlagSource(pg_url).get(FEATURE)
    assert (config.rollout_percentage, config.mirror) == (25, None)


def test_json_value_keeps_other_keys(pg_url: str) -> None:
    _seed(pg_url, "json")
    PostgresRolloutWriter(pg_url, pg_url, schema="json").set_rollout(FEATURE, 0, False, reason="r", actor="a", now=NOW)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT value FROM feature_flags WHERE flag_key = %s", (FEATURE,)).fetchone()
    assert row == ({"enabled": False, "percentage": 0, "force_on": ["p1", "p2"]},)


def _assert_unchanged(flags_url: str, store_url: str, before: list[tuple[Any, ...]]) -> None:
    assert _flag_rows(flags_url) == before
    store = PostgresCheckpointStore(store_url)
    assert store.rollout_audit(FEATURE) == [] and store.rollout_audit("nope") == []
    assert store.expectation(FEATURE) is None and store.expectation("nope") is None


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_unknown_flag_changes_nothing(urls: tuple[str, str], schema: str) -> None:
    flags_url, store_url = urls
    _seed(flags_url, schema)
    before = _flag_rows(flags_url)
    with pytest.raises(FlagNotFoundError, match="feature flag 'nope' not found in feature_flags"):
        PostgresRolloutWriter(flags_url, store_url, schema=schema).set_rollout(
            "nope", 10, True, reason="r", actor="a", now=NOW
        )
    _assert_unchanged(flags_url, store_url, before)


@pytest.mark.parametrize(
    "percent",
    [
        pytest.param(101, id="above"),
        pytest.param(-1, id="below"),
        pytest.param(True, id="bool"),
        pytest.param(2.5, id="fraction"),
    ],
)
def test_bad_percent_changes_nothing(urls: tuple[str, str], percent: Any) -> None:
    flags_url, store_url = urls
    _seed(flags_url, "columns")
    before = _flag_rows(flags_url)
    with pytest.raises(ConfigError, match="between 0 and 100"):
        PostgresRolloutWriter(flags_url, store_url).set_rollout(FEATURE, percent, None, reason="r", actor="a", now=NOW)
    _assert_unchanged(flags_url, store_url, before)


def test_empty_reason_is_refused(pg_url: str) -> None:
    _seed(pg_url, "columns")
    with pytest.raises(ConfigError, match="--reason"):
        PostgresRolloutWriter(pg_url, pg_url).set_rollout(FEATURE, 10, None, reason="  ", actor="a", now=NOW)


def _break_audit(store_url: str) -> None:
    """Make every audit insert fail, as a full disk or a lost connection would."""
    PostgresCheckpointStore(store_url).migrate()
    with psycopg.connect(store_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; "
            "END $$"
        )
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON rollout_audit FOR EACH ROW EXECUTE FUNCTION refuse()")


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_failed_audit_leaves_the_flag_unchanged(urls: tuple[str, str], schema: str) -> None:
    flags_url, store_url = urls
    _seed(flags_url, schema)
    _break_audit(store_url)
    before = _flag_rows(flags_url)
    with pytest.raises(StoreError, match="audit refused"):
        PostgresRolloutWriter(flags_url, store_url, schema=schema).set_rollout(
            FEATURE, 10, None, reason="r", actor="a", now=NOW
        )
    assert _flag_rows(flags_url) == before
    assert PostgresCheckpointStore(store_url).expectation(FEATURE) is None


def test_two_databases_keep_their_own_tables(pg_url: str, second_pg_url: str) -> None:
    _seed(second_pg_url, "columns")
    PostgresRolloutWriter(second_pg_url, pg_url).set_rollout(FEATURE, 10, None, reason="r", actor="a", now=NOW)
    with psycopg.connect(second_pg_url) as conn:
        assert conn.execute("SELECT to_regclass('rollout_audit'), to_regclass('expectations')").fetchone() == (
            None,
            None,
        )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('feature_flags')").fetchone() == (None,)
