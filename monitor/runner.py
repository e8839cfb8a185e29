"""The one orchestrator of a checkpoint: plan → read config and logs → check → verdict → store → phase log → notify.

It only orchestrates: planning is `monitor.planning`, judging `monitor.checks`, the gate `monitor.gate`, the phase log
`monitor.phaselog.PhaseLog`, the `--json` document `monitor.cli.output`. It receives every adapter already built
(`monitor.cli.wiring` is the only place that builds them), through the narrow interfaces of `monitor.store.base` and
`monitor.sources.base`, so tests hand in real stores and moto-backed sources, and nothing here knows boto3, psycopg
or Jinja2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import EllipsisType
from typing import Protocol

from monitor.autopilot import Autopilot, FlagWriter, GateRecorder
from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.registry import run_checks
from monitor.checks.verdict import checkpoint_status, escalate_errors, mark_incomplete
from monitor.domain.act import ActOutcome, AutoAct
from monitor.domain.aggregate import LogWindow
from monitor.domain.bucketing import Bucketer
from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import FlagConfig, OtherFlag
from monitor.domain.format import iso_z
from monitor.domain.reading import SourceResult
from monitor.domain.timeline import SegmentPlan
from monitor.errors import Stopped, StoreError
from monitor.gate import phase_gate
from monitor.phaselog.cadence import entry_form
from monitor.phaselog.service import PhaseLog, Repair
from monitor.planning import (
    AUTO_PHASE,
    CheckpointPlan,
    CheckpointRequest,
    auto_phase,
    compute_window,
    config_plan,
    other_flags,
    pick_baseline,
    resolve_expected,
    run_key_of,
)
from monitor.settings import Settings
from monitor.sources.base import LogSource, MetricsSource
from monitor.store.base import Checkpoints, Expectations, FlagSource, RolloutAudit

log = logging.getLogger("beta_monitor")
AUDIT_ROWS = 200  # `rollout set` changes read to reconstruct the configs in force (far more than a window sees)


class Notifier(Protocol):
    def notify(self, previous: Checkpoint | None, current: Checkpoint, *, append_failed: bool = False) -> list[str]: ...


def _stopped_note(saved: Checkpoint | None, storing: bool, destination: str) -> str:
    """What a stop signal left behind, for the one line the job logs."""
    if saved is None and storing:
        return (
            "stopped while storing the checkpoint: if its row was written, the next run of this phase appends its "
            "phase-log entry"
        )
    if saved is None:
        return "nothing stored (the checkpoint row is written only once the read and the checks are done)"
    if not saved.appended:
        return (
            f"checkpoint #{saved.id} is stored but its phase-log entry is not appended to {destination}: "
            "the next run of this phase appends it (or `beta-monitor report FEATURE PHASE --rebuild`)"
        )
    return f"checkpoint #{saved.id} is stored and appended to {destination}; notifications were not sent"


@dataclass
class Adapters:
    """Everything the runner talks to, built by the CLI (or a test). In production one PostgreSQL store serves
    `checkpoints`, `expectations` and `audit`."""

    flags: FlagSource
    checkpoints: Checkpoints
    expectations: Expectations
    audit: RolloutAudit
    phase_log: PhaseLog
    metrics: MetricsSource | None = None
    notifier: Notifier | None = None
    rollout: FlagWriter | None = None  # `rollout set`'s writer: the automatic rollback/advance (monitor.autopilot)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class Prepared:
    """A planned checkpoint made ready to read: its phase history (newest first), baseline, allowlist hashes,
    config segments and the `LogWindow` its read measures (`CheckpointRunner.prepare`)."""

    plan: CheckpointPlan
    history: list[Checkpoint]
    baseline: Checkpoint | None
    allowlist_hashes: frozenset[str]
    segments: SegmentPlan
    log_window: LogWindow


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
    act: AutoAct | None = None  # what the job did (or, dry, would do) about the gate

    @property
    def exit_code(self) -> int:
        """The status' code — at least 1 (WARN) when the phase log could not be written (an hourly job whose log
        stopped being written must not look healthy) or the flag changed under an automatic change's verdict."""
        code = self.checkpoint.status.exit_code
        if self.act is not None and self.act.warn:
            code = max(code, 1)
        return max(code, 1) if self.append_error and not self.dry_run else code


class CheckpointRunner:
    def __init__(self, settings: Settings, adapters: Adapters, *, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.adapters = adapters
        self.thresholds = Thresholds.from_settings(settings)
        self.bucketer = Bucketer(settings.bucket_hash, settings.bucket_hex_chars)
        self.progress = progress or (lambda _message: None)
        recorder = adapters.checkpoints if isinstance(adapters.checkpoints, GateRecorder) else None
        self.autopilot = Autopilot(settings, adapters.rollout, recorder, adapters.clock)

    def run(self, request: CheckpointRequest, source: LogSource) -> CheckpointOutcome:
        """One checkpoint of `request`, its logs read by `source` (built once by the caller, from `--source`).

        A stop signal (`Stopped`) leaves with a note of what was already stored: nothing before the row is saved;
        after it, the row stays and the next run appends its missing phase-log entry (`PhaseLog.repair`)."""
        plan = self.plan(request)
        a = self.adapters
        feature, phase = plan.request.feature, plan.request.phase
        if plan.request.dry_run:
            history = a.checkpoints.history(feature, phase)
            checkpoint, _ = self._measure(plan, history, source)
            return self.dry_run(plan, checkpoint, history)

        saved: Checkpoint | None = None
        storing = False
        try:
            with a.checkpoints.lock(feature, phase):
                stored = a.checkpoints.find(plan.run_key)
                repair = a.phase_log.repair(feature, phase, plan.destination)
                if stored is not None:
                    return self.duplicate(plan, stored, repair)
                history = a.checkpoints.history(feature, phase)
                measured, failures = self._measure(plan, history, source)
                storing = True
                outcome = self.store(plan, measured, failures, repair, history)
                saved = outcome.checkpoint
        except Stopped as stop:
            stop.note = _stopped_note(saved, storing, plan.destination)
            raise
        if not outcome.duplicate:
            self.notify(outcome, history)
        return outcome

    def duplicate(self, plan: CheckpointPlan, stored: Checkpoint, repair: Repair) -> CheckpointOutcome:
        """A run key already stored (under the lock): report the stored checkpoint, as it is now, record nothing."""
        stored = self.adapters.checkpoints.find(plan.run_key) or stored
        return CheckpointOutcome(
            checkpoint=stored,
            duplicate=True,
            phase_log=plan.destination,
            appended=stored.appended,
            append_error=repair.error,
            repaired=repair.count,
        )

    def dry_run(self, plan: CheckpointPlan, checkpoint: Checkpoint, history: list[Checkpoint]) -> CheckpointOutcome:
        """A judged checkpoint that is stored nowhere, with what the autopilot would do (and does not)."""
        act = self.autopilot.plan(checkpoint, history)
        if checkpoint.gate is not None:
            checkpoint.gate.act = act
        return CheckpointOutcome(checkpoint=checkpoint, dry_run=True, phase_log=plan.destination, act=act)

    def store(
        self,
        plan: CheckpointPlan,
        measured: Checkpoint,
        failures: set[int],
        repair: Repair,
        history: list[Checkpoint],
    ) -> CheckpointOutcome:
        """Save the measured checkpoint, act on its gate when the autopilot is on, and append its phase-log entry
        (under its feature+phase lock; `history`: the phase before it, newest first)."""
        a = self.adapters
        # Its time is taken under the lock, like its id: the database and the phase log tell one story.
        measured.created_at = a.clock()
        planned = self.autopilot.plan(measured, history)
        acting = planned is not None and planned.outcome is ActOutcome.DRY_RUN  # about to change the flag
        measured.entry = entry_form(measured, history, acting=acting)
        saved, created = a.checkpoints.save(measured, failures)
        if not created:
            return CheckpointOutcome(
                checkpoint=saved, duplicate=True, phase_log=plan.destination, appended=saved.appended
            )
        act = self.autopilot.act(saved, planned)
        error = a.phase_log.append(saved, plan.destination)
        return CheckpointOutcome(
            checkpoint=saved,
            phase_log=plan.destination,
            appended=error is None,
            append_error=error or repair.error,
            repaired=repair.count,
            act=act,
        )

    def notify(self, outcome: CheckpointOutcome, history: list[Checkpoint]) -> None:
        """SNS and the metric for a newly stored checkpoint (`history`: the phase before it, newest first)."""
        if self.adapters.notifier is not None:
            outcome.notifications = self.adapters.notifier.notify(
                history[0] if history else None, outcome.checkpoint, append_failed=outcome.append_error is not None
            )

    def plan(self, request: CheckpointRequest, now: datetime | None = None) -> CheckpointPlan:
        """What this checkpoint measures, decided before any log is read (bad input fails here, writing nothing).
        `now` (default: the clock) fixes the instant, so several plans of one `watch` share one window."""
        a = self.adapters
        now = now or a.clock()
        window, ends_now = compute_window(self.settings, request, now)
        config = a.flags.get(request.feature)
        if request.phase == AUTO_PHASE:
            request = replace(request, phase=auto_phase(config))
        return CheckpointPlan(
            request=request,
            run_key=run_key_of(request, window),
            window=window,
            ends_now=ends_now,
            now=now,
            config=config,
            expected=resolve_expected(request, a.expectations),
            destination=a.phase_log.destination(request.feature, request.phase, request.phase_log),
        )

    def _measure(
        self, plan: CheckpointPlan, history: list[Checkpoint], source: LogSource
    ) -> tuple[Checkpoint, set[int]]:
        """Read the logs, run the checks and roll them up into the checkpoint (not stored yet), gate included; with
        the keys of the passengers whose first failure of the phase is in this window (stored with it)."""
        prepared = self.prepare(plan, history)
        window = plan.window
        self.progress(f"Reading logs ({source.name}) {iso_z(window.start)} → {iso_z(window.end)}")
        reading = self.read(source, prepared.log_window)
        return self.judge(prepared, reading)

    def prepare(self, plan: CheckpointPlan, history: list[Checkpoint]) -> Prepared:
        """What the read must measure for `plan`: its `LogWindow` (allowlist, config segments), with the baseline."""
        request, window, config = plan.request, plan.window, plan.config
        baseline = pick_baseline(history, request.baseline_label)
        allowlist_hashes = frozenset(self.bucketer.hash_id(p) for p in config.allowlist)
        audit = self.adapters.audit.rollout_audit(request.feature, AUDIT_ROWS)
        segments = config_plan(config, window, self.thresholds, history, audit=audit, allowlist_hashes=allowlist_hashes)
        log_window = LogWindow(
            feature=request.feature,
            start_ms=int(window.start.timestamp() * 1000),
            end_ms=int(window.end.timestamp() * 1000),
            route_groups=self.settings.route_group_list,
            bucketer=self.bucketer,
            allowlist_hashes=allowlist_hashes,
            segment_bounds=segments.bounds,
        )
        return Prepared(plan, history, baseline, allowlist_hashes, segments, log_window)

    def judge(
        self, prepared: Prepared, reading: SourceResult, flags: list[FlagConfig] | EllipsisType | None = ...
    ) -> tuple[Checkpoint, set[int]]:
        """Run the checks on `reading` (this flag's own) and roll them up into the checkpoint, gate included.
        `flags`: the backend's flags as `flag_snapshot()` read them for several checkpoints (`watch`); by default
        they are read here."""
        plan, history, baseline = prepared.plan, prepared.history, prepared.baseline
        allowlist_hashes, segments = prepared.allowlist_hashes, prepared.segments
        request, window, config = plan.request, plan.window, plan.config
        passengers = reading.aggregate.passengers
        entered_before = self.adapters.checkpoints.entered_before(
            request.feature, request.phase, passengers.states.keys()
        )
        ctx = CheckContext(
            feature=request.feature,
            config=config,
            allowlist_hashes=allowlist_hashes,
            expected=plan.expected,
            reading=reading,
            window=window,
            now=plan.now,
            thresholds=self.thresholds,
            bucketer=self.bucketer,
            segment_plan=segments,
            baseline=baseline,
            previous=history[0] if history else None,
            window_ends_now=plan.ends_now,
            history=history,
            entered_before=frozenset(entered_before),
            other_flags=self._other_flags(request.feature, self.flag_snapshot() if flags is ... else flags),
        )
        checks = mark_incomplete(run_checks(ctx), reading.problems)
        checks = escalate_errors(checks, history, self.thresholds.error_escalation)
        checkpoint = Checkpoint(
            feature=request.feature,
            phase=request.phase,
            label=request.label,
            run_key=plan.run_key,
            status=checkpoint_status(checks),
            window=window,
            live_config=config.public(),
            expected=plan.expected,
            checks=checks,
            metrics=reading.metrics(),
            created_at=plan.now,
            allowlist_hashes=sorted(allowlist_hashes),
        )
        checkpoint.gate = phase_gate(
            request.feature, request.phase, [*reversed(history), checkpoint], self.settings, config
        )
        return checkpoint, passengers.entering() - entered_before

    def flag_snapshot(self) -> list[FlagConfig] | None:
        """Every flag of the backend's table, in one read; None (overlap unknown, said in the cohort evidence) when
        that read fails — the checked flag itself was read, so the checkpoint goes on."""
        try:
            return self.adapters.flags.all_flags()
        except StoreError as exc:
            log.warning("other flags not read: overlap unknown", extra={"error": str(exc)[:200]})
            return None

    def _other_flags(self, feature: str, flags: list[FlagConfig] | None) -> tuple[OtherFlag, ...] | None:
        """The flags in rollout other than `feature`, from a snapshot (None: not read, overlap unknown)."""
        return None if flags is None else other_flags(flags, feature, self.bucketer)

    def read(self, source: LogSource, window: LogWindow) -> SourceResult:
        """One read of `window` by `source`, with the load balancer's cross-check when configured."""
        reading = source.read(window)
        if reading.failure is not None:
            log.warning("log source failed", extra={"source": source.name, "code": reading.failure.code})
        metrics = self.adapters.metrics
        if metrics is not None:
            reading.cross_check(*metrics.read(window))
        return reading
