"""What the logs of one window add up to: the one aggregate every engine fills and every check reads.

`LogWindow` says what to measure (times, feature, route groups, how passengers fall into cohorts and decisions into
config segments); `WindowAggregate` holds the figures, as parts. Every part is a sum, a min/max, a union of bitmasks
or an ordered sample, and has `merge()` (add a later part into this one) and `to_dict()` (plain JSON), so reading in
pieces and merging gives exactly the figures of one sequential read (the `file:` engine reads large files on two
cores that way). A new figure is a new part here: a class with `merge()` and `to_dict()`, listed in
`WindowAggregate.__init__`, `merge()` and `to_dict()`.

`scan` and `file:` feed events one by one through `monitor.domain.contract`; `insights` folds server-side aggregates
with the `add_*` methods and the parts' own `add`. How the window was read (engine, AWS calls, queries, problems) is
not here: it belongs to the read's `SourceResult`. Memory is bounded: counters, a log-scale latency sketch, one
small int per distinct passenger hash that made a flag decision (the determinism check needs it), and one int per
distinct passenger key that made a request (`PassengerStates`: bucket, requests and 5xx, the cohort check's units).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.domain.bucketing import Bucketer

DECISION_BITS = {"OFF": 1, "ALLOWLIST": 2, "ROLLOUT": 4}
KEY_HEX_CHARS = 16  # a passenger key is the first 64 bits of its hash
_KEY_SIGN, _KEY_WRAP = 1 << 63, 1 << 64
OTHER_ROUTE = "other"
MAX_SAMPLES = 5


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def passenger_key(passenger_hash: str) -> int:
    """The passenger's key: the first 16 hex characters of its (lower-case) hash as a signed 64-bit integer, the
    form PostgreSQL's bigint stores. A truncated hash of a hash: it tells passengers apart (two of 10⁶ passengers
    share a key with probability ≈ 3·10⁻⁸) and cannot be turned back into an id."""
    value = int(passenger_hash[:KEY_HEX_CHARS], 16)
    return value - _KEY_WRAP if value >= _KEY_SIGN else value


@dataclass(frozen=True)
class LogWindow:
    """What one read measures: [start_ms, end_ms) of the logs, for `feature`.

    - `route_groups`: (name, path prefix) pairs counted apart; anything else is the route `other`;
    - `bucketer` and `allowlist_hashes`: how a passenger hash falls into a cohort (see `CohortCounts`);
    - `segment_bounds`: epoch-ms instants (a config change) that split the decisions into segments (`DecisionStats`);
    - `also_features`: other features whose decisions this read keeps too (`WindowAggregate.other_decisions`), for a
      read shared by several flags (`monitor.domain.shared`); empty for one flag's read.
    """

    feature: str
    start_ms: int
    end_ms: int
    route_groups: Sequence[tuple[str, str]] = ()
    bucketer: Bucketer = field(default_factory=Bucketer)
    allowlist_hashes: frozenset[str] = frozenset()
    segment_bounds: Sequence[int] = ()
    also_features: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "route_groups", tuple(self.route_groups))
        object.__setattr__(self, "segment_bounds", tuple(sorted(self.segment_bounds)))
        object.__setattr__(self, "also_features", tuple(f for f in self.also_features if f != self.feature))

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature whose decisions this read keeps: `feature` first."""
        return (self.feature, *self.also_features)

    def route_of(self, path: str) -> str:
        for name, prefix in self.route_groups:
            if path.startswith(prefix):
                return name
        return OTHER_ROUTE

    def segment_ranges(self) -> list[tuple[int, int]]:
        """[lo, hi) of each decision segment (`DecisionStats.segment_of`), clamped to the window; may be empty."""
        edges = [self.start_ms, *self.segment_bounds, self.end_ms]
        return [
            (max(edges[i], self.start_ms), min(edges[i + 1], self.end_ms)) for i in range(len(self.segment_bounds) + 1)
        ]

    def aggregate(self) -> WindowAggregate:
        """An empty aggregate of this window."""
        return WindowAggregate(self)


class EventCounts:
    """Every event read in the window, by kind, with the first and last timestamps and a few malformed samples."""

    __slots__ = (
        "events",
        "first_event_ms",
        "last_event_ms",
        "malformed",
        "malformed_samples",
        "other",
        "outside_window",
        "unrecognised",
    )

    def __init__(self) -> None:
        self.events = 0  # every event read in the window
        self.other = 0  # events that are neither requests nor decisions
        self.outside_window = 0
        self.unrecognised = 0  # `file:` lines in no format it reads (counted in events and other too)
        self.malformed = 0
        self.malformed_samples: list[str] = []
        self.first_event_ms: int | None = None
        self.last_event_ms: int | None = None

    def seen(self, ts_ms: int | None, n: int = 1) -> None:
        self.events += n
        if ts_ms is not None:
            if self.first_event_ms is None or ts_ms < self.first_event_ms:
                self.first_event_ms = ts_ms
            if self.last_event_ms is None or ts_ms > self.last_event_ms:
                self.last_event_ms = ts_ms

    def add_malformed(self, reason: str, n: int = 1) -> None:
        self.malformed += n
        if len(self.malformed_samples) < MAX_SAMPLES:
            self.malformed_samples.append(reason[:200])

    def merge(self, later: EventCounts) -> None:
        """Add `later`, whose events come after these in reading order (the samples keep that order)."""
        self.events += later.events
        self.other += later.other
        self.outside_window += later.outside_window
        self.unrecognised += later.unrecognised
        self.malformed += later.malformed
        self.malformed_samples = (self.malformed_samples + later.malformed_samples)[:MAX_SAMPLES]
        self.first_event_ms = _earliest(self.first_event_ms, later.first_event_ms)
        self.last_event_ms = _latest(self.last_event_ms, later.last_event_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "other": self.other,
            "malformed": self.malformed,
            "malformed_samples": list(self.malformed_samples),
            "outside_window": self.outside_window,
            "unrecognised": self.unrecognised,
            "first_event_ms": self.first_event_ms,
            "last_event_ms": self.last_event_ms,
        }


class StatusCounts:
    """Requests by status class, with 401/403/429 apart."""

    __slots__ = ("c401", "c403", "c429", "requests", "s2xx", "s3xx", "s4xx", "s5xx", "sother")

    def __init__(self) -> None:
        self.requests = self.s2xx = self.s3xx = self.s4xx = self.s5xx = self.sother = 0
        self.c401 = self.c403 = self.c429 = 0

    def add(self, status: int, n: int = 1) -> None:
        self.requests += n
        if 500 <= status < 600:
            self.s5xx += n
        elif 200 <= status < 300:
            self.s2xx += n
        elif 400 <= status < 500:
            self.s4xx += n
            if status == 401:
                self.c401 += n
            elif status == 403:
                self.c403 += n
            elif status == 429:
                self.c429 += n
        elif 300 <= status < 400:
            self.s3xx += n
        else:
            self.sother += n

    def merge(self, other: StatusCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "2xx": self.s2xx,
            "3xx": self.s3xx,
            "4xx": self.s4xx,
            "5xx": self.s5xx,
            "other": self.sother,
            "401": self.c401,
            "403": self.c403,
            "429": self.c429,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusCounts) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, never a dict key

    def __repr__(self) -> str:
        return f"StatusCounts({self.to_dict()})"


class LatencySketch:
    """A mergeable log-scale histogram (DDSketch-style) with 1% relative accuracy.

    Bin index of a value v > 0 is ceil(log(v) / log(gamma)); CloudWatch Logs Insights computes the same index
    server-side (`ceil(log(duration_ms) / LOG_GAMMA)`), so every engine builds the identical sketch.
    """

    RELATIVE_ACCURACY = 0.01
    GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    LOG_GAMMA = math.log(GAMMA)
    MIN_VALUE = 0.001  # ms; anything at or below lands in the zero bin

    __slots__ = ("bins", "count", "zero")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.zero = 0
        self.count = 0

    @classmethod
    def index(cls, value: float) -> int:
        return math.ceil(math.log(value) / cls.LOG_GAMMA)

    def add(self, value: float, n: int = 1) -> None:
        self.count += n
        if value <= self.MIN_VALUE:
            self.zero += n
            return
        i = math.ceil(math.log(value) / self.LOG_GAMMA)
        bins = self.bins
        bins[i] = bins.get(i, 0) + n

    def add_bin(self, index: int | None, n: int) -> None:
        """Add `n` values already binned (None = the zero bin), as an Insights `stats count() by bin` row gives."""
        self.count += n
        if index is None:
            self.zero += n
        else:
            self.bins[index] = self.bins.get(index, 0) + n

    def merge(self, other: LatencySketch) -> None:
        self.count += other.count
        self.zero += other.zero
        for i, n in other.bins.items():
            self.bins[i] = self.bins.get(i, 0) + n

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1), within 1% of the exact value; None when empty."""
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        seen = self.zero
        if rank < seen:
            return 0.0
        for i in sorted(self.bins):
            seen += self.bins[i]
            if seen > rank:
                return 2 * self.GAMMA**i / (self.GAMMA + 1)
        return 2 * self.GAMMA ** max(self.bins) / (self.GAMMA + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "zero": self.zero, "bins": {str(k): v for k, v in sorted(self.bins.items())}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencySketch) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, never a dict key


class RouteStats:
    """One route group: its requests by status and its latency sketch."""

    __slots__ = ("latency", "status")

    def __init__(self) -> None:
        self.status = StatusCounts()
        self.latency = LatencySketch()

    def add(self, status: int, duration_ms: float, n: int = 1) -> None:
        self.status.add(status, n)
        self.latency.add(duration_ms, n)

    def merge(self, other: RouteStats) -> None:
        self.status.merge(other.status)
        self.latency.merge(other.latency)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.to_dict(), "latency_p95_ms": self.latency.quantile(0.95)}


@dataclass
class CohortCounts:
    """Requests and 5xx by bucket (0..99) for passengers not on the allowlist, allowlisted ones apart, anonymous apart.

    Cohort ON = allowlisted + buckets below the rollout %, when the flag is enabled; see `checks.cohort`.
    """

    bucket_requests: list[int] = field(default_factory=lambda: [0] * 100)
    bucket_5xx: list[int] = field(default_factory=lambda: [0] * 100)
    allowlisted_requests: int = 0
    allowlisted_5xx: int = 0
    anonymous_requests: int = 0
    anonymous_5xx: int = 0

    def merge(self, other: CohortCounts) -> None:
        self.bucket_requests = [x + y for x, y in zip(self.bucket_requests, other.bucket_requests, strict=True)]
        self.bucket_5xx = [x + y for x, y in zip(self.bucket_5xx, other.bucket_5xx, strict=True)]
        self.allowlisted_requests += other.allowlisted_requests
        self.allowlisted_5xx += other.allowlisted_5xx
        self.anonymous_requests += other.anonymous_requests
        self.anonymous_5xx += other.anonymous_5xx

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_requests": self.bucket_requests,
            "bucket_5xx": self.bucket_5xx,
            "allowlisted_requests": self.allowlisted_requests,
            "allowlisted_5xx": self.allowlisted_5xx,
            "anonymous_requests": self.anonymous_requests,
            "anonymous_5xx": self.anonymous_5xx,
        }


BUCKET_BITS, FAILURE_BITS = 7, 10
_BUCKET_MASK, _FAILURE_MAX = (1 << BUCKET_BITS) - 1, (1 << FAILURE_BITS) - 1
_REQUEST_SHIFT = BUCKET_BITS + FAILURE_BITS
ENTRY_REQUESTS = 20  # a passenger enters the cohort evidence (`monitor.checks.bets`) with a 5xx or this many requests


def pack_state(bucket: int, requests: int, errors: int) -> int:
    """A passenger's window state as one int: bucket (7 bits), 5xx (10 bits, capped at 1023), requests above."""
    return requests << _REQUEST_SHIFT | min(errors, _FAILURE_MAX) << BUCKET_BITS | bucket


def bucket_of(state: int) -> int:
    return state & _BUCKET_MASK


def errors_of(state: int) -> int:
    """The passenger's 5xx in the window (capped at 1023)."""
    return state >> BUCKET_BITS & _FAILURE_MAX


def requests_of(state: int) -> int:
    return state >> _REQUEST_SHIFT


def enters_with(requests: int, errors: int) -> bool:
    """Does a passenger not yet in the phase's cohort evidence enter it with this window's requests and 5xx? (A 5xx,
    or `ENTRY_REQUESTS` requests: a rule on its outcomes alone, `monitor.checks.bets`.)"""
    return errors > 0 or requests >= ENTRY_REQUESTS


def enters(state: int) -> bool:
    """`enters_with` of a packed window state."""
    return enters_with(requests_of(state), errors_of(state))


class PassengerStates:
    """Every passenger who made a request in the window, by key (`passenger_key`): the bucket of its hash (0..99,
    computed once), its requests and its 5xx, packed in one int (`pack_state`; read with `bucket_of`, `requests_of`,
    `errors_of`).

    Config-independent, so cohorts are assigned at check time under the config in force (allowlist membership from
    the allowlist hashes' keys) and several flags could share one read. A passenger costs its key, its state (an int
    object once it has made a request: ≈ 32 bytes) and one dict slot (`benchmarks/passenger_memory.py` measures it).
    """

    __slots__ = ("states",)

    def __init__(self) -> None:
        self.states: dict[int, int] = {}

    def add(self, key: int, bucket: int, requests: int = 1, errors: int = 0) -> None:
        """`requests` requests (`errors` of them 5xx) of the passenger `key`, whose hash falls in `bucket`."""
        states = self.states
        state = states.get(key)
        if state is None:
            states[key] = pack_state(bucket, requests, errors)
        else:
            states[key] = pack_state(bucket, requests_of(state) + requests, errors_of(state) + errors)

    def failing(self) -> set[int]:
        """Keys of the passengers with at least one 5xx in the window."""
        return {key for key, state in self.states.items() if errors_of(state)}

    def entering(self) -> set[int]:
        """Keys of the passengers this window would enter into the cohort evidence (`enters`)."""
        return {key for key, state in self.states.items() if enters(state)}

    def merge(self, other: PassengerStates) -> None:
        states = self.states
        for key, state in other.states.items():
            mine = states.get(key)
            if mine is None:
                states[key] = state
            else:
                states[key] = pack_state(
                    bucket_of(state), requests_of(mine) + requests_of(state), errors_of(mine) + errors_of(state)
                )

    def to_dict(self) -> dict[str, int]:
        """A summary (never the passengers themselves): how many were seen, and how many had a 5xx."""
        return {"seen": len(self.states), "with_5xx": sum(1 for state in self.states.values() if errors_of(state))}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PassengerStates) and self.states == other.states

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, never a dict key


class DecisionStats:
    """Flag decisions for the feature under check, split into time segments at config changes.

    `segment_bounds` are epoch-ms instants (sorted); segment i covers [bounds[i-1], bounds[i]). Per segment, each
    passenger hash maps to a bitmask of the decisions it received (DECISION_BITS).
    """

    __slots__ = ("by_decision", "other_feature", "per_hash", "segment_bounds", "total")

    def __init__(self, segment_bounds: Sequence[int] = ()) -> None:
        self.segment_bounds = sorted(segment_bounds)
        self.per_hash: list[dict[str, int]] = [{} for _ in range(len(self.segment_bounds) + 1)]
        self.by_decision: dict[str, int] = {"OFF": 0, "ALLOWLIST": 0, "ROLLOUT": 0}
        self.total = 0
        self.other_feature = 0

    def segment_of(self, ts_ms: int | None) -> int:
        if ts_ms is None:
            return len(self.segment_bounds)  # no timestamp: judged against the live config
        return bisect_right(self.segment_bounds, ts_ms)

    def add(self, segment: int, passenger_hash: str, decision: str, n: int = 1) -> None:
        self.total += n
        self.by_decision[decision] += n
        table = self.per_hash[segment]
        table[passenger_hash] = table.get(passenger_hash, 0) | DECISION_BITS[decision]

    def distinct_passengers(self) -> int:
        seen: set[str] = set()
        for table in self.per_hash:
            seen.update(table)
        return len(seen)

    def merge(self, other: DecisionStats) -> None:
        self.total += other.total
        self.other_feature += other.other_feature
        for decision, n in other.by_decision.items():
            self.by_decision[decision] += n
        for table, more in zip(self.per_hash, other.per_hash, strict=True):
            for passenger, mask in more.items():
                table[passenger] = table.get(passenger, 0) | mask

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_decision": dict(self.by_decision),
            "other_feature": self.other_feature,
            "distinct_passengers": self.distinct_passengers(),
        }


class WindowAggregate:
    """Everything the logs of one `LogWindow` add up to, as parts: `counts` (events by kind), `status` and `latency`
    (all requests), `routes` (per route group), `cohorts` (requests and 5xx per bucket) and `passengers` (per
    passenger key, the units of cohort_regression), and `decisions` (per config segment, for determinism)."""

    def __init__(self, window: LogWindow) -> None:
        self.window = window
        self.counts = EventCounts()
        self.status = StatusCounts()
        self.latency = LatencySketch()
        self.routes: dict[str, RouteStats] = {name: RouteStats() for name, _ in window.route_groups}
        self.routes.setdefault(OTHER_ROUTE, RouteStats())
        self.cohorts = CohortCounts()
        self.passengers = PassengerStates()
        self.decisions = DecisionStats(window.segment_bounds)
        # A shared read (`LogWindow.also_features`): the other features' decisions, and each allowlisted
        # passenger's (requests, 5xx), so every feature's cohorts can be split from this one aggregate.
        self.other_decisions = {f: DecisionStats(window.segment_bounds) for f in window.also_features}
        self.allowlisted: dict[str, list[int]] = {}

    # -- what the engines call ------------------------------------------------------------------------------
    def seen(self, ts_ms: int | None, n: int = 1) -> None:
        self.counts.seen(ts_ms, n)

    def add_malformed(self, reason: str, n: int = 1) -> None:
        self.counts.add_malformed(reason, n)

    def add_request(self, status: int, duration_ms: float, route: str, passenger_hash: str | None, n: int = 1) -> None:
        self.status.add(status, n)
        self.latency.add(duration_ms, n)
        self.routes[route].add(status, duration_ms, n)
        self.add_cohort_request(passenger_hash, 500 <= status < 600, n)

    def add_cohort_request(self, passenger_hash: str | None, is_5xx: bool, n: int = 1) -> None:
        """`n` requests of one passenger (None: anonymous), all 5xx or none: the cohort counts and the passenger's
        state. The bucket is computed once per passenger key."""
        c = self.cohorts
        err = n if is_5xx else 0
        if passenger_hash is None:
            c.anonymous_requests += n
            c.anonymous_5xx += err
            return
        key = passenger_key(passenger_hash)
        states = self.passengers.states
        state = states.get(key)
        if state is None:
            bucket = self.window.bucketer.bucket_of_hash(passenger_hash)
            states[key] = pack_state(bucket, n, err)
        else:
            bucket = bucket_of(state)
            states[key] = pack_state(bucket, requests_of(state) + n, errors_of(state) + err)
        if passenger_hash in self.window.allowlist_hashes:
            c.allowlisted_requests += n
            c.allowlisted_5xx += err
            if self.other_decisions:
                tally = self.allowlisted.setdefault(passenger_hash, [0, 0])
                tally[0] += n
                tally[1] += err
        else:
            c.bucket_requests[bucket] += n
            c.bucket_5xx[bucket] += err

    def add_decision(self, ts_ms: int | None, feature_key: str, decision: str, passenger_hash: str, n: int = 1) -> None:
        if feature_key != self.window.feature:
            self.decisions.other_feature += n
            other = self.other_decisions.get(feature_key)
            if other is not None:
                other.add(other.segment_of(ts_ms), passenger_hash, decision, n)
            return
        self.decisions.add(self.decisions.segment_of(ts_ms), passenger_hash, decision, n)

    # -- what the checks read -------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return self.status.requests

    # -- parts together -------------------------------------------------------------------------------------
    def merge(self, later: WindowAggregate) -> None:
        """Add `later` (same window; its events come after these in reading order) into this aggregate."""
        if later.window != self.window:
            raise ValueError("only aggregates of the same window merge")
        self.counts.merge(later.counts)
        self.status.merge(later.status)
        self.latency.merge(later.latency)
        for name, route in later.routes.items():
            self.routes[name].merge(route)
        self.cohorts.merge(later.cohorts)
        self.passengers.merge(later.passengers)
        self.decisions.merge(later.decisions)
        for feature, decisions in later.other_decisions.items():
            self.other_decisions[feature].merge(decisions)
        for passenger, (n, err) in later.allowlisted.items():
            tally = self.allowlisted.setdefault(passenger, [0, 0])
            tally[0] += n
            tally[1] += err

    def to_dict(self) -> dict[str, Any]:
        """The measured figures as plain JSON (stored with the checkpoint's metrics and shown in `--json`)."""
        return {
            **self.counts.to_dict(),
            "status": self.status.to_dict(),
            "latency_p95_ms": self.latency.quantile(0.95),
            "routes": {name: route.to_dict() for name, route in self.routes.items()},
            "passengers": self.passengers.to_dict(),
            "decisions": self.decisions.to_dict(),
        }
