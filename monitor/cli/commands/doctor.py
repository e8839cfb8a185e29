"""`beta-monitor doctor`: the deployment checked against the real account (`monitor.doctor`); exit 0 PASS, 2 FAIL.
Also run by `checkpoint --doctor` before anything is read or written (exit 3 when it finds a problem)."""

from __future__ import annotations

import argparse

from monitor.cli import output
from monitor.cli.databases import Databases, Say
from monitor.doctor import DoctorReport, DoctorRequest, DoctorTargets, run_doctor
from monitor.errors import ConfigError
from monitor.settings import Settings

STARTUP_NO_NOTIFY = "not at start-up (it would message the topic on every run): run `beta-monitor doctor` once"


def _targets(settings: Settings, databases: Databases) -> DoctorTargets:
    flags = databases.flags()
    return DoctorTargets(
        store_url=databases.store_url,
        embedded=settings.store_url() is None,
        flags=flags,
        flag_write=flags.can_update if settings.auto_rollback or settings.auto_advance else None,
    )


def run(args: argparse.Namespace, settings: Settings, say: Say) -> int:
    databases = Databases.open(settings, say)
    request = DoctorRequest(
        features=args.feature or [], minutes=args.minutes, phase_log=args.phase_log, notify=not args.no_notify
    )
    report = run_doctor(settings, request, _targets(settings, databases))
    if args.json:
        output.print_json(report.to_dict())
    else:
        print(*report.lines(), sep="\n")
    return report.exit_code


class DoctorFailed(ConfigError):
    """`checkpoint --doctor` found a problem: exit 3, nothing read or written."""


def startup_doctor(args: argparse.Namespace, settings: Settings, databases: Databases, say: Say) -> DoctorReport:
    """The doctor for one checkpoint's feature, its phase log and its source; each line said as progress. Raises
    DoctorFailed naming the first problem."""
    request = DoctorRequest(
        features=[args.feature],
        phase_log=args.phase_log,
        source=args.source,
        notify=False,
        why_not_notify=STARTUP_NO_NOTIFY,
    )
    report = run_doctor(settings, request, _targets(settings, databases))
    for line in report.lines():
        say(line)
    if report.problems:
        first = report.problems[0]
        raise DoctorFailed(f"{report.summary()}: {first.name}: {first.detail} — nothing was read or written")
    return report
