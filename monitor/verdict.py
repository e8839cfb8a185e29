"""Checks → checkpoint status, and the escalation of a check that keeps failing to measure. Pure."""

from __future__ import annotations

from monitor.domain.checkpoint import Checkpoint, CheckResult
from monitor.domain.status import Status


def checkpoint_status(checks: list[CheckResult]) -> Status:
    """FAIL if any check FAILs; WARN if any WARN, NODATA or ERROR; else PASS. SKIP counts for nothing."""
    return Status.worst(*(c.status.verdict for c in checks))


def escalate_errors(checks: list[CheckResult], history: list[Checkpoint], k: int) -> list[CheckResult]:
    """A check ERROR now and on the k-1 previous checkpoints of the phase (`history` newest first) becomes FAIL.

    A watchdog that cannot measure for k hours in a row is itself an incident, not a warning to get used to.
    """
    previous = history[: max(k - 1, 0)]
    if len(previous) < k - 1:
        return list(checks)
    out: list[CheckResult] = []
    for check in checks:
        if check.status is Status.ERROR and all(_was_error(cp, check.name) for cp in previous):
            check = check.model_copy(update={
                "status": Status.FAIL,
                "summary": f"ERROR on {k} consecutive checkpoints, escalated to FAIL: {check.summary}",
                "evidence": {**check.evidence, "escalated_from": Status.ERROR.value, "consecutive_errors": k},
            })
        out.append(check)
    return out


def _was_error(checkpoint: Checkpoint, name: str) -> bool:
    result = checkpoint.check(name)
    return result is not None and result.status in (Status.ERROR, Status.FAIL) and _error_origin(result)


def _error_origin(result: CheckResult) -> bool:
    """ERROR, or a FAIL that was itself an escalated ERROR (the streak goes on)."""
    return result.status is Status.ERROR or result.evidence.get("escalated_from") == Status.ERROR.value
