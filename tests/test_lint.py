"""ruff and mypy stay clean (the house rule), checked where CI can see it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (pip install '.[dev]')")
    return found


def test_ruff_clean() -> None:
    run = subprocess.run(
        [_tool("ruff"), "check", "monitor", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:]


def test_mypy_clean() -> None:
    run = subprocess.run(
        [_tool("mypy"), "monitor", "benchmarks"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-4000:]
