"""Reading a large `file:` export on two cores: a forked child reads the second half while this process reads the
first, and the child's aggregate is merged in (`WindowAggregate.merge`), giving exactly the sequential figures.

Used only where `fork` exists, more than one CPU is available and the file is large; otherwise the read is
sequential. Memory stays bounded: each process holds its own counters, never events.

The child dies with its parent and never outlives the read (`ReadingChild`): it asks the kernel for SIGKILL when the
parent dies (`PR_SET_PDEATHSIG`, then checks it was not orphaned before asking), closes the pipe's read end so a
write to a dead parent fails instead of blocking, replaces every inherited socket — the PostgreSQL session that holds
the checkpoint lock among them — with /dev/null so it never holds (or talks on) the parent's connections, takes the
default action on SIGTERM/SIGINT, and leaves with `os._exit` (no finalizer, no atexit hook, nothing sent on a
connection it inherited). The parent kills and reaps it in `finally`, whatever stopped the read.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from monitor.domain.aggregate import WindowAggregate
from monitor.errors import MonitorError, SourceError

PARALLEL_MIN_BYTES = 64 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_REAP_TIMEOUT_S = 5.0

ReadRange = Callable[[WindowAggregate, int, int | None], None]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_split(size: int, workers: int, min_bytes: int) -> bool:
    return workers > 1 and size >= min_bytes and hasattr(os, "fork")


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


def die_with_parent(parent: int) -> None:
    """In a forked child: be killed when `parent` dies; exit at once if it is already gone."""
    with contextlib.suppress(OSError, AttributeError):  # prctl exists on Linux only; elsewhere the pipe still breaks
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def drop_inherited_sockets(keep: int) -> int:
    """In a forked child: point every inherited socket (database sessions, HTTP connections) at /dev/null, keeping
    the descriptor numbers, so the child holds none of them open and a stray write goes nowhere. Returns how many."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    null = os.open(os.devnull, os.O_RDWR)
    dropped = 0
    try:
        for fd in fds:
            if fd in (keep, null) or fd < 3:
                continue
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.dup2(null, fd)
                    dropped += 1
    finally:
        os.close(null)
    return dropped


class ReadingChild:
    """A forked process that runs `work()` and sends back its result (or its error) through a pipe."""

    def __init__(self, work: Callable[[], Any]) -> None:
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        # Stop signals wait until the child has its own handlers (it must never run the parent's).
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the child leaves through os._exit
                self._child(work, parent, read_fd, write_fd)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(write_fd)
        self.pid = pid
        self._reader = os.fdopen(read_fd, "rb")
        self._reaped = False

    @staticmethod
    def _child(work: Callable[[], Any], parent: int, read_fd: int, write_fd: int) -> None:
        code = 1
        try:
            for signum in _STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            os.close(read_fd)  # a dead parent then breaks the pipe instead of leaving the write blocked
            die_with_parent(parent)
            drop_inherited_sockets(keep=write_fd)
            try:
                payload: tuple[str, Any] = ("ok", work())
            except MonitorError as exc:
                payload = ("error", exc)
            except BaseException as exc:  # the parent must hear about anything, never hang
                payload = ("error", SourceError(f"reading the second half failed: {type(exc).__name__}: {exc}"))
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)

    def result(self) -> tuple[str, Any]:
        """("ok", value) or ("error", MonitorError), once the child has sent it."""
        try:
            kind, payload = pickle.load(self._reader)
        except (EOFError, pickle.UnpicklingError, ValueError):
            raise SourceError("the process reading the second half of the file died") from None
        return str(kind), payload

    def stop(self, *, finished: bool) -> None:
        """Close the pipe and reap the child: wait a little when it has sent its result, kill it otherwise."""
        self._reader.close()
        if self._reaped:
            return
        deadline = time.monotonic() + (_REAP_TIMEOUT_S if finished else 0.0)
        while True:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        self._reaped = True


def read_in_two(path: Path, stats: WindowAggregate, size: int, read_range: ReadRange) -> None:
    """Read [0, middle) here and [middle, end) in a forked child, then merge the child's aggregate."""
    middle = split_point(path, size)
    if not 0 < middle < size:
        read_range(stats, 0, None)
        return
    later = stats.window.aggregate()

    def second_half() -> WindowAggregate:
        read_range(later, middle, None)
        return later

    child = ReadingChild(second_half)
    finished = False
    try:
        read_range(stats, 0, middle)
        kind, payload = child.result()
        finished = True
    finally:
        child.stop(finished=finished)
    if kind == "error":
        raise payload
    stats.merge(payload)
