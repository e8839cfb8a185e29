"""Acting on the gate (issue 14) end to end through the installed CLI: hourly exports replayed with `--source file:`,
one process per checkpoint, the flag read and written in PostgreSQL as the backend keeps it (both schemas)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from e2e_support import FEATURE, PHASE, World, make_world, seed_columns_flag
from helpers_cohort_traffic import CohortTraffic, write_hour

from monitor.store.flags import create_flag_tables, upsert_flag

pytestmark = pytest.mark.e2e

REGRESSION = CohortTraffic(rollout=10, on_5xx=0.04, seed=5)  # 10× per request for ON passengers at 10%
A_A = CohortTraffic(rollout=5, seed=6)
AUTO = {"BETA_MONITOR_AUTO_ROLLBACK": "true"}
ACTOR = "beta-monitor (auto)"


def seed(world: World, rollout: int) -> None:
    seed_columns_flag(  # the config is older than every window replayed here
        world.url,
        FEATURE,
        enabled=True,
        rollout=rollout,
        allowlist=world.allowlist,
        updated_at=world.end - timedelta(days=1),
        mirror={"enabled": True, "rollout_percentage": rollout},
    )


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    made = make_world(tmp_path, pg_url, moto_reset, rollout=10)
    seed(made, 10)
    return made


def export(world: World, tmp_path: Path, traffic: CohortTraffic, end: datetime, index: int) -> Path:
    return write_hour(tmp_path / f"{traffic.seed}-{index}.jsonl", traffic.hour(end, index))


def run(world: World, label: str, path: Path, end: datetime, *extra: str, env: dict[str, str] | None = None) -> Any:
    result = world.cli(
        "checkpoint", FEATURE, PHASE, label, "--end", end.isoformat(), "--source", f"file:{path}", *extra, env=env
    )
    assert result.code in (0, 1, 2), result.stdout + result.stderr
    return result


def flag_row(world: World) -> tuple[bool, int]:
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT enabled, rollout_percentage FROM feature_flags WHERE key = %s", (FEATURE,))
        found = row.fetchone()
    assert found is not None
    return bool(found[0]), int(found[1])


def audit_rows(world: World) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    with psycopg.connect(world.url) as conn:
        rows = conn.execute("SELECT actor, before, after, reason FROM rollout_audit ORDER BY id").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def expectation(world: World) -> tuple[bool, int] | None:
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT enabled, rollout_percentage FROM expectations WHERE feature = %s", (FEATURE,))
        found = row.fetchone()
    return None if found is None else (bool(found[0]), int(found[1]))


def test_auto_rollback_steps_back_once_audited_and_logged(world: World, tmp_path: Path) -> None:
    sns = boto3.client(
        "sns",
        endpoint_url=world.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    topic = sns.create_topic(Name="beta-monitor-alerts")["TopicArn"]
    env = {**AUTO, "BETA_MONITOR_SNS_TOPIC_ARN": topic}
    h1_end, h2_end = world.end - timedelta(hours=1), world.end
    h1 = export(world, tmp_path, REGRESSION, h1_end, 0)
    first = run(world, "h1", h1, h1_end, env=env)
    assert first.code == 2, first.stdout
    assert first.line("Gate: ").startswith("Gate: ROLLBACK")
    act = first.line("Act: ")
    assert act.startswith("Act: Rolled back 10% → 5% at ") and act.endswith(f", by {ACTOR}")
    assert "Notified: sns: start -> FAIL; gate ROLLBACK; Rolled back 10% → 5% at " in first.stdout
    assert flag_row(world) == (True, 5)
    audit = audit_rows(world)
    assert len(audit) == 1
    actor, before, after, reason = audit[0]
    assert actor == ACTOR and before == {"enabled": True, "rollout_percentage": 10}
    assert after == {"enabled": True, "rollout_percentage": 5}
    assert reason.startswith(f"automatic rollback of phase {PHASE} after h1: cohort_regression FAIL at h1")
    assert expectation(world) == (True, 5)

    # Redelivered (same run key): the stored checkpoint, nothing more changed.
    again = run(world, "h1", h1, h1_end, "--json", env=env)
    doc = again.json()
    assert doc["duplicate"] is True and doc["gate"]["act"]["outcome"] == "done"
    assert flag_row(world) == (True, 5) and len(audit_rows(world)) == 1

    # The next hour of the phase: the FAIL stands, the gate still says ROLLBACK, but the phase had its one change.
    h2 = export(world, tmp_path, REGRESSION, h2_end, 1)
    second = run(world, "h2", h2, h2_end, env=env)
    assert second.code == 2 and second.line("Gate: ").startswith("Gate: ROLLBACK")
    assert second.line("Act: ").startswith("Act: Auto-rollback not carried out: this phase already had its automatic")
    assert flag_row(world) == (True, 5) and len(audit_rows(world)) == 1

    # The phase log says it, and a rebuild from the database writes the same bytes.
    appended = world.log.read_text(encoding="utf-8")
    assert "- Done by the job: Rolled back 10% → 5% at " in appended
    assert "- Not done by the job: Auto-rollback not carried out: this phase already had" in appended
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert world.log.read_text(encoding="utf-8") == appended


def test_without_the_switch_nothing_changes_and_dry_run_only_says(world: World, tmp_path: Path) -> None:
    end = world.end
    path = export(world, tmp_path, REGRESSION, end, 0)
    dry = run(world, "h1", path, end, "--dry-run", env=AUTO)
    assert dry.code == 2
    assert dry.line("Act: ") == "Act: Dry run: auto-rollback would roll back 10% → 5%; nothing changed"
    assert "Dry run: nothing stored" in dry.stdout
    assert flag_row(world) == (True, 10) and audit_rows(world) == [] and not world.log.exists()

    off = run(world, "h1", path, end, "--json")
    doc = off.json()
    assert off.code == 2 and doc["gate"]["action"] == "ROLLBACK" and doc["gate"]["act"] is None
    assert flag_row(world) == (True, 10) and audit_rows(world) == [] and expectation(world) is None
    assert "Act:" not in run(world, "h1", path, end).stdout


def test_a_flag_changed_between_read_and_act_is_left_alone(world: World, tmp_path: Path) -> None:
    # A person moves the flag to 25% while the job judges it: the trigger fires when the checkpoint row is stored,
    # after the config was read and before the job acts.
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("SELECT 1")  # the watchdog tables exist once a command ran; create them first
    assert world.cli("db", "init").code == 0
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION someone_moves_the_flag() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " UPDATE feature_flags SET rollout_percentage = 25, updated_at = now(); RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER moves AFTER INSERT ON checkpoints FOR EACH ROW EXECUTE FUNCTION someone_moves_the_flag()"
        )
    end = world.end
    result = run(world, "h1", export(world, tmp_path, REGRESSION, end, 0), end, env=AUTO)
    assert result.code == 2
    assert result.line("Act: ") == (
        "Act: WARN Auto-rollback not carried out: config changed under the verdict (judged 10%, now 25%): left alone"
    )
    assert flag_row(world) == (True, 25) and audit_rows(world) == []
    assert "- **WARN**: Auto-rollback not carried out: config changed under the verdict" in world.log.read_text(
        encoding="utf-8"
    )
    assert "config changed under the verdict" in result.stderr  # the job's own log says it too


def test_json_schema_and_rollback_to_disable(world: World, tmp_path: Path) -> None:
    create_flag_tables(world.url, "json", flags_table="json_flags")
    upsert_flag(
        world.url,
        "json",
        FEATURE,
        True,
        10,
        list(world.allowlist),
        world.end - timedelta(days=1),
        flags_table="json_flags",
    )
    env = {
        **AUTO,
        "BETA_MONITOR_FLAG_SCHEMA": "json",
        "BETA_MONITOR_FLAGS_TABLE": "json_flags",
        "BETA_MONITOR_ROLLBACK_TO": "disable",
    }
    end = world.end
    path = export(world, tmp_path, REGRESSION, end, 0)
    result = run(world, "h1", path, end, env=env)
    assert result.code == 2 and result.line("Act: ").startswith("Act: Rolled back 10% → disabled at ")
    with psycopg.connect(world.url) as conn:
        value = conn.execute("SELECT value FROM json_flags WHERE flag_key = %s", (FEATURE,)).fetchone()
    assert value is not None and value[0]["enabled"] is False and value[0]["percentage"] == 10
    assert sorted(value[0]["force_on"]) == sorted(world.allowlist)  # the rest of the value is kept
    assert flag_row(world) == (True, 10)  # the columns table is not the configured one
    assert [(a[0], a[2]) for a in audit_rows(world)] == [(ACTOR, {"enabled": False, "rollout_percentage": 10})]
    # Another run of the phase with another run key: its one automatic change is spent.
    other = run(world, "h1-again", path, end, env=env)
    assert other.line("Act: ").startswith("Act: Auto-rollback not carried out: this phase already had")
    assert len(audit_rows(world)) == 1


def test_auto_advance_needs_its_own_switch(world: World, tmp_path: Path) -> None:
    seed(world, 5)
    ends = [world.end - timedelta(hours=2 - i) for i in range(3)]
    paths = [export(world, tmp_path, A_A, end, i) for i, end in enumerate(ends)]
    assert run(world, "h1", paths[0], ends[0], env=AUTO).code == 0
    second = run(world, "h2", paths[1], ends[1], env=AUTO)
    assert second.code == 0 and second.line("Gate: ").startswith("Gate: ADVANCE")
    assert "Act:" not in second.stdout and flag_row(world) == (True, 5) and audit_rows(world) == []
    third = run(world, "h3", paths[2], ends[2], env={"BETA_MONITOR_AUTO_ADVANCE": "true"})
    assert third.code == 0 and third.line("Gate: ").startswith("Gate: ADVANCE")
    assert third.line("Act: ").startswith("Act: Advanced 5% → 10% at ")
    assert flag_row(world) == (True, 10)
    assert [(a[0], a[1]["rollout_percentage"], a[2]["rollout_percentage"]) for a in audit_rows(world)] == [
        (ACTOR, 5, 10)
    ]


def test_a_ten_minute_cadence_logs_one_full_entry_an_hour_and_advances_after_two_hours(
    world: World, tmp_path: Path
) -> None:
    seed(world, 5)
    start = world.end - timedelta(hours=2)
    events = [e for i in range(2) for e in A_A.hour(start + timedelta(hours=i + 1), i)]
    path = write_hour(tmp_path / "two-hours.jsonl", events)
    docs = []
    for k in range(1, 13):
        end = start + timedelta(minutes=10 * k)
        result = run(world, f"m{k:02d}", path, end, "--window", "10m", "--json")
        docs.append(result.json())
    assert [d["status"] for d in docs] == ["PASS"] * 12
    # Full: the first, once an hour of windows later, and the gate's change to ADVANCE; one line for the others.
    assert [d["entry"] for d in docs] == ["full"] + ["brief"] * 5 + ["full"] + ["brief"] * 4 + ["full"]
    gates = [d["gate"]["action"] for d in docs]
    assert gates == ["HOLD"] * 11 + ["ADVANCE"]  # 2 h of PASS windows, not 2 PASS checkpoints
    assert docs[1]["gate"]["missing"] == ["10 more PASS checkpoints (≈1 h 40 min more PASS evidence: 2 h needed)"]
    assert docs[11]["gate"]["reasons"][0] == "12 consecutive PASS checkpoints (latest m12) covering ≈2 h of windows"
    cohorts = [next(c for c in d["checks"] if c["name"] == "cohort_regression") for d in docs]
    assert [c["evidence"]["checkpoints"] for c in cohorts] == list(range(1, 13))  # the phase's evidence
    assert cohorts[-1]["evidence"]["hours"] == pytest.approx(2.0)

    text = world.log.read_text(encoding="utf-8")
    assert text.count("\n## Checkpoint: ") == 3 and text.count("\n**Quiet run: ") == 9
    quiet = [line for line in text.splitlines() if line.startswith("**Quiet run: m02**")]
    assert len(quiet) == 1 and " · **PASS** · window " in quiet[0] and " · gate HOLD: 10 more PASS" in quiet[0]
    assert len(world.cli("history", FEATURE, "--json").json()) == 12  # every run stored in full
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert world.log.read_text(encoding="utf-8") == text
