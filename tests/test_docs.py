"""The README documents every command and every setting (sqlite-utils' test_docs idea)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.parser import build_parser
from monitor.settings import settings_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[list[str]]:
    """Every (sub)command path of the CLI, e.g. ["rollout", "set"]."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_settings_table_is_in_sync() -> None:
    block = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", README, re.S)
    assert block, "README lost its settings markers"
    assert block.group(1) == settings_table(), "regenerate: python tests/readme_blocks.py"


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help_and_a_readme_entry(command: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "monitor", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and "usage: beta-monitor" in run.stdout
    assert len(run.stdout.splitlines()) > 3
    leaf = not any(c[: len(command)] == command and len(c) > len(command) for c in _commands())
    if leaf:
        assert f"beta-monitor {' '.join(command)}" in README, f"README has no entry for `{' '.join(command)}`"
