"""A smoke run of the per-passenger memory benchmark: it completes and prints its row (no figure asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "passenger_memory.py"


def test_passenger_memory_benchmark_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--passengers", "1000"], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Command: `python benchmarks/passenger_memory.py --passengers 1000`" in run.stdout
    row = next(line for line in run.stdout.splitlines() if line.startswith("| 1,000 |"))
    assert len(row.strip("|").split("|")) == 6
