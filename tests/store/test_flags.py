"""PostgresFlagSource on a real PostgreSQL: both flag schemas, allowlists, mirrors, and the errors an operator sees."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from monitor.errors import ConfigError, FlagNotFoundError, StoreError
from monitor.store.flags import PostgresFlagSource, create_flag_tables, upsert_flag

FEATURE = "passenger_favorites_matching"
UPDATED = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_flag_round_trips(pg_url: str, schema: str) -> None:
    create_flag_tables(pg_url, schema=schema)
    upsert_flag(pg_url, schema, FEATURE, True, 5, ["p-2", "p-1", "p-3"], UPDATED)

    config = PostgresFlagSource(pg_url, schema=schema).get(FEATURE)

    assert (config.key, config.enabled, config.rollout_percentage) == (FEATURE, True, 5)
    assert config.allowlist == ("p-1", "p-2", "p-3")
    assert config.updated_at == UPDATED and config.updated_at.tzinfo == UTC
    expected_mirror = {"enabled": True, "rollout_percentage": 5} if schema == "columns" else None
    assert config.mirror == expected_mirror


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_empty_allowlist_and_disabled_flag(pg_url: str, schema: str) -> None:
    create_flag_tables(pg_url, schema=schema)
    upsert_flag(pg_url, schema, FEATURE, False, 0, [], UPDATED)
    config = PostgresFlagSource(pg_url, schema=schema).get(FEATURE)
    assert (config.enabled, config.rollout_percentage, config.allowlist) == (False, 0, ())


@pytest.mark.parametrize(
    ("mirror", "expected"),
    [
        pytest.param(True, {"enabled": True, "rollout_percentage": 10}, id="agreeing"),
        pytest.param(
            {"enabled": True, "rollout_percentage": 5}, {"enabled": True, "rollout_percentage": 5}, id="disagreeing"
        ),
        pytest.param(False, None, id="null"),
    ],
)
def test_columns_config_json_is_the_mirror(pg_url: str, mirror: bool | dict[str, object], expected: object) -> None:
    create_flag_tables(pg_url, schema="columns")
    upsert_flag(pg_url, "columns", FEATURE, True, 10, ["a"], UPDATED, mirror=mirror)
    assert PostgresFlagSource(pg_url).get(FEATURE).mirror == expected


def test_upsert_replaces_the_allowlist(pg_url: str) -> None:
    create_flag_tables(pg_url)
    upsert_flag(pg_url, "columns", FEATURE, True, 1, ["a", "b"], UPDATED)
    upsert_flag(pg_url, "columns", FEATURE, True, 5, ["c"], UPDATED)
    config = PostgresFlagSource(pg_url).get(FEATURE)
    assert (config.rollout_percentage, config.allowlist) == (5, ("c",))


def test_allowlists_of_other_flags_do_not_leak(pg_url: str) -> None:
    create_flag_tables(pg_url)
    upsert_flag(pg_url, "columns", FEATURE, True, 1, ["mine"], UPDATED)
    upsert_flag(pg_url, "columns", "other_flag", True, 1, ["theirs"], UPDATED)
    assert PostgresFlagSource(pg_url).get(FEATURE).allowlist == ("mine",)


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_unknown_flag(pg_url: str, schema: str) -> None:
    create_flag_tables(pg_url, schema=schema)
    with pytest.raises(FlagNotFoundError) as caught:
        PostgresFlagSource(pg_url, schema=schema).get("nope")
    assert str(caught.value) == "feature flag 'nope' not found in feature_flags: check the FEATURE argument"


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_missing_flag_table_names_table_and_settings(pg_url: str, schema: str) -> None:
    with pytest.raises(StoreError) as caught:
        PostgresFlagSource(pg_url, schema=schema, flags_table="flags_v2").get(FEATURE)
    message = str(caught.value)
    assert message.startswith("table flags_v2 not found in the backend's flag database")
    assert "BETA_MONITOR_FLAGS_TABLE" in message and f"BETA_MONITOR_FLAG_SCHEMA (now '{schema}')" in message


def test_missing_allowlist_table_names_its_setting(pg_url: str) -> None:
    create_flag_tables(pg_url)
    upsert_flag(pg_url, "columns", FEATURE, True, 5, [], UPDATED)
    with pytest.raises(StoreError, match=r"table allow_v2 not found .* check BETA_MONITOR_ALLOWLIST_TABLE"):
        PostgresFlagSource(pg_url, allowlist_table="allow_v2").get(FEATURE)


@pytest.mark.parametrize(("created", "read_as"), [("json", "columns"), ("columns", "json")])
def test_wrong_schema_setting_is_named(pg_url: str, created: str, read_as: str) -> None:
    create_flag_tables(pg_url, schema=created)
    with pytest.raises(StoreError, match=f"does not have the '{read_as}' flag layout .* BETA_MONITOR_FLAG_SCHEMA$"):
        PostgresFlagSource(pg_url, schema=read_as).get(FEATURE)


def _set_json_value(url: str, raw: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO feature_flags (flag_key, value, updated_at) VALUES (%s, %s::jsonb, now())", (FEATURE, raw)
        )


@pytest.mark.parametrize(
    ("raw", "enabled", "percentage", "allowlist"),
    [
        pytest.param('{"enabled": true}', True, 0, (), id="only-enabled"),
        pytest.param('{"percentage": 25.0, "force_on": [7, "x"]}', False, 25, ("7", "x"), id="float-pct-int-ids"),
        pytest.param("null", False, 0, (), id="null-value"),
    ],
)
def test_json_value_defaults(pg_url: str, raw: str, enabled: bool, percentage: int, allowlist: tuple[str, ...]) -> None:
    create_flag_tables(pg_url, schema="json")
    _set_json_value(pg_url, raw)
    config = PostgresFlagSource(pg_url, schema="json").get(FEATURE)
    assert (config.enabled, config.rollout_percentage, config.allowlist) == (enabled, percentage, allowlist)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param('{"enabled": "yes"}', "value.enabled", id="enabled-string"),
        pytest.param('{"enabled": true, "percentage": 150}', "value.percentage", id="pct-too-big"),
        pytest.param('{"enabled": true, "percentage": 2.5}', "value.percentage", id="pct-fraction"),
        pytest.param('{"enabled": true, "force_on": "abc"}', "value.force_on", id="force-on-string"),
        pytest.param("[1, 2]", "JSON object", id="array"),
    ],
)
def test_malformed_json_value_is_a_store_error(pg_url: str, raw: str, fragment: str) -> None:
    create_flag_tables(pg_url, schema="json")
    _set_json_value(pg_url, raw)
    with pytest.raises(StoreError, match=fragment):
        PostgresFlagSource(pg_url, schema="json").get(FEATURE)


def test_schema_qualified_table_names(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA backend")
    flags, allow = "backend.flags", "backend.flag_allow"
    create_flag_tables(pg_url, "columns", flags_table=flags, allowlist_table=allow)
    upsert_flag(pg_url, "columns", FEATURE, True, 50, ["z"], UPDATED, flags_table=flags, allowlist_table=allow)
    config = PostgresFlagSource(pg_url, flags_table=flags, allowlist_table=allow).get(FEATURE)
    assert (config.rollout_percentage, config.allowlist) == (50, ("z",))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("flags; DROP TABLE x", id="injection"),
        pytest.param("a.b.c", id="too-many-parts"),
        pytest.param('fl"ags', id="quote"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_table_names_are_config_errors(pg_url: str, name: str) -> None:
    with pytest.raises(ConfigError, match="BETA_MONITOR_FLAGS_TABLE"):
        PostgresFlagSource(pg_url, flags_table=name)


def test_unknown_schema_is_a_config_error(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="BETA_MONITOR_FLAG_SCHEMA"):
        PostgresFlagSource(pg_url, schema="yaml")


@pytest.mark.parametrize("schema", ["columns", "json"])
def test_all_flags_with_their_allowlists(pg_url: str, schema: str) -> None:
    create_flag_tables(pg_url, schema=schema)
    upsert_flag(pg_url, schema, "b_five", True, 5, ["p-2", "p-1"], UPDATED)
    upsert_flag(pg_url, schema, "a_one", True, 1, [], UPDATED)
    upsert_flag(pg_url, schema, "c_off", False, 0, [], UPDATED)

    flags = PostgresFlagSource(pg_url, schema=schema).all_flags()

    assert [(f.key, f.enabled, f.rollout_percentage, f.allowlist) for f in flags] == [
        ("a_one", True, 1, ()),
        ("b_five", True, 5, ("p-1", "p-2")),
        ("c_off", False, 0, ()),
    ]
    assert [f.in_rollout for f in flags] == [True, True, False]


def test_all_flags_leaves_out_a_malformed_json_row(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    create_flag_tables(pg_url, schema="json")
    upsert_flag(pg_url, "json", "good", True, 5, [], UPDATED)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO feature_flags (flag_key, value) VALUES ('bad', '{\"percentage\": 500}')")
    with caplog.at_level("WARNING", logger="beta_monitor"):
        flags = PostgresFlagSource(pg_url, schema="json").all_flags()
    assert [f.key for f in flags] == ["good"]
    assert any(getattr(r, "flag", None) == "bad" for r in caplog.records)


def test_all_flags_names_a_missing_table(pg_url: str) -> None:
    with pytest.raises(StoreError, match="BETA_MONITOR_FLAGS_TABLE"):
        PostgresFlagSource(pg_url).all_flags()
