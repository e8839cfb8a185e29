"""`beta-monitor doctor` through the installed CLI against moto_server (and the Insights proxy): it passes on a
healthy deployment, and fails with a named reason, exit 2, when a permission, the log group or the bucket is
missing; `checkpoint --doctor` exits 3 and writes nothing when the doctor finds a problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_support import FEATURE, PHASE, World, make_world, put_events
from fake_insights import FakeInsightsClient, proxy_intercept
from fault_proxy import FaultPlan, fault_proxy

from monitor.cli.demo.traffic import TrafficModel, generate
from monitor.domain import FlagConfig, LogWindow
from monitor.domain.contract import ingest
from monitor.store.migrations import load_migrations

pytestmark = pytest.mark.e2e
LOG_GROUP = "/ecs/kaviar-backend"
BUCKET = "beta-monitor-phase-logs"
ACCOUNT = "123456789012"


def _aws(world: World, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=world.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def recent_events(world: World) -> list[tuple[int, str]]:
    """Traffic over the minutes the doctor reads (it ends at now minus the 5-minute ingestion lag)."""
    now = datetime.now(UTC)
    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=tuple(world.allowlist))
    model = TrafficModel(
        requests=1500,
        start_ms=int((now - timedelta(minutes=14)).timestamp() * 1000),
        end_ms=int((now - timedelta(minutes=7)).timestamp() * 1000),
        config=config,
        feature=FEATURE,
        seed=3,
        malformed_share=0.01,
    )
    return list(generate(model))


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    """A deployment on moto_server: log group with recent traffic, phase-log bucket, SNS topic, metric publishing."""
    world = make_world(tmp_path, pg_url, moto_reset)
    _aws(world, "s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    topic = _aws(world, "sns").create_topic(Name="beta-monitor-alerts")["TopicArn"]
    world.env.update(
        {
            "BETA_MONITOR_PHASE_LOG": f"s3://{BUCKET}/phase-logs/{{feature}}/{{phase}}.md",
            "BETA_MONITOR_SNS_TOPIC_ARN": topic,
            "BETA_MONITOR_PUBLISH_METRIC": "true",
        }
    )
    assert world.cli("db", "init").code == 0
    return world


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {probe["name"]: probe["status"] for probe in doc["probes"]}


def test_doctor_passes_on_a_healthy_deployment(world: World) -> None:
    events = recent_events(world)
    put_events(world.endpoint, LOG_GROUP, events)
    run = world.cli("doctor", "--feature", FEATURE)
    assert run.code == 0, run.stdout + run.stderr
    assert run.line("PASS database:").startswith("PASS database: reachable (PostgreSQL ")
    assert f"migrations up to date ({len(load_migrations())})" in run.line("PASS database:")
    assert run.line(f"PASS flag {FEATURE}:").startswith(f"PASS flag {FEATURE}: found: rollout 5%, allowlist 12")
    assert run.line("PASS aws identity:").startswith(f"PASS aws identity: arn:aws:sts::{ACCOUNT}:")
    assert run.line(f"PASS log group {LOG_GROUP}:") == f"PASS log group {LOG_GROUP}: found in eu-west-1 " + (
        "(logs:DescribeLogGroups allowed)"
    )
    assert run.line("PASS logs:FilterLogEvents:").endswith("(an event in the last 10 min)")
    assert run.line("PASS phase log s3://").startswith(f"PASS phase log s3://{BUCKET}/phase-logs/: s3:GetObject and")
    assert run.line("PASS sns:").startswith("PASS sns: sns:Publish allowed on arn:aws:sns:eu-west-1:")
    assert run.line("PASS cloudwatch:PutMetricData:")
    assert run.line("SKIP cloudwatch:GetMetricData:").endswith("(BETA_MONITOR_ALB_LOAD_BALANCER)")
    assert run.stdout.splitlines()[-1] == "Doctor: PASS"
    probe = _aws(world, "s3").get_object(Bucket=BUCKET, Key="phase-logs/.beta-monitor-doctor")
    assert b"beta-monitor doctor probe" in probe["Body"].read()
    again = world.cli("doctor", "--feature", FEATURE, "--json", "--no-notify")  # the probe object is overwritten
    assert again.code == 0, again.stdout
    doc = again.json()
    assert doc["status"] == "PASS" and doc["exit_code"] == 0 and doc["problems"] == 0
    assert statuses(doc)["sns"] == "SKIP"


def test_doctor_with_insights_compares_the_engines_on_real_events(world: World) -> None:
    events = recent_events(world)
    put_events(world.endpoint, LOG_GROUP, events)
    fake = FakeInsightsClient(events, statuses=lambda _q: ("Running", "Complete"))
    assert world.cli("rollout", "set", FEATURE, "5", "--reason", "expectation").code == 0  # the doctor's default flag
    with fault_proxy(world.endpoint, intercept=proxy_intercept(fake)) as proxy:
        run = world.cli("doctor", env={"AWS_ENDPOINT_URL": proxy, "BETA_MONITOR_SOURCE": "insights"})
    assert run.code == 0, run.stdout + run.stderr
    assert run.line("PASS logs:StartQuery, GetQueryResults, StopQuery:").startswith(
        f"PASS logs:StartQuery, GetQueryResults, StopQuery: allowed on {LOG_GROUP} (probe query Complete"
    )
    line = run.line(f"PASS insights = scan ({FEATURE}, last 10 min):")
    assert "every figure equal (insights/scan: events " in line
    counted = LogWindow(feature=FEATURE, start_ms=0, end_ms=2**62).aggregate()
    for ts, message in events:
        ingest(counted, ts, message)  # what the contract makes of the events put
    for label, value in (("events", len(events)), ("requests", counted.requests), ("5xx", counted.status.s5xx)):
        assert f"{label} {value:,}/{value:,}" in line
    assert fake.call_count("StopQuery") >= 1
    doc = world.cli("doctor", "--json", env={"AWS_ENDPOINT_URL": proxy, "BETA_MONITOR_SOURCE": "scan"}).json()
    assert statuses(doc)["insights = scan"] == "SKIP"  # the job reads with scan: nothing to compare


def test_a_denied_permission_is_named_with_the_action_and_resource(world: World) -> None:
    put_events(world.endpoint, LOG_GROUP, recent_events(world))
    plan = FaultPlan("FilterLogEvents", -1, status=400, code="AccessDeniedException")
    with fault_proxy(world.endpoint, plan) as proxy:
        run = world.cli("doctor", "--feature", FEATURE, env={"AWS_ENDPOINT_URL": proxy})
    assert run.code == 2, run.stdout + run.stderr
    assert run.line("FAIL logs:FilterLogEvents:") == (
        f"FAIL logs:FilterLogEvents: IAM: logs:FilterLogEvents denied on arn:aws:logs:eu-west-1:{ACCOUNT}:"
        f"log-group:{LOG_GROUP} — add it to the task role"
    )
    assert run.stdout.splitlines()[-1] == "Doctor: FAIL (1 problem)"


def test_a_missing_log_group_and_bucket_fail_by_name(world: World) -> None:
    run = world.cli("doctor", "--feature", FEATURE, env={"BETA_MONITOR_PHASE_LOG": "s3://no-such-bucket/logs/x.md"})
    assert run.code == 2, run.stdout + run.stderr
    assert run.line(f"FAIL log group {LOG_GROUP}:") == (
        f"FAIL log group {LOG_GROUP}: not found in eu-west-1: check BETA_MONITOR_LOG_GROUP and AWS_REGION"
    )
    assert run.line("SKIP logs:FilterLogEvents:") == f"SKIP logs:FilterLogEvents: needs the log group {LOG_GROUP}"
    assert run.line("FAIL phase log s3://no-such-bucket/logs/:") == (
        "FAIL phase log s3://no-such-bucket/logs/: bucket no-such-bucket does not exist: check BETA_MONITOR_PHASE_LOG"
    )
    assert run.stdout.splitlines()[-1] == "Doctor: FAIL (2 problems)"


def test_an_unmigrated_database_and_an_unknown_flag_fail(tmp_path: Path, pg_url: str, moto_reset: str) -> None:
    world = make_world(tmp_path, pg_url, moto_reset)  # no `db init`
    run = world.cli("doctor", "--feature", "no_such_flag", "--json")
    assert run.code == 2
    found = {p["name"]: p for p in run.json()["probes"]}
    pending = [m.name for m in load_migrations()]
    assert pending[:3] == ["0001_checkpoints", "0002_expectations", "0003_rollout_audit"]
    assert found["database"]["detail"].endswith(
        f"{len(pending)} migrations pending ({', '.join(pending)}): run `beta-monitor db init`"
    )
    assert found["flag no_such_flag"]["status"] == "FAIL" and "not found" in found["flag no_such_flag"]["detail"]
    none = world.cli("db", "init"), world.cli("doctor")
    assert none[1].code == 3 and "no flag has an expectation stored by `rollout set` yet: pass --feature F" in (
        none[1].stderr
    )


def test_checkpoint_with_doctor_exits_3_and_writes_nothing_when_it_fails(world: World) -> None:
    world.traffic(1500)
    failing = world.checkpoint("h1", "--doctor", "--source", "scan", env={"BETA_MONITOR_LOG_GROUP": "/nope"})
    assert failing.code == 3, failing.stdout + failing.stderr
    assert failing.stdout == ""
    assert "Doctor: FAIL (1 problem): log group /nope: not found" in failing.stderr
    assert "nothing was read or written" in failing.stderr
    assert world.cli("history", FEATURE, "--json").json() == []
    passing = world.checkpoint("h1", "--doctor", "--source", "scan", "--expected-rollout", "5")
    assert passing.code == 0, passing.stdout + passing.stderr
    assert "Doctor: PASS" in passing.stderr and "sns:Publish not exercised: not at start-up" in passing.stderr
    assert world.cli("history", FEATURE, "--phase", PHASE, "--json").json()[0]["label"] == "h1"


def test_with_the_autopilot_on_the_flag_table_write_is_probed(world: World) -> None:
    """Auto-rollback runs `rollout set` itself: doctor says whether the job's role may UPDATE the flag table."""
    import os

    import psycopg

    probe = "flag table write (auto-rollback/advance)"
    off = world.cli("doctor", "--feature", FEATURE, "--no-notify", "--json")
    assert probe not in statuses(off.json())  # the job writes no flag: nothing to probe

    on = {"BETA_MONITOR_AUTO_ROLLBACK": "true"}
    allowed = world.cli("doctor", "--feature", FEATURE, "--no-notify", "--json", env=on)
    assert statuses(allowed.json())[probe] == "PASS", allowed.stdout

    role = f"flags_reader_{os.getpid()}"
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON feature_flags, feature_flag_allowlist TO {role}")
    try:
        reader = world.url.replace(f"postgresql://{world.url.split('://')[1].split('@')[0]}@", f"postgresql://{role}@")
        denied = world.cli(
            "doctor", "--feature", FEATURE, "--no-notify", env={**on, "BETA_MONITOR_FLAGS_DATABASE_URL": reader}
        )
        assert denied.code == 2, denied.stdout + denied.stderr
        line = denied.line(f"FAIL {probe}:")
        assert "UPDATE on feature_flags not granted" in line and "BETA_MONITOR_AUTO_ROLLBACK" in line
        assert denied.line(f"PASS flag {FEATURE}:")  # it can still read the flag
        with psycopg.connect(world.url, autocommit=True) as conn:
            conn.execute(
                f"GRANT UPDATE (enabled, rollout_percentage, config_json, updated_at) ON feature_flags TO {role}"
            )
        granted = world.cli(
            "doctor", "--feature", FEATURE, "--no-notify", env={**on, "BETA_MONITOR_FLAGS_DATABASE_URL": reader}
        )
        assert granted.line(f"PASS {probe}:").endswith(
            "UPDATE on feature_flags allowed: the job can step the flag itself"
        )
    finally:
        with psycopg.connect(world.url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
