"""The two verdict vocabularies, with their behaviour on the type (as Argo Rollouts' `AnalysisPhase` carries its own
ordering): a check's or checkpoint's `Status`, and the gate's `GateAction`.

Every place that needs "which is worse", "what does it count for in a checkpoint", an exit code or a metric value
asks the type, so the mapping is written once.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """PASS / WARN / FAIL judge; NODATA (too little to judge), ERROR (could not measure) and SKIP (nothing to judge)
    are neither passes nor failures (Argo's Inconclusive / Error)."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    NODATA = "NODATA"
    ERROR = "ERROR"
    SKIP = "SKIP"

    @property
    def verdict(self) -> Status:
        """What this status counts for in a checkpoint: FAIL is FAIL; WARN, NODATA and ERROR are WARN (someone must
        look); PASS and SKIP are PASS."""
        return _VERDICT[self]

    @property
    def alerts(self) -> bool:
        """Whether a check with this status is listed as an alert (anything but PASS and SKIP)."""
        return self.verdict is not Status.PASS

    @property
    def exit_code(self) -> int:
        """The monitoring-plugin exit code of a checkpoint with this status: 0 PASS, 1 WARN, 2 FAIL."""
        return _EXIT[self.verdict]

    @property
    def metric_value(self) -> int:
        """The value of the CloudWatch metric `CheckpointStatus`: 0 PASS, 1 WARN, 2 FAIL (as the exit code)."""
        return self.exit_code

    @classmethod
    def worst(cls, *statuses: Status) -> Status:
        """The most severe of `statuses` (SKIP < PASS < NODATA < ERROR < WARN < FAIL); PASS when there are none."""
        return max(statuses, key=_SEVERITY.index, default=cls.PASS)


_SEVERITY = (Status.SKIP, Status.PASS, Status.NODATA, Status.ERROR, Status.WARN, Status.FAIL)
_VERDICT = {
    Status.PASS: Status.PASS,
    Status.SKIP: Status.PASS,
    Status.WARN: Status.WARN,
    Status.NODATA: Status.WARN,
    Status.ERROR: Status.WARN,
    Status.FAIL: Status.FAIL,
}
_EXIT = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


class GateAction(StrEnum):
    ADVANCE = "ADVANCE"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"

    @property
    def exit_code(self) -> int:
        """`beta-monitor gate` exits 0 ADVANCE, 1 HOLD, 2 ROLLBACK."""
        return _GATE_EXIT[self]


_GATE_EXIT = {GateAction.ADVANCE: 0, GateAction.HOLD: 1, GateAction.ROLLBACK: 2}
