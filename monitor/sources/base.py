"""The contract every log engine implements (Argo Rollouts' provider: turn a query into a measurement).

`read(window) -> SourceResult`: everything measured, how, and what went wrong, as one value (see
`monitor.domain.reading`). A source raises only for a configuration error: `LogGroupNotFoundError` (a bad
BETA_MONITOR_LOG_GROUP), `ConfigError` (an unreadable `file:` path, no AWS region) — exit 3, nothing written.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from monitor.domain.aggregate import LogWindow
from monitor.domain.reading import SourceResult


class LogSource(Protocol):
    """Reads the backend's events in [window.start_ms, window.end_ms). A read that failed in whole or in part is a
    result with `problems`, so the checks that can still judge do, and data_quality says ERROR."""

    name: str

    def read(self, window: LogWindow) -> SourceResult: ...


class CrossCheck(NamedTuple):
    """Another vantage point's figures for the window (evidence only) and the AWS calls it took."""

    figures: dict[str, Any]
    aws_calls: dict[str, int]


class MetricsSource(Protocol):
    """An optional cross-check of the window (the load balancer). Never raises: a failure is in the figures."""

    def read(self, window: LogWindow) -> CrossCheck: ...
