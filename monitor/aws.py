"""AWS plumbing shared by every adapter (log sources, the S3 phase log, notifications, `rollout set`'s caller
identity): one way to build a client and one way to turn a botocore failure into ours. boto3 is imported here only,
when the first client is built.

Retries are botocore's own (`adaptive` mode: exponential backoff plus client-side rate limiting on throttling),
never a hand loop. Every HTTP attempt is counted into the caller's `calls` dict under the operation name
(e.g. ``{"FilterLogEvents": 3}`` for one call that was throttled twice): the counter hangs on the per-attempt
`request-created` event, which fires before `before-send`, so attempts answered by a stub or fault-injection hook
are counted too. A call that gave up after N attempts therefore counts N.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from monitor.errors import ConfigError, LogGroupNotFoundError, MonitorError, SourceError
from monitor.settings import Settings

AWS_FAILURES = (ClientError, BotoCoreError)  # what a boto3 call raises when AWS or the network fails
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
_MAX_DETAIL = 200


def make_client(
    service: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    max_attempts: int,
    calls: dict[str, int] | None = None,
) -> Any:
    """A boto3 client with adaptive retries and timeouts; every attempt is counted into `calls` when given.

    `max_attempts` is the number of attempts in all (botocore's `total_max_attempts`; its `max_attempts` key
    would count retries only).

    `region` None falls back to AWS_REGION, then boto3's own resolution (AWS_DEFAULT_REGION, profile);
    `endpoint_url` None to boto3's (AWS_ENDPOINT_URL, profile).
    Raises ConfigError when no region can be found.
    """
    # Imported here, not at the top: boto3 costs ≈0.2 s and a `file:` replay or `history` never builds a client.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},  # attempts in all, the first included
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
    factory: Any = boto3.client  # typed per service by boto3-stubs; `service` is a plain str here
    region = region or os.environ.get("AWS_REGION") or None
    try:
        client = factory(service, region_name=region, endpoint_url=endpoint_url or None, config=config)
    except NoRegionError:
        raise ConfigError("no AWS region configured: set AWS_REGION") from None
    if calls is not None:
        count_calls(client, calls)
    return client


def aws_options(settings: Settings) -> dict[str, Any]:
    """Region, endpoint and attempts from the settings, as `make_client` and every AWS-backed source take them."""
    return {
        "region": settings.aws_region,
        "endpoint_url": settings.aws_endpoint_url,
        "max_attempts": settings.aws_max_attempts,
    }


def client_for(settings: Settings, service: str, calls: dict[str, int] | None = None) -> Any:
    """`make_client` with the settings' region, endpoint and attempts."""
    return make_client(service, **aws_options(settings), calls=calls)


def count_calls(client: Any, calls: dict[str, int]) -> Callable[[], None]:
    """Count every attempt of every operation of `client` (retries included) into `calls` by operation name.

    Also usable on a client the caller was handed (an injected one). Returns a function that stops the counting.
    """

    def _count(operation_name: str = "", **_: Any) -> None:
        calls[operation_name] = calls.get(operation_name, 0) + 1

    event = f"request-created.{client.meta.service_model.service_id.hyphenize()}"
    unique_id = f"beta-monitor-count-{id(calls)}"
    client.meta.events.register(event, _count, unique_id=unique_id)
    return lambda: client.meta.events.unregister(event, unique_id=unique_id)


@contextmanager
def counting(client: Any, calls: dict[str, int]) -> Iterator[None]:
    """Count the attempts of `client` into `calls` while the block runs (see `count_calls`)."""
    stop = count_calls(client, calls)
    try:
        yield
    finally:
        stop()


def client_region(client: Any) -> str:
    """The region a client talks to (for error messages)."""
    return str(getattr(client.meta, "region_name", None) or "the configured region")


def _one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_DETAIL else flat[: _MAX_DETAIL - 1] + "…"


def aws_error(
    exc: BaseException,
    what: str,
    *,
    log_group: str | None = None,
    region: str | None = None,
) -> MonitorError:
    """Map a botocore failure of `what` (e.g. "FilterLogEvents on /ecs/x") to a one-line named error.

    - ResourceNotFoundException while reading `log_group` → LogGroupNotFoundError (a bad setting: exit 3);
    - any other ClientError → SourceError(code=the AWS error code), retries already spent;
    - connection failures and timeouts → SourceError(code=the botocore exception name);
    - missing credentials → SourceError(code="NoCredentialsError") saying how to provide them.
    The caller raises the result `from exc`.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "ClientError")
        message = _one_line(str(error.get("Message") or ""))
        if code == "ResourceNotFoundException" and log_group is not None:
            return log_group_not_found(log_group, region)
        attempts = (exc.response.get("ResponseMetadata", {}) or {}).get("RetryAttempts")
        tail = f" (after {int(attempts) + 1} attempts)" if attempts else ""
        detail = f": {message}" if message else ""
        return SourceError(f"{what} failed: {code}{detail}{tail}", code=code)
    if isinstance(exc, NoCredentialsError):
        return SourceError(
            f"{what} failed: no AWS credentials found — set AWS_PROFILE or AWS credentials, or run with a task role",
            code="NoCredentialsError",
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        code = type(exc).__name__
        hint = "check the network and AWS_ENDPOINT_URL"
        return SourceError(f"{what} failed: {code}: {_one_line(str(exc))} — {hint}", code=code)
    if isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        return SourceError(f"{what} failed: {code}: {_one_line(str(exc))}", code=code)
    code = type(exc).__name__
    return SourceError(f"{what} failed: {code}: {_one_line(str(exc))}", code=code)


def log_group_not_found(log_group: str, region: str | None) -> LogGroupNotFoundError:
    where = region or "the configured region"
    return LogGroupNotFoundError(f"log group '{log_group}' not found in {where}: check BETA_MONITOR_LOG_GROUP")


class LazyClient:
    """A boto3 client built on first use with `make_client`, or the one a test injected."""

    def __init__(
        self, service: str, client: Any = None, *, region: str | None, endpoint_url: str | None, max_attempts: int
    ) -> None:
        self.service = service
        self._client = client
        self._options = {"region": region, "endpoint_url": endpoint_url, "max_attempts": max_attempts}

    def get(self) -> Any:
        if self._client is None:
            self._client = make_client(self.service, **self._options)  # type: ignore[arg-type]
        return self._client
