"""CI smoke run of benchmarks/detection.py: it completes and prints every table for every rule and traffic cell.

A benchmark measures; this test asserts no power, false-alarm or timing figure (the full run is in
benchmarks/RESULTS-detection.md and the README).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "detection.py"
CELLS = {(r, q) for r in ("1%", "5%", "10%") for q in ("5", "50", "500")}
POWER = ("1.5×", "2×", "3×", "sticky 10% of ON at 1/3")
AA = (
    "A/A",
    "A/A + random storms",
    "A/A + persistent storming client",
    "A/A + chronic 2% at 5%",
    "A/A + chronic 1% at 30%",
)


@pytest.fixture(scope="module")
def quick_output() -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tables(output: str, title: str) -> list[list[list[str]]]:
    """The Markdown tables (rows of cells) in the section whose heading starts with `title`."""
    section = output.split(f"### {title}", 1)[1].split("\n### ", 1)[0]
    tables: list[list[list[str]]] = []
    previous = False
    for line in section.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous:
            tables.append([])
        if is_row:
            tables[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous = is_row
    return tables


def _body(table: list[list[str]]) -> list[list[str]]:
    assert set(table[1]) == {"---"}
    assert all(len(row) == len(table[0]) and all(row) for row in table[2:])
    return table[2:]


def test_prints_the_command_and_seed(quick_output: str) -> None:
    assert "Command: `python benchmarks/detection.py --phases 12 --seed 1 --quick` (seed 1)" in quick_output


def test_power_table_has_every_rule_scenario_and_cell(quick_output: str) -> None:
    (table,) = _tables(quick_output, "Power")
    for column in ("seeds @1", "seeds ≤3", "old @1", "old ≤3", "(b) @1", "bets @1", "(b) ≤3", "bets ≤3"):
        assert column in table[0]
    assert "bets WARN or FAIL @1" in table[0]
    assert {(row[0], row[1], row[2]) for row in _body(table)} == {(s, r, q) for s in POWER for r, q in CELLS}


def test_false_fail_table_has_every_rule_scenario_and_cell_and_the_storage(quick_output: str) -> None:
    table, storage = _tables(quick_output, "False FAILs with no regression")
    for column in (
        "seeds: FAILs / 720 h",
        "old: FAILs / 720 h",
        "req units: P(any)",
        "(b): P(any)",
        "bets: P(any false FAIL in the phase)",
        "bets: WARN hours / 720 h",
    ):
        assert column in table[0]
    assert {(row[0], row[1], row[2]) for row in _body(table)} == {(s, r, q) for s in AA for r, q in CELLS}
    assert storage[0][2] == "entered hashes by 24 h"
    assert {(row[0], row[1]) for row in _body(storage)} == CELLS


def test_target_warn_grid_sensitivity_and_exposure_sections(quick_output: str) -> None:
    (target,) = _tables(quick_output, "Targets")
    assert [row[0] for row in _body(target)] == ["uniform", "trough (02:00)", "mean (08:00)", "peak (14:00)"]
    assert target[0][1] == "bets: 2× FAIL @1" and "(b): 2× @1" in target[0]
    for claim in (
        "FAILs at hour 1 with power ≥ 0.95: ",
        "FAILs by hour 3 with power ≥ 0.95: ",
        "P(any false FAIL in a phase) ≤ 0.01 in every A/A cell",
    ):
        assert claim in quick_output
    rates, hits = _tables(quick_output, "WARN rule")
    assert "hour e ≥ 10 and M ≥ 10 (default): WARN / hour" in rates[0]
    assert _body(rates)[-1][0] == "worst" and len(_body(hits)) == 2 * len(CELLS)
    (grids,) = _tables(quick_output, "Mixture grid")
    assert _body(grids)[0][0].startswith("default")
    (sens,) = _tables(quick_output, "Sensitivity")
    assert [row[0] for row in _body(sens)] == ["5", "10", "20", "40"]
    at_20k, per_cell = _tables(quick_output, "Exposure")
    assert [row[0] for row in _body(at_20k)] == ["1%", "5%", "10%"]
    assert {(row[0], row[1]) for row in _body(per_cell)} == CELLS
    assert "none would have failed" in quick_output
    assert "the same first FAIL hour and WARN count in every one" in quick_output
    assert "Open question" not in quick_output  # the unit comparison was dropped with the bets test


@pytest.mark.parametrize("args", [pytest.param(["--phases", "0"], id="no-phases")])
def test_rejects_bad_arguments(args: list[str]) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--phases must be at least 1" in done.stderr
