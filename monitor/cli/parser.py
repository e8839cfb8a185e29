"""The command line's grammar: every command and option, and the argument types that refuse bad input with one
line and exit code 3 (UNKNOWN), never argparse's 2 (which means FAIL here)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

from monitor import __version__

EXIT_UNKNOWN = 3
MAX_LIMIT = 10_000
_FEATURE_HELP = "feature flag key, as in the backend's flag table"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _name(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not NAME.fullmatch(value):
            raise argparse.ArgumentTypeError(
                f"{kind} {value[:40]!r} must be 1-100 of A-Z a-z 0-9 . _ - (starting alphanumeric)"
            )
        return value

    return check


def _label(value: str) -> str:
    if not value.strip() or len(value) > 200 or any(ord(ch) < 32 for ch in value):
        raise argparse.ArgumentTypeError("LABEL must be 1-200 printable characters")
    return value


def _percent(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not a whole percentage (0-100)") from None
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"rollout {number} is outside 0-100")
    return number


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{value[:20]!r} is not true or false")


def _instant(value: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC. Between 1970 and 9999, as UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--end {value[:40]!r} is not ISO 8601 (e.g. 2026-11-22T14:00:00Z)") from None
    try:
        moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or moment.year < 1970:
        raise argparse.ArgumentTypeError(f"--end {value[:40]!r} is out of range: give a time from 1970 on")
    return moment


def _count(what: str, low: int, high: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {value[:40]!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{what} {value[:40]} is outside {low}-{high:,}")
        return number

    return check


def _run_key(value: str) -> str:
    if not value.strip() or len(value) > 200 or any(ord(ch) < 32 for ch in value):
        raise argparse.ArgumentTypeError("--run-key must be 1-200 printable characters")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that exits 3 (UNKNOWN) with one line, not 2 (which means FAIL here)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNKNOWN, f"beta-monitor: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="beta-monitor",
        description="Watchdog for progressive feature-flag rollouts: checks 5xx, cohort regression, determinism, "
        "config drift, latency and data quality over a log window, stores a PASS/WARN/FAIL checkpoint and appends "
        "it to the phase log. Exit codes: 0 PASS, 1 WARN, 2 FAIL, 3 UNKNOWN.",
    )
    p.add_argument("--version", action="version", version=f"beta-monitor {__version__}")
    _common_options(p, default=None)
    # The same options after the command (`beta-monitor history F -q`); there they only override when given.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (_checkpoint, _watch, _history, _gate, _report, _rollout, _db, _doctor, _demo):
        add(sub, common)
    return p


def _common_options(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=default,
        help="job log format on stderr (default: BETA_MONITOR_LOG_FORMAT)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", default=False if default is None else default, help="no progress lines"
    )


Subparsers = argparse._SubParsersAction  # the type argparse gives `add_subparsers()`
Parents = argparse.ArgumentParser


def _checkpoint(sub: Subparsers, common: Parents) -> None:
    c = sub.add_parser(
        "checkpoint",
        parents=[common],
        help="run the checks over a window, store the checkpoint and append the phase log",
        description="Run every check over the log window, store a PASS/WARN/FAIL checkpoint and append "
        "its entry to the phase log. A repeated run key records nothing new and reports the stored one.",
    )
    c.add_argument("feature", type=_name("FEATURE"), metavar="FEATURE", help="feature flag key")
    c.add_argument(
        "phase",
        type=_name("PHASE"),
        metavar="PHASE",
        help="rollout phase name, e.g. phase2_rollout; `auto` names it after the live rollout (rollout-5pct)",
    )
    c.add_argument(
        "label", type=_label, metavar="LABEL", help="checkpoint label, e.g. rollout-5pct-validation or hourly"
    )
    c.add_argument(
        "--expected-rollout",
        type=_percent,
        metavar="N",
        help="expected rollout %% (else the one stored by `rollout set`)",
    )
    c.add_argument("--expected-enabled", type=_bool, metavar="true|false", help="expected master switch")
    _window_options(c)
    c.add_argument(
        "--baseline-label",
        type=_label,
        metavar="LABEL",
        help="compare against this checkpoint instead of the phase's first PASS",
    )
    c.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    c.add_argument("--dry-run", action="store_true", help="measure and judge, store nothing, append nothing")
    c.add_argument(
        "--doctor",
        action="store_true",
        help="first run `beta-monitor doctor` for FEATURE (no test notification; its lines go to stderr) and exit 3, "
        "writing nothing, if it finds a problem",
    )


def _window_options(c: argparse.ArgumentParser) -> None:
    """--window, --end, --source, --phase-log, --run-key: what `checkpoint` and `watch` read and write alike."""
    c.add_argument(
        "--window", metavar="DURATION", help="window length, e.g. 1h, 90m, at most 7d (default BETA_MONITOR_WINDOW=1h)"
    )
    c.add_argument(
        "--end",
        type=_instant,
        metavar="ISO8601",
        help="window end; a time without a zone is UTC (default: now minus ingestion lag, floored to the minute)",
    )
    c.add_argument(
        "--source",
        metavar="ENGINE",
        help="insights (default), scan, or file:PATH to replay an export (a file, a directory, or "
        "file:s3://BUCKET/PREFIX/; wrapper, export-task or filter-log-events JSON, gzip or not)",
    )
    c.add_argument(
        "--phase-log", metavar="DEST", help="phase log path or s3://bucket/key; {feature} and {phase} are filled in"
    )
    c.add_argument(
        "--run-key", type=_run_key, metavar="KEY", help="idempotency key (EventBridge: <aws.scheduler.scheduled-time>)"
    )


def _watch(sub: Subparsers, common: Parents) -> None:
    w = sub.add_parser(
        "watch",
        parents=[common],
        help="one checkpoint per flag in rollout, from one read of the logs",
        description="Run one checkpoint (PHASE auto) for every flag in rollout — enabled with 0 < rollout < 100 "
        "or an allowlist, or with an expectation stored by `rollout set` — reading the logs ONCE for all of "
        "them: each flag gets its own row, phase-log entry, gate and notifications, exactly as `checkpoint "
        "FEATURE auto LABEL` stores them, and an index.md beside the phase logs lists them. Flags not in rollout "
        "get nothing. A repeated run key records nothing new. Exit code: the worst status over the flags "
        "(0 PASS, 1 WARN, 2 FAIL; 0 when no flag is in rollout); 3 when nothing could be produced.",
    )
    w.add_argument(
        "--feature",
        type=_name("FEATURE"),
        action="append",
        default=[],
        metavar="F",
        help="watch only these flags (repeat the option; default: every flag in the flag table)",
    )
    w.add_argument("--label", type=_label, default="hourly", metavar="LABEL", help="checkpoint label (default hourly)")
    _window_options(w)
    w.add_argument(
        "--json",
        action="store_true",
        help='print one JSON document: {"status", "exit_code", "features": [checkpoint document per flag], '
        '"aws_calls"}',
    )
    w.add_argument("--dry-run", action="store_true", help="measure and judge, store nothing, append nothing")


def _history(sub: Subparsers, common: Parents) -> None:
    h = sub.add_parser(
        "history",
        parents=[common],
        help="list stored checkpoints, newest first",
        description="List stored checkpoints of a feature, newest first.",
    )
    h.add_argument("feature", type=_name("FEATURE"), metavar="FEATURE", help=_FEATURE_HELP)
    h.add_argument("--phase", type=_name("PHASE"), help="only this phase")
    h.add_argument(
        "--limit",
        type=_count("--limit", 1, MAX_LIMIT),
        default=20,
        metavar="N",
        help=f"at most N checkpoints, 1-{MAX_LIMIT} (default 20)",
    )
    h.add_argument("--json", action="store_true", help="print JSON")


def _gate(sub: Subparsers, common: Parents) -> None:
    g = sub.add_parser(
        "gate",
        parents=[common],
        help="ADVANCE / HOLD / ROLLBACK for a phase, with the command to act",
        description="Decide ADVANCE / HOLD / ROLLBACK from the phase's checkpoints. The command goes from the "
        "rollout the phase was judged at (as in its phase log), with a note when the live flag has already moved. "
        "A phase with no stored checkpoint is HOLD, saying so and naming the feature's phases that have some. "
        "Exit 0 ADVANCE, 1 HOLD, 2 ROLLBACK, 3 UNKNOWN (no checkpoint and no flag for FEATURE, or a dependency "
        "down).",
    )
    g.add_argument("feature", type=_name("FEATURE"), metavar="FEATURE", help=_FEATURE_HELP)
    g.add_argument("phase", type=_name("PHASE"), metavar="PHASE", help="rollout phase name, as given to checkpoint")
    g.add_argument("--json", action="store_true", help="print JSON")


def _report(sub: Subparsers, common: Parents) -> None:
    r = sub.add_parser(
        "report",
        parents=[common],
        help="the rollout's story, a phase summary (table, counts, 5xx chart), or --rebuild the logs",
        description="Without PHASE: the whole rollout's story across its phases (timeline of every checkpoint, "
        "Mermaid chart of rollout % and ON/OFF 5xx rates, rollout changes, the latest phase's gate), printed and "
        "written beside the phase logs as ROLLOUT.md ({phase} of the phase-log template replaced by ROLLOUT). "
        "With PHASE: the phase summary (checkpoint table, status counts, Mermaid 5xx chart). --rebuild regenerates "
        "the phase log (without PHASE: every phase's log, and the story) from the database.",
    )
    r.add_argument("feature", type=_name("FEATURE"), metavar="FEATURE", help=_FEATURE_HELP)
    r.add_argument(
        "phase",
        nargs="?",
        type=_name("PHASE"),
        metavar="PHASE",
        help="rollout phase name, as given to checkpoint; omit it for the whole rollout's story",
    )
    r.add_argument(
        "--rebuild",
        action="store_true",
        help="rewrite the phase log from the stored checkpoints (without PHASE: every phase's log and the story)",
    )
    r.add_argument(
        "--phase-log",
        metavar="DEST",
        help="phase log destination or template (default BETA_MONITOR_PHASE_LOG); the story goes beside it",
    )


def _rollout(sub: Subparsers, common: Parents) -> None:
    ro = sub.add_parser(
        "rollout",
        parents=[common],
        help="change the flag's rollout (audited) and store the new expectation",
        description="Change the flag's rollout with an audit row and store the expectation hourly runs check.",
    )
    ro_sub = ro.add_subparsers(dest="rollout_command", required=True, metavar="ACTION", parser_class=_Parser)
    rs = ro_sub.add_parser(
        "set",
        parents=[common],
        help="set the rollout percentage (and master switch)",
        description="Set FEATURE's rollout to PERCENT in one audited transaction; refuses a jump "
        "that skips the phase plan (BETA_MONITOR_PHASE_PLAN) unless --force.",
    )
    rs.add_argument("feature", type=_name("FEATURE"), metavar="FEATURE", help=_FEATURE_HELP)
    rs.add_argument("percent", type=_percent, metavar="PERCENT", help="the new rollout percentage, 0-100")
    switch = rs.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True, help="turn the master switch on")
    switch.add_argument(
        "--disable", dest="enabled", action="store_const", const=False, help="turn the master switch off"
    )
    rs.add_argument("--reason", required=True, help="why (kept in the audit row)")
    rs.add_argument("--force", action="store_true", help="allow a jump that skips steps of the phase plan")
    rs.add_argument("--json", action="store_true", help="print JSON")


def _db(sub: Subparsers, common: Parents) -> None:
    db = sub.add_parser("db", parents=[common], help="database administration", description="Database administration.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", parser_class=_Parser)
    db_sub.add_parser(
        "init",
        parents=[common],
        help="create or migrate the watchdog's tables",
        description="Apply pending migrations.",
    )


def _minutes(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--minutes {value[:20]!r} is not a whole number of minutes") from None
    if not 1 <= number <= 180:
        raise argparse.ArgumentTypeError(f"--minutes {number} is outside 1-180")
    return number


def _doctor(sub: Subparsers, common: Parents) -> None:
    d = sub.add_parser(
        "doctor",
        parents=[common],
        help="check the deployment against the real account (database, flags, log group, IAM, phase log, "
        "Insights = scan)",
        description="Check once, against the real account, what the hourly job needs: the watchdog's database "
        "reachable and migrated, each flag found, the log group readable, IAM allowing every call the job makes "
        "(each made once with a harmless request: a missing permission is named as the action and resource to add "
        "to the task role), the phase-log destination writable, and the Insights engine giving exactly the scan "
        "engine's figures on the last minutes of real events. One PASS / FAIL / SKIP line per probe (SKIP says why "
        "it does not apply), then `Doctor: PASS` or `Doctor: FAIL (N problems)`. Exit 0 PASS, 2 FAIL, 3 bad input.",
    )
    d.add_argument(
        "--feature",
        action="append",
        type=_name("FEATURE"),
        metavar="F",
        help="a flag to check (repeatable; default: every flag with an expectation stored by `rollout set`)",
    )
    d.add_argument(
        "--minutes",
        type=_minutes,
        default=10,
        metavar="N",
        help="recent minutes the log probes and the Insights = scan comparison read, ending at now minus the "
        "ingestion lag (default 10, at most 180)",
    )
    d.add_argument(
        "--phase-log", metavar="DEST", help="phase log destination to probe (default BETA_MONITOR_PHASE_LOG)"
    )
    d.add_argument(
        "--no-notify",
        action="store_true",
        help="send no test message to the SNS topic (sns:Publish then goes unchecked)",
    )
    d.add_argument("--json", action="store_true", help="print one JSON document instead of lines")


def _demo(sub: Subparsers, common: Parents) -> None:
    d = sub.add_parser(
        "demo",
        parents=[common],
        help="a whole rollout in about 20 seconds, on an embedded PostgreSQL and emulated AWS",
        description="Run a whole rollout story (allowlist → 1% → 5% → 10% regression → rollback) on an "
        "embedded PostgreSQL and an in-process AWS emulation, and write the phase logs.",
    )
    d.add_argument("--dir", default="beta-monitor-demo", help="where the phase logs go (default ./beta-monitor-demo)")
    d.add_argument(
        "--requests-per-hour",
        type=_count("--requests-per-hour", 2000, 1_000_000),
        default=12000,
        metavar="N",
        help="simulated traffic, 2000-1,000,000 (default 12000)",
    )
    d.add_argument("--keep", action="store_true", help="leave the embedded database running for exploration")
    d.add_argument("--json", action="store_true", help="print the verdict sequence as JSON")
