"""What the CLI prints: one line per fact on stdout (SPEC "Outputs"), or one JSON document with --json."""

from __future__ import annotations

from typing import Any

from monitor.checks.registry import title
from monitor.domain.checkpoint import Checkpoint, GateDecision
from monitor.domain.format import pct


def _bool(value: Any) -> str:
    return "n/a" if value is None else str(bool(value)).lower()


def config_line(live: dict[str, Any]) -> str:
    return (
        f"Config: enabled={_bool(live.get('enabled'))}, rollout={live.get('rollout_percentage')}%, "
        f"allowlist={live.get('allowlist_size', 0)}"
    )


def expected_line(expected: dict[str, Any]) -> str:
    if expected.get("rollout_percentage") is None and expected.get("enabled") is None:
        return "Expected config: none (pass --expected-rollout or run `beta-monitor rollout set`)"
    rollout = expected.get("rollout_percentage")
    enabled = expected.get("enabled")
    parts = [
        f"rollout={rollout}%" if rollout is not None else "rollout=any",
        f"enabled={_bool(enabled)}" if enabled is not None else "enabled=any",
    ]
    suffix = " (stored by rollout set)" if expected.get("source") == "stored" else ""
    return f"Expected config: {', '.join(parts)}{suffix}"


def metrics_line(metrics: dict[str, Any]) -> str:
    status = metrics.get("status", {})
    requests, errors = status.get("requests", 0), status.get("5xx", 0)
    rate = errors / requests if requests else None
    return (
        f"Metrics: 5xx_rate={pct(rate)} ({errors}/{requests}), 2xx={status.get('2xx', 0)}, "
        f"3xx={status.get('3xx', 0)}, 4xx={status.get('4xx', 0)}, events={metrics.get('events', 0)}, "
        f"malformed={metrics.get('malformed', 0)}"
    )


def gate_line(gate: GateDecision | None) -> str:
    if gate is None:
        return "Gate: n/a"
    detail = "; ".join(gate.missing or gate.reasons)
    line = f"Gate: {gate.action.value}" + (f" — {detail}" if detail else "")
    return line + (f" → {gate.command}" if gate.command else "")


def checkpoint_lines(checkpoint: Checkpoint) -> list[str]:
    data = checkpoint.public()
    w = checkpoint.window
    lines = [
        f"Checkpoint: {checkpoint.feature} / {checkpoint.phase} / {checkpoint.label}",
        f"Window: {w.start.isoformat()} → {w.end.isoformat()} (source {checkpoint.metrics.get('engine') or 'n/a'})",
        config_line(data["live_config"]),
        expected_line(data["expected"]),
        metrics_line(checkpoint.metrics),
    ]
    for check in checkpoint.checks:
        lines.append(f"{title(check.name)}: {check.status.value} — {check.summary}")
    lines.append(gate_line(checkpoint.gate))
    lines.append(f"Status: {checkpoint.status.value}, Alerts: {len(checkpoint.alerts)}")
    return lines


def history_lines(checkpoints: list[Checkpoint]) -> list[str]:
    if not checkpoints:
        return ["No checkpoints stored."]
    out = []
    for cp in checkpoints:
        status = cp.metrics.get("status", {})
        requests, errors = status.get("requests", 0), status.get("5xx", 0)
        rate = errors / requests if requests else None
        gate = cp.gate.action.value if cp.gate else "n/a"
        out.append(
            f"{cp.created_at.isoformat()}  #{cp.id}  {cp.phase}  {cp.label}  {cp.status.value}  "
            f"5xx={pct(rate)} ({errors}/{requests})  gate={gate}"
        )
    return out
