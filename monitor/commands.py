"""One function per CLI command: build the adapters, call the library, print, return the exit code."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor.adapters import aws_client, build_adapters, rollout_writer
from monitor.errors import ConfigError
from monitor.output import checkpoint_lines, history_lines
from monitor.planning import CheckpointRequest
from monitor.runner import CheckpointRunner, outcome_document
from monitor.settings import Settings, parse_duration
from monitor.sources import open_source

Progress = Callable[[str], None]
log = logging.getLogger("beta_monitor")


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def _print_json(data: Any) -> None:
    from monitor.cli import print_json

    print_json(data)


def checkpoint(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    # Validate what needs no I/O first: bad input writes nothing.
    parse_duration(args.window or settings.window)
    source_spec = args.source or settings.source
    source = open_source(source_spec, settings, say=say)
    adapters = build_adapters(settings, say=say)
    adapters.store.migrate()
    runner = CheckpointRunner(settings, adapters, progress=say)
    request = CheckpointRequest(
        feature=args.feature,
        phase=args.phase,
        label=args.label,
        expected_rollout=args.expected_rollout,
        expected_enabled=args.expected_enabled,
        window=args.window,
        end=args.end,
        phase_log=args.phase_log,
        run_key=args.run_key,
        dry_run=args.dry_run,
        baseline_label=args.baseline_label,
    )
    outcome = runner.run(request, source)
    cp = outcome.checkpoint
    log.info(
        "checkpoint done",
        extra={
            "feature": cp.feature,
            "phase": cp.phase,
            "label": cp.label,
            "status": cp.status.value,
            "checkpoint_id": cp.id,
            "duplicate": outcome.duplicate,
            "appended": outcome.appended,
            "gate": cp.gate.action.value if cp.gate else None,
            "exit_code": outcome.exit_code,
        },
    )
    if args.json:
        _print_json(outcome_document(outcome))
        return outcome.exit_code
    for line in checkpoint_lines(outcome.checkpoint):
        print(line)
    if outcome.dry_run:
        print("Dry run: nothing stored, nothing appended")
    elif outcome.duplicate:
        print(
            f"Duplicate run key {outcome.checkpoint.run_key!r}: "
            f"reporting stored checkpoint #{outcome.checkpoint.id}, nothing recorded"
        )
    else:
        print(f"Checkpoint: #{outcome.checkpoint.id} stored")
    if outcome.repaired:
        print(f"Phase log: repaired {outcome.repaired} missing entr{'y' if outcome.repaired == 1 else 'ies'}")
    if outcome.append_error:
        print(f"Phase log: NOT appended ({outcome.append_error}); the next run or `report --rebuild` repairs it")
    elif not outcome.dry_run:
        print(f"Phase log: {outcome.phase_log}")
    for note in outcome.notifications:
        print(f"Notified: {note}")
    return outcome.exit_code


def history(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be 1 or more")
    adapters = build_adapters(settings, say=say)
    adapters.store.migrate()
    checkpoints = adapters.store.history(args.feature, args.phase, args.limit)
    if args.json:
        _print_json([cp.public() for cp in checkpoints])
    else:
        for line in history_lines(checkpoints):
            print(line)
    return 0


def gate(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    adapters = build_adapters(settings, say=say)
    adapters.store.migrate()
    runner = CheckpointRunner(settings, adapters, progress=say)
    checkpoints = list(reversed(adapters.store.history(args.feature, args.phase)))
    config = adapters.flags.get(args.feature)
    decision = runner.gate(args.feature, args.phase, checkpoints, config)
    if args.json:
        _print_json(
            {
                "feature": args.feature,
                "phase": args.phase,
                "checkpoints": len(checkpoints),
                **decision.model_dump(mode="json"),
            }
        )
    else:
        print(f"Gate: {decision.action.value} ({len(checkpoints)} checkpoints in {args.phase})")
        for reason in decision.reasons:
            print(f"Reason: {reason}")
        for missing in decision.missing:
            print(f"Missing: {missing}")
        if decision.command:
            print(f"Command: {decision.command}")
    return decision.action.exit_code


def report(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    from monitor.report import render_summary

    adapters = build_adapters(settings, say=say)
    adapters.store.migrate()
    runner = CheckpointRunner(settings, adapters, progress=say)
    destination = adapters.phase_log_destination(args.phase_log or settings.phase_log, args.feature, args.phase)
    if args.rebuild:
        count = runner.rebuild(args.feature, args.phase, destination)
        print(f"Phase log rebuilt: {destination} ({count} checkpoints)")
        return 0
    checkpoints = list(reversed(adapters.store.history(args.feature, args.phase)))
    if not checkpoints:
        raise ConfigError(
            f"no checkpoints stored for {args.feature} / {args.phase}: run `beta-monitor checkpoint` first"
        )
    try:
        config = adapters.flags.get(args.feature)
    except ConfigError:
        config = None
    print(
        render_summary(
            args.feature, args.phase, checkpoints, runner.gate(args.feature, args.phase, checkpoints, config)
        ),
        end="",
    )
    return 0


def check_phase_plan(current: int, target: int, steps: list[int], force: bool) -> None:
    """Refuse a rollout increase that skips a step of the plan (decreases — rollbacks — are always allowed)."""
    if force or target <= current:
        return
    if target not in steps:
        raise ConfigError(f"{target}% is not a step of the phase plan {steps}: pick one or pass --force")
    skipped = [s for s in steps if current < s < target]
    if skipped:
        raise ConfigError(
            f"{current}% → {target}% skips {', '.join(f'{s}%' for s in skipped)} of the phase plan: "
            "step through them or pass --force"
        )


def _actor(settings: Settings) -> str:
    if settings.actor:
        return settings.actor
    try:
        client = aws_client(settings, "sts")
        arn = client.get_caller_identity()["Arn"]
        return str(arn)
    except Exception:
        return f"{getpass.getuser()} (local)"


def rollout_set(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    if not args.reason.strip():
        raise ConfigError("--reason must say why the rollout changes")
    adapters = build_adapters(settings, say=say)
    adapters.store.migrate()
    current = adapters.flags.get(args.feature)
    check_phase_plan(current.rollout_percentage, args.percent, settings.phase_steps, args.force)
    writer = rollout_writer(settings, say=lambda m: None)
    result = writer.set_rollout(
        args.feature,
        args.percent,
        args.enabled,
        reason=args.reason.strip(),
        actor=_actor(settings),
        now=datetime.now(UTC),
    )
    if args.json:
        _print_json({"feature": args.feature, **result})
    else:
        before, after = result["before"], result["after"]
        print(
            f"Rollout: {args.feature} {before['rollout_percentage']}% → {after['rollout_percentage']}%, "
            f"enabled {str(before['enabled']).lower()} → {str(after['enabled']).lower()}"
        )
        print(
            f"Expected config: rollout={after['rollout_percentage']}%, enabled={str(after['enabled']).lower()} "
            "(stored for hourly runs)"
        )
    return 0


def db_init(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    adapters = build_adapters(settings, say=say)
    applied = adapters.store.migrate()
    print(f"Migrations applied: {', '.join(applied)}" if applied else "Database is up to date")
    return 0


def demo(args: argparse.Namespace, settings: Settings, say: Progress) -> int:
    from monitor.demo import run_demo

    return run_demo(args, say)
