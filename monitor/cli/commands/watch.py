"""`beta-monitor watch`: one checkpoint per flag in rollout, from one read of the logs (`monitor.watch`)."""

from __future__ import annotations

import argparse
import logging

from monitor.cli import output
from monitor.cli.commands.checkpoint import open_run
from monitor.cli.databases import Say
from monitor.cli.wiring import build_adapters
from monitor.runner import CheckpointRunner
from monitor.settings import Settings
from monitor.watch import WatchRequest, WatchRunner

log = logging.getLogger("beta_monitor")


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    source, databases = open_run(args, settings, say)
    runner = CheckpointRunner(settings, build_adapters(settings, databases), progress=say)
    request = WatchRequest(
        features=args.feature,
        label=args.label,
        window=args.window,
        end=args.end,
        phase_log=args.phase_log,
        run_key=args.run_key,
        dry_run=args.dry_run,
    )
    outcome = WatchRunner(runner, databases.flags()).run(request, source)
    log.info(
        "watch done",
        extra={
            "flags": [o.checkpoint.feature for o in outcome.outcomes],
            "status": outcome.status.value,
            "exit_code": outcome.exit_code,
            "duplicates": sum(o.duplicate for o in outcome.outcomes),
            "aws_calls": outcome.aws_calls(),
        },
    )
    if args.json:
        output.print_json(output.watch_document(outcome))
    else:
        print(*output.watch_lines(outcome), sep="\n")
    return outcome.exit_code
