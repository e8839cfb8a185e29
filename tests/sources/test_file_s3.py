"""`file:s3://bucket/prefix/`: an export task's objects on S3 (moto in-process), read object by object with the
AWS engines' client (adaptive retries, every attempt counted); failures are problems, a missing bucket exit 3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ResponseStreamingError
from botocore.retries import bucket, standard
from helpers_events import make_window, mixed_events, reference_stats, snapshot
from helpers_formats import TASK_ID, export_layout

from monitor.aws import make_client
from monitor.domain import SourceResult
from monitor.errors import ConfigError
from monitor.sources.file import FileLogSource

START, END = 1_700_000_000_000, 1_700_003_600_000
EVENTS = mixed_events(1500, START - 60_000, END + 60_000, seed=23)
BUCKET, PREFIX = "incident-exports", "exports/backend"
IN_READING_ORDER = [e for i in range(2) for e in EVENTS[i::2]]  # object by object, in key order


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(bucket.TokenBucket, "_sleep_amount", lambda self, amount: 0)


@pytest.fixture
def exported(mock_aws_env: None) -> Any:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key, data in export_layout(EVENTS, streams=2).items():
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=data)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/aws-logs-write-test", Body=b"Permission Check Successful")
    s3.put_object(Bucket=BUCKET, Key="exports/other-group/x/000000.gz", Body=b"not ours")
    return s3


def client(max_attempts: int = 3) -> Any:
    return make_client("s3", region="eu-west-1", endpoint_url=None, max_attempts=max_attempts)


def read(spec: str, s3: Any = None) -> SourceResult:
    return FileLogSource(spec, s3_client=s3 or client()).read(make_window(START, END))


def test_an_export_prefix_reads_like_the_events_themselves(exported: Any) -> None:
    result = read(f"s3://{BUCKET}/{PREFIX}/")
    assert snapshot(result) == snapshot(reference_stats(IN_READING_ORDER, START, END))
    assert result.aws_calls == {"ListObjectsV2": 1, "GetObject": 2}
    assert result.inputs == {"CloudWatch export-task lines, gzip": 2}
    assert result.aggregate.counts.outside_window > 0 and result.aggregate.requests > 500


def test_listing_pages_are_followed(exported: Any) -> None:
    for n in range(1001):  # more than one ListObjectsV2 page of empty objects beside the export
        exported.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{TASK_ID}/zz-empty/{n:06d}.gz", Body=b"")
    result = read(f"s3://{BUCKET}/{PREFIX}/")
    assert result.aws_calls["ListObjectsV2"] == 2 and result.aws_calls["GetObject"] == 1003
    assert snapshot(result) == snapshot(reference_stats(IN_READING_ORDER, START, END))


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        pytest.param("s3://no-such-bucket/x/", "bucket 'no-such-bucket' not found", id="missing-bucket"),
        pytest.param(f"s3://{BUCKET}/nothing-here/", f"no objects under s3://{BUCKET}/nothing-here/", id="empty"),
        pytest.param("s3:///x", "no bucket in", id="no-bucket"),
    ],
)
def test_a_bad_prefix_is_a_one_line_config_error(exported: Any, spec: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        read(spec)
    assert says in str(err.value) and "file:s3://BUCKET/PREFIX/" in str(err.value) and "\n" not in str(err.value)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def s3_fault(status: int, code: str, when: Callable[[Any], bool]) -> Any:
    def hook(request: Any, **_: Any) -> AWSResponse | None:
        if not when(request):
            return None
        body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Body(body))

    return hook


def test_an_object_that_cannot_be_fetched_is_a_problem_and_the_rest_is_read(exported: Any) -> None:
    s3 = client(max_attempts=3)
    bad = "backend-task-0"
    s3.meta.events.register_first("before-send.s3.GetObject", s3_fault(500, "InternalError", lambda r: bad in r.url))
    result = read(f"s3://{BUCKET}/{PREFIX}/", s3)
    assert result.aws_calls == {"ListObjectsV2": 1, "GetObject": 3 + 1}  # three attempts on the bad one
    assert len(result.problems) == 1
    problem = result.problems[0]
    key = f"s3://{BUCKET}/{PREFIX}/{TASK_ID}/{bad}/000000.gz"
    assert problem.startswith(f"file read failed [InternalError]: {key}: read stopped after 0 lines")
    assert result.failure is not None and result.failure.code == "InternalError"
    assert snapshot(result)["events"] == snapshot(reference_stats(EVENTS[1::2], START, END))["events"]


def test_a_listing_that_fails_is_the_reads_failure(exported: Any) -> None:
    s3 = client(max_attempts=2)
    s3.meta.events.register_first("before-send.s3.ListObjectsV2", s3_fault(403, "AccessDenied", lambda r: True))
    result = read(f"s3://{BUCKET}/{PREFIX}/", s3)
    assert result.failure is not None and result.failure.code == "AccessDenied"
    assert result.problems[0].startswith("file read failed [AccessDenied]: ListObjectsV2 on s3://")
    assert result.aws_calls == {"ListObjectsV2": 1} and result.aggregate.counts.events == 0


class _BreakingBody:
    """A body that drops the connection after `after` bytes, the way urllib3 would."""

    def __init__(self, body: Any, after: int) -> None:
        self.body, self.after = body, after

    def read(self, n: int) -> bytes:
        if self.after <= 0:
            raise ResponseStreamingError(error="connection reset by peer")
        data = self.body.read(min(n, self.after))
        self.after -= len(data)
        return data

    def close(self) -> None:
        self.body.close()


class _Flaky:
    """The real client, whose first GetObject body of each key breaks off part way."""

    def __init__(self, real: Any, after: int) -> None:
        self.real, self.after = real, after
        self.broken: set[str] = set()
        self.ranges: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_object(self, **kwargs: Any) -> Any:
        response = self.real.get_object(**kwargs)
        if "Range" in kwargs:
            self.ranges.append(kwargs["Range"])
        if kwargs["Key"] not in self.broken:
            self.broken.add(kwargs["Key"])
            response["Body"] = _BreakingBody(response["Body"], self.after)
        return response


def test_a_body_that_breaks_off_is_resumed_where_it_stopped(exported: Any) -> None:
    flaky = _Flaky(client(), after=700)
    result = read(f"s3://{BUCKET}/{PREFIX}/", flaky)
    assert result.problems == []
    assert flaky.ranges == ["bytes=700-", "bytes=700-"]  # one ranged GET per object, from the byte it stopped at
    assert result.aws_calls == {"ListObjectsV2": 1, "GetObject": 4}
    assert snapshot(result) == snapshot(reference_stats(IN_READING_ORDER, START, END))
