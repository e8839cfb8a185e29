"""The `file:` engine reads what AWS exports, by content: the same events in every format give exactly the figures
of our wrapper lines (and of the contract applied event by event); a window cutting an export counts only the
inside; an input it cannot read is said so, never a quiet "no traffic"."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from helpers_events import make_window, mixed_events, passenger_hash, reference_stats, request_message, snapshot
from helpers_formats import (
    TASK_ID,
    cli_document,
    every_format,
    export_layout,
    export_task_lines,
    iso,
    wrapper_lines,
    write_layout,
)

from monitor.domain import SourceResult
from monitor.sources.file import FileLogSource
from monitor.sources.file import formats as file_formats
from monitor.sources.file.formats import ExportStamps, describe_line, document_events, is_document

START, END = 1_700_000_000_000, 1_700_003_600_000
EVENTS = mixed_events(2500, START - 120_000, END + 120_000, seed=13)  # some before and after the window
ALLOW = [passenger_hash(1), passenger_hash(2)]
BOUNDS = [START + 900_000]


def read(path: Path, **kwargs: object) -> SourceResult:
    return FileLogSource(path, **kwargs).read(make_window(START, END, allowlist=ALLOW, segment_bounds=BOUNDS))  # type: ignore[arg-type]


def reference(events: list[tuple[int, str]]) -> dict[str, object]:
    return snapshot(reference_stats(events, START, END, allowlist=ALLOW, segment_bounds=BOUNDS))


@pytest.mark.parametrize("name", list(every_format(EVENTS[:5])))
def test_every_format_gives_the_wrapper_figures(tmp_path: Path, name: str) -> None:
    formats = every_format(EVENTS)
    path = tmp_path / "export.bin"  # the name says nothing: the content decides
    path.write_bytes(formats[name])
    got = read(path)
    wrapper = tmp_path / "wrapper.jsonl"
    wrapper.write_bytes(formats["wrapper"])
    assert snapshot(got) == snapshot(read(wrapper)) == reference(EVENTS)
    counts = got.aggregate.counts
    assert counts.outside_window > 0 and counts.events > 2000 and counts.malformed > 0 and counts.unrecognised == 0
    assert got.problems == [] and got.unreadable == [] and sum(got.inputs.values()) == 1


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("wrapper", "export wrapper lines"),
        ("export-task-gzip", "CloudWatch export-task lines, gzip"),
        ("filter-log-events-pages", "AWS CLI JSON documents"),
        ("events-array", "AWS CLI JSON documents"),
    ],
)
def test_the_format_found_is_reported(tmp_path: Path, name: str, label: str) -> None:
    path = tmp_path / "in"
    path.write_bytes(every_format(EVENTS[:50])[name])
    result = read(path)
    assert result.inputs == {label: 1}
    assert result.metrics()["inputs"] == {label: 1}


def test_a_window_cutting_an_export_in_half_counts_only_the_inside(tmp_path: Path) -> None:
    events = mixed_events(3000, START - 3_600_000, END, seed=17)  # two hours; the window is the second
    inside = [e for e in events if START <= e[0] < END]
    path = tmp_path / "000000.gz"
    path.write_bytes(gzip.compress(export_task_lines(events)))
    result = read(path)
    counts = result.aggregate.counts
    assert counts.outside_window == len(events) - len(inside) > 1000
    assert counts.events == len(inside) > 1000
    assert (counts.first_event_ms, counts.last_event_ms) == (min(t for t, _ in inside), max(t for t, _ in inside))
    assert snapshot(result) == reference(events)


def test_a_directory_in_the_export_layout(tmp_path: Path) -> None:
    objects = export_layout(EVENTS, streams=2)
    root = write_layout(tmp_path / "export", objects)
    (root / "aws-logs-write-test").write_text("Permission Check Successful")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / ".sync").mkdir()
    (root / ".sync" / "state").write_text("a,b,c\n")
    result = read(root)
    in_reading_order = [e for i in range(2) for e in EVENTS[i::2]]  # stream by stream, in key order
    assert snapshot(result) == reference(in_reading_order)
    assert result.inputs == {"CloudWatch export-task lines, gzip": 2} and result.unreadable == []
    assert sorted(objects) == [f"{TASK_ID}/backend-task-0/000000.gz", f"{TASK_ID}/backend-task-1/000000.gz"]


def test_lines_of_different_formats_in_one_file(tmp_path: Path) -> None:
    lines = wrapper_lines(EVENTS[0::3]) + export_task_lines(EVENTS[1::3]) + wrapper_lines(EVENTS[2::3])
    path = tmp_path / "mixed.log"
    path.write_bytes(lines)
    assert snapshot(read(path)) == reference(EVENTS[0::3] + EVENTS[1::3] + EVENTS[2::3])


def test_two_cores_on_export_task_lines_equal_one(tmp_path: Path) -> None:
    path = tmp_path / "export.log"
    path.write_bytes(export_task_lines(EVENTS))
    assert snapshot(read(path, workers=2, parallel_min_bytes=1)) == snapshot(read(path, workers=1)) == reference(EVENTS)


# -- an input it cannot read -----------------------------------------------------------------------------------------


def csv_lines(n: int) -> bytes:
    rows = [f"{iso(START + i)},{passenger_hash(i)},GET,/api/matching,200" for i in range(n)]
    return ("timestamp,passenger,method,path,status\n" + "\n".join(rows) + "\n").encode()


def test_a_csv_is_a_failed_read_naming_what_it_saw(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(csv_lines(999))
    result = read(path)
    counts = result.aggregate.counts
    assert counts.unrecognised == counts.events == 1000 and result.aggregate.requests == 0
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.startswith(f"nothing readable: {path}: 1,000 of 1,000 lines in no format beta-monitor reads")
    assert "first line: CSV-like: 5 ','-separated fields" in problem
    assert "accepted: {timestamp, message} lines" in problem and "filter-log-events" in problem
    assert passenger_hash(1) not in problem and "/api/matching" not in problem  # shapes, never values


def test_a_mostly_unreadable_input_beside_a_good_one_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-good.jsonl").write_bytes(wrapper_lines(EVENTS))
    (tmp_path / "b-bad.csv").write_bytes(csv_lines(50))
    result = read(tmp_path)
    assert result.problems == []
    assert result.unreadable == [
        f"{tmp_path / 'b-bad.csv'}: 51 of 51 lines in no format beta-monitor reads "
        "(first line: CSV-like: 5 ','-separated fields)"
    ]
    assert result.aggregate.counts.unrecognised == 51


def test_a_few_unrecognised_lines_are_counted_not_flagged(tmp_path: Path) -> None:
    path = tmp_path / "plain.log"
    path.write_bytes(b"INFO booting\n" + wrapper_lines(EVENTS[:100]))
    result = read(path)
    assert result.aggregate.counts.unrecognised == 1 and result.unreadable == [] and result.problems == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(gzip.compress(export_task_lines(EVENTS))[:-200], "EOFError", id="truncated-gzip"),
        pytest.param(cli_document(EVENTS)[:-5000], "BrokenDocumentError", id="truncated-document"),
        pytest.param(cli_document(EVENTS[:10]) + b"oops\n", "BrokenDocumentError", id="text-after-a-document"),
    ],
)
def test_an_input_that_breaks_off_is_a_problem_and_what_came_before_counts(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "broken"
    path.write_bytes(content)
    result = read(path)
    assert len(result.problems) == 1 and says in result.problems[0]
    assert result.problems[0].startswith(f"{path}: read stopped after ")
    assert result.aggregate.counts.events + result.aggregate.counts.outside_window > 0


# -- the pieces ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(b"2026-11-26T19:01:00.000Z x", 1795719660000, id="export-line"),
        pytest.param(b"2026-11-26T19:01:59.999Z {}", 1795719719999, id="last-millisecond"),
        pytest.param(b"2026-11-26T19:01:00.12Z x", None, id="two-digit-millis"),
        pytest.param(b"2026-13-26T19:01:00.000Z x", None, id="month-13"),
        pytest.param(b"2026-11-26 19:01:00.000Z x", None, id="space-not-T"),
        pytest.param(b"2026-11-26T19:01:00.0a0Z x", None, id="letter-in-millis"),
        pytest.param(b'{"timestamp": 1, "message": "x"}', None, id="json"),
    ],
)
def test_export_stamps(line: bytes, expected: int | None) -> None:
    stamps = ExportStamps()
    assert stamps(line) == expected
    assert stamps(line) == expected  # cached


@pytest.mark.parametrize(
    ("line", "shape"),
    [
        pytest.param(b"a,b,c,d,e", "CSV-like: 5 ','-separated fields", id="csv"),
        pytest.param(b"a\tb\tc", "TSV-like: 3 '\\t'-separated fields", id="tsv"),
        pytest.param(b'{"user": "alice", "ip": "10.0.0.1"}', "JSON object with keys: user, ip", id="json-object"),
        pytest.param(b"[1, 2]", "JSON array", id="json-array"),
        pytest.param(b'10.0.0.1 - - [20/May/2015:21:05:59 +0000] "GET /x"', "plain text (7 words)", id="access-log"),
        pytest.param(b"\x1f\x8b\x08\x00", "binary data, not text", id="gzip-inside"),
        pytest.param(b"\xff\xfe\xfa", "binary data, not UTF-8 text", id="not-utf8"),
        pytest.param(b"{broken", "broken JSON", id="broken-json"),
        pytest.param(b"2026-11-26T19:01:00.000Z hello", "CloudWatch export-task line", id="export-line"),
    ],
)
def test_describe_line_gives_shapes_never_values(line: bytes, shape: str) -> None:
    described = describe_line(line)
    assert described.startswith(shape)
    for value in (b"alice", b"10.0.0.1", b"hello"):
        assert value.decode() not in described


@pytest.mark.parametrize(
    ("head", "document"),
    [
        pytest.param(b'{\n    "events": [\n', True, id="cli-indented"),
        pytest.param(b'{"events": [{"timestamp": 1, "message": "x"}]}\n', True, id="compact"),
        pytest.param(b'{"nextForwardToken": "f/1", "events": []}', True, id="get-log-events-key-order"),
        pytest.param(b'[\n  {\n    "logStreamName": "s"', True, id="events-array"),
        pytest.param(b'{"timestamp": 1, "message": "x"}\n{"timestamp": 2', False, id="wrapper-lines"),
        pytest.param(b'{"events": 3, "type": "x"}\n', False, id="a-body-with-an-events-field"),
        pytest.param(b"[1, 2, 3]\n", False, id="a-json-array-line"),
        pytest.param(b"2026-11-26T19:01:00.000Z x\n", False, id="export-lines"),
    ],
)
def test_is_document(head: bytes, document: bool) -> None:
    assert is_document(head) is document


def test_a_document_streams_with_a_bounded_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_formats, "READ_CHUNK", 4096)
    events = [(START + i, request_message(status=200 + i % 3)) for i in range(20_000)]
    data = cli_document(events, pages=4)
    largest = 0
    reader_class = file_formats._JsonReader
    original = reader_class._more

    def spy(self: file_formats._JsonReader) -> bool:
        nonlocal largest
        more = original(self)
        largest = max(largest, len(self.buf))
        return more

    monkeypatch.setattr(reader_class, "_more", spy)
    got = [(e["timestamp"], e["message"]) for e in document_events(io.BytesIO(data))]
    assert got == events
    assert len(data) > 3_000_000 and largest < 3 * 4096  # never the document, a chunk and the event it cuts


def test_a_lone_object_and_an_empty_document() -> None:
    data = b'{"events": []}\n{"timestamp": 5, "message": "m"}\n[]'
    assert list(document_events(io.BytesIO(data))) == [{"timestamp": 5, "message": "m"}]
    assert json.loads(cli_document([], pages=1)) == {"events": [], "searchedLogStreams": []}
