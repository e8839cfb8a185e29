"""Optional cross-check: the load balancer's own view of the window, from CloudWatch metrics (AWS/ApplicationELB).

One GetMetricData call with a single period that covers the whole window (rounded up to a whole minute):
RequestCount (Sum), HTTPCode_Target_5XX_Count (Sum) and TargetResponseTime (p95, in seconds → ms). A percentile is
never averaged across periods; should CloudWatch still split the window, the largest p95 is kept (conservative) and
the number of periods is reported. The cross-check is evidence, never a gate: an AWS failure is recorded in the
figures as {"status": "error", "code": ...}; nothing is raised and the read's problems are not touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.aws import AWS_FAILURES, LazyClient, aws_error, counting
from monitor.domain.aggregate import LogWindow
from monitor.errors import MonitorError, SourceError
from monitor.sources.base import CrossCheck

NAMESPACE = "AWS/ApplicationELB"
_QUERIES = (  # (query id, metric name, statistic)
    ("requests", "RequestCount", "Sum"),
    ("errors5xx", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p95", "TargetResponseTime", "p95"),
)
_MAX_PAGES = 10


def period_seconds(start_ms: int, end_ms: int) -> int:
    """The window length in seconds, rounded up to a multiple of 60 (at least 60)."""
    seconds = max(1, -(-(end_ms - start_ms) // 1000))
    return max(60, -(-seconds // 60) * 60)


class LoadBalancerMetrics:
    """The load balancer's {requests, errors_5xx, p95_ms, calls, status} for the window."""

    name = "alb"

    def __init__(
        self,
        load_balancer: str,
        target_group: str | None = None,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
    ) -> None:
        self.load_balancer = load_balancer
        self.target_group = target_group
        self._client = LazyClient(
            "cloudwatch", client, region=region, endpoint_url=endpoint_url, max_attempts=max_attempts
        )

    def _dimensions(self) -> list[dict[str, str]]:
        dims = [{"Name": "LoadBalancer", "Value": self.load_balancer}]
        if self.target_group:
            dims.append({"Name": "TargetGroup", "Value": self.target_group})
        return dims

    def _queries(self, period: int) -> list[dict[str, Any]]:
        dims = self._dimensions()
        return [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for query_id, metric, stat in _QUERIES
        ]

    def read(self, window: LogWindow) -> CrossCheck:
        calls: dict[str, int] = {}
        try:
            client = self._client.get()
            with counting(client, calls):
                values = self._fetch(client, window)
        except AWS_FAILURES as exc:
            error = aws_error(exc, f"GetMetricData for load balancer {self.load_balancer}")
            return CrossCheck(_error_result(error, calls), calls)
        except MonitorError as exc:
            return CrossCheck(_error_result(exc, calls), calls)
        return CrossCheck(summarise(values, calls.get("GetMetricData", 0)), calls)

    def _fetch(self, client: Any, window: LogWindow) -> dict[str, list[float]]:
        kwargs: dict[str, Any] = {
            "MetricDataQueries": self._queries(period_seconds(window.start_ms, window.end_ms)),
            "StartTime": datetime.fromtimestamp(window.start_ms / 1000, UTC),
            "EndTime": datetime.fromtimestamp(window.end_ms / 1000, UTC),
            "ScanBy": "TimestampAscending",
        }
        values: dict[str, list[float]] = {query_id: [] for query_id, _, _ in _QUERIES}
        for _ in range(_MAX_PAGES):
            page = client.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", ()):
                if result.get("Id") in values:
                    values[result["Id"]].extend(float(v) for v in result.get("Values", ()))
            token = page.get("NextToken")
            if not token:
                return values
            kwargs["NextToken"] = token
        raise SourceError(f"GetMetricData for load balancer {self.load_balancer} did not finish in {_MAX_PAGES} pages")


def summarise(values: dict[str, list[float]], calls: int) -> dict[str, Any]:
    """Fold the returned series into the cross-check figures (pure; see the module docstring for the rules)."""
    requests = values.get("requests") or []
    errors = values.get("errors5xx") or []
    p95 = values.get("p95") or []
    result: dict[str, Any] = {
        "requests": round(sum(requests)) if requests else None,
        "errors_5xx": round(sum(errors)),
        "p95_ms": round(max(p95) * 1000, 3) if p95 else None,
        "calls": calls,
        "status": "ok" if requests else "nodata",
    }
    if len(p95) > 1:
        result["p95_periods"] = len(p95)
    return result


def _error_result(error: MonitorError, calls: dict[str, int]) -> dict[str, Any]:
    code = getattr(error, "code", None) or type(error).__name__
    return {
        "requests": None,
        "errors_5xx": None,
        "p95_ms": None,
        "calls": calls.get("GetMetricData", 0),
        "status": "error",
        "code": code,
        "message": str(error),
    }
