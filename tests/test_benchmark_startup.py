"""A smoke run of the startup benchmark: it completes and prints a row per command (no figure asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "startup.py"


def test_startup_benchmark_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "1"], capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for command in ("`history startup_feature`", "`gate startup_feature p1`", "`db init`"):
        assert f"| this checkout | {command} |" in run.stdout
