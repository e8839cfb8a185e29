"""The `file:` engine: export format, plain lines, the window, unreadable files, and parity with `events.ingest`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers_events import (
    FEATURE,
    decision_message,
    export_line,
    make_window,
    mixed_events,
    passenger_hash,
    reference_stats,
    request_message,
    snapshot,
    write_export,
)

from monitor.domain import SourceResult
from monitor.errors import ConfigError
from monitor.sources.file import FileLogSource
from monitor.sources.file import source as file_source

START, END = 1_700_000_000_000, 1_700_003_600_000
H1 = passenger_hash(1)


def read_lines(tmp_path: Path, lines: Sequence[str | bytes], **kwargs: Any) -> SourceResult:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return FileLogSource(path).read(make_window(START, END, **kwargs))


def wrap(ts: int, message: Any) -> str:
    return json.dumps({"timestamp": ts, "message": message})


REQ_500 = request_message(status=500, passenger=H1)
DEC = decision_message(decision="ROLLOUT", passenger=H1)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([wrap(START + 5, REQ_500)], {"events": 1, "5xx": 1, "first": START + 5}, id="wrapper-string"),
        pytest.param([wrap(START + 5, json.loads(REQ_500))], {"events": 1, "5xx": 1}, id="wrapper-object"),
        pytest.param([REQ_500], {"events": 1, "5xx": 1, "first": None}, id="plain-json-no-timestamp"),
        pytest.param([request_message(status=403, fmt="logfmt")], {"events": 1, "403": 1}, id="plain-logfmt"),
        pytest.param([wrap(START, request_message(status=302, fmt="logfmt"))], {"3xx": 1}, id="wrapped-logfmt"),
        pytest.param(["", "   ", REQ_500, ""], {"events": 1, "5xx": 1}, id="blank-lines-skipped"),
        pytest.param([wrap(START - 1, REQ_500), wrap(END, REQ_500)], {"events": 0, "outside": 2}, id="outside-window"),
        pytest.param(
            [wrap(START, REQ_500), wrap(END - 1, DEC)],
            {"events": 2, "first": START, "last": END - 1},
            id="window-edges-inclusive-exclusive",
        ),
        pytest.param(
            ["{not json", "plain text line", "[1, 2]", wrap(START, "hello")],
            {"events": 4, "other": 4},
            id="other-lines",
        ),
        pytest.param(
            [wrap(START, {"level": "info"}), '{"level": "info"}'],
            {"events": 2, "other": 2},
            id="json-without-type-is-other",
        ),
        pytest.param(['{"type": "http_request", "method": "GET"}'], {"events": 1, "malformed": 1}, id="malformed"),
        pytest.param([wrap(START, 42), wrap(START, None)], {"events": 2, "other": 2}, id="non-object-message"),
        pytest.param(
            [wrap(END, None), wrap(START - 1, {"type": "x"})],
            {"events": 0, "outside": 2},
            id="any-message-outside-window",
        ),
        pytest.param(
            ["  " + wrap(START + 7, REQ_500)],
            {"events": 1, "5xx": 1, "first": START + 7},
            id="leading-whitespace-wrapper",
        ),
        pytest.param(
            [b"\xff\xfe garbage", wrap(START, REQ_500).encode()],
            {"events": 2, "other": 1, "5xx": 1},
            id="invalid-utf8-is-other",
        ),
        pytest.param(
            [json.dumps({"timestamp": START, "message": "x", "type": "http_request"})],
            {"events": 1, "malformed": 1},
            id="object-with-type-is-a-plain-body",
        ),
    ],
)
def test_file_lines(tmp_path: Path, lines: list[str | bytes], expected: dict[str, Any]) -> None:
    result = read_lines(tmp_path, lines)
    m = result.metrics()
    got = {
        "events": m["events"],
        "5xx": m["status"]["5xx"],
        "3xx": m["status"]["3xx"],
        "403": m["status"]["403"],
        "outside": m["outside_window"],
        "other": m["other"],
        "malformed": m["malformed"],
        "first": m["first_event_ms"],
        "last": m["last_event_ms"],
    }
    assert {k: got[k] for k in expected} == expected
    assert result.engine == "file"


@pytest.mark.parametrize("style", ["wrapper", "object"])
def test_file_matches_event_by_event_ingest(tmp_path: Path, style: str) -> None:
    events = mixed_events(3000, START, END, seed=11)
    events += [(START - 10, REQ_500), (END, DEC)]  # outside the window
    path = write_export(tmp_path / "e.jsonl", events, style=style)
    result = FileLogSource(path).read(make_window(START, END))
    expected = reference_stats(events, START, END)
    assert snapshot(result) == snapshot(expected)
    stats = result.aggregate
    assert stats.requests > 1000 and stats.counts.malformed > 50 and stats.decisions.total > 500


def test_plain_lines_match_ingest_without_timestamps(tmp_path: Path) -> None:
    events = mixed_events(2000, START, END, seed=5)
    path = write_export(tmp_path / "p.log", events, style="plain")
    result = FileLogSource(path).read(make_window(START, END))
    expected = reference_stats([(None, msg) for _, msg in events], START, END)
    # At the top level (no wrapper), a line that is neither JSON, logfmt nor an export-task line is in no format the
    # engine reads: still `other`, and also `unrecognised`.
    expected.counts.unrecognised = sum(
        msg in ("INFO starting worker 3", "{not json at all", "[1, 2, 3]") for _, msg in events
    )
    assert snapshot(result) == snapshot(expected)
    assert result.aggregate.counts.first_event_ms is None and result.aggregate.counts.events == 2000
    assert 0 < result.aggregate.counts.unrecognised < 1000 and not result.unreadable


def test_decisions_split_at_config_changes_and_allowlist(tmp_path: Path) -> None:
    events = mixed_events(2000, START, END, seed=3)
    bounds = [START + 600_000, START + 1_800_000]
    allow = [passenger_hash(i) for i in range(5)]
    path = write_export(tmp_path / "e.jsonl", events)
    result = FileLogSource(path).read(make_window(START, END, allowlist=allow, segment_bounds=bounds))
    expected = reference_stats(events, START, END, allowlist=allow, segment_bounds=bounds)
    assert snapshot(result) == snapshot(expected)
    stats = result.aggregate
    assert all(stats.decisions.per_hash)  # every segment got decisions
    assert stats.cohorts.allowlisted_requests > 0


def test_tables_fold_early_and_still_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_source, "_TABLE_LIMIT", 3)
    monkeypatch.setattr(file_source, "_CHECK_EVERY", 0x7)
    events = mixed_events(1500, START, END, seed=9)
    path = write_export(tmp_path / "e.jsonl", events)
    result = FileLogSource(path).read(make_window(START, END))
    assert snapshot(result) == snapshot(reference_stats(events, START, END))


def test_malformed_samples_keep_file_order(tmp_path: Path) -> None:
    lines = [
        wrap(START, REQ_500),
        wrap(START + 1, '{"type": "http_request", "method": "GET"}'),  # JSON malformed (fast path declines)
        wrap(START + 2, "type=http_request method=GET path=/x status=abc duration_ms=1"),  # logfmt malformed
        wrap(START + 3, '{"type": "feature_flag_decision", "feature_key": "f", "decision": "NO"}'),
    ]
    samples = read_lines(tmp_path, lines).aggregate.counts.malformed_samples
    expected = reference_stats([(json.loads(x)["timestamp"], json.loads(x)["message"]) for x in lines], START, END)
    assert samples == expected.counts.malformed_samples
    assert [s.split(":")[0] for s in samples] == ["http_request", "http_request", "feature_flag_decision"]


def test_other_feature_decisions_are_counted_apart(tmp_path: Path) -> None:
    stats = read_lines(
        tmp_path,
        [
            wrap(START, decision_message(decision="OFF", passenger=H1, feature_key="x")),
            wrap(START, decision_message(decision="OFF", passenger=H1.upper())),
        ],
    ).aggregate
    assert stats.decisions.other_feature == 1
    assert stats.decisions.per_hash[0] == {H1: 1}  # hashes are normalised to lower case
    assert stats.decisions.by_decision["OFF"] == 1 and stats.window.feature == FEATURE


@pytest.mark.parametrize(
    ("make_path", "says"),
    [
        pytest.param(lambda tmp: tmp / "missing.jsonl", "cannot read events file {path}", id="missing"),
        pytest.param(lambda tmp: tmp, "no files under the directory {path}", id="an-empty-directory"),
    ],
)
def test_unreadable_input_is_a_config_error(tmp_path: Path, make_path: Any, says: str) -> None:
    path = make_path(tmp_path)
    with pytest.raises(ConfigError) as err:
        FileLogSource(path).read(make_window(START, END))
    message = str(err.value)
    assert says.format(path=path) in message and "--source file:PATH" in message
    assert "\n" not in message


def test_export_line_round_trip() -> None:
    assert json.loads(export_line(START, REQ_500, "wrapper"))["message"] == REQ_500
    assert json.loads(export_line(START, REQ_500, "object"))["message"] == json.loads(REQ_500)
    assert export_line(START, REQ_500, "plain") == REQ_500


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("type=http_request method=GET path=/api/matching status=200 duration_ms=5", id="plain"),
        pytest.param("type=http_request method=GET path=/a status=+200 duration_ms=5", id="signed-status"),
        pytest.param("type=http_request method=GET path=/a status=099 duration_ms=5", id="status-below-100"),
        pytest.param("type=http_request method=GET path=/a status=200 duration_ms=1_000", id="underscore-number"),
        pytest.param("type=http_request method=GET path=/a status=200 duration_ms=nan", id="nan-duration"),
        pytest.param("type=http_request method=GET path=/a status=200 duration_ms=-1", id="negative-duration"),
        pytest.param("type=http_request method= path=/a status=200 duration_ms=1", id="empty-method"),
        pytest.param('type=http_request method=GET path="/a b" status=503 duration_ms=2.5', id="quoted-value"),
        pytest.param(
            f"type=http_request method=GET path=/a status=200 duration_ms=1 passenger_hash={H1.upper()}",
            id="upper-case-hash",
        ),
        pytest.param("type=http_request method=GET path=/a status=200 duration_ms=1 passenger_hash=zz", id="bad-hash"),
        pytest.param(
            f"type=feature_flag_decision feature_key={FEATURE} decision=ROLLOUT passenger_hash={H1}", id="decision"
        ),
        pytest.param(
            f"type=feature_flag_decision feature_key={FEATURE} decision=rollout passenger_hash={H1}",
            id="decision-wrong-case",
        ),
        pytest.param("level=info msg=started", id="logfmt-without-type"),
        pytest.param("xtype=http_request", id="type-only-as-suffix"),
        pytest.param('   {"type": "http_request"}', id="json-after-spaces"),
    ],
)
def test_logfmt_and_text_match_ingest(tmp_path: Path, message: str) -> None:
    for style in ("wrapper", "plain"):
        events = [(START + 1, message)]
        path = write_export(tmp_path / f"{style}.log", events, style=style)
        result = FileLogSource(path).read(make_window(START, END))
        expected_events = events if style == "wrapper" else [(None, message)]
        assert snapshot(result) == snapshot(reference_stats(expected_events, START, END)), style
