"""CI smoke run of benchmarks/time_to_rollback.py: it completes, re-judges phases through the real gate and re-folds
the bets test by the real fold without a disagreement, and prints every row. A benchmark measures; this test asserts
no time or false-alarm figure (the full run is in benchmarks/RESULTS-time_to_rollback.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_rollback.py"
REGRESSIONS = ("2× at 5%, 50 req/s", "5× at 5%, 50 req/s", "1.5× at 10%, 50 req/s")
PROCESSES = (
    "auto, every 60 min",
    "auto, every 10 min",
    "manual: hourly report + a person (30–120 min)",
    "seeds' rule (5xx > 1% twice) + a person",
)


def test_quick_run_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for regression in REGRESSIONS:
        for process in PROCESSES:
            assert f"| {regression} | {process} | " in out
    assert "- Target: 2× at 5%/50 req/s rolled back within 20 min at the 95th percentile (every 10 min): " in out
    assert "real gate re-judged 60 phases slot by slot: the same first ROLLBACK in every one" in out
    assert "re-folded by the real `fold_all` with real `Bets`" in out and "the same first FAIL and WARN count" in out
    assert "would roll back 10% → 5%" in out  # the act the real autopilot plans at 10%
    assert out.count("| A/A") == 3
