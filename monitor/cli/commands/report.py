"""`beta-monitor report`: the phase summary, or `--rebuild` the whole phase log from the store; without PHASE, the
rollout's story across every phase (printed, and written beside the phase logs)."""

from __future__ import annotations

import argparse

from monitor.cli.databases import Databases, Say
from monitor.cli.wiring import phase_log
from monitor.domain.flag import FlagConfig
from monitor.domain.format import plural
from monitor.errors import ConfigError, FlagNotFoundError
from monitor.gate import phase_gate
from monitor.phaselog.render import render_summary
from monitor.phaselog.rollout_story import publish_rollout_story, story_destination
from monitor.phaselog.service import PhaseLog
from monitor.settings import Settings


def _live_config(databases: Databases, feature: str) -> FlagConfig | None:
    try:
        return databases.flags().get(feature)
    except FlagNotFoundError:
        return None


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    databases = Databases.open(settings, say)
    databases.store.migrate()
    log_service = phase_log(settings, databases)
    if args.phase is None:
        return _story(args, settings, databases, log_service, say)
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


def _story(args: argparse.Namespace, settings: Settings, databases: Databases, log: PhaseLog, say: Say) -> int:
    """The whole rollout, written beside the phase logs and printed. With `--rebuild`, every phase log is rebuilt
    first and stdout says what was written, one line each, as `report FEATURE PHASE --rebuild` does. A bad template
    is exit 3 before anything is written."""
    feature, template = args.feature, args.phase_log or settings.phase_log
    story_destination(template, feature)
    rebuilt = []
    if args.rebuild:
        phases = databases.store.phases(feature)
        if phases and "{phase}" not in template:
            raise ConfigError(
                f"--rebuild without PHASE rewrites every phase's log: the phase-log template {template[:80]!r} "
                "needs {phase}, or name one PHASE"
            )
        for phase in phases:
            destination = log.destination(feature, phase, template)
            count = log.rebuild(feature, phase, destination)
            rebuilt.append(f"Phase log rebuilt: {destination} ({plural(count, 'checkpoint')})")
    config = _live_config(databases, feature)
    text, written = publish_rollout_story(log, databases.store, feature, config, settings, template=template)
    if args.rebuild:
        print(*rebuilt, f"Rollout story written: {written}", sep="\n")
    else:
        say(f"Rollout story written: {written}")
        print(text, end="")
    return 0
