"""`beta-monitor report`: the phase summary, or `--rebuild` the whole phase log from the store."""

from __future__ import annotations

import argparse

from monitor.cli.databases import Databases, Say
from monitor.cli.wiring import phase_log
from monitor.domain.format import plural
from monitor.errors import ConfigError
from monitor.gate import phase_gate
from monitor.phaselog.render import render_summary
from monitor.settings import Settings


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    databases = Databases.open(settings, say)
    databases.store.migrate()
    log_service = phase_log(settings, databases)
    destination = log_service.destination(args.feature, args.phase, args.phase_log)
    if args.rebuild:
        count = log_service.rebuild(args.feature, args.phase, destination)
        print(f"Phase log rebuilt: {destination} ({plural(count, 'checkpoint')})")
        return 0
    checkpoints = list(reversed(databases.store.history(args.feature, args.phase)))
    if not checkpoints:
        raise ConfigError(
            f"no checkpoints stored for {args.feature} / {args.phase}: run `beta-monitor checkpoint` first"
        )
    try:
        config = databases.flags().get(args.feature)
    except ConfigError:
        config = None
    decision = phase_gate(args.feature, args.phase, checkpoints, settings, config)
    print(render_summary(args.feature, args.phase, checkpoints, decision), end="")
    return 0
