"""`--source scan`: stream FilterLogEvents over the window and aggregate client-side.

Each page goes straight into `monitor.domain.contract.ingest` and is dropped, so memory stays bounded whatever the
window holds. Retries are botocore's (adaptive mode); a failure before anything was read is the result's `failure`,
a failure after some pages were read a problem saying how far the scan got (data_quality reports ERROR either way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.aws import AWS_FAILURES, LazyClient, aws_error, client_region, counting, log_group_not_found
from monitor.domain.aggregate import LogWindow
from monitor.domain.contract import ingest
from monitor.domain.reading import SourceResult
from monitor.errors import MonitorError, SourceError

DEFAULT_PAGE_SIZE = 10_000  # the FilterLogEvents maximum


class ScanLogSource:
    """Reads [window.start_ms, window.end_ms) of `log_group` with paginated FilterLogEvents (all streams,
    interleaved)."""

    name = "scan"

    def __init__(
        self,
        log_group: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
        page_size: int = DEFAULT_PAGE_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= page_size <= DEFAULT_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {DEFAULT_PAGE_SIZE}")
        self.log_group = log_group
        self._client = LazyClient("logs", client, region=region, endpoint_url=endpoint_url, max_attempts=max_attempts)
        self.page_size = page_size
        self.progress = progress

    def read(self, window: LogWindow) -> SourceResult:
        result = SourceResult.empty(window, self.name)
        client = self._client.get()
        with counting(client, result.aws_calls):
            try:
                self._check_log_group(client)
                if window.end_ms > window.start_ms:
                    self._scan(client, result)
            except SourceError as exc:
                result.fail(exc)
        return result

    def _fail(self, client: Any, exc: Exception, api: str) -> MonitorError:
        return aws_error(
            exc, f"{api} on log group '{self.log_group}'", log_group=self.log_group, region=client_region(client)
        )

    def _check_log_group(self, client: Any) -> None:
        """DescribeLogGroups by prefix, exact name match across pages; missing → LogGroupNotFoundError."""
        kwargs: dict[str, Any] = {"logGroupNamePrefix": self.log_group}
        while True:
            try:
                page = client.describe_log_groups(**kwargs)
            except AWS_FAILURES as exc:
                raise self._fail(client, exc, "DescribeLogGroups") from exc
            if any(g.get("logGroupName") == self.log_group for g in page.get("logGroups", ())):
                return
            token = page.get("nextToken")
            if not token:
                raise log_group_not_found(self.log_group, client_region(client))
            kwargs["nextToken"] = token

    def _scan(self, client: Any, result: SourceResult) -> None:
        start_ms, end_ms = result.window.start_ms, result.window.end_ms
        stats = result.aggregate
        kwargs: dict[str, Any] = {
            "logGroupName": self.log_group,
            "startTime": start_ms,
            "endTime": end_ms - 1,  # the API's endTime is inclusive; the window's end is not
            "interleaved": True,
            "limit": self.page_size,
        }
        read = 0
        while True:
            try:
                page = client.filter_log_events(**kwargs)
            except AWS_FAILURES as exc:
                error = self._fail(client, exc, "FilterLogEvents")
                if read == 0:
                    raise error from exc
                result.problems.append(f"scan stopped after {read} events: {error}")
                return
            for event in page.get("events", ()):
                ts = event.get("timestamp")
                if ts is None or not start_ms <= ts < end_ms:
                    stats.counts.outside_window += 1
                    continue
                ingest(stats, ts, event.get("message", ""))
                read += 1
            if self.progress is not None:
                self.progress(read)
            token = page.get("nextToken")
            if not token:
                return
            kwargs["nextToken"] = token
