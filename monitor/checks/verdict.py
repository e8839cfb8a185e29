"""Checks → checkpoint status: an incomplete read, a check that keeps failing to measure, and the roll-up. Pure."""

from __future__ import annotations

from monitor.checks.registry import BY_NAME
from monitor.domain.checkpoint import Checkpoint, CheckResult
from monitor.domain.status import Status

_MEASURED = (Status.PASS, Status.NODATA, Status.WARN, Status.SKIP)


def checkpoint_status(checks: list[CheckResult]) -> Status:
    """FAIL if any check FAILs; WARN if any WARN, NODATA or ERROR; else PASS. SKIP counts for nothing."""
    return Status.worst(*(c.status.verdict for c in checks))


def mark_incomplete(checks: list[CheckResult], problems: list[str]) -> list[CheckResult]:
    """Checks that read the logs never PASS (nor claim "no data") on logs that were not fully read: they are ERROR,
    with what they measured still in the summary."""
    if not problems:
        return checks
    reason = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    out = []
    for check in checks:
        spec = BY_NAME.get(check.name)
        if spec is not None and spec.reads_logs and check.status in _MEASURED:
            update = {"status": Status.ERROR, "summary": f"logs incomplete: {reason}; measured: {check.summary}"}
            out.append(check.model_copy(update=update))
        else:
            out.append(check)
    return out


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
            update = {
                "status": Status.FAIL,
                "summary": f"ERROR on {k} consecutive checkpoints, escalated to FAIL: {check.summary}",
                "evidence": check.evidence.escalate(k),
            }
            out.append(check.model_copy(update=update))
        else:
            out.append(check)
    return out


def _was_error(checkpoint: Checkpoint, name: str) -> bool:
    """ERROR, or a FAIL that was itself an escalated ERROR (the streak goes on)."""
    result = checkpoint.check(name)
    if result is None:
        return False
    return result.status is Status.ERROR or (result.status is Status.FAIL and result.evidence.escalated)
