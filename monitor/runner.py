"""The one orchestrator: read config → read logs → check → verdict → store → report → notify.

It receives every adapter already built (the CLI is the only place that builds them), so tests hand in real
stores and moto-backed sources, and nothing here knows boto3, psycopg or Jinja2 directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.registry import run_checks
from monitor.checks.verdict import checkpoint_status, escalate_errors, mark_incomplete
from monitor.domain.aggregate import LogWindow
from monitor.domain.bucketing import Bucketer
from monitor.domain.checkpoint import Checkpoint, GateDecision, Window
from monitor.domain.flag import ExpectedConfig, FlagConfig
from monitor.domain.reading import SourceResult
from monitor.errors import ConfigError, SinkError
from monitor.gate import decide_gate
from monitor.planning import (
    AUTO_PHASE,
    CheckpointRequest,
    auto_phase,
    compute_window,
    config_segments,
    pick_baseline,
    resolve_expected,
    run_key_of,
)
from monitor.report import render_entry, render_header
from monitor.settings import Settings
from monitor.sources.base import LogSource, MetricsSource
from monitor.store.base import CheckpointStore, FlagSource

log = logging.getLogger("beta_monitor")

class PhaseLogSink(Protocol):
    def append(self, entry: str, header: str) -> None: ...

    def write_all(self, text: str) -> None: ...

    def read(self) -> str | None: ...


class Notifier(Protocol):
    def notify(self, previous: Checkpoint | None, current: Checkpoint) -> list[str]: ...


@dataclass
class Adapters:
    """Everything the runner talks to, built by the CLI (or a test)."""

    flags: FlagSource
    store: CheckpointStore
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
        return self.checkpoint.status.exit_code


class CheckpointRunner:
    def __init__(self, settings: Settings, adapters: Adapters, *, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.adapters = adapters
        self.thresholds = Thresholds.from_settings(settings)
        self.bucketer = Bucketer(settings.bucket_hash, settings.bucket_hex_chars)
        self.progress = progress or (lambda message: None)

    # -- the checkpoint ----------------------------------------------------------------------------------------
    def run(self, request: CheckpointRequest, source: LogSource) -> CheckpointOutcome:
        """One checkpoint of `request`, its logs read by `source` (built once by the caller, from `--source`)."""
        a = self.adapters
        now = a.clock()
        window, ends_now = compute_window(self.settings, request, now)
        config = a.flags.get(request.feature)
        if request.phase == AUTO_PHASE:
            request = replace(request, phase=auto_phase(config))
        run_key = run_key_of(request, window)
        destination = a.phase_log_destination(
            request.phase_log or self.settings.phase_log, request.feature, request.phase
        )
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
        log_window = LogWindow(
            feature=request.feature,
            start_ms=int(window.start.timestamp() * 1000),
            end_ms=int(window.end.timestamp() * 1000),
            route_groups=self.settings.route_group_list,
            bucketer=self.bucketer,
            allowlist_hashes=allowlist_hashes,
            segment_bounds=bounds,
        )
        self.progress(f"Reading logs ({source.name}) {window.start.isoformat()} → {window.end.isoformat()}")
        reading = self._read(source, log_window)
        ctx = CheckContext(
            feature=request.feature,
            config=config,
            allowlist_hashes=allowlist_hashes,
            expected=expected,
            reading=reading,
            window=window,
            now=now,
            thresholds=self.thresholds,
            bucketer=self.bucketer,
            previous_config=previous_config,
            baseline=baseline,
            previous=history[0] if history else None,
            window_ends_now=ends_now,
        )
        checks = mark_incomplete(run_checks(ctx), reading.problems)
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
            metrics=reading.metrics(),
            created_at=now,
            allowlist_hashes=sorted(allowlist_hashes),
        )
        checkpoint.gate = self.gate(request.feature, request.phase, [*reversed(history), checkpoint], config)
        return checkpoint

    def _read(self, source: LogSource, window: LogWindow) -> SourceResult:
        reading = source.read(window)
        if reading.failure is not None:
            log.warning("log source failed", extra={"source": source.name, "code": reading.failure.code})
        metrics = self.adapters.metrics
        if metrics is not None:
            reading.cross_check(*metrics.read(window))
        return reading

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
