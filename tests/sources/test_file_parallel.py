"""Reading a large export in two halves on two cores gives exactly the figures of one sequential read."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from helpers_events import make_window, mixed_events, passenger_hash, snapshot, write_export

from monitor.domain import WindowAggregate
from monitor.errors import ConfigError, SourceError, Stopped
from monitor.sources.file import FileLogSource
from monitor.sources.file.parallel import lines_until, read_in_two, split_point

START, END = 1_700_000_000_000, 1_700_003_600_000


@pytest.mark.parametrize("style", ["wrapper", "object", "plain"])
def test_two_halves_equal_one_read(tmp_path: Path, style: str) -> None:
    events = mixed_events(3000, START - 60_000, END + 60_000, seed=3)  # some outside the window
    path = write_export(tmp_path / "events.jsonl", events, style=style)
    kwargs = {"allowlist": [passenger_hash(1), passenger_hash(2)], "segment_bounds": [START + 900_000, START + 960_000]}
    sequential = FileLogSource(path, workers=1).read(make_window(START, END, **kwargs))
    parallel = FileLogSource(path, workers=2, parallel_min_bytes=1).read(make_window(START, END, **kwargs))
    assert snapshot(parallel) == snapshot(sequential)
    one, two = sequential.aggregate.counts, parallel.aggregate.counts
    assert two.malformed_samples == one.malformed_samples  # file order kept across the halves
    assert one.events > 0 and one.malformed > 0


@pytest.mark.parametrize("content", [b"a\nbb\nccc\n", b"one long line without newline", b"\n\n\n\n", b"x\n"])
def test_split_point_starts_a_line_and_halves_cover_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    middle = split_point(path, len(content))
    assert middle == len(content) or middle == 0 or content[middle - 1 : middle] == b"\n"
    with path.open("rb") as fh:
        first = b"".join(lines_until(fh, middle)) if middle else b""
    assert first + content[middle:] == content


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read events file"):
        FileLogSource(tmp_path / "missing.jsonl", workers=2, parallel_min_bytes=1).read(make_window(START, END))


def _lines(tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(b'{"type": "other", "n": %d}\n' % i for i in range(200)))
    return path, path.stat().st_size


def _children() -> set[int]:
    """This thread's live child processes (a session fixture's server started by this worker is one of them, so
    tests compare against what was there before)."""
    pid = os.getpid()
    return {int(p) for p in Path(f"/proc/{pid}/task/{threading.get_native_id()}/children").read_text().split()}


def test_the_child_holds_none_of_the_parents_sockets(tmp_path: Path) -> None:
    """The parent's sockets (its PostgreSQL session holding the checkpoint lock among them) are not the child's to
    hold open or to write on: it sees /dev/null in their place."""
    path, size = _lines(tmp_path)
    left, right = socket.socketpair()

    def read_range(stats: WindowAggregate, start: int, end: int | None) -> None:
        if start == 0:
            return
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
        sockets = []
        for fd in fds:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    sockets.append(fd)
        os.write(left.fileno(), b"written by the child")  # lands in /dev/null, not on the parent's socket
        raise SourceError(f"sockets in the child: {len(sockets)}")

    with left, right:
        with pytest.raises(SourceError, match=r"^sockets in the child: 0$"):
            read_in_two(path, make_window(START, END).aggregate(), size, read_range)
        left.sendall(b"parent")
        assert right.recv(100) == b"parent"  # the parent's socket is intact and carried nothing from the child


def test_the_child_is_killed_and_reaped_when_the_parent_stops(tmp_path: Path) -> None:
    path, size = _lines(tmp_path)
    before = _children()

    def read_range(stats: WindowAggregate, start: int, end: int | None) -> None:
        if start == 0:
            raise Stopped("SIGTERM")  # what the parent raises on a stop signal, mid-read
        time.sleep(120)

    with pytest.raises(Stopped):
        read_in_two(path, make_window(START, END).aggregate(), size, read_range)
    assert _children() == before


def test_a_child_that_dies_is_a_source_error(tmp_path: Path) -> None:
    path, size = _lines(tmp_path)
    before = _children()

    def read_range(stats: WindowAggregate, start: int, end: int | None) -> None:
        if start != 0:
            os._exit(9)

    with pytest.raises(SourceError, match="the process reading the second half of the file died"):
        read_in_two(path, make_window(START, END).aggregate(), size, read_range)
    assert _children() == before
