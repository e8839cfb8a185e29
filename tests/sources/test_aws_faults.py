"""AWS failures: throttling and 5xx retried by botocore (adaptive mode), given up → named errors; error mapping.

Faults are injected with a `before-send` hook on a real client talking to moto (botocore's Stubber does not go
through the retry machinery). Every attempt is counted in the read's `aws_calls`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from botocore.retries import bucket, standard
from helpers_events import LOG_GROUP, make_window, mixed_events, put_events, recent_window, reference_stats, snapshot

from monitor.aws import aws_error, make_client
from monitor.errors import ConfigError, LogGroupNotFoundError, SourceError
from monitor.sources.scan import ScanLogSource


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore still retries and rate-limits as configured; only its waits (backoff, adaptive token bucket) are
    skipped to keep the tests quick."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(bucket.TokenBucket, "_sleep_amount", lambda self, amount: 0)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def fault(status: int, code: str, times: int, when: Callable[[Any], bool] = lambda request: True) -> Any:
    """A before-send hook answering `times` matching requests with an AWS JSON error (then letting them through)."""
    state = {"left": times}

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        if state["left"] == 0 or not when(request):
            return None
        state["left"] -= 1
        body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
        headers: Any = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "fault-injection"}
        return AWSResponse(request.url, status, headers, _Body(body))

    return hook


def logs_client(max_attempts: int = 3, calls: dict[str, int] | None = None) -> Any:
    return make_client("logs", region="eu-west-1", endpoint_url=None, max_attempts=max_attempts, calls=calls)


@pytest.fixture
def window(mock_aws_env: None) -> tuple[int, int, list[tuple[int, str]]]:
    start, end = recent_window()
    events = mixed_events(300, start, end, seed=4)
    put_events(boto3.client("logs", region_name="eu-west-1"), events, streams=2)
    return start, end, events


@pytest.mark.parametrize(
    ("status", "code"),
    [pytest.param(400, "ThrottlingException", id="throttled"), pytest.param(500, "InternalFailure", id="5xx")],
)
def test_transient_failures_are_retried(window: Any, status: int, code: str) -> None:
    start, end, events = window
    client = logs_client(max_attempts=3)
    client.meta.events.register_first("before-send.cloudwatch-logs.FilterLogEvents", fault(status, code, times=2))
    result = ScanLogSource(LOG_GROUP, client=client).read(make_window(start, end))
    assert result.aws_calls["FilterLogEvents"] == 3  # 2 failed attempts + the one that passed (a single page)
    assert snapshot(result) == snapshot(reference_stats(events, start, end))
    assert result.problems == []


@pytest.mark.parametrize(
    ("status", "code"),
    [pytest.param(400, "ThrottlingException", id="throttled"), pytest.param(500, "InternalFailure", id="5xx")],
)
def test_failures_beyond_max_attempts_are_the_reads_failure(window: Any, status: int, code: str) -> None:
    start, end, _ = window
    client = logs_client(max_attempts=3)
    client.meta.events.register_first("before-send.cloudwatch-logs.FilterLogEvents", fault(status, code, times=99))
    result = ScanLogSource(LOG_GROUP, client=client).read(make_window(start, end))
    assert isinstance(result.failure, SourceError) and result.failure.code == code
    assert result.aws_calls["FilterLogEvents"] == 3
    message = str(result.failure)
    assert "\n" not in message and code in message and LOG_GROUP in message and "after 3 attempts" in message
    assert result.problems == [f"scan read failed [{code}]: {message}"] and not result.complete


def test_failure_after_some_pages_is_a_recorded_partial_read(window: Any) -> None:
    start, end, _ = window
    client = logs_client(max_attempts=2)
    later_pages = fault(400, "ThrottlingException", times=99, when=lambda request: b"nextToken" in request.body)
    client.meta.events.register_first("before-send.cloudwatch-logs.FilterLogEvents", later_pages)
    result = ScanLogSource(LOG_GROUP, client=client, page_size=100).read(make_window(start, end))
    assert result.aggregate.counts.events == 100  # the first page only
    assert len(result.problems) == 1 and result.problems[0].startswith("scan stopped after 100 events:")
    assert "ThrottlingException" in result.problems[0]
    assert not result.complete and result.failure is None
    assert result.aws_calls["FilterLogEvents"] == 1 + 2


def test_describe_log_groups_failure_is_the_reads_failure(window: Any) -> None:
    start, end, _ = window
    client = logs_client(max_attempts=2)
    client.meta.events.register_first(
        "before-send.cloudwatch-logs.DescribeLogGroups", fault(400, "AccessDeniedException", times=99)
    )
    result = ScanLogSource(LOG_GROUP, client=client).read(make_window(start, end))
    assert result.failure is not None and result.failure.code == "AccessDeniedException"
    assert result.aws_calls == {"DescribeLogGroups": 1}  # not retryable: one attempt


def test_calls_dict_counts_every_attempt(window: Any) -> None:
    calls: dict[str, int] = {}
    client = logs_client(max_attempts=4, calls=calls)
    client.meta.events.register_first(
        "before-send.cloudwatch-logs.DescribeLogGroups", fault(400, "ThrottlingException", times=3)
    )
    client.describe_log_groups()
    assert calls == {"DescribeLogGroups": 4}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_is_a_source_error(aws_env: None) -> None:
    start, end = recent_window()
    source = ScanLogSource(
        LOG_GROUP, region="eu-west-1", endpoint_url=f"http://127.0.0.1:{_closed_port()}", max_attempts=2
    )
    result = source.read(make_window(start, end))
    assert result.failure is not None and result.failure.code == "EndpointConnectionError"
    assert "AWS_ENDPOINT_URL" in str(result.failure)
    assert result.aws_calls == {"DescribeLogGroups": 2}


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="AWS_REGION"):
        make_client("logs", region=None, endpoint_url=None, max_attempts=1)


def _client_error(code: str, message: str = "boom", attempts: int = 0) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"RetryAttempts": attempts}}
    return ClientError(response, "FilterLogEvents")


@pytest.mark.parametrize(
    ("exc", "kwargs", "kind", "code", "text"),
    [
        pytest.param(
            _client_error("ThrottlingException", "Rate exceeded", 7),
            {},
            SourceError,
            "ThrottlingException",
            "FilterLogEvents on /x failed: ThrottlingException: Rate exceeded (after 8 attempts)",
            id="client-error",
        ),
        pytest.param(
            _client_error("ResourceNotFoundException"),
            {"log_group": "/x", "region": "eu-west-1"},
            LogGroupNotFoundError,
            None,
            "log group '/x' not found in eu-west-1: check BETA_MONITOR_LOG_GROUP",
            id="missing-group",
        ),
        pytest.param(
            _client_error("ResourceNotFoundException", "no query"),
            {},
            SourceError,
            "ResourceNotFoundException",
            "FilterLogEvents on /x failed: ResourceNotFoundException: no query",
            id="not-found-without-group",
        ),
        pytest.param(
            _client_error("AccessDenied", "line one\nline two"),
            {},
            SourceError,
            "AccessDenied",
            "FilterLogEvents on /x failed: AccessDenied: line one line two",
            id="one-line",
        ),
        pytest.param(
            EndpointConnectionError(endpoint_url="http://h"),
            {},
            SourceError,
            "EndpointConnectionError",
            None,
            id="endpoint",
        ),
        pytest.param(
            ReadTimeoutError(endpoint_url="http://h"), {}, SourceError, "ReadTimeoutError", None, id="read-timeout"
        ),
        pytest.param(NoCredentialsError(), {}, SourceError, "NoCredentialsError", None, id="no-credentials"),
        pytest.param(
            RuntimeError("odd"),
            {},
            SourceError,
            "RuntimeError",
            "FilterLogEvents on /x failed: RuntimeError: odd",
            id="anything-else",
        ),
    ],
)
def test_aws_error_mapping(
    exc: BaseException, kwargs: dict[str, Any], kind: type, code: str | None, text: str | None
) -> None:
    error = aws_error(exc, "FilterLogEvents on /x", **kwargs)
    assert type(error) is kind
    assert getattr(error, "code", None) == code
    assert "\n" not in str(error)
    if text is not None:
        assert str(error) == text
