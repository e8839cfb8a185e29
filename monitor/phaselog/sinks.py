"""Where the phase log lives: a local file or an S3 object. Both append whole entries or nothing.

- `FilePhaseLog` writes the new full content to a temporary file in the same directory and renames it over the log
  (`os.replace` is atomic), under an exclusive `fcntl` lock on the log file itself, so concurrent processes never
  interleave or lose an entry, a crash never leaves half an entry, and nothing but the log is left in the report
  directory (people commit those folders). As each append replaces the file, a lock won on a file that has since
  been replaced is let go and taken again on the current one.
- `S3PhaseLog` does read-modify-write with S3 conditional writes: `PutObject(IfMatch=<ETag read>)`, or
  `IfNoneMatch='*'` for a new object. A concurrent writer makes S3 answer 412 (or 409); the append then re-reads
  and tries again, a bounded number of times with jittered backoff. Without `s3:ListBucket`, S3 answers a missing
  key with 403: a first read's 403 counts as "absent", and the conditional create tells the truth (412: it exists,
  and a second 403 is an error naming the missing `s3:GetObject`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from monitor.aws import make_client
from monitor.errors import ConfigError, SinkError

CONTENT_TYPE = "text/markdown; charset=utf-8"
S3_APPEND_ATTEMPTS = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_FORBIDDEN_CODES = frozenset({"AccessDenied", "403", "Forbidden"})


class PhaseLogSink(Protocol):
    location: str

    def read(self) -> str | None:
        """The whole phase log, or None when it does not exist yet."""
        ...

    def append(self, entry: str, header: str) -> None:
        """Append one entry; a log that does not exist yet is created with `header` first."""
        ...

    def write_all(self, text: str) -> None:
        """Replace the whole log (`report --rebuild`)."""
        ...


def _safe_part(value: str) -> str:
    """A path component that cannot climb or split: only [A-Za-z0-9._-], no leading dots, never empty."""
    safe = _UNSAFE.sub("_", value)
    safe = re.sub(r"^\.+", lambda m: "_" * len(m.group()), safe)
    return safe or "_"


def phase_log_destination(template: str, feature: str, phase: str) -> str:
    """The template with `{feature}` and `{phase}` substituted by sanitised values. Raises ConfigError."""
    destination = template.replace("{feature}", _safe_part(feature)).replace("{phase}", _safe_part(phase))
    leftover = _PLACEHOLDER.search(destination)
    if leftover:
        raise ConfigError(
            f"phase log destination has unknown placeholder {leftover.group()[:40]}: use {{feature}} and {{phase}}"
        )
    if not destination.strip():
        raise ConfigError("phase log destination is empty: set --phase-log or BETA_MONITOR_PHASE_LOG")
    return destination


def open_sink(dest: str, *, s3_client: Any = None) -> PhaseLogSink:
    """The sink for a destination: `s3://bucket/key` or a local path (optionally `file://`)."""
    if dest.startswith("s3://"):
        bucket, _, key = dest[len("s3://") :].partition("/")
        if not bucket or not key or key.endswith("/"):
            raise ConfigError(f"phase log {dest[:80]!r} must look like s3://bucket/path/to/log.md")
        if s3_client is None:
            s3_client = make_client("s3", region=None, endpoint_url=None, max_attempts=8)
        return S3PhaseLog(bucket, key, s3_client)
    path = dest.removeprefix("file://")
    if not path.strip():
        raise ConfigError("phase log destination is empty: set --phase-log or BETA_MONITOR_PHASE_LOG")
    return FilePhaseLog(Path(path))


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


class FilePhaseLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def read(self) -> str | None:
        try:
            return self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise SinkError(f"cannot read phase log {self.location}: {_reason(exc)}") from exc

    def append(self, entry: str, header: str) -> None:
        with self._locked("append to"):
            current = self.read()
            # An empty file is a log not begun: the lock creates it empty when it does not exist yet.
            self._replace(current + entry if current else header + entry, "append to")

    def write_all(self, text: str) -> None:
        with self._locked("rewrite"):
            self._replace(text, "rewrite")

    def _make_parent(self, what: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            ancestors = [*reversed(self.path.parent.parents), self.path.parent]
            blocker = next((p for p in ancestors if p.exists() and not p.is_dir()), None)
            cause = f"{blocker} is not a directory" if blocker is not None else _reason(exc)
            raise SinkError(f"cannot {what} phase log {self.location}: {cause}") from exc
        except OSError as exc:
            raise SinkError(f"cannot {what} phase log {self.location}: {_reason(exc)}") from exc

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        self._make_parent(what)
        while True:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            except OSError as exc:
                raise SinkError(f"cannot {what} phase log {self.location}: {_reason(exc)}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, self.path):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the log was replaced while this process waited: lock the current one
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _replace(self, text: str, what: str) -> None:
        """Write `text` to a temporary file beside the log, flush it to disk, and rename it over the log. Whatever
        stops it (an error, a stop signal), the temporary file does not stay behind."""
        tmp = ""
        try:
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, self.path)
            tmp = ""
        except OSError as exc:
            raise SinkError(f"cannot {what} phase log {self.location}: {_reason(exc)}") from exc
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _same_file(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (not replaced, not removed)."""
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {}) or {}
    status = (exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "ClientError")


class S3PhaseLog:
    def __init__(
        self,
        bucket: str,
        key: str,
        client: Any,
        *,
        attempts: int = S3_APPEND_ATTEMPTS,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.client = client
        self.location = f"s3://{bucket}/{key}"
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._forbidden = False  # the last read took a 403 for "absent"

    def _failure(self, what: str, exc: BaseException) -> SinkError:
        detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        message = exc.response.get("Error", {}).get("Message", "") if isinstance(exc, ClientError) else str(exc)
        tail = f": {' '.join(str(message).split())[:160]}" if message else ""
        return SinkError(f"cannot {what} phase log {self.location}: {detail}{tail}")

    def _get(self, *, forbidden_as_absent: bool = True) -> tuple[str, str] | None:
        """(content, ETag) of the object, or None when it does not exist (or, with `forbidden_as_absent`, when S3
        answers 403: what it answers for a missing key to a caller without s3:ListBucket)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
            return response["Body"].read().decode("utf-8"), str(response["ETag"])
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING_CODES:
                return None
            if code in _FORBIDDEN_CODES:
                if forbidden_as_absent:
                    self._forbidden = True
                    return None
                raise SinkError(
                    f"cannot read phase log {self.location}: it exists but GetObject is denied — grant the task role "
                    f"s3:GetObject on arn:aws:s3:::{self.bucket}/{self.key}"
                ) from exc
            raise self._failure("read", exc) from exc
        except (BotoCoreError, UnicodeDecodeError) as exc:
            raise self._failure("read", exc) from exc

    def _put(self, body: str, **condition: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.key, Body=body.encode("utf-8"), ContentType=CONTENT_TYPE, **condition
        )

    def read(self) -> str | None:
        found = self._get()
        return None if found is None else found[0]

    def append(self, entry: str, header: str) -> None:
        forbidden_as_absent = True
        for attempt in range(self._attempts):
            self._forbidden = False
            current = self._get(forbidden_as_absent=forbidden_as_absent)
            try:
                if current is None:
                    self._put(header + entry, IfNoneMatch="*")
                else:
                    self._put(current[0] + entry, IfMatch=current[1])
                return
            except ClientError as exc:
                if _code(exc) not in _RACE_CODES:
                    raise self._failure("append to", exc) from exc
                if self._forbidden:  # it does exist: read it again, and this time a 403 is an error
                    forbidden_as_absent = False
                    continue
            except BotoCoreError as exc:
                raise self._failure("append to", exc) from exc
            if attempt + 1 < self._attempts:
                self._sleep(random.uniform(0, min(1.0, self._backoff_s * 2**attempt)))
        raise SinkError(
            f"cannot append to phase log {self.location}: another writer changed it on each of {self._attempts} "
            "attempts; rerun later or rebuild it with `beta-monitor report FEATURE PHASE --rebuild`"
        )

    def write_all(self, text: str) -> None:
        try:
            self._put(text)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("rewrite", exc) from exc
