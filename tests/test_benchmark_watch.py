"""A smoke run of the watch benchmark: it completes and prints both tables (no figure asserted, only that a watch
ran as many Insights queries as one flag's checkpoint, which is what the benchmark exists to show)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "watch.py"


def test_watch_benchmark_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--flags", "1,2", "--requests", "2000", "--checkpoint-runs", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "| flags | events | N checkpoints: StartQuery | watch: StartQuery |" in out
    assert "| flags | watch | N checkpoints | speedup |" in out
    one = re.search(r"^\| 1 \| [\d,]+ \| (\d+) \| (\d+) \|", out, re.M)
    two = re.search(r"^\| 2 \| [\d,]+ \| (\d+) \| (\d+) \|", out, re.M)
    assert one and two, out
    assert int(two.group(2)) == int(one.group(2)) == int(one.group(1))  # watch: the same queries for 2 flags
    assert int(two.group(1)) == 2 * int(one.group(1))  # two checkpoints: twice the queries
    assert "(mean of 1 × 2)" in out
