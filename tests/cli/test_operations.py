"""Operations through the installed CLI: exactly-once under concurrency, durable appends, repair, rollout set,
the gate, notifications, and dependencies that are down."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import boto3
import psycopg
import pytest
from e2e_support import FEATURE, PHASE, World, beta_monitor_bin, make_world

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def _aws(world: World, service: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        service,
        endpoint_url=world.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _spawn(world: World, *args: str) -> subprocess.Popen[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BETA_MONITOR_")} | world.env
    return subprocess.Popen(
        [beta_monitor_bin(), "-q", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_same_run_key_at_once_records_one(world: World) -> None:
    world.traffic(1500)
    args = (
        "checkpoint",
        FEATURE,
        PHASE,
        "hourly",
        "--end",
        world.end.isoformat(),
        "--run-key",
        "2026-11-22T19:05:00Z",
        "--expected-rollout",
        "5",
        "--json",
    )
    procs = [_spawn(world, *args) for _ in range(3)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    import json

    duplicates = sorted(json.loads(o[0])["duplicate"] for o in outs)
    assert duplicates == [False, True, True]
    assert len(world.cli("history", FEATURE, "--json").json()) == 1
    assert world.log.read_text().count("## Checkpoint: hourly (") == 1


def test_different_labels_at_once_both_entries_whole(world: World) -> None:
    world.traffic(1500)
    procs = [
        _spawn(
            world,
            "checkpoint",
            FEATURE,
            PHASE,
            f"manual-{n}",
            "--end",
            world.end.isoformat(),
            "--expected-rollout",
            "5",
        )
        for n in range(3)
    ]
    for p in procs:
        p.communicate(timeout=180)
        assert p.returncode == 0
    text = world.log.read_text()
    entries = text.split("\n## Checkpoint: ")[1:]
    assert sorted(e.split(" (")[0] for e in entries) == ["manual-0", "manual-1", "manual-2"]
    for entry in entries:  # each entry is whole: one of each section, in order, none cut by another
        assert entry.count("### Gate") == 1 and entry.rstrip().endswith(entry.rstrip().split("\n")[-1])
        assert entry.index("### Flag state") < entry.index("### Gate") < entry.index("### Manual review")


def test_failed_append_is_reported_then_repaired(world: World, tmp_path: Path) -> None:
    world.traffic(1500)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the phase-log directory should be")
    env = {
        "BETA_MONITOR_PHASE_LOG": str(blocker / "{phase}.md"),
        "BETA_MONITOR_LOG_FORMAT": "json",
        "BETA_MONITOR_PUBLISH_METRIC": "true",
    }
    first = world.checkpoint("h1", "--expected-rollout", "5", "--json", env=env)
    # The checkpoint stands (PASS), but a phase log that is not written must not look healthy: exit 1 (WARN).
    assert first.code == 1, first.stderr
    doc = first.json()
    assert doc["status"] == "PASS" and doc["exit_code"] == 1 and doc["appended"] is False
    assert doc["append_error"] == f"cannot append to phase log {blocker / PHASE}.md: {blocker} is not a directory"
    records = [json.loads(line) for line in first.stderr.splitlines()]  # the job log: one JSON object a line
    failed = [r for r in records if r["message"].startswith("phase log append failed")]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR" and "is not a directory" in failed[0]["error"]
    assert _metric(world, "PhaseLogAppendFailed", "SampleCount") == 1 == _metric(world, "PhaseLogAppendFailed", "Sum")
    assert world.cli("history", FEATURE, "--json").json()[0]["appended"] is False

    blocker.unlink()
    second = world.checkpoint("h2", "--expected-rollout", "5", env={**env, "BETA_MONITOR_LOG_FORMAT": "text"})
    assert second.code == 0, second.stdout + second.stderr
    assert "repaired 1 missing entry" in second.stdout
    text = (blocker / f"{PHASE}.md").read_text()
    assert text.index("## Checkpoint: h1 (") < text.index("## Checkpoint: h2 (")
    assert all(c["appended"] for c in world.cli("history", FEATURE, "--json").json())
    assert _metric(world, "PhaseLogAppendFailed", "SampleCount") == 2  # then 0: the alarm clears
    assert _metric(world, "PhaseLogAppendFailed", "Sum") == 1


def test_failed_append_of_a_warn_or_fail_keeps_its_exit_code(world: World, tmp_path: Path) -> None:
    world.traffic(1500)
    blocker = tmp_path / "blocked"
    blocker.write_text("x")
    run = world.checkpoint("h1", "--expected-rollout", "10", env={"BETA_MONITOR_PHASE_LOG": str(blocker / "p.md")})
    assert run.code == 2  # FAIL stays FAIL
    assert f"Phase log: NOT appended (cannot append to phase log {blocker}/p.md: {blocker} is not a directory)" in (
        run.stdout
    )


def _metric(world: World, name: str, stat: str) -> float:
    """`stat` of BetaMonitor/`name` for the feature alone (the series the alarms watch) over the last hour."""
    import datetime as dt

    cloudwatch = _aws(world, "cloudwatch")
    now = dt.datetime.now(dt.UTC)
    stats = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "BetaMonitor",
                        "MetricName": name,
                        "Dimensions": [{"Name": "feature", "Value": FEATURE}],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
    )
    return sum(stats["MetricDataResults"][0]["Values"])


def test_s3_phase_log_down_then_repaired_and_rebuilt(world: World) -> None:
    world.traffic(1500)
    env = {"BETA_MONITOR_PHASE_LOG": "s3://phase-logs/{feature}/{phase}.md"}
    first = world.checkpoint("h1", "--expected-rollout", "5", env=env)
    assert first.code == 1 and "Phase log: NOT appended" in first.stdout  # the bucket does not exist yet
    s3 = _aws(world, "s3")
    s3.create_bucket(Bucket="phase-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    second = world.checkpoint("h2", "--expected-rollout", "5", env=env)
    assert second.code == 0 and "repaired 1" in second.stdout
    key = f"{FEATURE}/{PHASE}.md"
    appended = s3.get_object(Bucket="phase-logs", Key=key)["Body"].read().decode()
    assert appended.index("## Checkpoint: h1 (") < appended.index("## Checkpoint: h2 (")
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild", env=env)
    assert rebuilt.code == 0, rebuilt.stderr
    assert s3.get_object(Bucket="phase-logs", Key=key)["Body"].read().decode() == appended  # byte for byte


def test_rebuild_local_log_byte_for_byte(world: World) -> None:
    world.traffic(1500)
    for label in ("h1", "h2"):
        assert world.checkpoint(label, "--expected-rollout", "5").code == 0
    appended = world.log.read_text()
    world.log.unlink()
    assert world.cli("report", FEATURE, PHASE, "--rebuild").code == 0
    assert world.log.read_text() == appended


def test_gate_advance_after_two_pass_then_summary(world: World) -> None:
    world.traffic(2500)
    world.traffic(2500, end=world.end - timedelta(hours=1), seed=12)
    assert world.checkpoint("h1", "--expected-rollout", "5", end=world.end - timedelta(hours=1)).code == 0
    hold = world.cli("gate", FEATURE, PHASE)
    assert hold.code == 1 and "Missing: 1 more PASS checkpoint" in hold.stdout
    assert world.checkpoint("h2", "--expected-rollout", "5").code == 0
    gate = world.cli("gate", FEATURE, PHASE, "--json")
    assert gate.code == 0 and gate.json()["action"] == "ADVANCE"
    assert gate.json()["command"].startswith(f"beta-monitor rollout set {FEATURE} 10 ")
    summary = world.cli("report", FEATURE, PHASE)
    assert summary.code == 0 and "xychart-beta" in summary.stdout and "h2" in summary.stdout


def test_rollout_set_audits_and_sets_the_expectation(world: World) -> None:
    world.traffic(1500)
    refused = world.cli("rollout", "set", FEATURE, "25", "--reason", "skip ahead")
    assert refused.code == 3 and "skips 10%" in refused.stderr
    for bad in (["no_such_flag", "10"], [FEATURE, "150"]):
        run = world.cli("rollout", "set", *bad, "--reason", "x")
        assert run.code == 3, run.stderr
    done = world.cli("rollout", "set", FEATURE, "10", "--reason", "gate ADVANCE", env={"BETA_MONITOR_ACTOR": "alice"})
    assert done.code == 0 and "5% → 10%" in done.stdout
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT rollout_percentage FROM feature_flags WHERE key = %s", (FEATURE,)).fetchone() == (
            10,
        )
        audit = conn.execute("SELECT actor, reason, before, after FROM rollout_audit").fetchall()
    assert len(audit) == 1 and audit[0][0] == "alice" and audit[0][1] == "gate ADVANCE"
    assert audit[0][2]["rollout_percentage"] == 5 and audit[0][3]["rollout_percentage"] == 10
    # The hourly run, without --expected-rollout, checks drift against the stored expectation (10%). Its window
    # ended before the change, so decisions are judged against the 5% the audit row says was in force then.
    hourly = world.checkpoint("hourly", "--json")
    doc = hourly.json()
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["expected"]["source"] == "stored" and doc["expected"]["rollout_percentage"] == 10
    assert checks["config_drift"]["status"] == "PASS"
    assert checks["determinism"]["status"] == "PASS", checks["determinism"]["summary"]
    assert checks["determinism"]["evidence"]["segments"][0]["judged_against"] == "previous"
    assert hourly.code == 0, hourly.stdout


def test_notifications_on_fail(world: World) -> None:
    world.traffic(1500)
    sns, sqs = _aws(world, "sns"), _aws(world, "sqs")
    topic = sns.create_topic(Name="beta-monitor")["TopicArn"]
    queue = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {"BETA_MONITOR_SNS_TOPIC_ARN": topic, "BETA_MONITOR_PUBLISH_METRIC": "true"}
    run = world.checkpoint("h1", "--expected-rollout", "10", env=env)  # drift → FAIL
    assert run.code == 2 and "Notified: sns: start -> FAIL" in run.stdout
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert any("FAIL" in m["Body"] for m in messages)
    for pid in world.allowlist:
        assert all(pid not in m["Body"] for m in messages)
    metrics = _aws(world, "cloudwatch").list_metrics(Namespace="BetaMonitor")["Metrics"]
    series = sorted((m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in metrics)
    assert series == [
        ("CheckpointStatus", ("feature",)),
        ("CheckpointStatus", ("feature", "phase")),
        ("PhaseLogAppendFailed", ("feature",)),
        ("PhaseLogAppendFailed", ("feature", "phase")),
    ]
    assert _metric(world, "PhaseLogAppendFailed", "SampleCount") == 1
    assert _metric(world, "PhaseLogAppendFailed", "Sum") == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_down_exit_3_without_password(world: World) -> None:
    url = f"postgresql://app:s3cr3t-pw@127.0.0.1:{_closed_port()}/monitor"
    started = time.monotonic()
    run = world.checkpoint("h1", env={"BETA_MONITOR_DATABASE_URL": url})
    assert run.code == 3 and time.monotonic() - started < 60
    assert "s3cr3t-pw" not in run.stderr + run.stdout
    assert "BETA_MONITOR_DATABASE_URL" in run.stderr and len(run.stderr.strip().splitlines()) == 1
