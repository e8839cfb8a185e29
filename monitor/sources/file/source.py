"""`--source file:PATH`: replay exported events, one per line.

A line is either the export wrapper `{"timestamp": <epoch ms>, "message": <body>}` (other keys such as
`logStreamName` are ignored; the body is the message string, or the message already decoded as a JSON object), or a
plain message line (a JSON body or logfmt) with no timestamp, which counts as inside the window. A JSON object with a
`type` key is always a plain body. Wrapped events whose timestamp falls outside [start_ms, end_ms) are counted in
`outside_window` and not ingested. Blank lines are skipped.

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
from collections.abc import Iterable
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from monitor.domain.aggregate import DECISION_BITS, LogWindow, WindowAggregate
from monitor.domain.contract import DECISION_TYPE, REQUEST_TYPE, ingest, parse_logfmt, passenger_hash
from monitor.domain.reading import SourceResult
from monitor.errors import ConfigError, SourceError
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
        self.decided: list[dict[str, defaultdict[str, int]]] = [
            {name: defaultdict(int) for name in DECISION_BITS} for _ in range(segments)
        ]

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
            or any(len(table) >= _TABLE_LIMIT for tables in self.decided for table in tables.values())
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
        for segment, tables in enumerate(self.decided):
            for decision, table in tables.items():
                for passenger, n in table.items():
                    stats.decisions.add(segment, passenger, decision, n)
                table.clear()


class FileLogSource:
    """Reads exported events from a local file (see the module docstring for the format).

    A file of `parallel_min_bytes` or more is read in two halves on two cores when the machine has them
    (`monitor.sources.file.parallel`); the figures are exactly those of one sequential read.
    """

    name = "file"

    def __init__(
        self, path: str | Path, *, workers: int | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES
    ) -> None:
        self.path = Path(path)
        self.workers = usable_cpus() if workers is None else workers
        self.parallel_min_bytes = parallel_min_bytes

    def read(self, window: LogWindow) -> SourceResult:
        result = SourceResult.empty(window, self.name)
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise self._unreadable(exc) from None
        try:
            if can_split(size, self.workers, self.parallel_min_bytes):
                read_in_two(self.path, result.aggregate, size, self.read_range)
            else:
                self.read_range(result.aggregate, 0, None)
        except SourceError as exc:  # the child reading the second half failed
            result.fail(exc)
        return result

    def read_range(self, stats: WindowAggregate, start: int, end: int | None) -> None:
        """Aggregate the lines in bytes [start, end) (end None: to the end of the file) into `stats`."""
        tally = _Tally(stats)
        collecting = gc.isenabled()
        gc.disable()  # millions of short-lived acyclic objects: cycle collection would only cost time
        try:
            with self.path.open("rb") as fh:
                fh.seek(start)
                _read_lines(fh if end is None else lines_until(fh, end - start), stats, tally)
        except OSError as exc:
            raise self._unreadable(exc) from None
        finally:
            if collecting:
                gc.enable()
        tally.fold()

    def _unreadable(self, exc: OSError) -> ConfigError:
        reason = exc.strerror or type(exc).__name__
        return ConfigError(f"cannot read events file {self.path}: {reason} — check --source file:PATH")


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


def _read_lines(fh: Iterable[bytes], stats: WindowAggregate, tally: _Tally) -> None:  # noqa: C901, PLR0912, PLR0915
    """The hot loop, deliberately in one piece (a call per event costs more than the checks it holds): the lint's
    complexity limits are waived here and only here."""
    window, counts = stats.window, stats.counts
    start_ms, end_ms, feature = window.start_ms, window.end_ms, window.feature
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    routes, hashes, cohort, cohort_5xx = tally.route_of_path, tally.hashes, tally.cohort, tally.cohort_5xx
    bounds, decided = stats.decisions.segment_bounds, tally.decided
    request_type, decision_type, decisions = REQUEST_TYPE, DECISION_TYPE, DECISION_BITS
    request_fields, decision_fields, check_every = _REQUEST_FIELDS, _DECISION_FIELDS, _CHECK_EVERY
    events = other = other_feature = 0
    first, last = end_ms, start_ms - 1  # the earliest and latest in-window timestamp, once any was seen
    f: Any
    original: Any
    passenger: Any
    for raw in fh:
        # -- decode: (ts, body dict, original) or straight to `ingest` -------------------------------------
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
            if feat != feature:
                other_feature += 1
            else:
                segment = (len(bounds) if ts is None else bisect_right(bounds, ts)) if bounds else 0
                decided[segment][decision][passenger] += 1
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
    stats.decisions.other_feature += other_feature
