"""The rollout's story (`report FEATURE`): timeline order across phases, the gate each point stored, the rollout it
was judged at, ON/OFF rates, the chart's unique and safe labels, the audit's changes, escaping of outside text, where
it is written (file and S3 through the phase log's sinks) and what it refuses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_render import HOSTILE, structure

from monitor.domain import Checkpoint, CheckResult, ExpectedConfig, FlagConfig, GateAction, GateDecision, Status, Window
from monitor.errors import ConfigError
from monitor.phaselog.rollout_story import (
    render_rollout_story,
    rollout_story,
    story_destination,
    write_rollout_story,
)
from monitor.phaselog.service import PhaseLog
from monitor.phaselog.sinks import open_sink
from monitor.settings import load_settings

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
FEATURE = "passenger_favorites_matching"
CONFIG = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=("a", "b"))


def point(
    cid: int,
    phase: str,
    label: str,
    hours: int,
    *,
    status: Status = Status.PASS,
    gate: GateAction | None = GateAction.HOLD,
    rollout: int | None = 5,
    on: tuple[int, int] | None = (1, 400),
    off: tuple[int, int] | None = (2, 1600),
    live_rollout: int = 5,
) -> Checkpoint:
    """A checkpoint whose window ends `hours` after T0: ON/OFF (5xx, requests), the rollout determinism judged at."""
    end = T0 + timedelta(hours=hours)
    cohort: dict[str, Any] = {}
    for name, counts in (("on", on), ("off", off)):
        if counts is not None:
            cohort[name] = {"errors_5xx": counts[0], "requests": counts[1], "rate": counts[0] / counts[1]}
    checks = [
        CheckResult(name="error_rate", status=status, summary="5xx", evidence={"rate": 0.001, "requests": 2000}),
        CheckResult(name="cohort_regression", status=status, summary="cohorts", evidence=cohort),
    ]
    if rollout is not None:
        checks.append(
            CheckResult(
                name="determinism",
                status=Status.PASS,
                summary="ok",
                evidence={"in_force": {"enabled": rollout >= 0, "rollout_percentage": max(rollout, 0)}},
            )
        )
    return Checkpoint(
        id=cid,
        feature=FEATURE,
        phase=phase,
        label=label,
        run_key=f"{phase}:{label}:{hours}",
        status=status,
        window=Window(start=end - timedelta(hours=1), end=end),
        live_config={"key": FEATURE, "enabled": True, "rollout_percentage": live_rollout},
        expected=ExpectedConfig(),
        checks=checks,
        gate=None if gate is None else GateDecision(action=gate),
        created_at=end + timedelta(minutes=5),
    )


def audit(at_hours: float, before: int, after: int, reason: str, actor: str = "alice") -> dict[str, Any]:
    return {
        "feature": FEATURE,
        "actor": actor,
        "at": T0 + timedelta(hours=at_hours),
        "before": {"enabled": True, "rollout_percentage": before},
        "after": {"enabled": after > 0, "rollout_percentage": after},
        "reason": reason,
    }


def timeline_rows(story: str) -> list[list[str]]:
    section = story.split("## Timeline\n")[1].split("\n## ", maxsplit=1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def chart(story: str) -> list[str]:
    return story.split("```mermaid\n")[1].split("\n```", maxsplit=1)[0].split("\n")


def test_timeline_in_time_order_across_phases_with_the_gate_and_rollout_of_each_point() -> None:
    checkpoints = [
        point(1, "allowlist", "allowlist-validation", 0, rollout=0, gate=GateAction.HOLD),
        point(2, "allowlist", "allowlist-hour2", 1, rollout=0, gate=GateAction.ADVANCE),
        point(
            3,
            "rollout-10pct",
            "validation",
            2,
            rollout=10,
            on=(37, 554),
            off=(1, 2982),
            status=Status.FAIL,
            gate=GateAction.ROLLBACK,
        ),
        point(4, "rollback-5pct", "validation", 3, rollout=5, on=None, off=None, gate=None),
        point(5, "rollback-5pct", "hour2", 4, rollout=None, live_rollout=5, gate=GateAction.ADVANCE),
    ]
    story = render_rollout_story(FEATURE, checkpoints, [], CONFIG)
    structure(story)
    assert timeline_rows(story) == [
        [
            "1",
            "allowlist",
            "allowlist-validation",
            "2026-11-26T10:00:00Z",
            "0%",
            "PASS",
            "HOLD",
            "0.25% (1/400)",
            "0.12% (2/1,600)",
        ],
        [
            "2",
            "allowlist",
            "allowlist-hour2",
            "2026-11-26T11:00:00Z",
            "0%",
            "PASS",
            "ADVANCE",
            "0.25% (1/400)",
            "0.12% (2/1,600)",
        ],
        [
            "3",
            "rollout-10pct",
            "validation",
            "2026-11-26T12:00:00Z",
            "10%",
            "FAIL",
            "ROLLBACK",
            "6.68% (37/554)",
            "0.03% (1/2,982)",
        ],
        ["4", "rollback-5pct", "validation", "2026-11-26T13:00:00Z", "5%", "PASS", "n/a", "n/a", "n/a"],
        # no determinism evidence: the rollout it read live
        [
            "5",
            "rollback-5pct",
            "hour2",
            "2026-11-26T14:00:00Z",
            "5%",
            "PASS",
            "ADVANCE",
            "0.25% (1/400)",
            "0.12% (2/1,600)",
        ],
    ]
    assert (
        "5 checkpoints in 3 phases, judging windows that end from 2026-11-26T10:00:00Z to 2026-11-26T14:00:00Z."
        in story
    )
    phases = story.split("## Phases\n")[1].split("\n## ")[0]
    assert "| allowlist | 2 | 2026-11-26T10:00:00Z | 2026-11-26T11:00:00Z | 0% | PASS 2 | ADVANCE |" in phases
    assert "| rollout-10pct | 1 | 2026-11-26T12:00:00Z | 2026-11-26T12:00:00Z | 10% | FAIL 1 | ROLLBACK |" in phases
    assert phases.index("allowlist") < phases.index("rollout-10pct") < phases.index("rollback-5pct")
    assert "Live flag: enabled, rollout 5%, allowlist 2." in story


def test_the_chart_plots_rollout_and_on_off_rates_in_timeline_order() -> None:
    checkpoints = [
        point(1, "p1", "h1", 0, rollout=1, on=(0, 100), off=(1, 1000)),
        point(2, "p5", "h1", 1, rollout=5, on=(5, 100), off=(1, 1000)),
        point(3, "p10", "h1", 2, rollout=-1, on=None, off=(1, 1000)),  # disabled: plotted at 0
    ]
    lines = chart(render_rollout_story(FEATURE, checkpoints, [], CONFIG))
    assert lines[0] == "xychart-beta"
    assert lines[2] == '    x-axis ["1-h1", "2-h1", "3-h1"]'
    assert lines[3] == '    y-axis "5xx rate (%)" 0 --> 6.25'  # the highest rate (5%) with a quarter of headroom
    # bars: the axis top (6.25) stands for the highest rollout reached (5%)
    assert lines[4:] == [
        "    bar [1.2500, 6.2500, 0.0000]",
        "    line [0.00, 5.00, 0.00]",
        "    line [0.10, 0.10, 0.10]",
    ]
    assert "highest rollout reached (5%" in render_rollout_story(FEATURE, checkpoints, [], CONFIG)


def test_timeline_order_is_the_order_given_not_the_ids() -> None:
    # `timeline` orders by window end: a replay of an earlier hour stored last sits where its window is.
    replay = point(9, "p1", "replay", 1)
    story = render_rollout_story(FEATURE, [point(1, "p1", "h0", 0), replay, point(2, "p1", "h2", 2)], [], CONFIG)
    assert [row[2] for row in timeline_rows(story)] == ["h0", "replay", "h2"]


def test_mermaid_labels_are_unique_and_safe_even_when_labels_repeat_or_attack() -> None:
    labels = ["hourly", "hourly", 'x"]\n    line [999]', "hourly", "<b>", "a" * 80 + "-hour2", "a" * 80 + "-hour3"]
    checkpoints = [point(i, "auto", label, i) for i, label in enumerate(labels, start=1)]
    x_axis = chart(render_rollout_story(FEATURE, checkpoints, [], CONFIG))[2]
    categories = re.findall(r'"([^"]*)"', x_axis)
    assert len(categories) == len(labels) == len(set(categories))
    assert all(re.fullmatch(r"[A-Za-z0-9_~-]+", c) for c in categories)
    assert categories[-2] != categories[-1] and categories[-1].endswith("hour3")
    assert len(chart(render_rollout_story(FEATURE, checkpoints, [], CONFIG))) == 7  # no injected series


def test_rollout_changes_in_time_order_from_to_and_why() -> None:
    changes = [
        audit(-0.1, 0, 1, "gate ADVANCE: allowlist clean"),
        audit(1.9, 1, 5, "gate ADVANCE after h2", actor="bob"),
        {**audit(2.5, 5, 0, "stop"), "after": {"enabled": False, "rollout_percentage": 0}},
    ]
    story = render_rollout_story(FEATURE, [point(1, "p", "h1", 0)], changes, CONFIG)
    section = story.split("## Rollout changes\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| 2026")]
    assert rows == [
        "| 2026-11-26T09:54:00Z | alice | 0% | 1% | gate ADVANCE: allowlist clean |",
        "| 2026-11-26T11:54:00Z | bob | 1% | 5% | gate ADVANCE after h2 |",
        "| 2026-11-26T12:30:00Z | alice | 5% | disabled (0%) | stop |",
    ]


@pytest.mark.parametrize("text", HOSTILE)
def test_outside_text_cannot_inject_structure_or_html(text: str) -> None:
    def story(value: str) -> str:
        checkpoints = [point(1, value, value, 0), point(2, value, value, 1)]
        gate = GateDecision(action=GateAction.HOLD, reasons=[value], missing=[value], command=f"x `{value}`")
        changes = [audit(0.5, 1, 5, value, actor=value)]
        return render_rollout_story(value, checkpoints, changes, CONFIG, current_phase=value, gate=gate)

    hostile, benign = story(text), story("benign")
    assert structure(hostile) == structure(benign)
    assert len(timeline_rows(hostile)) == 2
    assert "\x00" not in hostile and "\x1b" not in hostile and "\u202e" not in hostile
    assert chart(hostile)[3:] == chart(benign)[3:]  # the same series, nothing injected into the chart
    categories = re.findall(r'"([^"]*)"', chart(hostile)[2])
    assert len(categories) == 2 and all(re.fullmatch(r"[A-Za-z0-9_~-]+", c) for c in categories)


def test_a_flag_without_checkpoints_gets_a_short_story() -> None:
    story = render_rollout_story(FEATURE, [], [audit(0, 0, 1, "start")], CONFIG)
    structure(story)
    assert "No checkpoint stored for this flag yet" in story
    assert "mermaid" not in story and "## Timeline" not in story
    assert "| alice | 0% | 1% | start |" in story
    assert "No phase judged yet." in story
    no_changes = render_rollout_story(FEATURE, [], [], None)
    assert "Live flag: not found in the backend's flag table." in no_changes
    assert "No `rollout set` recorded for this flag." in no_changes


# -- reading it from a store -----------------------------------------------------------------------------------
class FakeStore:
    def __init__(self, checkpoints: list[Checkpoint], changes: list[dict[str, Any]]) -> None:
        self.checkpoints, self.changes = checkpoints, changes

    def timeline(self, feature: str) -> list[Checkpoint]:
        return [cp for cp in self.checkpoints if cp.feature == feature]

    def phases(self, feature: str) -> list[str]:
        return list(dict.fromkeys(cp.phase for cp in sorted(self.timeline(feature), key=lambda cp: cp.id or 0)))

    def rollout_audit(self, feature: str, limit: int | None = None) -> list[dict[str, Any]]:
        assert limit is None
        return [
            row for row in reversed(self.changes) if row["feature"] == feature
        ]  # newest first, as the store gives them


def test_rollout_story_judges_the_latest_stored_phase_now() -> None:
    # The latest stored checkpoint (highest id) is a replay of an earlier window in phase `p5`: p5 is the phase now.
    store = FakeStore(
        [point(1, "p1", "h1", 0, rollout=1), point(3, "p1", "h2", 2, rollout=1), point(4, "p5", "h1", 1)],
        [audit(0, 0, 1, "first"), audit(1, 1, 5, "second")],
    )
    story = rollout_story(store, FEATURE, CONFIG, load_settings())
    assert "Latest phase p5: **HOLD**" in story
    assert "1 more PASS checkpoint" in story
    changes = story.split("## Rollout changes")[1]
    assert changes.index("first") < changes.index("second")


def test_rollout_story_of_an_unknown_feature_is_a_typo() -> None:
    with pytest.raises(ConfigError, match="no checkpoint stored for nope and no flag 'nope'"):
        rollout_story(FakeStore([], []), "nope", None, load_settings())
    assert "No checkpoint stored" in rollout_story(FakeStore([], []), FEATURE, CONFIG, load_settings())


# -- where it is written ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("reports/{feature}/{phase}.md", f"reports/{FEATURE}/ROLLOUT.md", id="default"),
        pytest.param("s3://b/logs/{feature}/{phase}.md", f"s3://b/logs/{FEATURE}/ROLLOUT.md", id="s3"),
        pytest.param("logs/{phase}/{feature}.md", f"logs/ROLLOUT/{FEATURE}.md", id="phase-directory"),
        pytest.param("logs/{feature}.md", f"logs/{FEATURE}.ROLLOUT.md", id="no-phase"),
        pytest.param("s3://b/one-log", "s3://b/one-log.ROLLOUT.md", id="no-extension"),
    ],
)
def test_story_destination(template: str, expected: str) -> None:
    assert story_destination(template, FEATURE) == expected


def test_story_destination_refuses_unknown_placeholders() -> None:
    with pytest.raises(ConfigError, match="unknown placeholder"):
        story_destination("reports/{flag}/{phase}.md", FEATURE)


class NoLedger:
    """The append ledger of a phase log whose entries are never touched here (the story is written whole)."""

    def history(self, _feature: str, _phase: str | None = None, _limit: int | None = None) -> list[Checkpoint]:
        return []

    def mark_appended(self, _checkpoint_id: int) -> None:  # pragma: no cover - never called here
        raise AssertionError

    def iter_unappended(self, _feature: str, _phase: str) -> Any:  # pragma: no cover - never called here
        raise AssertionError


def test_written_beside_the_phase_logs_and_rewritten_whole(tmp_path: Path) -> None:
    log = PhaseLog(NoLedger(), open_sink, str(tmp_path / "{feature}" / "{phase}.md"))
    where = write_rollout_story(log, FEATURE, "# first\n", phases=["p1"])
    assert where == str(tmp_path / FEATURE / "ROLLOUT.md")
    write_rollout_story(log, FEATURE, "# second\n", phases=["p1"])
    assert Path(where).read_text(encoding="utf-8") == "# second\n"
    assert sorted(p.name for p in (tmp_path / FEATURE).iterdir()) == ["ROLLOUT.md"]


def test_a_phase_named_like_the_story_is_refused_and_nothing_written(tmp_path: Path) -> None:
    log = PhaseLog(NoLedger(), open_sink, str(tmp_path / "{feature}" / "{phase}.md"))
    with pytest.raises(ConfigError, match="ROLLOUT is the story's name beside the phase logs"):
        write_rollout_story(log, FEATURE, "# story\n", phases=["p1", "ROLLOUT"])
    assert not (tmp_path / FEATURE).exists()


def test_written_to_s3_through_the_phase_log_sink(mock_aws_env: None) -> None:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(Bucket="phase-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    log = PhaseLog(
        NoLedger(), lambda dest: open_sink(dest, s3_client=client), "s3://phase-logs/rollouts/{feature}/{phase}.md"
    )
    where = write_rollout_story(log, FEATURE, "# story\n", phases=["p1"])
    assert where == f"s3://phase-logs/rollouts/{FEATURE}/ROLLOUT.md"
    stored = client.get_object(Bucket="phase-logs", Key=f"rollouts/{FEATURE}/ROLLOUT.md")
    assert stored["Body"].read() == b"# story\n" and stored["ContentType"].startswith("text/markdown")
