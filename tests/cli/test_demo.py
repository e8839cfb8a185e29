"""The demo tells the whole story through the installed CLI, with a smaller traffic volume."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from e2e_support import run_cli

pytestmark = pytest.mark.e2e


def test_demo_verdict_sequence(tmp_path: Path) -> None:
    embedded = Path(tempfile.mkdtemp(prefix="bm-demo-pg-", dir="/tmp"))  # out of /root: pgserver chmods parents
    env = {"BETA_MONITOR_EMBEDDED_DIR": str(embedded / "pgdata")}
    try:
        run = run_cli(
            ["demo", "--json", "--requests-per-hour", "4000", "--dir", str(tmp_path / "out")], env, timeout=300
        )
    finally:
        shutil.rmtree(embedded, ignore_errors=True)
    assert run.code == 0, run.stdout[-2000:] + run.stderr[-2000:]
    doc = run.json()
    sequence = [(s["phase"], s["rollout"], s["status"], s["gate"]) for s in doc["steps"]]
    assert sequence == [
        ("phase0_allowlist", 0, "PASS", "HOLD"),
        ("phase0_allowlist", 0, "PASS", "ADVANCE"),
        ("phase1_rollout", 1, "PASS", "HOLD"),
        ("phase1_rollout", 1, "PASS", "ADVANCE"),
        ("phase2_rollout", 5, "PASS", "HOLD"),
        ("phase2_rollout", 5, "PASS", "ADVANCE"),
        ("phase3_rollout", 10, "FAIL", "ROLLBACK"),
        ("phase3_rollback", 5, "PASS", "HOLD"),
        ("phase3_rollback", 5, "PASS", "ADVANCE"),
    ]
    # A careful operator: the rollout changes only after the gate said ADVANCE (or ROLLBACK), never on a HOLD.
    for before, after in zip(doc["steps"], doc["steps"][1:], strict=False):
        if after["rollout"] != before["rollout"]:
            assert before["gate"] in ("ADVANCE", "ROLLBACK"), (before, after)
            assert before["gate_command"].split(" --reason")[0].endswith(f" {after['rollout']}")
    assert doc["ending"].startswith("the rollback phase's gate says ADVANCE")
    regression = doc["steps"][6]
    assert regression["checks"]["error_rate"] == "PASS"  # the global rate misses it ...
    assert regression["checks"]["cohort_regression"] == "FAIL"  # ... the ON cohort does not
    assert regression["gate_command"].startswith("beta-monitor rollout set passenger_favorites_matching 5 ")
    for path in doc["phase_logs"]:
        text = Path(path).read_text(encoding="utf-8")
        assert text.startswith("# Phase log: ") and "## Checkpoint: " in text
    # One `watch` per hour checked a second flag, healthy, from the same read: stored in its own phase log.
    alongside = doc["watched_alongside"]
    assert alongside["feature"] == "driver_eta_v2"
    assert [(s["phase"], s["status"]) for s in alongside["steps"]] == [("allowlist", "PASS")] * len(doc["steps"])
    companion_log = tmp_path / "out" / "driver_eta_v2" / "allowlist.md"
    assert companion_log.read_text(encoding="utf-8").count("## Checkpoint: hourly") == len(doc["steps"])
    assert "one read for 2 flag(s)" in companion_log.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "index.md").read_text(encoding="utf-8").count("](") == 2
    _assert_the_summary_is_the_rollout_story(doc)
    # The progress lines went to stderr, the document to stdout.
    assert "rollout set passenger_favorites_matching 10%" in run.stderr
    assert "gate HOLD at allowlist-validation: taking another hourly checkpoint before acting" in run.stderr


def _assert_the_summary_is_the_rollout_story(doc: dict[str, Any]) -> None:
    """The summary is `report FEATURE`'s story, beside the phase logs: one timeline of every step across the phases,
    the chart, every `rollout set` the operator ran, and the gate of the latest phase."""
    assert doc["summaries"] == {"passenger_favorites_matching": doc["summary"]}  # one story per demo flag
    path = Path(doc["summary"])
    assert path.name == "ROLLOUT.md" and path.parent == Path(doc["phase_logs"][0]).parent
    story = path.read_text(encoding="utf-8")
    assert story.startswith("# Rollout: passenger\\_favorites\\_matching\n")
    timeline = story.split("## Timeline\n")[1].split("\n## ")[0]
    rows = [
        [c.strip() for c in line.strip("|").split(" | ")] for line in timeline.splitlines() if re.match(r"\| \d", line)
    ]
    assert [(r[1].replace("\\_", "_"), r[2], r[4], r[5], r[6]) for r in rows] == [
        (s["phase"], s["label"], f"{s['rollout']}%", s["status"], s["gate"]) for s in doc["steps"]
    ]
    ends = [r[3] for r in rows]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)  # one simulated hour each, in time order
    regression = rows[6]
    on, off = (float(cell.split("%")[0]) for cell in regression[7:9])
    assert on > 10 * off  # the ON cohort's 5xx rate, beside the OFF cohort's: the regression the gate rolled back
    assert "# Summary" not in story  # no longer a concatenation of phase summaries
    chart = story.split("```mermaid\n")[1].split("\n```", maxsplit=1)[0].splitlines()
    assert chart[0] == "xychart-beta"
    assert re.findall(r'"([^"]+)"', chart[2]) == [f"{n}-{s['label']}" for n, s in enumerate(doc["steps"], start=1)]
    changes = story.split("## Rollout changes\n")[1].split("\n## ")[0]
    audit = [line for line in changes.splitlines() if line.startswith("| 20")]
    assert [line.split(" | ")[2:4] for line in audit] == [
        ["0%", "0%"],
        ["0%", "1%"],
        ["1%", "5%"],
        ["5%", "10%"],
        ["10%", "5%"],
    ]
    assert all(" | demo-operator | " in line for line in audit)
    assert "gate ROLLBACK: ON-cohort regression" in audit[-1]
    assert "Latest phase phase3\\_rollback: **ADVANCE**" in story
