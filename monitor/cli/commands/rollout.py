"""`beta-monitor rollout set`: change the flag in one audited transaction and store the new expectation."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime

from monitor.aws import client_for
from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.errors import ConfigError
from monitor.gate import check_phase_plan
from monitor.settings import Settings


def actor(settings: Settings) -> str:
    """Who runs `rollout set`: BETA_MONITOR_ACTOR, else the AWS caller identity, else the OS user."""
    if settings.actor:
        return settings.actor
    try:
        arn = client_for(settings, "sts").get_caller_identity()["Arn"]
        return str(arn)
    except Exception:  # no AWS at hand is the normal case on a laptop: fall back to the OS user
        return f"{getpass.getuser()} (local)"


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    if not args.reason.strip():
        raise ConfigError("--reason must say why the rollout changes")
    databases = Databases.open(settings, say)
    databases.store.migrate()
    current = databases.flags().get(args.feature)
    check_phase_plan(current.rollout_percentage, args.percent, settings.phase_steps, args.force)
    result = databases.rollout_writer().set_rollout(
        args.feature,
        args.percent,
        args.enabled,
        reason=args.reason.strip(),
        actor=actor(settings),
        now=datetime.now(UTC),
    )
    if args.json:
        output.print_json({"feature": args.feature, **result})
    else:
        print(*output.rollout_lines(args.feature, result), sep="\n")
    return 0
