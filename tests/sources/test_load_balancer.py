"""Load-balancer cross-check: one GetMetricData over the window (moto for sums, a recorded p95), never fatal."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from helpers_events import make_window, recent_window

from monitor.domain import SourceResult
from monitor.sources.metrics.load_balancer import LoadBalancerMetrics, period_seconds, summarise

LB = "app/kaviar-backend/50dc6c495c0c9188"
TG = "targetgroup/kaviar-backend/73e2d6bc24d8a067"


def cloudwatch() -> Any:
    return boto3.client("cloudwatch", region_name="eu-west-1")


def put(metric: str, values: list[float], end_ms: int, dims: list[dict[str, str]] | None = None) -> None:
    at = datetime.fromtimestamp(end_ms / 1000, UTC)
    cloudwatch().put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": dims or [{"Name": "LoadBalancer", "Value": LB}],
                "Timestamp": at - timedelta(minutes=5 + i),
                "Value": v,
                "Unit": "Count",
            }
            for i, v in enumerate(values)
        ],
    )


class RecordedPercentile:
    """moto computes no percentiles: take the p95 query out before the call and answer it from a recorded result
    after (what CloudWatch returned for a real ALB). Also keeps the parameters the source sent."""

    def __init__(self, client: Any, seconds: list[float]) -> None:
        self.sent: list[dict[str, Any]] = []
        self.seconds = seconds
        client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", self.before)
        client.meta.events.register("after-call.cloudwatch.GetMetricData", self.after)

    def before(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append({**params, "MetricDataQueries": list(params["MetricDataQueries"])})
        params["MetricDataQueries"] = [q for q in params["MetricDataQueries"] if q["MetricStat"]["Stat"] != "p95"]

    def after(self, parsed: dict[str, Any], **_: Any) -> None:
        stamps = [datetime.now(UTC)] * len(self.seconds)
        parsed["MetricDataResults"].append(
            {
                "Id": "p95",
                "Label": "TargetResponseTime p95",
                "Timestamps": stamps,
                "Values": self.seconds,
                "StatusCode": "Complete",
            }
        )


def make_stats(start: int, end: int) -> SourceResult:
    """A complete log read of the window, for the cross-check to be attached to."""
    return SourceResult.empty(make_window(start, end), "scan")


def cross_check(stats: SourceResult, source: LoadBalancerMetrics) -> None:
    stats.cross_check(*source.read(stats.window))


def read(stats: SourceResult, p95_seconds: list[float], target_group: str | None = None) -> RecordedPercentile:
    client = cloudwatch()
    recorded = RecordedPercentile(client, p95_seconds)
    cross_check(stats, LoadBalancerMetrics(LB, target_group, client=client))
    return recorded


@pytest.mark.usefixtures("mock_aws_env")
def test_requests_errors_and_p95_in_one_call() -> None:
    start, end = recent_window()
    put("RequestCount", [1200, 800], end)
    put("HTTPCode_Target_5XX_Count", [3, 4], end)
    stats = make_stats(start, end)
    recorded = read(stats, [0.2504])
    assert stats.load_balancer == {"requests": 2000, "errors_5xx": 7, "p95_ms": 250.4, "calls": 1, "status": "ok"}
    assert stats.aws_calls == {"GetMetricData": 1}
    assert stats.problems == []
    (sent,) = recorded.sent
    queries = {q["Id"]: q["MetricStat"] for q in sent["MetricDataQueries"]}
    assert {i: (q["Metric"]["MetricName"], q["Stat"], q["Period"]) for i, q in queries.items()} == {
        "requests": ("RequestCount", "Sum", 3600),
        "errors5xx": ("HTTPCode_Target_5XX_Count", "Sum", 3600),
        "p95": ("TargetResponseTime", "p95", 3600),
    }
    assert queries["requests"]["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": LB}]
    assert sent["StartTime"].timestamp() * 1000 == start and sent["EndTime"].timestamp() * 1000 == end


@pytest.mark.usefixtures("mock_aws_env")
def test_traffic_without_5xx_series_counts_zero_errors() -> None:
    start, end = recent_window()
    put("RequestCount", [500], end)
    stats = make_stats(start, end)
    read(stats, [0.1])
    assert stats.load_balancer is not None
    assert (stats.load_balancer["requests"], stats.load_balancer["errors_5xx"]) == (500, 0)
    assert stats.load_balancer["status"] == "ok"


@pytest.mark.usefixtures("mock_aws_env")
def test_no_request_series_is_nodata() -> None:
    start, end = recent_window()
    stats = make_stats(start, end)
    read(stats, [])
    assert stats.load_balancer == {"requests": None, "errors_5xx": 0, "p95_ms": None, "calls": 1, "status": "nodata"}


@pytest.mark.usefixtures("mock_aws_env")
def test_target_group_dimension() -> None:
    start, end = recent_window()
    dims = [{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": TG}]
    put("RequestCount", [42], end, dims)
    put("RequestCount", [1000], end)  # the load balancer as a whole: not this target group
    stats = make_stats(start, end)
    recorded = read(stats, [0.05], target_group=TG)
    assert stats.load_balancer is not None and stats.load_balancer["requests"] == 42
    assert recorded.sent[0]["MetricDataQueries"][0]["MetricStat"]["Metric"]["Dimensions"] == dims


@pytest.mark.usefixtures("mock_aws_env")
def test_aws_error_is_recorded_not_raised() -> None:
    start, end = recent_window()
    client = cloudwatch()
    stats = make_stats(start, end)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_metric_data", service_error_code="AccessDenied", service_message="not authorized", http_status_code=403
        )
        cross_check(stats, LoadBalancerMetrics(LB, client=client))
    assert stats.load_balancer is not None
    assert stats.load_balancer["status"] == "error" and stats.load_balancer["code"] == "AccessDenied"
    assert "\n" not in stats.load_balancer["message"]
    assert stats.problems == []


def test_unreachable_endpoint_is_recorded(aws_env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start, end = recent_window()
    stats = make_stats(start, end)
    cross_check(
        stats, LoadBalancerMetrics(LB, region="eu-west-1", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    )
    assert stats.load_balancer is not None
    assert stats.load_balancer["status"] == "error"
    assert stats.load_balancer["code"] == "EndpointConnectionError"
    assert stats.load_balancer["calls"] == 1
    assert stats.problems == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(3600, 3600, id="an-hour"),
        pytest.param(90, 120, id="rounded-up"),
        pytest.param(3601, 3660, id="just-over"),
        pytest.param(1, 60, id="at-least-a-minute"),
    ],
)
def test_period_covers_the_window(seconds: int, expected: int) -> None:
    assert period_seconds(0, seconds * 1000) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {"requests": [10.0], "errors5xx": [], "p95": [0.3]},
            {"requests": 10, "errors_5xx": 0, "p95_ms": 300.0, "calls": 1, "status": "ok"},
            id="ok",
        ),
        pytest.param(
            {"requests": [], "errors5xx": [], "p95": []},
            {"requests": None, "errors_5xx": 0, "p95_ms": None, "calls": 1, "status": "nodata"},
            id="nodata",
        ),
        pytest.param(
            {"requests": [10.0, 5.0], "errors5xx": [1.0, 1.0], "p95": [0.2, 0.4]},
            {"requests": 15, "errors_5xx": 2, "p95_ms": 400.0, "calls": 1, "status": "ok", "p95_periods": 2},
            id="split-window-keeps-the-largest-p95",
        ),
    ],
)
def test_summarise(values: dict[str, list[float]], expected: dict[str, Any]) -> None:
    assert summarise(values, 1) == expected
