"""ruff (rules and formatter) and mypy stay clean (the house rule), checked where CI can see it — with the rule
families the house agreed on actually configured."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("monitor", "tests", "benchmarks")
RULE_FAMILIES = {"E", "F", "W", "I", "B", "UP", "SIM", "RUF", "C90", "ARG", "PL"}


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (pip install '.[dev]')")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_clean() -> None:
    run = _run(_tool("ruff"), "check", *SOURCES)
    assert run.returncode == 0, run.stdout[-4000:]


def test_ruff_format_clean() -> None:
    run = _run(_tool("ruff"), "format", "--check", *SOURCES)
    assert run.returncode == 0, run.stdout[-4000:] + "\nrun: ruff format monitor tests benchmarks"


def test_mypy_clean() -> None:
    run = _run(_tool("mypy"), "monitor", "benchmarks")
    assert run.returncode == 0, run.stdout[-4000:]


def test_the_agreed_rules_are_configured() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert set(config["ruff"]["lint"]["select"]) >= RULE_FAMILIES
    assert config["mypy"]["warn_unused_ignores"] is True
    assert config["ruff"]["lint"]["mccabe"]["max-complexity"] == 10
