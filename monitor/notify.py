"""Notifications on status transitions and ROLLBACK: SNS, and a CloudWatch metric an alarm can page on.

Clients are injected (built by the CLI). A failure to notify is logged and reported, never fatal.
"""

from __future__ import annotations

import logging
from typing import Any

from monitor.domain.act import ActOutcome
from monitor.domain.checkpoint import Checkpoint
from monitor.domain.format import iso_z
from monitor.domain.status import GateAction, Status

log = logging.getLogger("beta_monitor")
APPEND_FAILED = "PhaseLogAppendFailed"
WORST_STATUS = "WorstStatus"


def transition(previous: Checkpoint | None, current: Checkpoint) -> str | None:
    """The transition worth telling someone about, or None."""
    before = previous.status if previous else None
    now = current.status
    if now == Status.FAIL and before != Status.FAIL:
        return f"{before.value if before else 'start'} -> FAIL"
    if now == Status.WARN and before == Status.PASS:
        return "PASS -> WARN"
    if now == Status.PASS and before == Status.FAIL:
        return "FAIL -> PASS (recovered)"
    return None


def message(current: Checkpoint, what: str) -> tuple[str, str]:
    alerts = [f"- {c.name}: {c.status.value} — {c.summary}" for c in current.alerts]
    gate = current.gate
    subject = f"beta-monitor {current.feature}/{current.phase}: {what}"[:100]
    body = "\n".join(
        [
            f"Feature: {current.feature}",
            f"Phase: {current.phase}",
            f"Checkpoint: {current.label} ({iso_z(current.created_at)})",
            f"Status: {current.status.value}",
            *(["Alerts:", *alerts] if alerts else []),
            f"Gate: {gate.action.value if gate else 'n/a'}",
            f"Command: {gate.command if gate else 'n/a'}",
            *([f"Act: {gate.act.line}"] if gate and gate.act else []),
        ]
    )
    return subject, body


class AwsNotifier:
    def __init__(
        self, *, sns: Any | None, cloudwatch: Any | None, topic_arn: str | None, namespace: str = "BetaMonitor"
    ):
        self.sns = sns
        self.cloudwatch = cloudwatch
        self.topic_arn = topic_arn
        self.namespace = namespace

    def notify(self, previous: Checkpoint | None, current: Checkpoint, *, append_failed: bool = False) -> list[str]:
        """Publish what is due; returns one line per action taken or failed (for the output). With the metric on,
        `PhaseLogAppendFailed` (1 when this checkpoint's phase-log entry could not be written, else 0) goes with
        `CheckpointStatus`, so an alarm sees a phase log that stops being written."""
        done: list[str] = []
        if self.cloudwatch is not None:
            done.append(self._metric(current, append_failed))
        what = transition(previous, current)
        if current.gate is not None and current.gate.action == GateAction.ROLLBACK:
            what = f"{what}; gate ROLLBACK" if what else "gate ROLLBACK"
        act = current.gate.act if current.gate is not None else None
        if act is not None and act.outcome is not ActOutcome.DRY_RUN:
            what = f"{what}; {act.line}" if what else act.line
        if what and self.sns is not None and self.topic_arn:
            done.append(self._publish(current, what))
        return done

    def _metric(self, current: Checkpoint, append_failed: bool) -> str:
        values = {"CheckpointStatus": float(current.status.metric_value), APPEND_FAILED: 1.0 if append_failed else 0.0}
        try:
            self.cloudwatch.put_metric_data(  # type: ignore[union-attr]
                Namespace=self.namespace,
                # Per feature+phase, and per feature alone (an alarm that survives phase changes, e.g. PHASE auto).
                MetricData=[
                    {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "None"}
                    for name, value in values.items()
                    for dimensions in (
                        [{"Name": "feature", "Value": current.feature}, {"Name": "phase", "Value": current.phase}],
                        [{"Name": "feature", "Value": current.feature}],
                    )
                ],
            )
        except Exception as exc:  # never fatal: the checkpoint is already stored
            log.error("CheckpointStatus metric not published", extra={"error": type(exc).__name__})
            return f"metric {self.namespace}/CheckpointStatus FAILED ({type(exc).__name__})"
        line = f"metric {self.namespace}/CheckpointStatus={current.status.metric_value}"
        return line + (f", {APPEND_FAILED}=1" if append_failed else "")

    def worst_status(self, status: Status, flags: int) -> str | None:
        """`beta-monitor watch`: the worst status over the watched flags (0/1/2, no dimension), for one alarm on
        every rollout at once. None when the metric is off."""
        if self.cloudwatch is None:
            return None
        try:
            self.cloudwatch.put_metric_data(
                Namespace=self.namespace,
                MetricData=[
                    {"MetricName": WORST_STATUS, "Value": float(status.metric_value), "Unit": "None"},
                    {"MetricName": "WatchedFlags", "Value": float(flags), "Unit": "Count"},
                ],
            )
        except Exception as exc:  # never fatal: the checkpoints are already stored
            log.error("WorstStatus metric not published", extra={"error": type(exc).__name__})
            return f"metric {self.namespace}/{WORST_STATUS} FAILED ({type(exc).__name__})"
        return f"metric {self.namespace}/{WORST_STATUS}={status.metric_value}"

    def _publish(self, current: Checkpoint, what: str) -> str:
        subject, body = message(current, what)
        try:
            self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body)  # type: ignore[union-attr]
        except Exception as exc:
            log.error("SNS notification failed", extra={"error": type(exc).__name__})
            return f"sns FAILED ({type(exc).__name__}): {what}"
        return f"sns: {what}"
