"""Dependencies run one way — cli → application (runner, planning) → adapters (sources, store, phase log, notify)
→ judging (checks, gate) → domain — and no module of monitor/ takes part in an import cycle (walking the AST of
every module, function-level imports included)."""

from __future__ import annotations

import pytest
from helpers_imports import graph

# Lowest first: a module may import modules of its own layer or of a lower one, never of a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("monitor", "monitor.errors"),
    ("monitor.settings",),
    ("monitor.domain",),
    ("monitor.checks", "monitor.gate"),
    ("monitor.aws", "monitor.sources", "monitor.store", "monitor.phaselog", "monitor.notify"),
    ("monitor.planning", "monitor.runner", "monitor.watch", "monitor.doctor", "monitor.autopilot"),
    ("monitor.cli", "monitor.__main__"),
)


def layer(module: str) -> int:
    """The layer of `module`: the longest listed prefix it falls under."""
    best, rank = "", -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, index
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def reachable_from(edges: dict[str, frozenset[str]], starts: frozenset[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def on_a_cycle(edges: dict[str, frozenset[str]]) -> list[str]:
    """Every module that imports itself, directly or through others."""
    return sorted(module for module, targets in edges.items() if module in reachable_from(edges, targets))


def test_no_import_cycle_in_monitor() -> None:
    assert on_a_cycle(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a"}),
        "d": frozenset({"d"}),
        "e": frozenset({"a"}),  # imports a cycle without being on it
    }
    assert on_a_cycle(edges) == ["a", "b", "c", "d"]


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    edges = graph()
    assert "monitor.cli.demo.story" in edges["monitor.cli.demo"]  # `from monitor.cli.demo.story import run_demo`
    assert "monitor.domain.aggregate" in edges["monitor.domain.contract"]
    assert len(edges) > 60


@pytest.mark.parametrize("module", sorted(graph()))
def test_dependencies_point_down_the_layers(module: str) -> None:
    upward = sorted(target for target in graph()[module] if layer(target) > layer(module))
    assert not upward, f"{module} (layer {layer(module)}) imports a higher layer: {upward}"
