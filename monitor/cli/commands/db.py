"""`beta-monitor db init`: create or migrate the watchdog's tables."""

from __future__ import annotations

import argparse

from monitor.cli.databases import Databases, Say
from monitor.settings import Settings


def run(_args: argparse.Namespace, settings: Settings, say: Say) -> int:
    applied = Databases.open(settings, say).store.migrate()
    print(f"Migrations applied: {', '.join(applied)}" if applied else "Database is up to date")
    return 0
