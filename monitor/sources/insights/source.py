"""`--source insights` (the default): CloudWatch Logs Insights queries aggregate server-side into a `WindowAggregate`.

The queries (`queries`) compute what `monitor.domain.contract` computes client-side; `fold` turns their rows into
the same aggregate, so both engines give identical figures on the same events.

How queries run: up to `max_concurrent` (4; the account allows ~30) at once from one thread, each polled every
`poll_interval_s` until Complete or another terminal status, all within one deadline (`timeout_s`). A Complete
result with `max_rows` rows (100,000 by default, the most StartQuery's `limit` allows, so a split — which re-scans the
range — is rare; or a `resultCount` above the rows received) may be truncated: it is split — by hash
prefix (16 ways, recursively up to 3 hex characters) for per-passenger queries, by halving the time range for the
others — and re-run, so no row is silently dropped. Failed / Cancelled / Timeout / Unknown, a result that cannot be
split further, an AWS error after retries, or the deadline each add one line to the result's `problems`
(data_quality and the log-based checks then say ERROR, never PASS); the deadline also stops the unfinished queries
(best effort). Every query, with its time range, status, rows and records matched/scanned, goes to the result's
`queries` so an operator can rerun it in the console. A missing log group raises `LogGroupNotFoundError`; an AWS
failure before any query could start is the result's `failure`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.aws import AWS_FAILURES, LazyClient, aws_error, client_region, counting
from monitor.domain.aggregate import LogWindow
from monitor.domain.reading import SourceResult
from monitor.errors import LogGroupNotFoundError, MonitorError, SourceError
from monitor.sources.insights.fold import Results, Row, add_samples, fold_results
from monitor.sources.insights.queries import HASH_SPLIT, TIME_SPLIT, QueryBuilder, QuerySpec

DEFAULT_MAX_ROWS = 100_000  # StartQuery's `limit` maximum; GetQueryResults pages them 10,000 at a time
IN_PROGRESS = ("Scheduled", "Running")
MAX_PREFIX = 3  # hex characters of hash prefix before a per-passenger query counts as unsplittable
MIN_SPLIT_MS = 2_000  # a time range shorter than this is not halved further
HEX = "0123456789abcdef"


class InsightsLogSource:
    """Reads [window.start_ms, window.end_ms) of `log_group` with Logs Insights queries (see the module doc)."""

    name = "insights"

    def __init__(
        self,
        log_group: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
        timeout_s: float = 300.0,
        poll_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_concurrent: int = 4,
    ) -> None:
        if not 1 <= max_rows <= DEFAULT_MAX_ROWS:
            raise ValueError(f"max_rows must be between 1 and {DEFAULT_MAX_ROWS}")
        if not 1 <= max_concurrent <= 30:
            raise ValueError("max_concurrent must be between 1 and 30")
        self.log_group = log_group
        self._client = LazyClient("logs", client, region=region, endpoint_url=endpoint_url, max_attempts=max_attempts)
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.sleep = sleep
        self.clock = clock
        self.max_rows = max_rows
        self.max_concurrent = max_concurrent

    def read(self, window: LogWindow) -> SourceResult:
        result = SourceResult.empty(window, self.name)
        if window.end_ms <= window.start_ms:
            return result
        client = self._client.get()
        botocore_client = hasattr(getattr(client, "meta", None), "events")
        counter: AbstractContextManager[Any] = counting(client, result.aws_calls) if botocore_client else nullcontext()
        with counter:
            try:
                self._read(client, result, count_calls=not botocore_client)
            except SourceError as exc:  # an AWS failure before any query could start
                result.fail(exc)
        return result

    def _read(self, client: Any, result: SourceResult, *, count_calls: bool) -> None:
        window = result.window
        builder = QueryBuilder(window.feature, window.route_groups, window.also_features)
        builder.check_lengths(lambda measure: QuerySpec(measure, window.start_ms, window.end_ms, 0, "f" * MAX_PREFIX))
        runner = _Runner(self, client, result, builder, count_calls=count_calls)
        results = runner.run(self._specs(window, builder))
        fold_results(result, builder, results, failed=runner.failed)
        if result.aggregate.counts.malformed and not runner.expired():
            spec = QuerySpec("malformed_samples", window.start_ms, window.end_ms)
            samples = runner.run([spec], critical=False).get("malformed_samples", [])
            add_samples(result.aggregate, [row.get("@message", "") for _, rows in samples for row in rows])

    @staticmethod
    def _specs(window: LogWindow, builder: QueryBuilder) -> list[QuerySpec]:
        start, end = window.start_ms, window.end_ms
        measures = [
            "events",
            "claims",
            "requests_by_status",
            "latency_bins",
            "cohort_requests",
            "anonymous_requests",
            "other_feature_decisions",
        ]
        if builder.prefix_routes:
            measures += ["requests_by_route", "latency_bins_by_route"]
        specs = [QuerySpec(m, start, end) for m in measures]
        for segment, (lo, hi) in enumerate(window.segment_ranges()):
            if lo < hi:
                specs.append(QuerySpec("decisions", lo, hi, segment=segment))
        return specs


@dataclass
class _Job:
    spec: QuerySpec
    text: str
    entry: dict[str, Any]
    query_id: str = ""
    rows: list[Row] = field(default_factory=list)
    truncated: bool = False


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Runner:
    """Runs query specs (≤ max_concurrent at once) to completion, splitting truncated results, within one deadline."""

    def __init__(
        self, source: InsightsLogSource, client: Any, result: SourceResult, builder: QueryBuilder, *, count_calls: bool
    ) -> None:
        self.source = source
        self.client = client
        self.result = result
        self.builder = builder
        self.count_calls = count_calls
        self.deadline = source.clock() + source.timeout_s
        self.started = 0
        self.failed: set[str] = set()  # measures with a part that failed, timed out or may be truncated

    def expired(self) -> bool:
        return self.source.clock() >= self.deadline

    def _call(self, api: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        """`call(**kwargs)`, counted under `api` when the client does not count its own attempts (a test's fake)."""
        if self.count_calls:
            self.result.count_call(api)
        return call(**kwargs)

    def _problem(self, job: _Job | None, text: str, critical: bool = True) -> None:
        if critical:
            if job is not None:
                self.failed.add(job.spec.measure)
            self.result.problems.append(text)

    def run(self, specs: list[QuerySpec], *, critical: bool = True) -> Results:
        results: Results = {}
        running: list[_Job] = []
        try:
            self._loop(deque(specs), running, results, critical)
        except KeyboardInterrupt:  # a stop signal (monitor.errors.Stopped): the queries it leaves would run on
            for job in running:
                self._stop(job)
            raise
        return results

    def _loop(self, pending: deque[QuerySpec], running: list[_Job], results: Results, critical: bool) -> None:
        """Start, poll and finish queries until none is left; `running` is kept current for a stop."""
        while pending or running:
            if self.expired():
                self._abandon(running, pending, critical)
                break
            while pending and len(running) < self.source.max_concurrent:
                job = self._start(pending.popleft(), critical)
                if job is not None:
                    running.append(job)
            still = []
            for job in running:
                if not self._poll(job, critical):
                    still.append(job)
                elif job.entry["status"] == "Complete":
                    self._finish(job, results, pending, critical)
            running[:] = still
            if running:
                self.source.sleep(self.source.poll_interval_s)

    def _start(self, spec: QuerySpec, critical: bool) -> _Job | None:
        start_s, end_s = spec.start_ms // 1000, math.ceil(spec.end_ms / 1000)  # StartQuery: inclusive seconds
        text = self.builder.text(spec)
        entry: dict[str, Any] = {
            "name": spec.name,
            "query": text,
            "start": _iso(start_s),
            "end": _iso(end_s),
            "status": "NotStarted",
            "rows": 0,
            "records_matched": 0,
            "records_scanned": 0,
            "bytes_scanned": 0,
        }
        self.result.queries.append(entry)
        job = _Job(spec, text, entry)
        try:
            response = self._call(
                "StartQuery",
                self.client.start_query,
                logGroupName=self.source.log_group,
                startTime=start_s,
                endTime=end_s,
                queryString=text,
                limit=self.source.max_rows,
            )
        except AWS_FAILURES as exc:
            error = self._error(exc, "StartQuery")
            entry["status"] = "Error"
            if isinstance(error, LogGroupNotFoundError) or self.started == 0:
                raise error from exc
            self._problem(job, f"insights query {spec.name} could not start: {error}", critical)
            return None
        self.started += 1
        job.query_id = str(response["queryId"])
        entry["status"] = "Scheduled"
        return job

    def _error(self, exc: Exception, api: str) -> MonitorError:
        what = f"{api} on log group '{self.source.log_group}'"
        region = client_region(self.client) if hasattr(self.client, "meta") else None
        return aws_error(exc, what, log_group=self.source.log_group, region=region)

    def _poll(self, job: _Job, critical: bool) -> bool:
        """One GetQueryResults (all pages once Complete). True when the job reached a terminal state."""
        try:
            response = self._call("GetQueryResults", self.client.get_query_results, queryId=job.query_id)
            status = str(response.get("status", "Unknown"))
            if status in IN_PROGRESS:
                job.entry["status"] = status
                return False
            rows = [_row(r) for r in response.get("results", ())]
            token = response.get("nextToken") if status == "Complete" else None
            while token and not self.expired():
                page = self._call(
                    "GetQueryResults", self.client.get_query_results, queryId=job.query_id, nextToken=token
                )
                rows += [_row(r) for r in page.get("results", ())]
                token = page.get("nextToken")
        except AWS_FAILURES as exc:
            job.entry["status"] = "Error"
            error = self._error(exc, "GetQueryResults")
            self._problem(job, f"insights query {job.spec.name} failed: {error}", critical)
            self._stop(job)
            return True
        statistics = response.get("statistics") or {}
        job.rows = rows
        job.entry.update(
            status=status,
            rows=len(rows),
            records_matched=int(statistics.get("recordsMatched", 0)),
            records_scanned=int(statistics.get("recordsScanned", 0)),
            bytes_scanned=int(statistics.get("bytesScanned", 0)),
        )
        if status != "Complete":
            self._problem(job, f"insights query {job.spec.name} ended {status}: its figures are missing", critical)
            return True
        result_count = statistics.get("resultCount")
        job.truncated = (
            bool(token)
            or len(rows) >= self.source.max_rows
            or (result_count is not None and int(result_count) > len(rows))
        )
        return True

    def _finish(self, job: _Job, results: Results, pending: deque[QuerySpec], critical: bool) -> None:
        spec = job.spec
        if not job.truncated:
            results.setdefault(spec.measure, []).append((spec, job.rows))
            return
        job.entry["status"] = "Truncated"
        children = self._split(spec)
        if children:
            pending.extend(children)
            return
        results.setdefault(spec.measure, []).append((spec, job.rows))
        self._problem(
            job,
            f"insights query {spec.name} returned {len(job.rows)} rows (the row limit) and cannot be "
            "split further: its figures may be truncated",
            critical,
        )

    def _split(self, spec: QuerySpec) -> list[QuerySpec]:
        kind = self.builder.split_kind(spec.measure)
        if kind == HASH_SPLIT and len(spec.prefix) < MAX_PREFIX:
            return [QuerySpec(spec.measure, spec.start_ms, spec.end_ms, spec.segment, spec.prefix + c) for c in HEX]
        if kind == TIME_SPLIT and spec.end_ms - spec.start_ms >= MIN_SPLIT_MS:
            mid = (spec.start_ms + spec.end_ms) // 2
            return [
                QuerySpec(spec.measure, spec.start_ms, mid, spec.segment, spec.prefix),
                QuerySpec(spec.measure, mid, spec.end_ms, spec.segment, spec.prefix),
            ]
        return []

    def _stop(self, job: _Job) -> None:
        """StopQuery, best effort: a query that already ended, or an endpoint without StopQuery (moto), is fine."""
        with suppress(Exception):  # best effort by design: the problem is already recorded
            self._call("StopQuery", self.client.stop_query, queryId=job.query_id)

    def _abandon(self, running: list[_Job], pending: deque[QuerySpec], critical: bool) -> None:
        for job in running:
            job.entry["status"] = "Stopped"
            self._stop(job)
            self.failed.add(job.spec.measure)
        names = [job.spec.name for job in running] + [spec.name for spec in pending]
        self.failed.update(spec.measure for spec in pending)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        self._problem(
            None, f"insights queries unfinished after the {self.source.timeout_s:g}s deadline: {shown}", critical
        )


def _row(fields: Any) -> Row:
    return {str(f.get("field")): str(f.get("value", "")) for f in fields if isinstance(f, dict) and "field" in f}
