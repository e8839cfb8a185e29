"""Builds the concrete adapters (PostgreSQL, CloudWatch, S3, SNS) from settings. Used by the CLI and the demo only."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from monitor.errors import ConfigError
from monitor.notify import AwsNotifier
from monitor.runner import Adapters
from monitor.settings import Settings
from monitor.sinks import open_sink, phase_log_destination
from monitor.sources.base import LogSource
from monitor.sources.file import FileLogSource
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


def throttled_progress(say: Callable[[str], None], every_s: float = 5.0) -> Callable[[int], None]:
    """A scan-progress callback that speaks at most every `every_s` seconds (long windows read millions of events)."""
    last = [time.monotonic()]

    def report(events: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            say(f"{events:,} events read so far")

    return report


def log_source_factory(settings: Settings, say: Callable[[str], None] | None = None) -> Callable[[str], LogSource]:
    def build(spec: str) -> LogSource:
        common = {
            "region": settings.aws_region,
            "endpoint_url": settings.aws_endpoint_url,
            "max_attempts": settings.aws_max_attempts,
        }
        if spec == "scan":
            from monitor.sources.scan import ScanLogSource

            progress = throttled_progress(say) if say else None
            return ScanLogSource(settings.log_group, progress=progress, **common)  # type: ignore[arg-type]
        if spec == "insights":
            from monitor.sources.insights import InsightsLogSource

            return InsightsLogSource(settings.log_group, timeout_s=settings.insights_timeout, **common)  # type: ignore[arg-type]
        if spec.startswith("file:") and len(spec) > len("file:"):
            return FileLogSource(spec[len("file:") :])
        raise ConfigError(f"unknown --source {spec[:60]!r}: use insights, scan or file:PATH")

    return build


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

    metrics = None
    if settings.alb_load_balancer:
        from monitor.sources.metrics import LoadBalancerMetrics

        metrics = LoadBalancerMetrics(
            settings.alb_load_balancer,
            settings.alb_target_group,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            max_attempts=settings.aws_max_attempts,
        )
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
        log_source=log_source_factory(settings, say),
        sink=sink,
        phase_log_destination=phase_log_destination,
        metrics=metrics,
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
