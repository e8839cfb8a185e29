"""The wheel ships every package: pyproject lists each package under monitor/ (and the migrations and templates)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_under_monitor_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "monitor").rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert {"monitor.store.migrations", "monitor.templates"} <= listed  # data: the SQL files and the Jinja2 templates
    assert all((REPO / Path(*name.split("."))).is_dir() for name in listed - {"monitor.templates"})
