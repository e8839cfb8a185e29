"""Reading a large export in two halves on two cores gives exactly the figures of one sequential read."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_events import make_window, mixed_events, passenger_hash, snapshot, write_export

from monitor.errors import ConfigError
from monitor.sources.file import FileLogSource
from monitor.sources.file.parallel import lines_until, split_point

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
