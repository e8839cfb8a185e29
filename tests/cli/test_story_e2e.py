"""One story in the database and the phase log, through the installed CLI: concurrent runs are ordered the same way
in both, and a rebuild written elsewhere never marks a pending repair of the real log as done."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from e2e_support import FEATURE, PHASE, World, beta_monitor_bin, make_world

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def test_ten_concurrent_runs_then_a_rebuild_elsewhere_is_byte_for_byte_the_live_log(
    world: World, tmp_path: Path
) -> None:
    world.traffic(600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BETA_MONITOR_")} | world.env
    procs = [
        subprocess.Popen(
            [beta_monitor_bin(), "-q", "checkpoint", FEATURE, PHASE, f"run-{n:02d}", "--end", world.end.isoformat()],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(10)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), err
    live = world.log.read_text(encoding="utf-8")
    assert live.count("\n## Checkpoint: ") == 10

    elsewhere = tmp_path / "copy" / "log.md"
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild", "--phase-log", str(elsewhere))
    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.stdout == f"Phase log rebuilt: {elsewhere} (10 checkpoints)\n"
    assert elsewhere.read_text(encoding="utf-8") == live

    # history, the gate's input and the summary follow the same order as the log (history: newest first).
    headings = [line for line in live.splitlines() if line.startswith("## Checkpoint: ")]
    in_log = [line.split(" (")[0].removeprefix("## Checkpoint: ") for line in headings]
    history = world.cli("history", FEATURE, "--json").json()
    assert [c["label"] for c in reversed(history)] == in_log
    times = [c["created_at"] for c in reversed(history)]
    assert times == sorted(times)  # taken under the lock, in the order of the lock
    summary = world.cli("report", FEATURE, PHASE).stdout
    table = [line.split(" | ")[1] for line in summary.splitlines() if line.startswith("| ") and "run-" in line]
    assert table == in_log


def test_a_rebuild_elsewhere_does_not_cancel_a_pending_repair(world: World, tmp_path: Path) -> None:
    world.traffic(600)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the phase-log directory should be")
    env = {"BETA_MONITOR_PHASE_LOG": str(blocker / "{phase}.md")}
    first = world.checkpoint("h1", "--expected-rollout", "5", env=env)
    assert first.code == 1 and "Phase log: NOT appended" in first.stdout

    copy = tmp_path / "copy.md"
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild", "--phase-log", str(copy), env=env)
    assert rebuilt.code == 0, rebuilt.stderr
    assert "## Checkpoint: h1 (" in copy.read_text(encoding="utf-8")
    assert world.cli("history", FEATURE, "--json").json()[0]["appended"] is False  # still owed to the real log

    blocker.unlink()
    second = world.checkpoint("h2", "--expected-rollout", "5", env=env)
    assert second.code == 0, second.stdout + second.stderr
    assert "Phase log: repaired 1 missing entry" in second.stdout
    text = (blocker / f"{PHASE}.md").read_text(encoding="utf-8")
    assert text.index("## Checkpoint: h1 (") < text.index("## Checkpoint: h2 (")


def test_a_rebuild_of_the_configured_log_marks_the_repair_done(world: World, tmp_path: Path) -> None:
    world.traffic(600)
    blocker = tmp_path / "blocked"
    blocker.write_text("x")
    env = {"BETA_MONITOR_PHASE_LOG": str(blocker / "{phase}.md")}
    assert world.checkpoint("h1", "--expected-rollout", "5", env=env).code == 1
    blocker.unlink()
    rebuilt = world.cli("report", FEATURE, PHASE, "--rebuild", env=env)
    assert rebuilt.code == 0 and rebuilt.stdout == f"Phase log rebuilt: {blocker / PHASE}.md (1 checkpoint)\n"
    assert world.cli("history", FEATURE, "--json").json()[0]["appended"] is True


def test_no_lock_file_is_left_in_the_report_directory(world: World) -> None:
    world.traffic(600)
    for label in ("h1", "h2"):
        assert world.checkpoint(label, "--expected-rollout", "5").code == 0
    assert world.cli("report", FEATURE, PHASE, "--rebuild").code == 0
    assert sorted(p.name for p in world.log.parent.iterdir()) == [f"{PHASE}.md"]
