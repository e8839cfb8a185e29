"""The command line's entry point: parse → settings → the command; map the result or the error to an exit code.

Exit codes follow the monitoring-plugin convention: 0 PASS, 1 WARN, 2 FAIL, 3 UNKNOWN (no checkpoint could be
produced: bad arguments, missing config, a dependency down — one line saying what to fix, nothing written; a stop
signal; a bug). See `monitor.cli.stops` for the last two.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from monitor.cli.joblog import configure_logging
from monitor.cli.parser import EXIT_UNKNOWN, build_parser
from monitor.cli.stops import report_bug, report_stop, stop_on_signals
from monitor.errors import MonitorError, Stopped
from monitor.settings import Settings, load_settings

Command = Callable[[argparse.Namespace, Settings, Callable[[str], None]], int]
log = logging.getLogger("beta_monitor")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Until the settings are read, the job log's format comes from the flag or the environment as given.
    json_logs = (args.log_format or os.environ.get("BETA_MONITOR_LOG_FORMAT", "")).strip().lower() == "json"
    configure_logging("json" if json_logs else "text")
    try:
        with stop_on_signals(lambda: json_logs):
            settings = load_settings(log_format=args.log_format)
            json_logs = settings.log_format == "json"
            configure_logging(settings.log_format)
            return command(args.command)(args, settings, _say(args, settings))
    except MonitorError as exc:
        _fail(f"beta-monitor: error: {exc}", json_logs)
    except Stopped as exc:
        report_stop(exc, json_logs, _scrub)
    except KeyboardInterrupt:
        _fail("beta-monitor: interrupted", json_logs)
    except Exception as exc:  # a bug: exit 3 with one line (or one JSON record), never a bare traceback
        report_bug(exc, json_logs, _scrub)
    return EXIT_UNKNOWN


COMMANDS = ("checkpoint", "watch", "history", "gate", "report", "rollout", "db", "doctor", "demo")


def command(name: str) -> Command:
    """The `run` of a command's module (`monitor/cli/commands/<name>.py`), imported only when that command is
    chosen: the commands that only read the store start without the checks, the log engines, Jinja2 or boto3
    (README "Development")."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}")
    module = importlib.import_module(f"monitor.cli.commands.{name}")
    run: Command = module.run
    return run


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def _say(args: argparse.Namespace, settings: Settings) -> Callable[[str], None]:
    """Where progress goes: nowhere with -q, the job log in containers (one JSON object a line), else stderr."""
    if args.quiet:
        return lambda _message: None
    if settings.log_format == "json":
        return log.info
    return progress


def _fail(message: str, json_logs: bool) -> None:
    """The one line that says what to fix: plain on stderr, or one JSON object in containers."""
    if json_logs:
        log.error(message, extra={"exit_code": EXIT_UNKNOWN})
    else:
        print(message, file=sys.stderr)


def _scrub(text: str) -> str:
    """Text about to be logged, with the database URLs' credentials taken out (a bug's message or traceback may
    quote anything)."""
    from monitor.store.connection import scrub_credentials  # noqa: PLC0415 - psycopg only on this rare path

    urls = [os.environ.get(name, "") for name in ("BETA_MONITOR_DATABASE_URL", "BETA_MONITOR_FLAGS_DATABASE_URL")]
    return scrub_credentials(text, [url for url in urls if url])
