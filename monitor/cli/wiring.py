"""The composition root of a checkpoint: the runner's adapters (PostgreSQL, CloudWatch, S3, SNS) built from settings.
The commands that only read or administer the store need just `monitor.cli.databases`, and import nothing of this."""

from __future__ import annotations

from functools import cache
from typing import Any

from monitor.aws import client_for
from monitor.cli.databases import Databases
from monitor.notify import AwsNotifier
from monitor.phaselog.service import PhaseLog
from monitor.phaselog.sinks import PhaseLogSink, open_sink
from monitor.runner import Adapters
from monitor.settings import Settings
from monitor.sources.factory import open_metrics


def phase_log(settings: Settings, databases: Databases) -> PhaseLog:
    """The phase-log service; an S3 client is built once, on the first s3:// destination."""

    @cache
    def s3() -> Any:
        return client_for(settings, "s3")

    def sink(destination: str) -> PhaseLogSink:
        return open_sink(destination, s3_client=s3() if destination.startswith("s3://") else None)

    return PhaseLog(databases.store, sink, settings.phase_log)


def notifier(settings: Settings) -> AwsNotifier | None:
    """SNS and the CheckpointStatus metric, when either is configured."""
    if not (settings.sns_topic_arn or settings.publish_metric):
        return None
    return AwsNotifier(
        sns=client_for(settings, "sns") if settings.sns_topic_arn else None,
        cloudwatch=client_for(settings, "cloudwatch") if settings.publish_metric else None,
        topic_arn=settings.sns_topic_arn,
        namespace=settings.metric_namespace,
    )


def build_adapters(settings: Settings, databases: Databases) -> Adapters:
    """Everything a checkpoint run talks to."""
    store = databases.store
    return Adapters(
        flags=databases.flags(),
        checkpoints=store,
        expectations=store,
        audit=store,
        phase_log=phase_log(settings, databases),
        metrics=open_metrics(settings),
        notifier=notifier(settings),
        rollout=databases.rollout_writer() if settings.auto_rollback or settings.auto_advance else None,
    )
