"""The import graph of `monitor/`, read from the AST of every module (function-level imports included)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str) -> Path | None:
    """The source file of module `name` in this checkout, or None (another library, or a name inside a module)."""
    parts = name.split(".")
    if parts[0] != "monitor":
        return None
    candidate = PACKAGE.parent.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def imports_of(source: str, package: str) -> set[str]:
    """Absolute names imported by `source`, a module of `package` (relative imports resolved): every `import a.b`,
    and for `from a import b` both `a` and `a.b` (whichever is a module)."""
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


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])


def monitor_imports(path: Path) -> set[str]:
    """The monitor modules `path` imports: `from a import b` counts as importing the module `a.b` when b is a module,
    else the module `a` (the package `a` itself is then only initialised, which cannot form a cycle)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = sorted(imports_of(ast.unparse(node), _package_of(path)), key=len)[0]
            submodules = [f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}")]
            others = [alias for alias in node.names if not module_file(f"{base}.{alias.name}")]
            targets = submodules + ([base] if others else [])
        else:
            continue
        found.update(module_name(file) for file in map(module_file, targets) if file is not None)
    return found


@cache
def graph() -> dict[str, frozenset[str]]:
    """Every module of monitor/ → the monitor modules it imports."""
    return {module_name(path): frozenset(monitor_imports(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def reachable(start: Path) -> dict[Path, set[str]]:
    """Every monitor source file imported (transitively) from `start`, with all its imported names."""
    seen: dict[Path, set[str]] = {}
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = imports_of(path.read_text(), _package_of(path))
        todo.extend(p for p in map(module_file, seen[path]) if p is not None and p not in seen)
    return seen
