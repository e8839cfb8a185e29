"""`beta-monitor gate`: ADVANCE / HOLD / ROLLBACK for a phase, with the command to act; exit 0 / 1 / 2."""

from __future__ import annotations

import argparse

from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.gate import phase_gate
from monitor.settings import Settings


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    databases = Databases.open(settings, say)
    databases.store.migrate()
    checkpoints = list(reversed(databases.store.history(args.feature, args.phase)))
    config = databases.flags().get(args.feature)
    decision = phase_gate(args.feature, args.phase, checkpoints, settings, config)
    if args.json:
        output.print_json(output.gate_document(args.feature, args.phase, len(checkpoints), decision))
    else:
        print(*output.gate_lines(args.phase, len(checkpoints), decision), sep="\n")
    return decision.action.exit_code
