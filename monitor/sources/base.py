"""The one-method interface every log engine implements (Argo Rollouts' provider: turn a query into a measurement)."""

from __future__ import annotations

from typing import Protocol

from monitor.window import WindowStats


class LogSource(Protocol):
    """Reads the backend's events in [stats.start_ms, stats.end_ms) and adds them to `stats`.

    Raises `LogGroupNotFoundError` for a missing log group (a bad argument: exit 3) and `SourceError` (with the AWS
    error code) when the read failed after retries. A read that succeeded only in part records the reason in
    `stats.problems` instead of raising, so the checks that can still judge do, and data_quality says ERROR.
    """

    name: str

    def read(self, stats: WindowStats) -> None: ...


class MetricsSource(Protocol):
    """Optional load-balancer cross-check: fills `stats.load_balancer` for the window."""

    def read(self, stats: WindowStats) -> None: ...
