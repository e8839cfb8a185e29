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
    ("monitor.planning", "monitor.runner"),
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


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_monitor() -> None:
    assert cycles(dict(graph())) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"d", "a"})}
    assert cycles(edges) == [["a", "b", "c"], ["d"]]


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    edges = graph()
    assert "monitor.cli.demo.story" in edges["monitor.cli.demo"]  # `from monitor.cli.demo.story import run_demo`
    assert "monitor.domain.aggregate" in edges["monitor.domain.contract"]
    assert len(edges) > 60


@pytest.mark.parametrize("module", sorted(graph()))
def test_dependencies_point_down_the_layers(module: str) -> None:
    upward = sorted(target for target in graph()[module] if layer(target) > layer(module))
    assert not upward, f"{module} (layer {layer(module)}) imports a higher layer: {upward}"
