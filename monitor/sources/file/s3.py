"""`file:s3://bucket/prefix/`: every object under an S3 prefix — where `aws logs create-export-task` writes
(`<prefix>/<task-id>/<log-stream>/000000.gz`, …) — listed, then streamed object by object.

The client is the one every AWS engine uses (`monitor.aws`: adaptive retries, every attempt counted into the
result's `aws_calls`). A missing bucket or an empty prefix is a configuration error (exit 3); a listing that fails
after its retries is the result's failure; an object that cannot be fetched, or whose body breaks off and cannot be
resumed, is a problem naming it, and the other objects are still read. A body that breaks off mid-stream is resumed
where it stopped with a ranged GET of the same version (`IfMatch` its ETag), so a dropped connection costs one call,
not the object.

No object is skipped by time: an export task's objects carry no event-time range (not in the key, not in the
metadata; `LastModified` is when the export ran, and events inside an object are not sorted by time), so every
object is read and each event is judged against the window by its own timestamp.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from monitor.aws import AWS_FAILURES, LazyClient, aws_error, counting
from monitor.domain.reading import SourceResult
from monitor.errors import ConfigError, SourceError
from monitor.sources.file.formats import READ_CHUNK
from monitor.sources.file.inputs import S3_SCHEME, WRITE_PROBE, Input

DEFAULT_ATTEMPTS = 8
_HINT = "check --source file:s3://BUCKET/PREFIX/"
_MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


def parse_s3_spec(spec: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; ConfigError without a bucket."""
    bucket, _, prefix = spec[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"no bucket in {spec[:80]!r} — {_HINT}")
    return bucket, prefix


class ObjectStream(io.RawIOBase):
    """The body of one S3 object, resumed with a ranged GET where it broke off (up to `attempts` times in a row)."""

    def __init__(self, client: Any, bucket: str, key: str, attempts: int) -> None:
        super().__init__()
        self._client, self.bucket, self.key, self.attempts = client, bucket, key, max(attempts, 1)
        self.offset = 0
        self._body: Any = None
        self._etag: str | None = None

    def readable(self) -> bool:
        return True

    def _fetch(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.offset:
            kwargs["Range"] = f"bytes={self.offset}-"
            if self._etag:
                kwargs["IfMatch"] = self._etag
        try:
            response = self._client.get_object(**kwargs)
        except AWS_FAILURES as exc:
            raise aws_error(exc, f"GetObject s3://{self.bucket}/{self.key}") from exc
        self._etag = response.get("ETag") or self._etag
        self._body = response["Body"]

    def readinto(self, buffer: Any) -> int:
        failure: Exception | None = None
        for _ in range(self.attempts):
            if self._body is None:
                self._fetch()
            try:
                data = self._body.read(len(buffer))
            except (*AWS_FAILURES, OSError) as exc:  # the connection broke off: resume from self.offset
                failure, self._body = exc, None
                continue
            buffer[: len(data)] = data
            self.offset += len(data)
            return len(data)
        assert failure is not None
        where = f"reading s3://{self.bucket}/{self.key} at byte {self.offset:,}"
        raise aws_error(failure, where) from failure

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


def _missing_bucket(exc: Exception) -> bool:
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    return str(error.get("Code")) in _MISSING_BUCKET


def list_objects(client: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under `prefix`, in key order, without folder markers and CloudWatch's probe."""
    found: list[tuple[str, int]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if not key.endswith("/") and key.rsplit("/", 1)[-1] != WRITE_PROBE:
                    found.append((key, int(obj.get("Size", 0))))
    except AWS_FAILURES as exc:
        if _missing_bucket(exc):
            raise ConfigError(f"bucket '{bucket}' not found — {_HINT}") from None
        raise aws_error(exc, f"ListObjectsV2 on s3://{bucket}/{prefix}") from exc
    return found


@contextmanager
def s3_inputs(spec: str, result: SourceResult, *, aws: dict[str, Any], client: Any = None) -> Iterator[list[Input]]:
    """The objects under the prefix as inputs; every S3 call made while they are read is counted into the result."""
    bucket, prefix = parse_s3_spec(spec)
    options = {"region": None, "endpoint_url": None, "max_attempts": DEFAULT_ATTEMPTS, **aws}
    s3 = LazyClient("s3", client, **options).get()
    attempts = int(options["max_attempts"])
    with counting(s3, result.aws_calls):
        try:
            objects = list_objects(s3, bucket, prefix)
        except SourceError as exc:
            result.fail(exc)
            objects = None
        if objects is not None and not objects:
            raise ConfigError(f"no objects under s3://{bucket}/{prefix} — {_HINT}")

        def opener(key: str) -> IO[bytes]:
            return io.BufferedReader(ObjectStream(s3, bucket, key, attempts), READ_CHUNK)

        yield [
            Input(f"s3://{bucket}/{key}", lambda key=key: opener(key), None, size)  # type: ignore[misc]
            for key, size in objects or ()
        ]
