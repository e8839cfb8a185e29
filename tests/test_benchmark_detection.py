"""CI smoke run of benchmarks/detection.py: it completes and prints both rules for every traffic cell.

A benchmark measures; this test asserts no power, false-alarm or timing figure (the full run is in the README).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "detection.py"
ROLLOUTS = ("1%", "5%", "10%")
RATES = ("10", "50", "200")
FACTORS = ("1.5×", "2×", "5×")


@pytest.fixture(scope="module")
def quick_output() -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(output: str, title: str) -> list[list[str]]:
    """The cells of the Markdown table under the heading that starts with `title`."""
    section = output.split(f"### {title}", 1)[1].split("###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize(
    "column",
    [
        pytest.param("beta-monitor power@1", id="beta-monitor-power"),
        pytest.param("beta-monitor median checkpoints to detect", id="beta-monitor-median"),
        pytest.param("seeds' rule power@1", id="seeds-power"),
        pytest.param("seeds' rule median checkpoints to detect", id="seeds-median"),
    ],
)
def test_detection_table_has_both_rules(quick_output: str, column: str) -> None:
    assert column in _rows(quick_output, "Detection")[0]


def test_detection_table_has_every_scenario(quick_output: str) -> None:
    rows = _rows(quick_output, "Detection")
    scenarios = {tuple(row[:3]) for row in rows[2:]}
    assert scenarios == {(r, q, f) for r in ROLLOUTS for q in RATES for f in FACTORS}
    assert all(len(row) == len(rows[0]) and all(row) for row in rows[2:])


def test_false_alarm_table_has_both_rules_and_every_cell(quick_output: str) -> None:
    rows = _rows(quick_output, "False alarms")
    assert rows[0][2:] == ["beta-monitor false alarms / 30 days", "seeds' rule false alarms / 30 days"]
    assert {tuple(row[:2]) for row in rows[2:]} == {(r, q) for r in ROLLOUTS for q in RATES}


def test_prints_the_command_and_the_target_verdict(quick_output: str) -> None:
    assert "Command: `python benchmarks/detection.py --trials" in quick_output
    assert _rows(quick_output, "Target")[0][-1] == "target met"
    assert "With the default thresholds at base 0.30% the target is " in quick_output
    assert "Rows that meet it: " in quick_output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--trials", "0"], id="no-trials"),
        pytest.param(["--base-rate", "1.5"], id="base-rate-above-1"),
    ],
)
def test_rejects_bad_arguments(args: list[str]) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--trials and --days must be at least 1" in done.stderr
