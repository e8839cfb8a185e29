"""What the CLI prints: one line per fact on stdout (SPEC "Outputs"), or one JSON document with --json."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from monitor.checks.registry import title
from monitor.domain.checkpoint import Checkpoint, GateDecision
from monitor.domain.format import iso_z, pct, plural

if TYPE_CHECKING:
    from monitor.runner import CheckpointOutcome
    from monitor.watch import WatchOutcome


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


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
    line += f" → {gate.command}" if gate.command else ""
    return line + (f" ({gate.note})" if gate.note else "")


def checkpoint_lines(checkpoint: Checkpoint) -> list[str]:
    data = checkpoint.public()
    w = checkpoint.window
    lines = [
        f"Checkpoint: {checkpoint.feature} / {checkpoint.phase} / {checkpoint.label}",
        f"Window: {iso_z(w.start)} → {iso_z(w.end)} (source {checkpoint.metrics.get('engine') or 'n/a'})",
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
            f"{iso_z(cp.created_at)}  #{cp.id}  {cp.phase}  {cp.label}  {cp.status.value}  "
            f"5xx={pct(rate)} ({errors}/{requests})  gate={gate}"
        )
    return out


def checkpoint_document(outcome: CheckpointOutcome) -> dict[str, Any]:
    """The `--json` document of a checkpoint run."""
    cp = outcome.checkpoint
    data = cp.public()
    return {
        "status": cp.status.value,
        "exit_code": outcome.exit_code,
        "checkpoint_id": cp.id,
        "duplicate": outcome.duplicate,
        "dry_run": outcome.dry_run,
        "feature": cp.feature,
        "phase": cp.phase,
        "label": cp.label,
        "run_key": cp.run_key,
        "window": data["window"],
        "config": data["live_config"],
        "expected": data["expected"],
        "checks": data["checks"],
        "metrics": data["metrics"],
        "gate": data["gate"],
        "phase_log": outcome.phase_log,
        "appended": outcome.appended,
        "append_error": outcome.append_error,
        "repaired_entries": outcome.repaired,
        "notifications": outcome.notifications,
        "entry": cp.entry,
        "created_at": data["created_at"],
    }


def outcome_lines(outcome: CheckpointOutcome) -> list[str]:
    """The stdout of a checkpoint run: the checkpoint, then what was stored, appended and notified."""
    lines = checkpoint_lines(outcome.checkpoint)
    gate = outcome.checkpoint.gate
    if gate is not None and gate.act is not None:
        lines.append(f"Act: {'WARN ' if gate.act.warn else ''}{gate.act.line}")
    if outcome.dry_run:
        lines.append("Dry run: nothing stored, nothing appended")
    elif outcome.duplicate:
        lines.append(
            f"Duplicate run key {outcome.checkpoint.run_key!r}: "
            f"reporting stored checkpoint #{outcome.checkpoint.id}, nothing recorded"
        )
    else:
        lines.append(f"Checkpoint: #{outcome.checkpoint.id} stored")
    if outcome.repaired:
        lines.append(f"Phase log: repaired {outcome.repaired} missing entr{'y' if outcome.repaired == 1 else 'ies'}")
    if outcome.append_error:
        lines.append(f"Phase log: NOT appended ({outcome.append_error}); the next run or `report --rebuild` repairs it")
    elif not outcome.dry_run:
        lines.append(f"Phase log: {outcome.phase_log}")
    lines.extend(f"Notified: {note}" for note in outcome.notifications)
    return lines


def gate_document(feature: str, phase: str, checkpoints: int, decision: GateDecision) -> dict[str, Any]:
    """The `gate --json` document."""
    return {"feature": feature, "phase": phase, "checkpoints": checkpoints, **decision.model_dump(mode="json")}


def gate_lines(phase: str, checkpoints: int, decision: GateDecision) -> list[str]:
    lines = [f"Gate: {decision.action.value} ({plural(checkpoints, 'checkpoint')} in {phase})"]
    lines += [f"Reason: {reason}" for reason in decision.reasons]
    lines += [f"Missing: {missing}" for missing in decision.missing]
    if decision.note:
        lines.append(f"Note: {decision.note}")
    if decision.command:
        lines.append(f"Command: {decision.command}")
    return lines


def rollout_lines(feature: str, result: dict[str, Any]) -> list[str]:
    """The stdout of `rollout set`: the change, and the expectation stored for hourly runs."""
    before, after = result["before"], result["after"]
    return [
        f"Rollout: {feature} {before['rollout_percentage']}% → {after['rollout_percentage']}%, "
        f"enabled {str(before['enabled']).lower()} → {str(after['enabled']).lower()}",
        f"Expected config: rollout={after['rollout_percentage']}%, enabled={str(after['enabled']).lower()} "
        "(stored for hourly runs)",
    ]


def watch_document(outcome: WatchOutcome) -> dict[str, Any]:
    """The `watch --json` document: the checkpoint document of each flag in rollout, and what the one read cost."""
    return {
        "status": outcome.status.value,
        "exit_code": outcome.exit_code,
        "features": [checkpoint_document(o) for o in outcome.outcomes],
        "not_in_rollout": dict(outcome.skipped),
        "aws_calls": outcome.aws_calls(),
        "index": outcome.index,
        "index_error": outcome.index_error,
        "notifications": list(outcome.notifications),
    }


def watch_lines(outcome: WatchOutcome) -> list[str]:
    """The stdout of `watch`: one block per flag in rollout (as `checkpoint` prints it), then one summary line."""
    lines: list[str] = []
    for one in outcome.outcomes:
        lines += [*outcome_lines(one), ""]
    for feature, why in outcome.skipped.items():
        lines.append(f"Not in rollout: {feature} ({why}): nothing recorded")
    if outcome.index_error:
        lines.append(f"Index: NOT written ({outcome.index_error}); the next watch rewrites it")
    elif outcome.index:
        lines.append(f"Index: {outcome.index}")
    lines.extend(f"Notified: {note}" for note in outcome.notifications)
    calls = outcome.aws_calls()
    counts = {o.checkpoint.status.value: 0 for o in outcome.outcomes}
    for one in outcome.outcomes:
        counts[one.checkpoint.status.value] += 1
    verdicts = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no flag in rollout"
    read = (
        f"one read ({calls.get('insights_queries', 0)} Insights queries, {calls.get('bytes_scanned', 0):,} bytes "
        f"scanned, {calls.get('FilterLogEvents', 0)} FilterLogEvents pages)"
        if outcome.reading is not None
        else "no read (nothing new to check)"
    )
    lines.append(
        f"Watch: {outcome.status.value if outcome.outcomes else 'PASS'} — "
        f"{plural(len(outcome.outcomes), 'flag')} in rollout ({verdicts}), {read}"
    )
    return lines
