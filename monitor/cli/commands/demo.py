"""`beta-monitor demo`: the tour (`monitor.cli.demo`)."""

from __future__ import annotations

import argparse

from monitor.cli.databases import Say
from monitor.cli.demo import run_demo
from monitor.settings import Settings


def run(args: argparse.Namespace, _settings: Settings, say: Say) -> int:
    return run_demo(args, say)
