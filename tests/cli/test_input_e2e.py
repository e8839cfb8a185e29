"""Commands that must not mislead, through the installed CLI: out-of-range input is exit 3 with one line, no part of a
database password is ever printed, and the rough edges a new user meets."""

from __future__ import annotations

import json
import re
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from e2e_support import FEATURE, PHASE, World, make_world, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def _one_line_exit_3(run: object) -> str:
    code, stdout, stderr = run.code, run.stdout, run.stderr  # type: ignore[attr-defined]
    assert code == 3, stdout + stderr
    assert stdout == "" and len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    return str(stderr).strip()


# -- out-of-range input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--window", "800000d"], "window '800000d' is longer than the 7 days", id="window-800000d"),
        pytest.param(["--window", "100000000000d"], "is longer than the 7 days allowed", id="window-1e11d"),
        pytest.param(["--window", "9" * 400 + "s"], "is longer than the 7 days allowed", id="window-inf"),
        pytest.param(["--window", "0s"], "must be positive", id="window-zero"),
        pytest.param(["--end", "0001-01-01T00:00:00Z"], "out of range: give a time from 1970 on", id="end-year-1"),
        pytest.param(["--end", "0001-01-01T00:00:00+05:00"], "out of range", id="end-before-year-1"),
        pytest.param(["--end", "1970-01-01T00:30:00Z"], "puts the window before 1970-01-01", id="end-epoch"),
        pytest.param(["--end", "9999-12-31T23:59:59-05:00"], "out of range", id="end-after-9999"),
        pytest.param(["--end", "9999-12-31T23:00:00Z"], "is in the future", id="end-future"),
        pytest.param(["--run-key", "x" * 201], "--run-key must be 1-200 printable characters", id="run-key"),
    ],
)
def test_out_of_range_checkpoint_input_is_exit_3_with_one_line(world: World, args: list[str], message: str) -> None:
    line = _one_line_exit_3(world.cli("checkpoint", FEATURE, PHASE, "x", *args))
    assert message in line
    assert world.cli("history", FEATURE, "--json").json() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--limit", "100000000000000000000"], "--limit 100000000000000000000 is outside 1-10,000"),
        pytest.param(["--limit", "0"], "--limit 0 is outside 1-10,000"),
        pytest.param(["--limit", "ten"], "--limit 'ten' is not a whole number"),
    ],
)
def test_out_of_range_history_limit_is_exit_3_with_one_line(world: World, args: list[str], message: str) -> None:
    assert message in _one_line_exit_3(world.cli("history", FEATURE, *args))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BETA_MONITOR_WINDOW", "800000d", "invalid setting BETA_MONITOR_WINDOW: window '800000d' is longer than"),
        ("BETA_MONITOR_INGESTION_LAG", "100000000000d", "invalid setting BETA_MONITOR_INGESTION_LAG: ingestion lag"),
        ("BETA_MONITOR_FRESHNESS", "2d", "invalid setting BETA_MONITOR_FRESHNESS: freshness '2d' is longer than"),
        ("BETA_MONITOR_DRIFT_GRACE", "soon", "invalid setting BETA_MONITOR_DRIFT_GRACE: cannot read drift grace"),
        ("BETA_MONITOR_FLAG_CACHE_TTL", "1e300", "invalid setting BETA_MONITOR_FLAG_CACHE_TTL"),
        ("BETA_MONITOR_MAX_5XX_RATE", "nan", "invalid setting BETA_MONITOR_MAX_5XX_RATE"),
        ("BETA_MONITOR_LATENCY_WARN", "inf", "invalid setting BETA_MONITOR_LATENCY_WARN"),
    ],
)
def test_out_of_range_settings_are_exit_3_with_one_line(world: World, name: str, value: str, message: str) -> None:
    line = _one_line_exit_3(world.checkpoint("x", env={name: value}))
    assert message in line


def test_a_seven_day_window_is_accepted(world: World) -> None:
    world.traffic(300)
    run = world.checkpoint("week", "--window", "7d", "--dry-run", "--json")
    assert run.code in (0, 1), run.stderr
    window = run.json()["window"]
    assert (window["start"], window["end"]) == (
        (world.end - timedelta(days=7)).isoformat().replace("+00:00", "Z"),
        world.end.isoformat().replace("+00:00", "Z"),
    )


# -- credentials ---------------------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SHAPES = [
    pytest.param("postgresql://app:p@ss@127.0.0.1:{port}/monitor", "p@ss", id="unescaped-at"),
    pytest.param("postgresql://app:s3c@r3t@w0rd@127.0.0.1:{port}/monitor", "s3c@r3t@w0rd", id="two-ats"),
    pytest.param("postgresql://app:s3c/r3t@127.0.0.1:{port}/monitor", "s3c/r3t", id="unescaped-slash"),
    pytest.param("postgresql://app:s3cr%40t@127.0.0.1:{port}/monitor", "s3cr@t", id="escaped-at"),
    pytest.param("postgresql://127.0.0.1:{port}/monitor?user=app&password=s3cr3t", "s3cr3t", id="query"),
    pytest.param("host=127.0.0.1 port={port} user=app password=s3cr3t dbname=m", "s3cr3t", id="keyword"),
    pytest.param("host=127.0.0.1 port={port} password=s3c r3t dbname=m", "s3c r3t", id="keyword-space"),
    pytest.param("app:p@ss@127.0.0.1:{port}/monitor", "p@ss", id="no-scheme"),
]


def _assert_no_fragment(text: str, secret: str) -> None:
    for start in range(len(secret) - 2):
        assert secret[start : start + 3] not in text, f"{secret[start : start + 3]!r} of the password in {text!r}"


@pytest.mark.parametrize(("template", "secret"), SHAPES)
def test_no_part_of_a_password_is_ever_printed(world: World, template: str, secret: str) -> None:
    url = template.format(port=_closed_port())
    runs = [
        ("BETA_MONITOR_DATABASE_URL", ["checkpoint", FEATURE, PHASE, "x", "--end", world.end.isoformat()], "text"),
        ("BETA_MONITOR_FLAGS_DATABASE_URL", ["gate", FEATURE, PHASE], "json"),
    ]
    for setting, args, log_format in runs:
        run = world.cli("--log-format", log_format, *args, env={setting: url})
        assert run.code == 3, run.stdout + run.stderr
        _assert_no_fragment(run.stdout + run.stderr, secret)
        assert setting in run.stderr


# -- friction ------------------------------------------------------------------------------------------------------
def test_history_of_an_unknown_flag_is_exit_3_like_gate_and_checkpoint(world: World) -> None:
    unknown = "no_such_flag"
    for args in (["history", unknown], ["gate", unknown, PHASE], ["checkpoint", unknown, "p", "x"]):
        line = _one_line_exit_3(world.cli(*args))
        assert "'no_such_flag'" in line and ("not found" in line or "no flag" in line), line
    known = world.cli("history", FEATURE)  # in the flag table, nothing stored yet: not an error
    assert known.code == 0 and known.stdout == "No checkpoints stored.\n"


def test_history_of_a_deleted_flag_with_checkpoints_still_lists_them(world: World) -> None:
    import psycopg

    world.traffic(300)
    assert world.checkpoint("h1", "--expected-rollout", "5").code == 0
    with psycopg.connect(world.url) as conn:
        conn.execute("DELETE FROM feature_flag_allowlist WHERE feature_key = %s", (FEATURE,))
        conn.execute("DELETE FROM feature_flags WHERE key = %s", (FEATURE,))
    run = world.cli("history", FEATURE)
    assert run.code == 0 and "h1" in run.stdout


def test_quiet_and_log_format_are_accepted_after_the_command(world: World) -> None:
    world.traffic(300)
    before = world.cli("-q", "--log-format", "json", "checkpoint", FEATURE, PHASE, "a", "--end", world.end.isoformat())
    after = world.cli("checkpoint", FEATURE, PHASE, "b", "--end", world.end.isoformat(), "-q", "--log-format", "json")
    for run in (before, after):
        assert run.code in (0, 1), run.stderr
        records = [json.loads(line) for line in run.stderr.splitlines()]
        assert [r["message"] for r in records] == ["checkpoint done"]  # -q: no progress records
    assert world.cli("history", FEATURE, "-q").code == 0


def test_text_output_writes_utc_with_a_z_like_json_and_markdown(world: World) -> None:
    world.traffic(300)
    run = world.checkpoint("h1", "--expected-rollout", "5")
    assert "+00:00" not in run.stdout
    end = world.end.isoformat().replace("+00:00", "Z")
    assert run.line("Window:").startswith(f"Window: {(world.end - timedelta(hours=1)).isoformat()[:19]}Z → {end}")
    history = world.cli("history", FEATURE)
    assert "+00:00" not in history.stdout and re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z  #1 ", history.stdout)


def test_counts_of_one_read_in_the_singular(world: World) -> None:
    world.traffic(300)
    assert world.checkpoint("h1", "--expected-rollout", "5").code == 0
    gate = world.cli("gate", FEATURE, PHASE)
    assert f"(1 checkpoint in {PHASE})" in gate.stdout
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild")
    assert rebuilt.stdout.endswith("(1 checkpoint)\n")


def test_a_zone_less_end_is_utc_and_help_says_so(world: World) -> None:
    world.traffic(300)
    naive = world.end.replace(tzinfo=None).isoformat()
    run = world.cli("checkpoint", FEATURE, PHASE, "h1", "--end", naive, "--json", "--dry-run")
    assert run.json()["window"]["end"] == world.end.isoformat().replace("+00:00", "Z")
    help_text = " ".join(run_cli(["checkpoint", "--help"], {}).stdout.split())
    assert "a time without a zone is UTC" in help_text


def test_every_positional_argument_has_help_text() -> None:
    commands = [["checkpoint"], ["history"], ["gate"], ["report"], ["rollout", "set"]]
    for command in commands:
        text = run_cli([*command, "--help"], {}).stdout
        positional = text.split("positional arguments:")[1].split("options:")[0]
        for line in positional.strip().splitlines():
            if line.startswith("  ") and not line.startswith("    "):
                assert len(line.split()) > 1, f"{command}: {line.strip()} has no help text"


def test_help_does_not_promise_a_five_minute_tour() -> None:
    text = run_cli(["--help"], {}).stdout + run_cli(["demo", "--help"], {}).stdout
    assert "five-minute" not in text and "about 20 seconds" in text
