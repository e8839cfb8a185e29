"""Replaying an incident end to end through the installed CLI: the same hour in every format AWS exports (and an S3
export prefix on moto_server, two streams) gives the checkpoint of our wrapper lines; a file it cannot read is said
so, never a quiet "no traffic"."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_support import FEATURE, World, make_world
from helpers_formats import cli_document, every_format, export_layout, export_task_lines

from monitor.cli.demo.traffic import TrafficModel, generate
from monitor.domain import FlagConfig

pytestmark = pytest.mark.e2e

BUCKET = "incident-exports"
HOW_READ = ("engine", "aws_calls", "queries", "inputs", "unreadable_inputs")


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def incident(world: World, hours: int = 1) -> list[tuple[int, str]]:
    """The hour that went wrong (and the one before it when `hours` is 2): a regression only ON passengers see."""
    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=tuple(world.allowlist))
    model = TrafficModel(
        requests=3000 * hours,
        start_ms=int((world.end - timedelta(hours=hours)).timestamp() * 1000),
        end_ms=int(world.end.timestamp() * 1000),
        config=config,
        on_error_rate=0.08,
        off_error_rate=0.002,
        feature=FEATURE,
        seed=5,
    )
    return list(generate(model))


def replay(world: World, source: str) -> dict[str, Any]:
    run = world.checkpoint("replay", "--expected-rollout", "5", "--source", source, "--dry-run", "--json")
    assert run.code in (0, 1, 2), run.stdout + run.stderr
    doc = run.json()
    doc["exit"] = run.code
    return doc


def verdict(doc: dict[str, Any]) -> dict[str, Any]:
    """What an operator acts on: the status, every check's status and summary, the measured figures."""
    metrics = {k: v for k, v in doc["metrics"].items() if k not in HOW_READ}
    checks = {c["name"]: (c["status"], c["summary"]) for c in doc["checks"]}
    return {"exit": doc["exit"], "status": doc["status"], "checks": checks, "metrics": metrics}


def test_every_format_and_an_s3_prefix_give_the_wrapper_checkpoint(world: World, tmp_path: Path) -> None:
    events = incident(world)
    formats = every_format(events)
    expected = replay(world, f"file:{_write(tmp_path / 'wrapper.jsonl', formats['wrapper'])}")
    assert expected["status"] == "FAIL"  # the regression is found from the replay
    assert {c["name"]: c["status"] for c in expected["checks"]}["cohort_regression"] == "FAIL"

    for name in ("wrapper-gzip", "export-task", "export-task-gzip", "filter-log-events-pages", "get-log-events"):
        got = replay(world, f"file:{_write(tmp_path / name, formats[name])}")
        assert verdict(got) == verdict(expected), name

    s3 = boto3.client(
        "s3",
        endpoint_url=world.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    objects = export_layout(events, streams=2)
    for key, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=f"exports/{key}", Body=data)
    s3.put_object(Bucket=BUCKET, Key="exports/aws-logs-write-test", Body=b"Permission Check Successful")
    from_s3 = replay(world, f"file:s3://{BUCKET}/exports/")
    same_order = replay(world, f"file:{_write(tmp_path / 'dealt.jsonl', _dealt(formats, events))}")
    assert verdict(from_s3) == verdict(same_order)  # the objects' order: stream by stream
    assert verdict(from_s3)["checks"] == verdict(expected)["checks"]
    assert from_s3["metrics"]["aws_calls"] == {"ListObjectsV2": 1, "GetObject": 2}
    assert from_s3["metrics"]["inputs"] == {"CloudWatch export-task lines, gzip": 2}


def _dealt(formats: dict[str, bytes], events: list[tuple[int, str]]) -> bytes:
    del formats
    return export_task_lines([e for i in range(2) for e in events[i::2]])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_window_cutting_an_export_counts_only_its_hour(world: World, tmp_path: Path) -> None:
    two_hours = incident(world, hours=2)
    inside = [e for e in two_hours if e[0] >= int((world.end - timedelta(hours=1)).timestamp() * 1000)]
    whole = replay(world, f"file:{_write(tmp_path / '000000.gz', gzip.compress(export_task_lines(two_hours)))}")
    hour = replay(world, f"file:{_write(tmp_path / 'hour.json', cli_document(inside, pages=2))}")
    assert verdict(whole)["checks"] == verdict(hour)["checks"]
    assert whole["metrics"]["outside_window"] == len(two_hours) - len(inside) > 1000
    assert whole["metrics"]["events"] == hour["metrics"]["events"] == len(inside)


def test_a_csv_is_an_error_naming_what_it_saw(world: World, tmp_path: Path) -> None:
    rows = "".join(f"{ts},{i},GET,/api/matching/request,200\n" for i, (ts, _) in enumerate(incident(world)))
    csv = _write(tmp_path / "requests.csv", ("timestamp,id,method,path,status\n" + rows).encode())
    run = world.checkpoint("replay", "--expected-rollout", "5", "--source", f"file:{csv}", "--dry-run")
    assert run.code == 1, run.stdout + run.stderr
    quality = run.line("Data quality:") if "Data quality:" in run.stdout else run.stdout
    assert "ERROR" in quality and "CSV-like: 5 ','-separated fields" in quality
    assert "accepted: {timestamp, message} lines" in quality and "/api/matching" not in quality
    doc = replay(world, f"file:{csv}")
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["data_quality"] == "ERROR" and checks["error_rate"] == "ERROR"  # never "no traffic"


def test_a_missing_bucket_is_exit_3_in_one_line(world: World) -> None:
    run = world.checkpoint("replay", "--source", "file:s3://no-such-bucket/exports/", "--dry-run")
    assert run.code == 3
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith("bucket 'no-such-bucket' not found — check --source file:s3://BUCKET/PREFIX/")
    )
    assert run.stdout == ""
