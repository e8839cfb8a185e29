"""`beta-monitor doctor`: the deployment checked against the real account, once, before the hourly job meets a
problem — the watchdog's database reachable and migrated, each flag found, the log group readable, IAM allowing
every call the job makes, the phase-log destination writable, and the Insights engine equal to scan on the last
minutes of real events. One PASS / FAIL / SKIP line per probe (`DoctorReport`); SKIP says why a probe does not
apply (an engine or output not configured, or what it needs already failed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.aws import make_client
from monitor.doctor.aws_probes import AwsProbes
from monitor.doctor.compare import compare_engines
from monitor.doctor.report import FAIL, PASS, SKIP, DoctorReport
from monitor.domain.aggregate import LogWindow
from monitor.domain.bucketing import Bucketer
from monitor.domain.flag import FlagConfig
from monitor.errors import ConfigError, MonitorError, StoreError
from monitor.settings import Settings, parse_duration
from monitor.sources.insights import InsightsLogSource
from monitor.sources.scan import ScanLogSource
from monitor.store.base import FlagSource
from monitor.store.health import expected_features, migration_status

DOCTOR_ATTEMPTS = 3  # attempts per probe call: a one-off check, not the hourly job


@dataclass
class DoctorRequest:
    """What to check. `features` empty: every flag with an expectation stored by `rollout set`."""

    features: list[str] = field(default_factory=list)
    minutes: int = 10
    phase_log: str | None = None
    source: str | None = None
    notify: bool = True
    why_not_notify: str = "--no-notify"


@dataclass
class DoctorTargets:
    """The deployment under check, as the CLI resolved it."""

    store_url: str
    embedded: bool
    flags: FlagSource
    # Set when the job acts on the gate (BETA_MONITOR_AUTO_ROLLBACK / _AUTO_ADVANCE): may its role UPDATE the flags?
    flag_write: Callable[[], bool] | None = None


def run_doctor(
    settings: Settings,
    request: DoctorRequest,
    targets: DoctorTargets,
    *,
    now: datetime | None = None,
    client: Callable[[str], Any] | None = None,
) -> DoctorReport:
    """Every probe, in order; raises ConfigError only for bad input (no flag to check)."""
    report = DoctorReport()
    moment = now or datetime.now(UTC)
    end = (moment - parse_duration(settings.ingestion_lag)).replace(second=0, microsecond=0)
    database_ok = _database(report, targets)
    features = _features(report, request, targets, database_ok)
    configs = {feature: _flag(report, targets.flags, feature) for feature in features}
    if targets.flag_write is not None:
        _flag_write(report, targets.flag_write, settings.flags_table)

    def default_client(service: str) -> Any:
        attempts = min(DOCTOR_ATTEMPTS, settings.aws_max_attempts)
        return make_client(
            service, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url, max_attempts=attempts
        )

    build = client or default_client
    aws = AwsProbes(settings, report, build, now=end, minutes=request.minutes)
    try:
        known = aws.identity()
    except ConfigError as exc:  # no region: nothing AWS can be asked
        report.add("aws identity", FAIL, str(exc))
        known = False
    if not known:
        _skip_aws(report, "needs AWS credentials, a region and a reachable endpoint (see aws identity)")
        return report
    _LogProbes(report, aws, settings, build, end, request.minutes).run(request.source or settings.source, configs)
    aws.phase_log(request.phase_log or settings.phase_log)
    aws.sns(request.notify, request.why_not_notify)
    aws.put_metric()
    aws.get_metric()
    return report


def _database(report: DoctorReport, targets: DoctorTargets) -> bool:
    where = "embedded PostgreSQL (BETA_MONITOR_DATABASE_URL unset), " if targets.embedded else ""
    try:
        status = migration_status(targets.store_url)
    except StoreError as exc:
        report.add("database", FAIL, str(exc))
        return False
    if status.pending:
        count = len(status.pending)
        report.add(
            "database",
            FAIL,
            f"{where}reachable (PostgreSQL {status.server_version}), {count} migration{'s' if count > 1 else ''} "
            f"pending ({', '.join(status.pending)}): run `beta-monitor db init`",
        )
        return False
    report.add(
        "database",
        PASS,
        f"{where}reachable (PostgreSQL {status.server_version}), migrations up to date ({len(status.applied)})",
    )
    return True


def _features(report: DoctorReport, request: DoctorRequest, targets: DoctorTargets, database_ok: bool) -> list[str]:
    if request.features:
        return list(dict.fromkeys(request.features))
    if not database_ok:
        report.add("flags", FAIL, "cannot list the flags with a stored expectation (see database): pass --feature F")
        return []
    try:
        found = expected_features(targets.store_url)
    except StoreError as exc:
        report.add("flags", FAIL, str(exc))
        return []
    if not found:
        raise ConfigError("no flag has an expectation stored by `rollout set` yet: pass --feature F")
    return found


def _flag(report: DoctorReport, flags: FlagSource, feature: str) -> FlagConfig | None:
    try:
        config = flags.get(feature)
    except MonitorError as exc:
        report.add(f"flag {feature}", FAIL, str(exc))
        return None
    state = f"rollout {config.rollout_percentage}%" if config.enabled else "disabled"
    since = f", updated {config.updated_at.isoformat()}" if config.updated_at else ""
    report.add(f"flag {feature}", PASS, f"found: {state}, allowlist {len(config.allowlist)}{since}")
    return config


def _flag_write(report: DoctorReport, can_update: Callable[[], bool], table: str) -> None:
    """With the autopilot on, the job itself runs `rollout set`: its database role needs UPDATE on the flag table."""
    name = "flag table write (auto-rollback/advance)"
    try:
        allowed = can_update()
    except MonitorError as exc:
        report.add(name, FAIL, str(exc))
        return
    if allowed:
        report.add(name, PASS, f"UPDATE on {table} allowed: the job can step the flag itself")
    else:
        report.add(
            name,
            FAIL,
            f"UPDATE on {table} not granted to the job's database role: an automatic rollback or advance would fail "
            '(recorded FAILED, the flag unchanged) — grant it as the README\'s "Acting on the gate" shows, or turn '
            "BETA_MONITOR_AUTO_ROLLBACK / BETA_MONITOR_AUTO_ADVANCE off",
        )


@dataclass
class _LogProbes:
    """The log group, its reads, and the engines compared on the last minutes."""

    report: DoctorReport
    aws: AwsProbes
    settings: Settings
    build: Callable[[str], Any]
    end: datetime
    minutes: int

    def run(self, source: str, configs: dict[str, FlagConfig | None]) -> None:
        report, settings = self.report, self.settings
        if not self.aws.log_group():
            for name in ("logs:FilterLogEvents", "logs:StartQuery, GetQueryResults, StopQuery", "insights = scan"):
                report.add(name, SKIP, f"needs the log group {settings.log_group}")
            return
        self.aws.filter_events()
        if source != InsightsLogSource.name:
            report.add(
                "logs:StartQuery, GetQueryResults, StopQuery", SKIP, f"the job reads with {source}, not insights"
            )
            report.add("insights = scan", SKIP, f"the job reads with {source}, not insights")
            return
        if not self.aws.insights_calls():
            report.add("insights = scan", SKIP, "needs the Insights calls above")
            return
        if not configs:
            report.add("insights = scan", SKIP, "no flag to compare the decisions of")
            return
        for feature, config in configs.items():
            self.compare(feature, config)

    def compare(self, feature: str, config: FlagConfig | None) -> None:
        settings = self.settings
        logs = self.build("logs")
        insights = InsightsLogSource(settings.log_group, client=logs, timeout_s=settings.insights_timeout)
        scan = ScanLogSource(settings.log_group, client=logs)
        bucketer = Bucketer(settings.bucket_hash, settings.bucket_hex_chars)
        window = LogWindow(
            feature=feature,
            start_ms=int((self.end - timedelta(minutes=self.minutes)).timestamp() * 1000),
            end_ms=int(self.end.timestamp() * 1000),
            route_groups=settings.route_group_list,
            bucketer=bucketer,
            allowlist_hashes=frozenset(bucketer.hash_id(p) for p in (config.allowlist if config else ())),
        )
        compare_engines(self.report, insights, scan, window, self.minutes)


def _skip_aws(report: DoctorReport, why: str) -> None:
    for name in (
        "log group",
        "logs:FilterLogEvents",
        "logs:StartQuery, GetQueryResults, StopQuery",
        "insights = scan",
        "phase log",
        "sns",
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
    ):
        report.add(name, SKIP, why)
