"""What a `file:` source reads — one local file, every file under a directory, every object under an S3 prefix —
and what the engine says about each input it read: its format, where it broke off, whether it could be read at all.

`file:DIR/` reads every regular file under DIR, recursively, in sorted path order (the layout of an export task
copied down with `aws s3 sync`: `<task-id>/<stream>/000000.gz`, …); `file:s3://bucket/prefix/` reads the objects
under the prefix in key order, streamed one by one (`monitor.sources.file.s3`, imported only then). CloudWatch's
permission probe `aws-logs-write-test` is skipped in both, and hidden files in a directory.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from monitor.domain.aggregate import WindowAggregate
from monitor.domain.reading import FILE_FORMATS, SourceResult
from monitor.errors import ConfigError, MonitorError, SourceError
from monitor.sources.file.formats import BrokenDocumentError, describe_line, first_line

S3_SCHEME = "s3://"
WRITE_PROBE = "aws-logs-write-test"  # CloudWatch writes it beside an export to check its permission on the bucket
MAX_NOTES = 5
# An input that breaks off while it is read: what was read counts, the rest is a problem of the result.
STREAM_FAILURES = (EOFError, zlib.error, gzip.BadGzipFile, BrokenDocumentError)


@dataclass(frozen=True)
class Input:
    """One file or object to read: `name` is what the operator is told, `path` is set for a local file (which may
    be read in two halves), `size` in bytes."""

    name: str
    opener: Callable[[], IO[bytes]]
    path: Path | None = None
    size: int = 0

    def open(self) -> IO[bytes]:
        return self.opener()

    def unreadable(self, exc: OSError) -> ConfigError:
        reason = exc.strerror or type(exc).__name__
        return ConfigError(f"cannot read events file {self.name}: {reason} — check --source file:PATH")


def _local(path: Path) -> Input:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Input(str(path), lambda: path.open("rb")).unreadable(exc) from None
    return Input(str(path), lambda: path.open("rb"), path, size)


def _skipped(relative: Path) -> bool:
    """CloudWatch's probe, and hidden files and folders (`.DS_Store`, `.git/`): never part of an export."""
    return relative.name == WRITE_PROBE or any(part.startswith(".") for part in relative.parts)


def local_inputs(path: Path) -> list[Input]:
    """The file at `path`, or every regular file under the directory `path` in sorted order. ConfigError when there
    is nothing to read."""
    if not path.is_dir():
        return [_local(path)]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _skipped(p.relative_to(path)))
    if not files:
        raise ConfigError(f"no files under the directory {path} — check --source file:PATH")
    return [_local(p) for p in files]


# -- reading one input ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputCounts:
    """Lines read (events in and outside the window) and lines in no format the engine reads."""

    lines: int
    unrecognised: int

    @classmethod
    def of(cls, stats: WindowAggregate) -> InputCounts:
        counts = stats.counts
        return cls(counts.events + counts.outside_window, counts.unrecognised)

    def __sub__(self, before: InputCounts) -> InputCounts:
        return InputCounts(self.lines - before.lines, self.unrecognised - before.unrecognised)


def guarded(lines: Iterable[Any], failures: list[Exception]) -> Iterator[Any]:
    """`lines` until one fails to be read; the failure goes into `failures` and the lines read so far still count."""
    try:
        yield from lines
    except (*STREAM_FAILURES, SourceError, OSError) as exc:
        failures.append(exc)


def as_lines(events: Iterable[Any]) -> Iterator[Any]:
    """A document's events for the line reader: an object as it is, anything else as the JSON line it was."""
    for event in events:
        yield event if type(event) is dict else orjson.dumps(event)


def describe_failure(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"
    flat = " ".join(text.split())
    return flat[:300]


def note_unrecognised(result: SourceResult, item: Input, head: bytes, read: InputCounts) -> None:
    """Record an input whose lines are mostly in no format the engine reads, with the shape of its first line."""
    if read.lines <= 0 or read.unrecognised * 2 <= read.lines or len(result.unreadable) >= MAX_NOTES:
        return
    result.unreadable.append(
        f"{item.name}: {read.unrecognised:,} of {read.lines:,} lines in no format beta-monitor reads "
        f"(first line: {describe_line(first_line(head))})"
    )


def judge_inputs(result: SourceResult) -> None:
    """Nothing recognised at all is a failed read (data_quality ERROR), never a quiet "no traffic"."""
    counts = result.aggregate.counts
    recognised = counts.events + counts.outside_window - counts.unrecognised
    if counts.unrecognised and recognised <= 0 and result.unreadable:
        result.problems.append(f"nothing readable: {result.unreadable[0]}; {FILE_FORMATS}")
