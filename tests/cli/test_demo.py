"""The demo tells the whole story through the installed CLI, with a smaller traffic volume."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

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
    summary = Path(doc["summary"]).read_text(encoding="utf-8")
    assert "xychart-beta" in summary
    # The progress lines went to stderr, the document to stdout.
    assert "rollout set passenger_favorites_matching 10%" in run.stderr
    assert "gate HOLD at allowlist-validation: taking another hourly checkpoint before acting" in run.stderr
