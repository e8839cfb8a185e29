"""Builds the concrete adapters (PostgreSQL, CloudWatch, S3, SNS) from settings. Used by the CLI and the demo only."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from monitor.notify import AwsNotifier
from monitor.runner import Adapters
from monitor.settings import Settings
from monitor.sinks import open_sink, phase_log_destination
from monitor.sources import open_metrics
from monitor.store.postgres import PostgresCheckpointStore, PostgresFlagSource, PostgresRolloutWriter

# boto3 is imported only when an AWS adapter is built: a `file:` replay never pays for it.


def database_urls(settings: Settings, say: Callable[[str], None] | None = None) -> tuple[str, str]:
    """(watchdog store URL, backend flags URL). No database configured → the embedded PostgreSQL, and say so."""
    store_url = settings.store_url()
    if store_url is None:
        from monitor.store.embedded import embedded_database_url, embedded_dir

        data_dir = embedded_dir(settings.embedded_dir)
        store_url = embedded_database_url(data_dir)
        (say or _stderr)(f"Using embedded PostgreSQL at {data_dir} (set BETA_MONITOR_DATABASE_URL to use your own)")
    return store_url, settings.flags_url() or store_url


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def aws_client(settings: Settings, service: str, calls: dict[str, int] | None = None) -> Any:
    from monitor.sources.aws import make_client

    return make_client(
        service,
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        max_attempts=settings.aws_max_attempts,
        calls=calls,
    )


def build_adapters(settings: Settings, *, say: Callable[[str], None] | None = None) -> Adapters:
    store_url, flags_url = database_urls(settings, say)
    store = PostgresCheckpointStore(store_url)
    flags = PostgresFlagSource(
        flags_url,
        schema=settings.flag_schema,
        flags_table=settings.flags_table,
        allowlist_table=settings.allowlist_table,
    )

    @cache
    def s3() -> Any:
        return aws_client(settings, "s3")

    def sink(destination: str) -> Any:
        return open_sink(destination, s3_client=s3() if destination.startswith("s3://") else None)

    notifier = None
    if settings.sns_topic_arn or settings.publish_metric:
        notifier = AwsNotifier(
            sns=aws_client(settings, "sns") if settings.sns_topic_arn else None,
            cloudwatch=aws_client(settings, "cloudwatch") if settings.publish_metric else None,
            topic_arn=settings.sns_topic_arn,
            namespace=settings.metric_namespace,
        )
    return Adapters(
        flags=flags,
        store=store,
        sink=sink,
        phase_log_destination=phase_log_destination,
        metrics=open_metrics(settings),
        notifier=notifier,
    )


def rollout_writer(settings: Settings, *, say: Callable[[str], None] | None = None) -> PostgresRolloutWriter:
    store_url, flags_url = database_urls(settings, say)
    return PostgresRolloutWriter(
        flags_url,
        store_url,
        schema=settings.flag_schema,
        flags_table=settings.flags_table,
        allowlist_table=settings.allowlist_table,
    )
