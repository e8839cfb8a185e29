"""`beta-monitor watch`: one checkpoint per flag in rollout, from ONE read of the logs.

Each flag's checkpoint is exactly what `beta-monitor checkpoint FEATURE auto LABEL` would store — its own plan
(PHASE `auto`, run key, window), row, phase-log entry, gate and notifications, through `CheckpointRunner`'s own
steps — but the logs are read once for all of them: `monitor.domain.shared` builds the shared window and splits each
flag's reading out of it, so the number of FilterLogEvents pages, Logs Insights queries and bytes scanned do not
grow with the number of flags.

Every flag's feature+phase lock is held (taken in sorted order, so two watches never deadlock) from the run-key
look-up to the stored entry, as `checkpoint` holds its one lock: a redelivered watch finds every run key stored and
records nothing (not even a read). A flag "in rollout" is enabled with 0 < rollout < 100 or a non-empty allowlist,
or has an expectation stored by `rollout set`; the others get nothing.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import FlagConfig
from monitor.domain.format import iso_z
from monitor.domain.reading import SourceResult
from monitor.domain.shared import shared_window, split_reading
from monitor.domain.status import Status
from monitor.errors import FlagNotFoundError, Stopped
from monitor.phaselog.index import IndexRow
from monitor.planning import AUTO_PHASE, CheckpointPlan, CheckpointRequest
from monitor.runner import CheckpointOutcome, CheckpointRunner, Prepared
from monitor.sources.base import LogSource
from monitor.store.base import FlagCatalog

log = logging.getLogger("beta_monitor")
DEFAULT_LABEL = "hourly"


@dataclass
class WatchRequest:
    """`features` empty: every flag of the flag table (and every flag with a stored expectation)."""

    features: list[str] = field(default_factory=list)
    label: str = DEFAULT_LABEL
    window: str | None = None
    end: datetime | None = None
    phase_log: str | None = None
    run_key: str | None = None
    dry_run: bool = False
    # Callers that name a flag's phase or label themselves (the demo's story): feature -> name; default auto / label.
    phases: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class WatchOutcome:
    """What one watch did: a checkpoint outcome per flag in rollout (sorted by feature), the flags left alone and
    why, the shared read (None when nothing had to be read), and the index page."""

    outcomes: list[CheckpointOutcome]
    skipped: dict[str, str]
    reading: SourceResult | None = None
    index: str | None = None
    index_error: str | None = None
    notifications: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return Status.worst(*(o.checkpoint.status for o in self.outcomes)) if self.outcomes else Status.PASS

    @property
    def exit_code(self) -> int:
        """The worst exit code over the flags (a failed phase-log append counts, as for `checkpoint`); 0 when no
        flag is in rollout."""
        return max((o.exit_code for o in self.outcomes), default=0)

    def aws_calls(self) -> dict[str, int]:
        """AWS calls of the run: the shared read's (every attempt, by API), its Insights queries and bytes scanned."""
        if self.reading is None:
            return {"insights_queries": 0, "bytes_scanned": 0}
        cost = self.reading.read_cost()
        calls = dict(self.reading.aws_calls)
        calls.update(insights_queries=cost["insights_queries"], bytes_scanned=cost["bytes_scanned"])
        return calls


def in_rollout(config: FlagConfig, has_expectation: bool) -> str | None:
    """None when the flag is in rollout (watch it), else why not."""
    if has_expectation:
        return None
    if not config.enabled:
        return "disabled, no expectation stored by `rollout set`"
    if 0 < config.rollout_percentage < 100 or config.allowlist:
        return None
    return f"at {config.rollout_percentage}% with no allowlist and no expectation stored by `rollout set`"


class WatchRunner:
    """Runs `watch` with a `CheckpointRunner`'s adapters and steps; `catalog` lists the flags."""

    def __init__(self, runner: CheckpointRunner, catalog: FlagCatalog) -> None:
        self.runner = runner
        self.catalog = catalog

    def select(self, request: WatchRequest) -> tuple[list[str], dict[str, str]]:
        """The flags to watch, and the others with why not. A `--feature` not in the flag table raises
        FlagNotFoundError (exit 3, nothing written)."""
        a = self.runner.adapters
        expected = set(a.expectations.expected_features())
        names = list(dict.fromkeys(request.features)) or sorted(set(self.catalog.keys()) | expected)
        watched, skipped = [], {}
        for name in names:
            try:
                config = a.flags.get(name)
            except FlagNotFoundError:
                if request.features:
                    raise  # asked for by name: a typo, exit 3
                skipped[name] = "an expectation is stored but the flag is not in the flag table"
                continue
            why = in_rollout(config, name in expected)
            if why is None:
                watched.append(name)
            else:
                skipped[name] = why
        return watched, skipped

    def run(self, request: WatchRequest, source: LogSource) -> WatchOutcome:
        runner = self.runner
        watched, skipped = self.select(request)
        now = runner.adapters.clock()  # one instant for every plan: one window, whatever the minute turns to
        plans = [runner.plan(self._request(request, feature), now=now) for feature in watched]
        run = self._dry_run if request.dry_run else self._store
        outcome = run(plans, source, skipped)
        if not request.dry_run:
            if outcome.outcomes:
                self._index(outcome, request)
            self._worst_status(outcome)  # also with no flag in rollout: the run itself is seen (WatchMissingAlarm)
        return outcome

    @staticmethod
    def _request(request: WatchRequest, feature: str) -> CheckpointRequest:
        return CheckpointRequest(
            feature=feature,
            phase=request.phases.get(feature, AUTO_PHASE),
            label=request.labels.get(feature, request.label),
            window=request.window,
            end=request.end,
            phase_log=request.phase_log,
            run_key=request.run_key,
            dry_run=request.dry_run,
        )

    def _read(self, prepared: list[Prepared], source: LogSource) -> SourceResult | None:
        if not prepared:
            return None
        window = prepared[0].plan.window
        features = ", ".join(p.plan.request.feature for p in prepared)
        self.runner.progress(
            f"Reading logs once for {len(prepared)} flag(s) ({source.name}) {iso_z(window.start)} → "
            f"{iso_z(window.end)}: {features}"
        )
        reading = self.runner.read(source, shared_window([p.log_window for p in prepared]))
        reading.shared_by = len(prepared)
        return reading

    def _dry_run(self, plans: list[CheckpointPlan], source: LogSource, skipped: dict[str, str]) -> WatchOutcome:
        checkpoints = self.runner.adapters.checkpoints
        prepared = [self.runner.prepare(p, checkpoints.history(p.request.feature, p.request.phase)) for p in plans]
        reading = self._read(prepared, source)
        flags = self.runner.flag_snapshot()  # one read of the flag table for every flag's overlap evidence
        outcomes = []
        for ready in prepared:
            assert reading is not None
            checkpoint, _ = self.runner.judge(ready, split_reading(reading, ready.log_window), flags)
            outcomes.append(self.runner.dry_run(ready.plan, checkpoint, ready.history))
        return WatchOutcome(outcomes, skipped, reading)

    def _store(self, plans: list[CheckpointPlan], source: LogSource, skipped: dict[str, str]) -> WatchOutcome:
        a, runner = self.runner.adapters, self.runner
        done: dict[str, CheckpointOutcome] = {}
        histories: dict[str, list[Checkpoint]] = {}
        reading: SourceResult | None = None
        storing = ""
        try:
            with ExitStack() as locks:
                for plan in sorted(plans, key=lambda p: (p.request.feature, p.request.phase)):
                    locks.enter_context(a.checkpoints.lock(plan.request.feature, plan.request.phase))
                prepared = []
                for plan in plans:
                    feature, phase = plan.request.feature, plan.request.phase
                    stored = a.checkpoints.find(plan.run_key)
                    repair = a.phase_log.repair(feature, phase, plan.destination)
                    if stored is not None:
                        done[feature] = runner.duplicate(plan, stored, repair)
                        continue
                    histories[feature] = a.checkpoints.history(feature, phase)
                    prepared.append((runner.prepare(plan, histories[feature]), repair))
                reading = self._read([ready for ready, _ in prepared], source)
                flags = runner.flag_snapshot() if prepared else None  # one read for every flag's overlap evidence
                for ready, repair in prepared:
                    assert reading is not None
                    measured, failures = runner.judge(ready, split_reading(reading, ready.log_window), flags)
                    storing = ready.plan.request.feature
                    done[storing] = runner.store(ready.plan, measured, failures, repair, ready.history)
                    storing = ""
        except Stopped as stop:
            stop.note = _stopped_note(done, storing)
            raise
        outcomes = [done[p.request.feature] for p in plans]
        for outcome in outcomes:
            if not outcome.duplicate:
                runner.notify(outcome, histories.get(outcome.checkpoint.feature, []))
        return WatchOutcome(outcomes, skipped, reading)

    def _index(self, outcome: WatchOutcome, request: WatchRequest) -> None:
        rows = [
            IndexRow(
                feature=o.checkpoint.feature,
                phase=o.checkpoint.phase,
                label=o.checkpoint.label,
                status=o.checkpoint.status.value,
                gate=o.checkpoint.gate.action.value if o.checkpoint.gate else "n/a",
                checkpoint_id=o.checkpoint.id,
                at=o.checkpoint.created_at,
                destination=o.phase_log,
            )
            for o in outcome.outcomes
        ]
        phase_log = self.runner.adapters.phase_log
        outcome.index, outcome.index_error = phase_log.write_index(
            rows, self.runner.adapters.clock(), request.phase_log
        )

    def _worst_status(self, outcome: WatchOutcome) -> None:
        notifier = self.runner.adapters.notifier
        worst = getattr(notifier, "worst_status", None)
        if worst is not None:
            line = worst(outcome.status, len(outcome.outcomes))
            if line:
                outcome.notifications.append(line)


def _stopped_note(done: dict[str, CheckpointOutcome], storing: str) -> str:
    stored = [f"{f} #{o.checkpoint.id}" for f, o in done.items() if not o.duplicate]
    parts = [f"stored: {', '.join(stored)}" if stored else "no checkpoint stored by this watch"]
    if storing:
        parts.append(f"stopped while storing {storing}'s checkpoint")
    parts.append("the next watch appends any missing phase-log entry and checks the flags not stored")
    return "; ".join(parts)
