"""The input parsers under arbitrary input (hypothesis): a value is accepted within its bounds, or refused with the
one named error that exits 3 — never an OverflowError, a ValueError or a traceback."""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli.parser import build_parser
from monitor.errors import ConfigError
from monitor.planning import CheckpointRequest, compute_window
from monitor.settings import DURATION_LIMITS, MAX_WINDOW, Settings, load_settings, parse_duration, window_length

NOW = datetime(2026, 11, 22, 14, 7, 31, tzinfo=UTC)
DURATION_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A\d{1,25}(\.\d{1,5})?[smhd]?\Z"),
    st.from_regex(r"\A(\d{1,12}[smhd]){1,4}\Z"),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(DURATION_TEXT)
def test_a_window_is_within_bounds_or_a_config_error(text: str) -> None:
    try:
        length = window_length(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert timedelta(milliseconds=1) <= length <= MAX_WINDOW


@FUZZ
@given(st.one_of(DURATION_TEXT, st.floats(allow_nan=True, allow_infinity=True), st.integers()))
def test_any_duration_parses_or_is_a_config_error(value: str | float | int) -> None:
    try:
        length = parse_duration(value)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert length >= timedelta(milliseconds=1)


@FUZZ
@given(st.sampled_from(sorted(DURATION_LIMITS)), DURATION_TEXT)
def test_duration_settings_load_or_are_one_config_error(name: str, text: str) -> None:
    try:
        loaded = load_settings(**{name: text})
    except ConfigError as exc:
        assert str(exc).startswith(f"invalid setting BETA_MONITOR_{name.upper()}: ")
        return
    assert parse_duration(getattr(loaded, name)) <= DURATION_LIMITS[name]


@FUZZ
@given(
    st.sampled_from(
        ["flag_cache_ttl", "max_5xx_rate", "alpha", "latency_warn", "insights_timeout", "min_relative_effect"]
    ),
    st.one_of(st.floats(), st.text(max_size=12)),
)
def test_numeric_settings_load_or_are_one_config_error(name: str, value: float | str) -> None:
    try:
        loaded = load_settings(**{name: value})
    except ConfigError as exc:
        assert str(exc).startswith(f"invalid setting BETA_MONITOR_{name.upper()}: ")
        return
    number = getattr(loaded, name)
    assert math.isfinite(number)


def _parse(argv: list[str]) -> argparse.Namespace | int:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@FUZZ
@given(st.text(max_size=40))
def test_end_parses_to_a_utc_time_from_1970_or_exits_3(text: str) -> None:
    if text.startswith("-"):
        text = " " + text  # an option, not a value
    parsed = _parse(["checkpoint", "f", "p", "l", "--end", text])
    if isinstance(parsed, int):
        assert parsed == 3
        return
    assert parsed.end.tzinfo is UTC and parsed.end.year >= 1970


@FUZZ
@given(st.datetimes(timezones=st.timezones()), DURATION_TEXT)
def test_a_window_from_any_end_is_computed_or_a_config_error(end: datetime, window: str) -> None:
    parsed = _parse(["checkpoint", "f", "p", "l", "--end", end.isoformat()])
    if isinstance(parsed, int):
        assert parsed == 3
        return
    request = CheckpointRequest(feature="f", phase="p", label="l", window=window, end=parsed.end)
    try:
        computed, _ends_now = compute_window(Settings(), request, NOW)
    except ConfigError:
        return
    assert computed.start >= datetime(1970, 1, 1, tzinfo=UTC) and computed.end <= NOW + timedelta(minutes=1)
    assert computed.end - computed.start <= MAX_WINDOW


@FUZZ
@given(st.text(max_size=30))
def test_history_limit_is_within_bounds_or_exits_3(text: str) -> None:
    if text.startswith("-"):
        text = " " + text
    parsed = _parse(["history", "f", "--limit", text])
    assert parsed == 3 or 1 <= parsed.limit <= 10_000  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["100000000000000000000", "-1", "0", "10001"])
def test_history_limit_bounds(value: str) -> None:
    assert _parse(["history", "f", "--limit", value]) == 3
