"""Batch tally of decoded JSON requests and decisions for the `file:` engine — the same result as `events.ingest`.

Replaying millions of events one `ingest` call at a time is slow in Python, so the reader queues decoded JSON bodies
and this module checks and counts a whole batch with C-level operations (itemgetter, map, zip, Counter). A batch
in which anything breaks the contract is redone event by event, in order, by the careful path: valid events are
tallied, the rest go through `monitor.events.ingest` (malformed counts and samples exactly as `scan` records them).

`fold` adds the tallies to the `WindowStats` through its public building blocks, exactly what
`add_request` / `add_decision` / `seen` would have added one event at a time.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from itertools import compress, repeat
from operator import eq, ge, itemgetter
from typing import Any

import orjson

from monitor.events import DECISION_TYPE, REQUEST_TYPE, ingest
from monitor.window import DECISION_BITS, WindowStats

BATCH = 512  # events per batch: small enough that one malformed event sends few others down the careful path
_CACHE_LIMIT = 100_000  # distinct keys a table may hold before it is folded / forgotten (bounded memory)
_HEX = re.compile(r"[0-9a-fA-F]+")
_MISSING = object()
_STR, _INT, _NUM = {str}, {int}, {int, float}
_DECISIONS = set(DECISION_BITS)
_REQUEST_FIELDS = itemgetter("method", "path", "status", "duration_ms")
_DECISION_FIELDS = itemgetter("feature_key", "decision", "passenger_hash")
Pending = tuple[int | None, dict[str, Any], Any]  # (timestamp, decoded body, original for the careful path)


def message_text(original: Any) -> str:
    """The message as `scan` would have received it (raw line bytes, message string, or decoded object)."""
    if type(original) is bytes:
        return original.strip().decode("utf-8", "replace")
    return original if type(original) is str else orjson.dumps(original).decode()


class BatchTally:
    """Queue (`pending`, `requests`, `decisions`, `stamps`) filled by the reader; `flush` every `BATCH` events."""

    def __init__(self, stats: WindowStats) -> None:
        self.stats = stats
        self.pending: list[Pending] = []  # requests and decisions in file order
        self.requests: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.stamps: list[int | None] = []  # timestamp of every queued event, `other` bodies included
        self.status: Counter[tuple[str, int]] = Counter()
        self.latency: Counter[tuple[str, float]] = Counter()
        self.cohort: Counter[tuple[str | None, bool]] = Counter()
        self.decided: Counter[tuple[int, str, str]] = Counter()
        self.hashes: dict[Any, str | bool | None] = {}  # raw passenger_hash -> lower-case hex, None (absent), False
        self.routes: dict[str, str] = {}

    # -- batch path ---------------------------------------------------------------------------------------------
    def flush(self) -> None:
        requests = self._check_requests()
        decisions = self._check_decisions() if requests is not None else None
        ingested = 0
        if requests is not None and decisions is not None:
            requests()
            decisions()
        else:
            ingested = self._careful()
        stamps = self.stamps
        self.stats.seen(None, len(stamps) - ingested)
        if None in stamps:
            stamps = [ts for ts in stamps if ts is not None]
        if stamps:
            self.stats.seen(min(stamps), 0)  # type: ignore[type-var]
            self.stats.seen(max(stamps), 0)  # type: ignore[type-var]
        for queue in (self.pending, self.requests, self.decisions, self.stamps):
            queue.clear()
        if max(len(self.latency), len(self.cohort), len(self.decided)) >= _CACHE_LIMIT:
            self.fold()

    def _passengers(self, raw: list[Any]) -> list[Any]:
        known = list(map(self.hashes.get, raw, repeat(_MISSING)))  # TypeError on an unhashable value
        if _MISSING in known:
            if len(self.hashes) >= _CACHE_LIMIT:
                self.hashes.clear()
            for i, value in enumerate(known):
                if value is _MISSING:
                    known[i] = self.hashes[raw[i]] = _normalise_hash(raw[i])
        return known

    def _routes(self, paths: tuple[str, ...]) -> list[str]:
        routes = list(map(self.routes.get, paths))
        if None in routes:
            if len(self.routes) >= _CACHE_LIMIT:
                self.routes.clear()
            for i, route in enumerate(routes):
                if route is None:
                    routes[i] = self.routes[paths[i]] = self.stats.route_of(paths[i])
        return routes  # type: ignore[return-value]

    def _check_requests(self) -> Callable[[], None] | None:
        """Validate the queued requests as columns; return the commit, or None when any breaks the contract."""
        if not self.requests:
            return lambda: None
        try:
            methods, paths, statuses, durations = zip(*map(_REQUEST_FIELDS, self.requests), strict=True)
            passengers = self._passengers(list(map(dict.get, self.requests, repeat("passenger_hash"))))
            valid = (
                set(map(type, methods)) <= _STR and all(methods) and set(map(type, paths)) <= _STR and all(paths)
                and set(map(type, statuses)) <= _INT and min(statuses) >= 100 and max(statuses) <= 599
                and set(map(type, durations)) <= _NUM and min(durations) >= 0 and False not in passengers
            )
        except (KeyError, TypeError):
            return None
        if not valid:
            return None

        def commit() -> None:
            routes = self._routes(paths)
            self.status.update(zip(routes, statuses, strict=True))
            self.latency.update(zip(routes, durations, strict=True))
            self.cohort.update(zip(passengers, map(ge, statuses, repeat(500)), strict=True))

        return commit

    def _check_decisions(self) -> Callable[[], None] | None:
        if not self.decisions:
            return lambda: None
        try:
            features, decisions, raw = zip(*map(_DECISION_FIELDS, self.decisions), strict=True)
            passengers = self._passengers(list(raw))
            valid = (
                set(map(type, features)) <= _STR and all(features) and set(decisions) <= _DECISIONS
                and None not in passengers and False not in passengers
            )
        except (KeyError, TypeError):
            return None
        if not valid:
            return None

        def commit() -> None:
            mine = list(map(eq, features, repeat(self.stats.feature)))
            self.stats.decisions.other_feature += mine.count(False)
            segments: Any = repeat(0)
            bounds = self.stats.decisions.segment_bounds
            if bounds:
                stamps = [ts for ts, body, _ in self.pending if body.get("type") == DECISION_TYPE]
                segments = [len(bounds) if ts is None else bisect_right(bounds, ts) for ts in stamps]
            self.decided.update(compress(zip(segments, decisions, passengers, strict=False), mine))

        return commit

    # -- careful path -------------------------------------------------------------------------------------------
    def _careful(self) -> int:
        """Event by event, in file order; returns how many went to `ingest` (which counts them as seen itself)."""
        ingested = 0
        for ts, body, original in self.pending:
            kind = body.get("type")
            ok = self._one_request(body) if kind == REQUEST_TYPE else self._one_decision(ts, body)
            if not ok:
                ingest(self.stats, ts, message_text(original))
                ingested += 1
        return ingested

    def _one_request(self, f: dict[str, Any]) -> bool:
        method: Any = f.get("method")
        path: Any = f.get("path")
        status: Any = f.get("status")
        duration: Any = f.get("duration_ms")
        raw = f.get("passenger_hash")
        passenger = _normalise_hash(raw) if type(raw) is str or raw is None else False
        if not (type(method) is str and method and type(path) is str and path and type(status) is int
                and 100 <= status <= 599 and type(duration) in (float, int) and duration >= 0
                and passenger is not False):
            return False
        route = self._routes((path,))[0]
        self.status[(route, status)] += 1
        self.latency[(route, duration)] += 1
        self.cohort[(passenger, status >= 500)] += 1  # type: ignore[index]
        return True

    def _one_decision(self, ts: int | None, f: dict[str, Any]) -> bool:
        feature, decision, raw = f.get("feature_key"), f.get("decision"), f.get("passenger_hash")
        passenger = _normalise_hash(raw) if type(raw) is str else None
        if not (type(feature) is str and feature and type(decision) is str and decision in _DECISIONS
                and type(passenger) is str):
            return False
        if feature != self.stats.feature:
            self.stats.decisions.other_feature += 1
            return True
        bounds = self.stats.decisions.segment_bounds
        segment = (len(bounds) if ts is None else bisect_right(bounds, ts)) if bounds else 0
        self.decided[(segment, decision, passenger)] += 1
        return True

    # -- into the stats -----------------------------------------------------------------------------------------
    def fold(self) -> None:
        """Add the tallies to the stats and empty them."""
        stats = self.stats
        for (route, status), n in self.status.items():
            stats.status.add(status, n)
            stats.routes[route].status.add(status, n)
        for (route, duration), n in self.latency.items():
            stats.latency.add(float(duration), n)
            stats.routes[route].latency.add(float(duration), n)
        for (passenger, is_5xx), n in self.cohort.items():
            stats.add_cohort_request(passenger, is_5xx, n)
        for (segment, decision, passenger), n in self.decided.items():
            stats.decisions.add(segment, passenger, decision, n)
        for table in (self.status, self.latency, self.cohort, self.decided):
            table.clear()


def _normalise_hash(value: Any) -> str | bool | None:
    """None for an absent hash (None or ""), the lower-case digest for hex, False for anything else."""
    if value is None or value == "":
        return None
    if type(value) is str and _HEX.fullmatch(value):
        return value.lower()
    return False
