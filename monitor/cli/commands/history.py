"""`beta-monitor history`: stored checkpoints, newest first."""

from __future__ import annotations

import argparse

from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.errors import ConfigError, FlagNotFoundError
from monitor.settings import Settings


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be 1 or more")
    databases = Databases.open(settings, say)
    store = databases.store
    store.migrate()
    checkpoints = store.history(args.feature, args.phase, args.limit)
    if not checkpoints and not store.history(args.feature, None, 1):
        # Nothing stored for this feature: a typo, like `gate` and `checkpoint` say, unless the flag exists. (A flag
        # deleted from the table whose checkpoints are stored still lists them.)
        try:
            databases.flags().get(args.feature)
        except FlagNotFoundError as exc:
            raise ConfigError(f"{exc}; no checkpoints are stored for it either") from None
    if args.json:
        output.print_json([cp.public() for cp in checkpoints])
    else:
        print(*output.history_lines(checkpoints), sep="\n")
    return 0
