"""One place that turns a source spec (`insights`, `scan`, `file:PATH`) and the settings into a `LogSource`
(Flagger's `providers/factory.go`). Building a source does no I/O; an unknown spec is a ConfigError."""

from __future__ import annotations

import time
from collections.abc import Callable

from monitor.aws import aws_options
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.sources.base import LogSource, MetricsSource
from monitor.sources.file import FileLogSource
from monitor.sources.insights import InsightsLogSource
from monitor.sources.metrics import LoadBalancerMetrics
from monitor.sources.scan import ScanLogSource

FILE_PREFIX = "file:"


def throttled_progress(say: Callable[[str], None], every_s: float = 5.0) -> Callable[[int], None]:
    """A scan-progress callback that speaks at most every `every_s` seconds (long windows read millions of events)."""
    last = [time.monotonic()]

    def report(events: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            say(f"{events:,} events read so far")

    return report


def open_source(spec: str, settings: Settings, *, say: Callable[[str], None] | None = None) -> LogSource:
    """The engine for `spec`; `say` hears the scan engine's progress. Raises ConfigError for an unknown spec."""
    aws = aws_options(settings)
    if spec == ScanLogSource.name:
        progress = throttled_progress(say) if say else None
        return ScanLogSource(settings.log_group, progress=progress, **aws)
    if spec == InsightsLogSource.name:
        return InsightsLogSource(settings.log_group, timeout_s=settings.insights_timeout, **aws)
    if spec.startswith(FILE_PREFIX) and len(spec) > len(FILE_PREFIX):
        return FileLogSource(spec[len(FILE_PREFIX) :], aws=aws)
    raise ConfigError(f"unknown --source {spec[:60]!r}: use insights, scan, file:PATH or file:s3://BUCKET/PREFIX/")


def open_metrics(settings: Settings) -> MetricsSource | None:
    """The load-balancer cross-check when BETA_MONITOR_ALB_LOAD_BALANCER is set, else None."""
    if not settings.alb_load_balancer:
        return None
    return LoadBalancerMetrics(settings.alb_load_balancer, settings.alb_target_group, **aws_options(settings))
