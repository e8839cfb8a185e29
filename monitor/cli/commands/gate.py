"""`beta-monitor gate`: ADVANCE / HOLD / ROLLBACK for a phase, with the command to act; exit 0 / 1 / 2.

A phase without any stored checkpoint is HOLD (exit 1) saying so and naming the feature's phases that have some;
exit 3 when the feature has no checkpoint at all and no flag either (a mistyped FEATURE)."""

from __future__ import annotations

import argparse

from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.domain.flag import FlagConfig
from monitor.errors import ConfigError, FlagNotFoundError
from monitor.gate import no_checkpoint_gate, phase_gate
from monitor.settings import Settings


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    databases = Databases.open(settings, say)
    databases.store.migrate()
    checkpoints = list(reversed(databases.store.history(args.feature, args.phase)))
    config: FlagConfig | None
    try:
        config = databases.flags().get(args.feature)
    except FlagNotFoundError:
        config = None
    if checkpoints:
        decision = phase_gate(args.feature, args.phase, checkpoints, settings, config)
    else:
        known = databases.store.phases(args.feature)
        if not known and config is None:
            raise ConfigError(
                f"no checkpoint stored for {args.feature} and no flag {args.feature!r} in the backend's flag table: "
                "check FEATURE"
            )
        decision = no_checkpoint_gate(args.feature, args.phase, known)
    if args.json:
        output.print_json(output.gate_document(args.feature, args.phase, len(checkpoints), decision))
    else:
        print(*output.gate_lines(args.phase, len(checkpoints), decision), sep="\n")
    return decision.action.exit_code
