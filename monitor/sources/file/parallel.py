"""Reading a large `file:` export on two cores: a forked child reads the second half while this process reads the
first, and the child's aggregate is merged in (`WindowAggregate.merge`), giving exactly the sequential figures.

Used only where `fork` exists, more than one CPU is available and the file is large; otherwise the read is
sequential. Memory stays bounded: each process holds its own counters, never events.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO

from monitor.domain.aggregate import WindowAggregate
from monitor.errors import MonitorError, SourceError

PARALLEL_MIN_BYTES = 64 * 1024 * 1024

ReadRange = Callable[[WindowAggregate, int, int | None], None]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_split(size: int, workers: int, min_bytes: int) -> bool:
    return workers > 1 and size >= min_bytes and "fork" in multiprocessing.get_all_start_methods()


def split_point(path: Path, size: int) -> int:
    """The start of the first line at or after the middle of the file."""
    with path.open("rb") as fh:
        fh.seek(size // 2)
        if size // 2 > 0:
            fh.seek(size // 2 - 1)
            fh.readline()  # finish the line the middle falls in (or just its newline)
        return fh.tell()


def lines_until(fh: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of `fh` from where it stands until `limit` bytes have been read."""
    read = 0
    for raw in fh:
        yield raw
        read += len(raw)
        if read >= limit:
            return


def _child(read_range: ReadRange, later: WindowAggregate, start: int, conn: Connection) -> None:
    try:
        read_range(later, start, None)
        conn.send(("ok", later))
    except MonitorError as exc:
        conn.send(("error", exc))
    except BaseException as exc:  # the parent must hear about anything, never hang
        conn.send(("error", SourceError(f"reading the second half failed: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def read_in_two(path: Path, stats: WindowAggregate, size: int, read_range: ReadRange) -> None:
    """Read [0, middle) here and [middle, end) in a forked child, then merge the child's aggregate."""
    middle = split_point(path, size)
    if not 0 < middle < size:
        read_range(stats, 0, None)
        return
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    later = stats.window.aggregate()
    child = context.Process(target=_child, args=(read_range, later, middle, send), daemon=True)
    child.start()
    send.close()
    try:
        read_range(stats, 0, middle)
        kind, payload = receive.recv()
    except EOFError:
        raise SourceError("the process reading the second half of the file died") from None
    finally:
        child.join(timeout=60)
    if kind == "error":
        raise payload
    stats.merge(payload)
