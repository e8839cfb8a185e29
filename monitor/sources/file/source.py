"""`--source file:PATH`: replay exported events (file, directory or S3 prefix: `inputs`; format by content:
`formats`).

A line is the export wrapper `{"timestamp": <epoch ms>, "message": <body>}` (other keys such as `logStreamName` are
ignored; the body is the message string, or the message already decoded as a JSON object), a CloudWatch export-task
line `2026-11-26T19:01:00.000Z <body>` (the same event: its time, a space, its message), or a plain message line (a
JSON body or logfmt) with no timestamp, which counts as inside the window. The events of an AWS CLI JSON document
come in already decoded, as wrapper objects. A JSON object with a `type` key is always a plain body. Events whose
timestamp falls outside [start_ms, end_ms) are counted in `outside_window` and not ingested. Blank lines are
skipped. A top-level line that is neither JSON, logfmt nor an export-task line (CSV, an access log, binary) is
counted as `other` like any text, and also as `unrecognised`: the data_quality check says when an input is mostly that.

Speed: this engine replays millions of events. Each line is parsed once (twice when the body is a string), and a
well-formed request or decision (JSON or logfmt) is tallied right there into a few dicts (`_Tally`) that are folded
into the `WindowAggregate` at the end. Anything the fast path is not sure of — a body that breaks the contract, an
unusual number — goes through `monitor.domain.contract.ingest` unchanged, in file order, so counts and malformed
samples match the `scan` engine.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from monitor.domain.aggregate import DECISION_BITS, LogWindow, WindowAggregate
from monitor.domain.contract import DECISION_TYPE, REQUEST_TYPE, ingest, parse_logfmt, passenger_hash
from monitor.domain.reading import SourceResult
from monitor.errors import SourceError
from monitor.sources.file.formats import LOGFMT_START, ExportStamps, document_events, input_format, is_document, sniffed
from monitor.sources.file.inputs import (
    S3_SCHEME,
    STREAM_FAILURES,
    Input,
    InputCounts,
    as_lines,
    describe_failure,
    guarded,
    judge_inputs,
    local_inputs,
    note_unrecognised,
)
from monitor.sources.file.parallel import PARALLEL_MIN_BYTES, can_split, lines_until, read_in_two, usable_cpus

_TABLE_LIMIT = 100_000  # distinct keys a table may hold before it is folded into the stats (bounded memory)
_CHECK_EVERY = 0xFFFF  # mask: table sizes are checked every 65536 tallied events
_NO_MESSAGE: Any = object()
_REQUEST_FIELDS = itemgetter("method", "path", "status", "duration_ms")
_DECISION_FIELDS = itemgetter("feature_key", "decision", "passenger_hash")
_RouteTables = tuple[defaultdict[int, int], defaultdict[float, int]]  # status -> count, duration_ms -> count


class _Tally:
    """Well-formed JSON requests and decisions, counted by the keys `WindowAggregate` aggregates on.

    `fold` adds exactly what `WindowAggregate.add_request` / `add_decision` would have added one event at a time,
    through their public building blocks: status and latency overall and per route, each passenger hash's cohort,
    decisions per config segment. Tables are emptied in place (the hot loop holds them in locals).
    """

    def __init__(self, stats: WindowAggregate) -> None:
        self.stats = stats
        self.route_tables: dict[str, _RouteTables] = {
            name: (defaultdict(int), defaultdict(int)) for name in stats.routes
        }
        self.route_of_path: dict[str, _RouteTables] = {}
        self.hashes: dict[str, str | None] = {}  # raw passenger_hash -> lower-case digest, None when not hex
        self.cohort: defaultdict[str | None, int] = defaultdict(int)
        self.cohort_5xx: defaultdict[str | None, int] = defaultdict(int)
        segments = len(stats.decisions.segment_bounds) + 1
        # feature -> per segment, per decision: passenger -> count (the window's feature, then a shared read's others)
        self.decided_by: dict[str, list[dict[str, defaultdict[str, int]]]] = {
            feature: [{name: defaultdict(int) for name in DECISION_BITS} for _ in range(segments)]
            for feature in stats.window.features
        }

    def route(self, path: str) -> _RouteTables:
        if len(self.route_of_path) >= _TABLE_LIMIT:
            self.route_of_path.clear()
        tables = self.route_of_path[path] = self.route_tables[self.stats.window.route_of(path)]
        return tables

    def passenger(self, value: str) -> str | None:
        if len(self.hashes) >= _TABLE_LIMIT:
            self.hashes.clear()
        known = self.hashes[value] = passenger_hash(value)
        return known

    def full(self) -> bool:
        return (
            len(self.cohort) >= _TABLE_LIMIT
            or any(
                len(table) >= _TABLE_LIMIT
                for decided in self.decided_by.values()
                for tables in decided
                for table in tables.values()
            )
            or any(len(latency) >= _TABLE_LIMIT for _, latency in self.route_tables.values())
        )

    def fold(self) -> None:
        stats = self.stats
        for name, (status_counts, latencies) in self.route_tables.items():
            into = stats.routes[name]
            for status, n in status_counts.items():
                stats.status.add(status, n)
                into.status.add(status, n)
            for duration, n in latencies.items():
                stats.latency.add(float(duration), n)
                into.latency.add(float(duration), n)
            status_counts.clear()
            latencies.clear()
        for passenger, n in self.cohort.items():
            errors = self.cohort_5xx.get(passenger, 0)
            if errors:
                stats.add_cohort_request(passenger, True, errors)
            if n > errors:
                stats.add_cohort_request(passenger, False, n - errors)
        self.cohort.clear()
        self.cohort_5xx.clear()
        self._fold_decisions()

    def _fold_decisions(self) -> None:
        stats = self.stats
        for feature, decided in self.decided_by.items():
            into = stats.decisions if feature == stats.window.feature else stats.other_decisions[feature]
            for segment, tables in enumerate(decided):
                for decision, table in tables.items():
                    for passenger, n in table.items():
                        into.add(segment, passenger, decision, n)
                    table.clear()


class FileLogSource:
    """Reads exported events from a local file, every file under a directory, or every object under an S3 prefix
    (`inputs`), each input's format found by its content (`formats`; the line formats are in the module docstring).

    A plain (uncompressed) local file of `parallel_min_bytes` or more is read in two halves on two cores when the
    machine has them (`monitor.sources.file.parallel`); the figures are exactly those of one sequential read. A
    compressed input or a JSON document is streamed on one core. An input that breaks off (truncated gzip, a JSON
    document that stops parsing, an S3 read that failed after its retries) is a problem of the result: what was read
    before counts, data_quality says ERROR.
    """

    name = "file"

    def __init__(
        self,
        path: str | Path,
        *,
        workers: int | None = None,
        parallel_min_bytes: int = PARALLEL_MIN_BYTES,
        aws: dict[str, Any] | None = None,
        s3_client: Any = None,
    ) -> None:
        self.spec = str(path)
        self.workers = usable_cpus() if workers is None else workers
        self.parallel_min_bytes = parallel_min_bytes
        self.aws = aws or {}
        self.s3_client = s3_client

    def read(self, window: LogWindow) -> SourceResult:
        result = SourceResult.empty(window, self.name)
        with open_inputs(self.spec, result, aws=self.aws, s3_client=self.s3_client) as inputs:
            for item in inputs:
                self._read_input(item, result)
        judge_inputs(result)
        return result

    def _read_input(self, item: Input, result: SourceResult) -> None:
        stats = result.aggregate
        failures: list[Exception] = []
        before = InputCounts.of(stats)
        head = b""
        try:
            with item.open() as raw:
                head, stream, compressed = sniffed(raw)
                document = is_document(head)
                label = input_format(head, document=document, compressed=compressed)
                result.inputs[label] = result.inputs.get(label, 0) + 1
                if document:
                    tally_lines(stats, guarded(as_lines(document_events(stream)), failures))
                elif compressed or item.path is None:
                    tally_lines(stats, guarded(stream, failures))
                elif can_split(item.size, self.workers, self.parallel_min_bytes):
                    read_in_two(item.path, stats, item.size, partial(_read_range, item))
                else:
                    tally_lines(stats, stream)
        except STREAM_FAILURES as exc:
            failures.append(exc)
        except OSError as exc:  # a local file that cannot be opened or read
            raise item.unreadable(exc) from None
        except SourceError as exc:  # the child reading the second half failed, or S3 failed after its retries
            failures.append(exc)
        read = InputCounts.of(stats) - before
        for failure in failures:
            where = f"{item.name}: read stopped after {read.lines:,} lines: {describe_failure(failure)}"
            if isinstance(
                failure, SourceError
            ):  # AWS (or the second half's process): the read's failure, with its code
                result.fail(SourceError(where, code=failure.code))
            else:
                result.problems.append(where)
        note_unrecognised(result, item, head, read)


@contextmanager
def open_inputs(
    spec: str, result: SourceResult, *, aws: dict[str, Any], s3_client: Any = None
) -> Iterator[Iterable[Input]]:
    """The inputs of a `file:` spec, while they are read (an S3 prefix counts its calls into `result.aws_calls`)."""
    if spec.startswith(S3_SCHEME):
        from monitor.sources.file.s3 import s3_inputs  # noqa: PLC0415 - boto3 only for an S3 prefix

        with s3_inputs(spec, result, aws=aws, client=s3_client) as inputs:
            yield inputs
    else:
        yield local_inputs(Path(spec))


def tally_lines(stats: WindowAggregate, lines: Iterable[bytes | dict[str, Any]]) -> None:
    """Aggregate `lines` (raw lines, or the decoded events of a JSON document) into `stats`."""
    tally = _Tally(stats)
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived acyclic objects: cycle collection would only cost time
    try:
        _read_lines(lines, stats, tally)
    finally:
        if collecting:
            gc.enable()
    tally.fold()


def _read_range(item: Input, stats: WindowAggregate, start: int, end: int | None) -> None:
    """Aggregate the lines in bytes [start, end) (end None: to the end of the file) of a local file into `stats`."""
    assert item.path is not None
    try:
        with item.path.open("rb") as fh:
            fh.seek(start)
            tally_lines(stats, fh if end is None else lines_until(fh, end - start))
    except OSError as exc:
        raise item.unreadable(exc) from None


def _text(original: Any) -> str:
    """The message text of an event the fast path declined, as `scan` would have received it."""
    if type(original) is bytes:
        return original.strip().decode("utf-8", "replace")
    return original if type(original) is str else orjson.dumps(original).decode()


def _text_fields(text: str) -> dict[str, Any] | None:
    """A message that is not a JSON object, as the tally reads it (the same reading as `events.parse_message`):
    {} for plain text (an `other` event), logfmt fields with `status` and `duration_ms` typed when they are plainly
    valid, or None to leave the judgement to `ingest` (text that looks like JSON, an unusual number)."""
    text = text.strip()
    if text[:1] == "{":
        return None
    if "type=" not in text:
        return {}
    fields = parse_logfmt(text)
    status = fields.get("status")
    if type(status) is str and len(status) == 3 and status.isascii() and status.isdigit():
        fields["status"] = int(status)
    duration = fields.get("duration_ms")
    if duration is not None:
        try:
            value = float(duration)
        except ValueError:
            return None
        if not 0 <= value < math.inf:  # NaN, negative, infinite: `ingest` decides
            return None
        fields["duration_ms"] = value
    return fields


def _read_lines(fh: Iterable[bytes | dict[str, Any]], stats: WindowAggregate, tally: _Tally) -> None:  # noqa: C901, PLR0912, PLR0915
    """The hot loop, deliberately in one piece (a call per event costs more than the checks it holds): the lint's
    complexity limits are waived here and only here."""
    window, counts = stats.window, stats.counts
    start_ms, end_ms, feature = window.start_ms, window.end_ms, window.feature
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    routes, hashes, cohort, cohort_5xx = tally.route_of_path, tally.hashes, tally.cohort, tally.cohort_5xx
    bounds, decided_by = stats.decisions.segment_bounds, tally.decided_by
    decided = decided_by[feature]
    request_type, decision_type, decisions = REQUEST_TYPE, DECISION_TYPE, DECISION_BITS
    request_fields, decision_fields, check_every = _REQUEST_FIELDS, _DECISION_FIELDS, _CHECK_EVERY
    stamp, logfmt_start = ExportStamps(), LOGFMT_START.match
    events = other = other_feature = unrecognised = 0
    first, last = end_ms, start_ms - 1  # the earliest and latest in-window timestamp, once any was seen
    raw: Any
    f: Any
    original: Any
    passenger: Any
    for raw in fh:
        # -- decode: (ts, body dict, original) or straight to `ingest` -------------------------------------
        if type(raw) is dict:  # an event of an AWS CLI JSON document, already decoded
            obj = raw
        elif raw[23:25] == b"Z " and raw[10:11] == b"T" and (ts := stamp(raw)) is not None:  # an export-task line
            obj = {"timestamp": ts, "message": raw[25:].rstrip().decode("utf-8", "replace")}
        else:
            try:
                obj = loads(raw)  # orjson ignores the surrounding whitespace and the newline
            except decode_error:
                obj = None
        if type(obj) is dict:
            ts = obj.get("timestamp")
            f = original = obj.get("message", _NO_MESSAGE)
            if type(ts) is not int or f is _NO_MESSAGE or "type" in obj:
                ts, f, original = None, obj, raw  # a plain JSON body
            elif start_ms <= ts < end_ms:
                if ts < first:  # noqa: PLR1730 - a comparison is cheaper than min() per event
                    first = ts
                if ts > last:  # noqa: PLR1730 - as above
                    last = ts
                if type(f) is str:
                    if f[:1] == "{":
                        try:
                            f = loads(f)
                        except decode_error:
                            f = None
                    else:
                        f = _text_fields(f)
            else:
                counts.outside_window += 1
                continue
        else:  # a plain line: logfmt or text
            original = raw.strip()
            if not original:
                continue
            if not logfmt_start(original):  # not JSON, not logfmt, not an export-task line: a format we do not read
                unrecognised += 1
            ts, f = None, _text_fields(original.decode("utf-8", "replace"))
        if type(f) is not dict:
            ingest(stats, ts, _text(original))
            continue
        # -- tally: a well-formed request or decision, or any other JSON object -----------------------------
        kind = f.get("type")
        if kind == request_type:
            try:
                method, path, status, duration = request_fields(f)
            except KeyError:
                method = None
            passenger = f.get("passenger_hash")
            if passenger is None or passenger == "":
                passenger = None
            elif type(passenger) is str:
                passenger = hashes.get(passenger) or tally.passenger(passenger) or False
            else:
                passenger = False
            if not (
                type(method) is str
                and method
                and type(path) is str
                and path
                and type(status) is int
                and 100 <= status <= 599
                and type(duration) in (float, int)
                and duration >= 0
                and passenger is not False
            ):
                ingest(stats, ts, _text(original))
                continue
            status_counts, latencies = routes.get(path) or tally.route(path)
            status_counts[status] += 1
            latencies[duration] += 1
            cohort[passenger] += 1
            if status >= 500:
                cohort_5xx[passenger] += 1
        elif kind == decision_type:
            try:
                feat, decision, passenger = decision_fields(f)
            except KeyError:
                feat = None
            if type(passenger) is str:
                passenger = hashes.get(passenger) or tally.passenger(passenger)
            if not (
                type(feat) is str
                and feat
                and type(decision) is str
                and decision in decisions
                and type(passenger) is str
            ):
                ingest(stats, ts, _text(original))
                continue
            if feat == feature:
                segment = (len(bounds) if ts is None else bisect_right(bounds, ts)) if bounds else 0
                decided[segment][decision][passenger] += 1
            else:
                other_feature += 1
                if feat in decided_by:  # a shared read: another watched feature's decision
                    segment = (len(bounds) if ts is None else bisect_right(bounds, ts)) if bounds else 0
                    decided_by[feat][segment][decision][passenger] += 1
        else:
            other += 1
        events += 1
        if not events & check_every and tally.full():
            tally.fold()
    if first <= last:
        counts.seen(first, 0)
        counts.seen(last, 0)
    counts.seen(None, events)
    counts.other += other
    counts.unrecognised += unrecognised
    stats.decisions.other_feature += other_feature
