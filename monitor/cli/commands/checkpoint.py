"""`beta-monitor checkpoint`: run every check over the window, store the checkpoint, append the phase log, notify."""

from __future__ import annotations

import argparse
import logging

from monitor.cli import output
from monitor.cli.commands.doctor import startup_doctor
from monitor.cli.databases import Databases, Say
from monitor.cli.wiring import build_adapters
from monitor.planning import CheckpointRequest
from monitor.runner import CheckpointRunner
from monitor.settings import Settings, window_length
from monitor.sources.base import LogSource
from monitor.sources.factory import open_source

log = logging.getLogger("beta_monitor")


def open_run(args: argparse.Namespace, settings: Settings, say: Say) -> tuple[LogSource, Databases]:
    """The log source and the databases a run reads with (`checkpoint`, `watch`). What needs no I/O is validated
    first: bad input writes nothing."""
    window_length(args.window or settings.window)
    source = open_source(args.source or settings.source, settings, say=say)
    databases = Databases.open(settings, say)
    databases.store.migrate()
    return source, databases


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    source, databases = open_run(args, settings, say)
    if args.doctor:
        startup_doctor(args, settings, databases, say)
    runner = CheckpointRunner(settings, build_adapters(settings, databases), progress=say)
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
        output.print_json(output.checkpoint_document(outcome))
    else:
        print(*output.outcome_lines(outcome), sep="\n")
    return outcome.exit_code
