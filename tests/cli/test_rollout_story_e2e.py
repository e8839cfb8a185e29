"""`beta-monitor report FEATURE` (no PHASE) through the installed CLI: the rollout's story printed and written beside
the phase logs — a local directory and S3 on moto_server —, `--rebuild` of every phase log and the story, a flag
with no checkpoint yet, and a mistyped FEATURE."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_support import FEATURE, World, make_world, seed_columns_flag

pytestmark = pytest.mark.e2e

BUCKET = "phase-logs"
HOSTILE_REASON = "incident\n## Injected heading\n| a | b |\n<script>alert(1)</script> [x](http://evil.example)"
HOSTILE_ACTOR = "<img src=x onerror=alert(1)>"


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def _rollout(world: World, env: dict[str, str] | None = None) -> None:
    """Two phases: an earlier hour judged in `validation`, then two hours in `hourly` (the first of them a replay of an
    earlier window, stored last), then a `rollout set` whose actor and reason are hostile."""
    hour = timedelta(hours=1)
    for back, seed in ((2, 21), (1, 22), (0, 23)):
        world.traffic(1500, end=world.end - back * hour, seed=seed)
    runs = [
        ("validation", "first-hour", world.end - 2 * hour),
        ("hourly", "hour-3", world.end),
        ("hourly", "hour-2-replayed", world.end - hour),
    ]
    for phase, label, end in runs:
        run = world.cli(
            "checkpoint", FEATURE, phase, label, "--end", end.isoformat(), "--expected-rollout", "5", env=env
        )
        assert run.code in (0, 1), run.stdout + run.stderr
    changed = world.cli(
        "rollout",
        "set",
        FEATURE,
        "10",
        "--reason",
        HOSTILE_REASON,
        env={"BETA_MONITOR_ACTOR": HOSTILE_ACTOR, **(env or {})},
    )
    assert changed.code == 0, changed.stderr


def _timeline(story: str) -> list[list[str]]:
    section = story.split("## Timeline\n")[1].split("\n## ", maxsplit=1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _assert_the_story(story: str, world: World) -> None:
    hour = timedelta(hours=1)
    assert story.startswith("# Rollout: passenger\\_favorites\\_matching\n")
    rows = _timeline(story)
    ends = [(world.end - back * hour).strftime("%Y-%m-%dT%H:%M:%SZ") for back in (2, 1, 0)]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("validation", "first-hour", ends[0], "5%"),
        ("hourly", "hour-2-replayed", ends[1], "5%"),
        ("hourly", "hour-3", ends[2], "5%"),
    ]
    assert all(r[5] in ("PASS", "WARN") and r[6] in ("HOLD", "ADVANCE") for r in rows), rows
    assert all(
        re.fullmatch(r"\d+\.\d\d% \(\d+/[\d,]+\)", r[7]) and re.fullmatch(r"\d+\.\d\d% \(\d+/[\d,]+\)", r[8])
        for r in rows
    )
    chart = story.split("```mermaid\n")[1].split("\n```", maxsplit=1)[0]
    assert chart.startswith("xychart-beta\n")
    assert '    x-axis ["1-first-hour", "2-hour-2-replayed", "3-hour-3"]' in chart
    assert len(re.findall(r"^    (?:bar|line) \[", chart, re.M)) == 3
    # The audit row, its actor and reason escaped: no heading, table row, HTML or link made of them.
    changes = story.split("## Rollout changes\n")[1].split("\n## ", maxsplit=1)[0]
    [change] = [line for line in changes.splitlines() if line.startswith("| 20")]
    assert "| \\<img src=x onerror=alert(1)\\> | 5% | 10% | incident ## Injected heading \\| a \\| b \\|" in change
    assert "\\<script\\>" in change and "http:/\\/evil.example" in change
    assert not re.search(r"^#+ Injected", story, re.M) and not re.search(r"(?<!\\)<", story)
    assert "Latest phase hourly: **" in story


def test_the_story_is_printed_and_written_beside_the_phase_logs(world: World, tmp_path: Path) -> None:
    _rollout(world)
    run = world.cli("report", FEATURE)
    assert run.code == 0, run.stderr
    _assert_the_story(run.stdout, world)
    reports = tmp_path / "reports" / FEATURE
    story = reports / "ROLLOUT.md"
    assert story.read_text(encoding="utf-8") == run.stdout
    assert f"Rollout story written: {story}" in run.stderr
    assert sorted(p.name for p in reports.iterdir()) == ["ROLLOUT.md", "hourly.md", "validation.md"]

    # --rebuild without PHASE: every phase log rebuilt byte for byte, and the story rewritten; stdout says so.
    logs = {name: (reports / name).read_text(encoding="utf-8") for name in ("validation.md", "hourly.md")}
    for name in (*logs, "ROLLOUT.md"):
        (reports / name).unlink()
    rebuilt = world.cli("report", FEATURE, "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.stdout.splitlines() == [
        f"Phase log rebuilt: {reports / 'validation.md'} (1 checkpoint)",
        f"Phase log rebuilt: {reports / 'hourly.md'} (2 checkpoints)",
        f"Rollout story written: {story}",
    ]
    assert {name: (reports / name).read_text(encoding="utf-8") for name in logs} == logs
    assert story.read_text(encoding="utf-8") == run.stdout

    # With PHASE, `report` is what it was: the phase summary, nothing written.
    story.unlink()
    summary = world.cli("report", FEATURE, "hourly")
    assert summary.code == 0 and summary.stdout.startswith("# Summary: passenger\\_favorites\\_matching / hourly")
    assert not story.exists()


def test_the_story_on_s3_beside_the_phase_logs(world: World) -> None:
    env = {"BETA_MONITOR_PHASE_LOG": f"s3://{BUCKET}/rollouts/{{feature}}/{{phase}}.md"}
    s3: Any = boto3.client(
        "s3",
        endpoint_url=world.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    _rollout(world, env)
    run = world.cli("report", FEATURE, env=env)
    assert run.code == 0, run.stderr
    _assert_the_story(run.stdout, world)

    def read(key: str) -> str:
        return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8"))

    story_key = f"rollouts/{FEATURE}/ROLLOUT.md"
    assert read(story_key) == run.stdout
    assert f"Rollout story written: s3://{BUCKET}/{story_key}" in run.stderr
    hourly = read(f"rollouts/{FEATURE}/hourly.md")
    s3.delete_object(Bucket=BUCKET, Key=story_key)
    s3.delete_object(Bucket=BUCKET, Key=f"rollouts/{FEATURE}/hourly.md")
    rebuilt = world.cli("report", FEATURE, "--rebuild", env=env)
    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.stdout.splitlines()[-1] == f"Rollout story written: s3://{BUCKET}/{story_key}"
    assert read(f"rollouts/{FEATURE}/hourly.md") == hourly and read(story_key) == run.stdout
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [f"rollouts/{FEATURE}/{name}" for name in ("ROLLOUT.md", "hourly.md", "validation.md")]


def test_a_flag_with_no_checkpoint_yet_gets_a_short_story(world: World, tmp_path: Path) -> None:
    seed_columns_flag(world.url, "quiet_flag", enabled=True, rollout=1, allowlist=[], updated_at=world.end)
    run = world.cli("report", "quiet_flag")
    assert run.code == 0, run.stderr
    assert "Live flag: enabled, rollout 1%, allowlist 0." in run.stdout
    assert "No checkpoint stored for this flag yet" in run.stdout and "mermaid" not in run.stdout
    assert (tmp_path / "reports" / "quiet_flag" / "ROLLOUT.md").read_text(encoding="utf-8") == run.stdout
    assert world.cli("report", "quiet_flag", "--rebuild").stdout == (
        f"Rollout story written: {tmp_path / 'reports' / 'quiet_flag' / 'ROLLOUT.md'}\n"
    )


def test_a_mistyped_feature_is_exit_3_and_nothing_written(world: World, tmp_path: Path) -> None:
    for args in (["report", "passenger_favorites_matchin"], ["report", "passenger_favorites_matchin", "--rebuild"]):
        run = world.cli(*args)
        assert run.code == 3 and run.stdout == ""
        assert run.stderr.strip().splitlines() == [
            "beta-monitor: error: no checkpoint stored for passenger_favorites_matchin and no flag "
            "'passenger_favorites_matchin' in the backend's flag table: check FEATURE"
        ]
    assert not (tmp_path / "reports").exists()


def test_rebuilding_every_phase_into_one_file_is_refused(world: World, tmp_path: Path) -> None:
    world.traffic(600)
    assert world.cli("checkpoint", FEATURE, "p1", "h1", "--end", world.end.isoformat()).code in (0, 1)
    one = tmp_path / "one.md"
    run = world.cli("report", FEATURE, "--rebuild", "--phase-log", str(one))
    assert run.code == 3 and "needs {phase}, or name one PHASE" in run.stderr
    assert not one.exists() and not (tmp_path / "one.ROLLOUT.md").exists()
