"""`beta-monitor history`: stored checkpoints, newest first."""

from __future__ import annotations

import argparse

from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.errors import ConfigError
from monitor.settings import Settings


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be 1 or more")
    store = Databases.open(settings, say).store
    store.migrate()
    checkpoints = store.history(args.feature, args.phase, args.limit)
    if args.json:
        output.print_json([cp.public() for cp in checkpoints])
    else:
        print(*output.history_lines(checkpoints), sep="\n")
    return 0
