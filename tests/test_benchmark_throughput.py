"""A smoke run of the throughput benchmark: it completes and prints every engine's figures (none asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def test_throughput_benchmark_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "3000,6000"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "| events | beta-monitor checkpoint | jq (same counts) | grep -c (floor) | speedup over jq |" in out
    assert "peak RSS (summed) | peak PSS (summed) |" in out
    assert "| 3,000 |" in out and "| 6,000 |" in out
    assert "Peak RSS from 3,000 to 6,000 events" in out
    assert "| events | format | file size | beta-monitor checkpoint | peak RSS (summed) | peak PSS (summed) |" in out
    assert "| 3,000 | export-task 000000.gz |" in out and "| 6,000 | wrapper lines |" in out
