"""What a log source measured over a window: the one shared aggregate every engine fills.

`scan` and `file:` feed events one by one through `monitor.events`; `insights` folds server-side aggregates into
the same structure with the `add_*_count` methods. Memory is bounded: counters, a log-scale latency sketch, and one
small int per distinct passenger hash that made a flag decision (the determinism check needs it).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

DECISION_BITS = {"OFF": 1, "ALLOWLIST": 2, "ROLLOUT": 4}
BIT_DECISIONS = {bit: name for name, bit in DECISION_BITS.items()}
TRACKED_CODES = (401, 403, 429)
OTHER_ROUTE = "other"


def decisions_of(mask: int) -> list[str]:
    return [name for bit, name in BIT_DECISIONS.items() if mask & bit]


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencySketch:
        sketch = cls()
        sketch.count = int(data.get("count", 0))
        sketch.zero = int(data.get("zero", 0))
        sketch.bins = {int(k): int(v) for k, v in data.get("bins", {}).items()}
        return sketch

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencySketch) and self.to_dict() == other.to_dict()


class RouteStats:
    __slots__ = ("latency", "status")

    def __init__(self) -> None:
        self.status = StatusCounts()
        self.latency = LatencySketch()


@dataclass
class CohortInput:
    """Requests and 5xx by bucket (0..99) for passengers not on the allowlist, allowlisted ones apart, anonymous apart.

    Cohort ON = allowlisted + buckets below the rollout %, when the flag is enabled; see `checks.cohort`.
    """

    bucket_requests: list[int] = field(default_factory=lambda: [0] * 100)
    bucket_5xx: list[int] = field(default_factory=lambda: [0] * 100)
    allowlisted_requests: int = 0
    allowlisted_5xx: int = 0
    anonymous_requests: int = 0
    anonymous_5xx: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_requests": self.bucket_requests,
            "bucket_5xx": self.bucket_5xx,
            "allowlisted_requests": self.allowlisted_requests,
            "allowlisted_5xx": self.allowlisted_5xx,
            "anonymous_requests": self.anonymous_requests,
            "anonymous_5xx": self.anonymous_5xx,
        }


class DecisionStats:
    """Flag decisions for the feature under check, split into time segments at config changes.

    `segment_bounds` are epoch-ms instants (sorted); segment i covers [bounds[i-1], bounds[i]). Per segment, each
    passenger hash maps to a bitmask of the decisions it received (DECISION_BITS).
    """

    __slots__ = ("by_decision", "other_feature", "per_hash", "segment_bounds", "total")

    def __init__(self, segment_bounds: list[int] | None = None) -> None:
        self.segment_bounds = sorted(segment_bounds or [])
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


class WindowStats:
    """Everything one engine measured in one window, plus how it was measured (engine, calls, queries, problems)."""

    def __init__(
        self,
        *,
        feature: str,
        start_ms: int,
        end_ms: int,
        route_groups: list[tuple[str, str]],
        bucket_of_hash: Any,
        allowlist_hashes: frozenset[str] = frozenset(),
        segment_bounds: list[int] | None = None,
        engine: str = "",
    ) -> None:
        self.feature = feature
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.route_groups = route_groups
        self.bucket_of_hash = bucket_of_hash
        self.allowlist_hashes = allowlist_hashes
        self.engine = engine
        self.events = 0  # every event read in the window
        self.other = 0  # events that are neither requests nor decisions
        self.outside_window = 0
        self.malformed = 0
        self.malformed_samples: list[str] = []
        self.first_event_ms: int | None = None
        self.last_event_ms: int | None = None
        self.status = StatusCounts()
        self.latency = LatencySketch()
        self.routes: dict[str, RouteStats] = {name: RouteStats() for name, _ in route_groups}
        self.routes.setdefault(OTHER_ROUTE, RouteStats())
        self.cohorts = CohortInput()
        self.decisions = DecisionStats(segment_bounds)
        self.aws_calls: dict[str, int] = {}
        self.queries: list[dict[str, Any]] = []  # Insights queries and what they returned, for the evidence
        self.problems: list[str] = []  # partial, failed or truncated reads: data_quality turns these into ERROR
        self.load_balancer: dict[str, Any] | None = None  # CloudWatch metrics cross-check, when configured

    # -- what the engines call ------------------------------------------------------------------------------
    def route_of(self, path: str) -> str:
        for name, prefix in self.route_groups:
            if path.startswith(prefix):
                return name
        return OTHER_ROUTE

    def seen(self, ts_ms: int | None, n: int = 1) -> None:
        self.events += n
        if ts_ms is not None:
            if self.first_event_ms is None or ts_ms < self.first_event_ms:
                self.first_event_ms = ts_ms
            if self.last_event_ms is None or ts_ms > self.last_event_ms:
                self.last_event_ms = ts_ms

    def add_request(self, status: int, duration_ms: float, route: str, passenger_hash: str | None, n: int = 1) -> None:
        self.status.add(status, n)
        self.latency.add(duration_ms, n)
        r = self.routes[route]
        r.status.add(status, n)
        r.latency.add(duration_ms, n)
        self.add_cohort_request(passenger_hash, 500 <= status < 600, n)

    def add_cohort_request(self, passenger_hash: str | None, is_5xx: bool, n: int = 1) -> None:
        c = self.cohorts
        err = n if is_5xx else 0
        if passenger_hash is None:
            c.anonymous_requests += n
            c.anonymous_5xx += err
        elif passenger_hash in self.allowlist_hashes:
            c.allowlisted_requests += n
            c.allowlisted_5xx += err
        else:
            b = self.bucket_of_hash(passenger_hash)
            c.bucket_requests[b] += n
            c.bucket_5xx[b] += err

    def add_decision(self, ts_ms: int | None, feature_key: str, decision: str, passenger_hash: str, n: int = 1) -> None:
        if feature_key != self.feature:
            self.decisions.other_feature += n
            return
        self.decisions.add(self.decisions.segment_of(ts_ms), passenger_hash, decision, n)

    def add_malformed(self, reason: str, n: int = 1) -> None:
        self.malformed += n
        if len(self.malformed_samples) < 5:
            self.malformed_samples.append(reason[:200])

    def count_call(self, api: str, n: int = 1) -> None:
        self.aws_calls[api] = self.aws_calls.get(api, 0) + n

    # -- what the checks read -------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return self.status.requests

    @property
    def complete(self) -> bool:
        return not self.problems

    def metrics(self) -> dict[str, Any]:
        """The measured figures as plain JSON (stored with the checkpoint and shown in `--json`)."""
        return {
            "engine": self.engine,
            "events": self.events,
            "other": self.other,
            "malformed": self.malformed,
            "malformed_samples": list(self.malformed_samples),
            "outside_window": self.outside_window,
            "first_event_ms": self.first_event_ms,
            "last_event_ms": self.last_event_ms,
            "status": self.status.to_dict(),
            "latency_p95_ms": self.latency.quantile(0.95),
            "routes": {
                name: {"status": r.status.to_dict(), "latency_p95_ms": r.latency.quantile(0.95)}
                for name, r in self.routes.items()
            },
            "decisions": {
                "total": self.decisions.total,
                "by_decision": dict(self.decisions.by_decision),
                "other_feature": self.decisions.other_feature,
                "distinct_passengers": self.decisions.distinct_passengers(),
            },
            "aws_calls": dict(self.aws_calls),
            "queries": list(self.queries),
            "problems": list(self.problems),
            "load_balancer": self.load_balancer,
        }
