"""The one orchestrator: read config → read logs → check → verdict → store → report → notify.

It receives every adapter already built (the CLI is the only place that builds them), so tests hand in real
stores and moto-backed sources, and nothing here knows boto3, psycopg or Jinja2 directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from monitor.bucketing import Bucketer
from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.registry import run_checks
from monitor.errors import ConfigError, SinkError, SourceError
from monitor.gate import decide_gate
from monitor.models import (
    Checkpoint,
    CheckResult,
    ConfigChange,
    ExpectedConfig,
    FlagConfig,
    GateDecision,
    Status,
    Window,
)
from monitor.report import render_entry, render_header
from monitor.settings import Settings, parse_duration
from monitor.sources.base import LogSource, MetricsSource
from monitor.store.base import CheckpointStore, FlagSource
from monitor.verdict import checkpoint_status, escalate_errors
from monitor.window import WindowStats

log = logging.getLogger("beta_monitor")

LOG_CHECKS = ("error_rate", "cohort_regression", "determinism", "latency")


class PhaseLogSink(Protocol):
    def append(self, entry: str, header: str) -> None: ...

    def write_all(self, text: str) -> None: ...

    def read(self) -> str | None: ...


class Notifier(Protocol):
    def notify(self, previous: Checkpoint | None, current: Checkpoint) -> list[str]: ...


@dataclass
class CheckpointRequest:
    feature: str
    phase: str
    label: str
    expected_rollout: int | None = None
    expected_enabled: bool | None = None
    window: str | None = None
    end: datetime | None = None
    source: str | None = None
    phase_log: str | None = None
    run_key: str | None = None
    dry_run: bool = False
    baseline_label: str | None = None


@dataclass
class Adapters:
    """Everything the runner talks to, built by the CLI (or a test)."""

    flags: FlagSource
    store: CheckpointStore
    log_source: Callable[[str], LogSource]  # source spec ("insights", "scan", "file:PATH") -> engine
    sink: Callable[[str], PhaseLogSink]  # destination -> sink
    phase_log_destination: Callable[[str, str, str], str]  # (template, feature, phase) -> destination
    metrics: MetricsSource | None = None
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class CheckpointOutcome:
    checkpoint: Checkpoint
    duplicate: bool = False
    dry_run: bool = False
    phase_log: str = ""
    appended: bool = False
    append_error: str | None = None
    repaired: int = 0
    notifications: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}.get(self.checkpoint.status, 1)


def compute_window(settings: Settings, request: CheckpointRequest, now: datetime) -> tuple[Window, bool]:
    """The window and whether it ends "now" (within ingestion lag), which is when freshness applies."""
    length = parse_duration(request.window or settings.window)
    lag = parse_duration(settings.ingestion_lag)
    if request.end is not None:
        end = request.end.astimezone(UTC)
        if end > now + timedelta(minutes=1):
            raise ConfigError(f"--end {end.isoformat()} is in the future: give a time before now")
    else:
        end = (now - lag).replace(second=0, microsecond=0)
    ends_now = now - end <= lag + timedelta(minutes=1)
    return Window(start=end - length, end=end), ends_now


def run_key_of(request: CheckpointRequest, window: Window) -> str:
    """The idempotency key: `--run-key` scoped to the feature and phase (so one EventBridge time shared by several
    features' schedules never collides), else feature|phase|label|window end."""
    scope = f"{request.feature}|{request.phase}|"
    if request.run_key:
        return request.run_key if request.run_key.startswith(scope) else scope + request.run_key
    return f"{scope}{request.label}|{window.end.isoformat()}"


def resolve_expected(request: CheckpointRequest, store: CheckpointStore) -> ExpectedConfig:
    if request.expected_rollout is not None or request.expected_enabled is not None:
        enabled = request.expected_enabled
        if enabled is None and request.expected_rollout:
            enabled = True  # a rollout above 0% means nothing with the master switch off
        return ExpectedConfig(rollout_percentage=request.expected_rollout, enabled=enabled, source="flags")
    return store.expectation(request.feature) or ExpectedConfig()


def pick_baseline(history: list[Checkpoint], label: str | None) -> Checkpoint | None:
    """The phase's first PASS checkpoint, or the newest one carrying `label`. `history` is newest first."""
    if label:
        found = next((c for c in history if c.label == label), None)
        if found is None:
            raise ConfigError(
                f"--baseline-label {label!r} names no checkpoint of this phase: see `beta-monitor history`"
            )
        return found
    return next((c for c in reversed(history) if c.status == Status.PASS), None)


def config_segments(
    config: FlagConfig,
    window: Window,
    thresholds: Thresholds,
    history: list[Checkpoint],
    audit: list[dict[str, Any]] | None = None,
    allowlist_hashes: frozenset[str] = frozenset(),
) -> tuple[list[int], ConfigChange | None]:
    """Decision segments when the last config change can affect the window, and the earlier config when known.

    A change at T splits decisions into before T (old config), [T, T+ttl) (either: the backend's cache) and after.
    A change after the window's end means the whole window ran on the old config. The old config comes from the
    `rollout set` audit row of that change, else from the latest checkpoint taken before it.
    """
    changed = config.updated_at
    if changed is None or changed + thresholds.cache_ttl <= window.start:
        return [], None
    at_ms = int(changed.timestamp() * 1000)
    bounds = [at_ms, at_ms + int(thresholds.cache_ttl.total_seconds() * 1000)]
    for row in audit or []:  # `rollout set` changes enabled and rollout, never the allowlist
        at, before = row.get("at"), row.get("before") or {}
        if isinstance(at, datetime) and abs((at - changed).total_seconds()) <= 2 and "rollout_percentage" in before:
            return bounds, ConfigChange(
                enabled=bool(before.get("enabled")),
                rollout_percentage=int(before["rollout_percentage"]),
                allowlist_hashes=tuple(sorted(allowlist_hashes)),
                until=changed,
            )
    before_cp = next((c for c in history if c.created_at < changed), None)
    if before_cp is None:
        return bounds, None
    live = before_cp.live_config
    return bounds, ConfigChange(
        enabled=bool(live.get("enabled")),
        rollout_percentage=int(live.get("rollout_percentage", 0)),
        allowlist_hashes=tuple(before_cp.allowlist_hashes),
        until=changed,
    )


def _mark_incomplete(checks: list[CheckResult], problems: list[str]) -> list[CheckResult]:
    """Log-based checks never PASS (nor claim "no data") on logs that were not fully read."""
    if not problems:
        return checks
    reason = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    out = []
    for check in checks:
        if check.name in LOG_CHECKS and check.status in (Status.PASS, Status.NODATA, Status.WARN, Status.SKIP):
            check = check.model_copy(
                update={"status": Status.ERROR, "summary": f"logs incomplete: {reason}; measured: {check.summary}"}
            )
        out.append(check)
    return out


class CheckpointRunner:
    def __init__(self, settings: Settings, adapters: Adapters, *, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.adapters = adapters
        self.thresholds = Thresholds.from_settings(settings)
        self.bucketer = Bucketer(settings.bucket_hash, settings.bucket_hex_chars)
        self.progress = progress or (lambda message: None)

    # -- the checkpoint ----------------------------------------------------------------------------------------
    def run(self, request: CheckpointRequest) -> CheckpointOutcome:
        a = self.adapters
        now = a.clock()
        window, ends_now = compute_window(self.settings, request, now)
        run_key = run_key_of(request, window)
        destination = a.phase_log_destination(
            request.phase_log or self.settings.phase_log, request.feature, request.phase
        )
        source = a.log_source(request.source or self.settings.source)  # validates the source spec early
        config = a.flags.get(request.feature)
        expected = resolve_expected(request, a.store)

        if request.dry_run:
            history = a.store.history(request.feature, request.phase)
            checkpoint = self._measure(request, run_key, window, ends_now, now, config, expected, history, source)
            return CheckpointOutcome(checkpoint=checkpoint, dry_run=True, phase_log=destination)

        with a.store.lock(request.feature, request.phase):
            stored = a.store.find(run_key)
            repaired = self.repair(request.feature, request.phase, destination)
            if stored is not None:
                stored = a.store.find(run_key) or stored
                return CheckpointOutcome(
                    checkpoint=stored,
                    duplicate=True,
                    phase_log=destination,
                    appended=stored.appended,
                    repaired=repaired,
                )
            history = a.store.history(request.feature, request.phase)
            checkpoint = self._measure(request, run_key, window, ends_now, now, config, expected, history, source)
            saved, created = a.store.save(checkpoint)
            if not created:
                return CheckpointOutcome(
                    checkpoint=saved, duplicate=True, phase_log=destination, appended=saved.appended
                )
            outcome = CheckpointOutcome(checkpoint=saved, phase_log=destination, repaired=repaired)
            self._append(saved, destination, outcome)
        if a.notifier is not None:
            outcome.notifications = a.notifier.notify(history[0] if history else None, outcome.checkpoint)
        return outcome

    def _measure(
        self,
        request: CheckpointRequest,
        run_key: str,
        window: Window,
        ends_now: bool,
        now: datetime,
        config: FlagConfig,
        expected: ExpectedConfig,
        history: list[Checkpoint],
        source: LogSource,
    ) -> Checkpoint:
        baseline = pick_baseline(history, request.baseline_label)
        allowlist_hashes = frozenset(self.bucketer.hash_id(p) for p in config.allowlist)
        audit = self.adapters.store.rollout_audit(request.feature, 5)
        bounds, previous_config = config_segments(config, window, self.thresholds, history, audit, allowlist_hashes)
        stats = WindowStats(
            feature=request.feature,
            start_ms=int(window.start.timestamp() * 1000),
            end_ms=int(window.end.timestamp() * 1000),
            route_groups=self.settings.route_group_list,
            bucket_of_hash=self.bucketer.bucket_of_hash,
            allowlist_hashes=allowlist_hashes,
            segment_bounds=bounds,
        )
        self.progress(f"Reading logs ({source.name}) {window.start.isoformat()} → {window.end.isoformat()}")
        self._read(source, stats)
        ctx = CheckContext(
            feature=request.feature,
            config=config,
            allowlist_hashes=allowlist_hashes,
            expected=expected,
            stats=stats,
            window=window,
            now=now,
            thresholds=self.thresholds,
            bucketer=self.bucketer,
            previous_config=previous_config,
            baseline=baseline,
            previous=history[0] if history else None,
            window_ends_now=ends_now,
        )
        checks = _mark_incomplete(run_checks(ctx), stats.problems)
        checks = escalate_errors(checks, history, self.thresholds.error_escalation)
        checkpoint = Checkpoint(
            feature=request.feature,
            phase=request.phase,
            label=request.label,
            run_key=run_key,
            status=checkpoint_status(checks),
            window=window,
            live_config=config.public(),
            expected=expected,
            checks=checks,
            metrics=stats.metrics(),
            created_at=now,
            allowlist_hashes=sorted(allowlist_hashes),
        )
        checkpoint.gate = self.gate(request.feature, request.phase, [*reversed(history), checkpoint], config)
        return checkpoint

    def _read(self, source: LogSource, stats: WindowStats) -> None:
        try:
            source.read(stats)
        except ConfigError:
            raise
        except SourceError as exc:
            code = f" [{exc.code}]" if exc.code else ""
            stats.problems.append(f"{source.name} read failed{code}: {exc}")
            log.warning("log source failed", extra={"source": source.name, "code": exc.code})
        metrics = self.adapters.metrics
        if metrics is not None:
            metrics.read(stats)

    def gate(self, feature: str, phase: str, checkpoints: list[Checkpoint], config: FlagConfig | None) -> GateDecision:
        return decide_gate(
            feature,
            phase,
            checkpoints,
            max_5xx_rate=self.settings.max_5xx_rate,
            phase_steps=self.settings.phase_steps,
            live_rollout=config.rollout_percentage if config else None,
        )

    # -- the phase log -----------------------------------------------------------------------------------------
    def _append(self, checkpoint: Checkpoint, destination: str, outcome: CheckpointOutcome) -> None:
        try:
            sink = self.adapters.sink(destination)
            sink.append(
                render_entry(checkpoint), render_header(checkpoint.feature, checkpoint.phase, checkpoint.created_at)
            )
        except SinkError as exc:
            outcome.append_error = str(exc)
            log.error("phase log append failed; the next run repairs it", extra={"destination": destination})
            return
        assert checkpoint.id is not None
        self.adapters.store.mark_appended(checkpoint.id)
        checkpoint.appended = True
        outcome.appended = True

    def repair(self, feature: str, phase: str, destination: str) -> int:
        """Append entries of stored checkpoints whose append never happened (crash, S3 down). Oldest first."""
        repaired = 0
        for pending in self.adapters.store.iter_unappended(feature, phase):
            try:
                sink = self.adapters.sink(destination)
                entry = render_entry(pending)
                # A crash after the append but before the mark leaves the entry in the log: only mark it then.
                if entry not in (sink.read() or ""):
                    sink.append(entry, render_header(feature, phase, pending.created_at))
            except SinkError as exc:
                log.error("phase log repair failed", extra={"destination": destination, "error": str(exc)})
                break
            assert pending.id is not None
            self.adapters.store.mark_appended(pending.id)
            repaired += 1
        return repaired

    def rebuild(self, feature: str, phase: str, destination: str) -> int:
        from monitor.report import render_phase_log

        checkpoints = list(reversed(self.adapters.store.history(feature, phase)))
        if not checkpoints:
            raise ConfigError(f"no checkpoints stored for {feature} / {phase}: nothing to rebuild")
        self.adapters.sink(destination).write_all(render_phase_log(feature, phase, checkpoints))
        for cp in checkpoints:
            if not cp.appended and cp.id is not None:
                self.adapters.store.mark_appended(cp.id)
        return len(checkpoints)


def outcome_document(outcome: CheckpointOutcome) -> dict[str, Any]:
    """The `--json` document of a checkpoint run."""
    cp = outcome.checkpoint
    data = cp.public()
    return {
        "status": cp.status.value,
        "exit_code": outcome.exit_code,
        "checkpoint_id": cp.id,
        "duplicate": outcome.duplicate,
        "dry_run": outcome.dry_run,
        "feature": cp.feature,
        "phase": cp.phase,
        "label": cp.label,
        "run_key": cp.run_key,
        "window": data["window"],
        "config": data["live_config"],
        "expected": data["expected"],
        "checks": data["checks"],
        "metrics": data["metrics"],
        "gate": data["gate"],
        "phase_log": outcome.phase_log,
        "appended": outcome.appended,
        "append_error": outcome.append_error,
        "repaired_entries": outcome.repaired,
        "notifications": outcome.notifications,
        "created_at": data["created_at"],
    }
