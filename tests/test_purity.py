"""The judging code is pure: domain/, checks/ and gate.py import no boto3, psycopg or jinja2 —
neither directly nor through another monitor module they import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"
FORBIDDEN = {"boto3", "botocore", "psycopg", "psycopg_pool", "jinja2", "aiobotocore", "s3transfer"}
PURE = [*sorted(PACKAGE.glob("domain/*.py")), *sorted(PACKAGE.glob("checks/*.py")), PACKAGE / "gate.py"]


def imports_of(source: str, package: str) -> set[str]:
    """Absolute module names imported by `source`, a module of `package` (relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "monitor":
        return None
    candidate = PACKAGE.parent.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def reachable(start: Path) -> dict[Path, set[str]]:
    """Every monitor source file imported (transitively) from `start`, with its imports."""
    seen: dict[Path, set[str]] = {}
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
        seen[path] = imports_of(path.read_text(), package)
        todo.extend(p for p in map(module_file, seen[path]) if p is not None and p not in seen)
    return seen


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
