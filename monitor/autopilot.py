"""Acting on the gate (issue 14): with `BETA_MONITOR_AUTO_ROLLBACK=true` a ROLLBACK steps the flag back itself, and
with `BETA_MONITOR_AUTO_ADVANCE=true` an ADVANCE steps it up one plan step — what `rollout set` does, through its code
path (`PostgresRolloutWriter.set_rollout`: the flag row locked and written, an audit row by the job, the new
expectation), in the same transaction as the act's record in the checkpoint's gate.

Called by the runner after the checkpoint is stored and before its phase-log entry is appended, under the phase's
lock, so every command that stores checkpoints through the runner acts the same way. Guardrails:
- compare-and-set: the flag must still be in the state the checkpoint read (checked under the row lock); a flag
  changed since is left alone, and the act is a WARN, "config changed under the verdict";
- the flag must not have moved in the window the checkpoint judged (the gate's note says so: a person acted);
- at most one automatic change per phase: an earlier checkpoint of the phase recorded one (its record is written
  with the audit row in one transaction, and runs of a phase are serialized by the phase's lock);
- a redelivered run (same run key) never gets here: the runner returns the stored checkpoint;
- a rollback never increases exposure, an advance never skips a plan step;
- `--dry-run` says what it would do and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from monitor.domain.act import ActKind, ActOutcome, AutoAct, FlagLevel
from monitor.domain.checkpoint import Checkpoint
from monitor.domain.status import GateAction
from monitor.errors import ConfigChangedError, MonitorError
from monitor.gate import judged_config
from monitor.settings import Settings

log = logging.getLogger("beta_monitor")
REASON_LIMIT = 300


class FlagWriter(Protocol):
    """`rollout set`'s writer (monitor.store.rollout.PostgresRolloutWriter)."""

    def set_rollout(
        self,
        feature: str,
        percent: int,
        enabled: bool | None,
        *,
        reason: str,
        actor: str,
        now: datetime,
        expect: dict[str, Any] | None = None,
        record: Checkpoint | None = None,
    ) -> dict[str, Any]: ...


@runtime_checkable
class GateRecorder(Protocol):
    def record_gate(self, checkpoint: Checkpoint) -> None: ...


def _exposure(level: FlagLevel) -> int:
    """Order of exposure: disabled (everyone OFF) is below 0%."""
    return level.rollout_percentage if level.enabled else -1


def rollback_target(judged: FlagLevel, steps: list[int], to: str) -> FlagLevel:
    """Where an automatic rollback goes from the level the phase was judged at (BETA_MONITOR_ROLLBACK_TO)."""
    if to == "disable":
        return FlagLevel(enabled=False, rollout_percentage=judged.rollout_percentage)
    if to == "zero":
        return FlagLevel(enabled=True, rollout_percentage=0)
    below = sorted(s for s in steps if s < judged.rollout_percentage) if judged.enabled else []
    if not below:
        return FlagLevel(enabled=False, rollout_percentage=0)
    return FlagLevel(enabled=True, rollout_percentage=below[-1])


def advance_target(judged: FlagLevel, steps: list[int]) -> FlagLevel | None:
    """The plan's next step above the judged level; None past the last one (or with the master switch off: turning
    a flag on is a person's decision)."""
    if not judged.enabled:
        return None
    above = sorted(s for s in steps if s > judged.rollout_percentage)
    return FlagLevel(enabled=True, rollout_percentage=above[0]) if above else None


def _live_level(checkpoint: Checkpoint) -> FlagLevel | None:
    live = checkpoint.live_config
    rollout, enabled = live.get("rollout_percentage"), live.get("enabled")
    if isinstance(rollout, bool) or not isinstance(rollout, int) or not isinstance(enabled, bool):
        return None
    return FlagLevel(enabled=enabled, rollout_percentage=rollout)


def _earlier_act(history: list[Checkpoint]) -> Checkpoint | None:
    """The checkpoint of the phase whose automatic change was carried out, if any (history: newest first)."""
    return next(
        (cp for cp in history if cp.gate and cp.gate.act and cp.gate.act.outcome is ActOutcome.DONE),
        None,
    )


class Autopilot:
    def __init__(
        self,
        settings: Settings,
        writer: FlagWriter | None,
        recorder: GateRecorder | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.recorder = recorder
        self.clock = clock

    def plan(self, checkpoint: Checkpoint, history: list[Checkpoint]) -> AutoAct | None:
        """What the job would do about this checkpoint's gate: None when no switch applies; else an act that is
        DRY_RUN (to be carried out) or SKIPPED (a guardrail says no, `detail` why). Pure."""
        gate, s = checkpoint.gate, self.settings
        if gate is not None and gate.action is GateAction.ROLLBACK and s.auto_rollback:
            kind = ActKind.ROLLBACK
        elif gate is not None and gate.action is GateAction.ADVANCE and s.auto_advance:
            kind = ActKind.ADVANCE
        else:
            return None
        judged_pair, live = judged_config(checkpoint), _live_level(checkpoint)
        judged = None if judged_pair is None else FlagLevel(enabled=judged_pair[0], rollout_percentage=judged_pair[1])
        target = None
        if judged is not None:
            if kind is ActKind.ROLLBACK:
                target = rollback_target(judged, s.phase_steps, s.rollback_to)
            else:
                target = advance_target(judged, s.phase_steps)
        why = self._refusal(kind, judged, live, target, history)
        if why is not None:
            return self._skip(kind, live or judged, target, why)
        return AutoAct(kind=kind, outcome=ActOutcome.DRY_RUN, before=live, after=target, actor=s.auto_actor)

    @staticmethod
    def _refusal(
        kind: ActKind,
        judged: FlagLevel | None,
        live: FlagLevel | None,
        target: FlagLevel | None,
        history: list[Checkpoint],
    ) -> str | None:
        """Why a guardrail leaves the flag alone, or None."""
        if judged is None or live is None:
            return "the judged config is unknown"
        if target is None:
            return f"no plan step above {judged.describe()} to advance to"
        earlier = _earlier_act(history)
        if earlier is not None:
            done = earlier.gate.act if earlier.gate else None
            return f"this phase already had its automatic change at {earlier.label}" + (
                f" ({done.line})" if done else ""
            )
        if live != judged:
            return (
                f"the flag moved during the window (judged at {judged.describe()}, read {live.describe()}): "
                "a person is acting"
            )
        if (kind is ActKind.ROLLBACK) != (_exposure(target) < _exposure(live)) or target == live:
            return f"{live.describe()} → {target.describe()} is not a {kind.value}"
        return None

    def _skip(self, kind: ActKind, before: FlagLevel | None, after: FlagLevel | None, detail: str) -> AutoAct:
        return AutoAct(
            kind=kind,
            outcome=ActOutcome.SKIPPED,
            before=before,
            after=after,
            actor=self.settings.auto_actor,
            detail=detail,
        )

    def act(self, checkpoint: Checkpoint, planned: AutoAct | None) -> AutoAct | None:
        """Carry out a planned act on a stored checkpoint and record it in the checkpoint's gate (in the store, and
        on `checkpoint`). Never raises for a failed write: the act says FAILED and a person runs the command."""
        gate = checkpoint.gate
        if planned is None or gate is None:
            return None
        if planned.outcome is not ActOutcome.DRY_RUN:
            return self._record(checkpoint, planned)
        if self.writer is None:
            failed = planned.model_copy(update={"outcome": ActOutcome.FAILED, "detail": "no flag writer configured"})
            return self._record(checkpoint, failed)
        assert planned.before is not None and planned.after is not None
        now = self.clock()
        done = planned.model_copy(update={"outcome": ActOutcome.DONE, "at": now})
        gate.act = done
        reason = f"automatic {planned.kind.value} of phase {checkpoint.phase} after {checkpoint.label}: " + (
            gate.reasons[0] if gate.reasons else gate.action.value
        )
        try:
            self.writer.set_rollout(
                checkpoint.feature,
                planned.after.rollout_percentage,
                planned.after.enabled,
                reason=reason[:REASON_LIMIT],
                actor=planned.actor,
                now=now,
                expect=planned.before.model_dump(),
                record=checkpoint,
            )
        except ConfigChangedError as exc:
            current = FlagLevel.model_validate(exc.current)
            detail = (
                f"config changed under the verdict (judged {planned.before.describe()}, now {current.describe()}): "
                "left alone"
            )
            log.warning("config changed under the verdict", extra={"feature": checkpoint.feature})
            skipped = planned.model_copy(update={"outcome": ActOutcome.SKIPPED, "detail": detail, "warn": True})
            return self._record(checkpoint, skipped)
        except MonitorError as exc:
            log.error("automatic change failed", extra={"feature": checkpoint.feature, "error": str(exc)})
            return self._record(
                checkpoint, planned.model_copy(update={"outcome": ActOutcome.FAILED, "detail": str(exc)[:200]})
            )
        log.warning("automatic change done", extra={"feature": checkpoint.feature, "act": done.line})
        return done

    def _record(self, checkpoint: Checkpoint, act: AutoAct) -> AutoAct:
        assert checkpoint.gate is not None
        checkpoint.gate.act = act
        if self.recorder is not None and checkpoint.id is not None:
            try:
                self.recorder.record_gate(checkpoint)
            except MonitorError as exc:  # the stdout and the notification still say it; the row keeps the gate
                log.error("could not record the gate's act", extra={"error": str(exc)})
        return act
