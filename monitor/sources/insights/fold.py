"""Fold Logs Insights result rows into a `WindowAggregate`, exactly as `monitor.domain.contract.ingest` would have
filled it.

Values come back as strings. What the queries do not return directly is derived:
`other = events - claimed`, `malformed = claimed - valid`, the "other" route = all requests - the named routes, and
the latency zero bin = requests - binned requests. A derivation is skipped when a measure it needs failed (its
problem is already recorded), and a derived count that comes out negative, or per-passenger rows that do not add up
to the request count, is itself a problem (the queries saw different data: rerun).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from monitor.domain.aggregate import DECISION_BITS, MAX_SAMPLES, OTHER_ROUTE, WindowAggregate
from monitor.domain.contract import ingest, passenger_hash
from monitor.domain.reading import SourceResult
from monitor.sources.insights.queries import ROUTE, QueryBuilder, QuerySpec

Row = dict[str, str]
Results = dict[str, list[tuple[QuerySpec, list[Row]]]]
_FALLBACK_SAMPLE = "event breaks the log-line contract as read by Logs Insights (the scan engine reads it differently)"


def _int(value: str) -> int:
    return int(float(value))


def _ts(value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)


def _hash(value: str) -> str:
    """The queries lower-case every hash (`tolower`): anything else in a row is a bad row."""
    if passenger_hash(value) != value:
        raise ValueError("not a lower-case hex hash")
    return value


class _Collected:
    """Typed figures read out of the rows; rows without the expected fields are counted per measure."""

    def __init__(self, results: Results, builder: QueryBuilder) -> None:
        self.results = results
        self.routes = builder.prefix_routes
        self.bad: Counter[str] = Counter()
        self.events = 0
        self.first: int | None = None
        self.last: int | None = None
        self.claims: Counter[str] = Counter()
        self.status: Counter[int] = Counter()
        self.route_status: dict[str, Counter[int]] = {}
        self.bins: Counter[int] = Counter()
        self.route_bins: dict[str, Counter[int]] = {}
        self.cohort: list[tuple[str, bool, int]] = []
        self.anonymous: list[tuple[bool, int]] = []
        self.decisions: list[tuple[int, str, str, str, int]] = []  # segment, feature, hash, decision, n
        self.feature = builder.feature
        self.watched = frozenset(builder.features)
        self.other_feature = 0
        self._read()

    def _each(self, measure: str, required: tuple[str, ...], fn: Callable[[QuerySpec, Row], None]) -> None:
        for spec, rows in self.results.get(measure, ()):
            for row in rows:
                try:
                    if not all(key in row for key in required):
                        raise KeyError(measure)
                    fn(spec, row)
                except (KeyError, ValueError):
                    self.bad[measure] += 1

    def _read(self) -> None:
        self._each("events", ("events",), self._event_row)
        self._each("claims", ("bm_type", "n"), lambda _, r: self.claims.update({r["bm_type"]: _int(r["n"])}))
        self._each(
            "requests_by_status",
            ("bm_status", "n"),
            lambda _, r: self.status.update({_int(r["bm_status"]): _int(r["n"])}),
        )
        self._each(
            "requests_by_route",
            (ROUTE, "bm_status", "n"),
            lambda _, r: self.route_status.setdefault(self.routes[r[ROUTE]], Counter()).update(
                {_int(r["bm_status"]): _int(r["n"])}
            ),
        )
        self._each("latency_bins", ("bm_bin", "n"), lambda _, r: self.bins.update({_int(r["bm_bin"]): _int(r["n"])}))
        self._each(
            "latency_bins_by_route",
            (ROUTE, "bm_bin", "n"),
            lambda _, r: self.route_bins.setdefault(self.routes[r[ROUTE]], Counter()).update(
                {_int(r["bm_bin"]): _int(r["n"])}
            ),
        )
        self._each(
            "cohort_requests",
            ("bm_h", "bm_err", "n"),
            lambda _, r: self.cohort.append((_hash(r["bm_h"]), _int(r["bm_err"]) == 1, _int(r["n"]))),
        )
        self._each(
            "anonymous_requests",
            ("bm_err", "n"),
            lambda _, r: self.anonymous.append((_int(r["bm_err"]) == 1, _int(r["n"]))),
        )
        self._each("decisions", ("bm_h", "bm_decision", "n"), self._decision_row)
        self._each("other_feature_decisions", ("n",), lambda _, r: self._add_other_feature(_int(r["n"])))

    def _event_row(self, _: QuerySpec, row: Row) -> None:
        n = _int(row["events"])
        self.events += n
        if n and "first_ms" in row and "last_ms" in row:
            first, last = _ts(row["first_ms"]), _ts(row["last_ms"])
            self.first = first if self.first is None else min(self.first, first)
            self.last = last if self.last is None else max(self.last, last)

    def _decision_row(self, spec: QuerySpec, row: Row) -> None:
        if row["bm_decision"] not in DECISION_BITS or spec.segment is None:
            raise ValueError("unexpected decision row")
        feature = row.get("bm_feature", self.feature)
        if feature not in self.watched:
            raise ValueError("a decision row of a feature not asked for")
        self.decisions.append((spec.segment, feature, _hash(row["bm_h"]), row["bm_decision"], _int(row["n"])))

    def _add_other_feature(self, n: int) -> None:
        self.other_feature += n


def fold_results(result: SourceResult, builder: QueryBuilder, results: Results, *, failed: set[str]) -> None:
    """Add every figure of `results` to the result's aggregate; `failed` names the measures that are incomplete
    (already problems)."""
    got = _Collected(results, builder)
    for measure, n in sorted(got.bad.items()):
        result.problems.append(f"insights query {measure} returned {n} rows without the expected fields")
        failed.add(measure)

    def ok(*measures: str) -> bool:
        return not failed.intersection(measures)

    stats = result.aggregate
    stats.counts.events += got.events
    for ts in (got.first, got.last):
        if ts is not None:
            stats.seen(ts, 0)
    _fold_requests(result, got, ok)
    _fold_passengers(stats, got)
    _fold_derived(result, got, ok)
    if ok(*QueryBuilder.MEASURES) and not result.problems:
        _check_cohorts(result)


def _fold_passengers(stats: WindowAggregate, got: _Collected) -> None:
    """Per-passenger rows: cohort requests (anonymous apart) and decisions per segment."""
    for is_5xx, n in got.anonymous:
        stats.add_cohort_request(None, is_5xx, n)
    for passenger, is_5xx, n in got.cohort:
        stats.add_cohort_request(passenger, is_5xx, n)
    for segment, feature, passenger, decision, n in got.decisions:
        if feature == stats.window.feature:
            stats.decisions.add(segment, passenger, decision, n)
        else:  # a shared read: another watched feature's decision is also "another feature" for the first one
            stats.other_decisions[feature].add(segment, passenger, decision, n)
            stats.decisions.other_feature += n
    stats.decisions.other_feature += got.other_feature


def _fold_derived(result: SourceResult, got: _Collected, ok: Callable[..., bool]) -> None:
    """What no query returns directly: other events = events - claimed, malformed = claimed - valid."""
    stats = result.aggregate
    claimed_requests, claimed_decisions = got.claims["http_request"], got.claims["feature_flag_decision"]
    if ok("events", "claims"):
        stats.counts.other += _derived(result, "other events", got.events - claimed_requests - claimed_decisions)
    if ok("claims", "requests_by_status", "decisions", "other_feature_decisions"):
        valid = stats.status.requests + stats.decisions.total + stats.decisions.other_feature
        stats.counts.malformed += _derived(result, "malformed events", claimed_requests + claimed_decisions - valid)


def _derived(result: SourceResult, what: str, value: int) -> int:
    if value < 0:
        result.problems.append(
            f"insights results disagree: {what} came out at {value} (logs changed between "
            "queries? rerun the checkpoint)"
        )
        return 0
    return value


def _fold_requests(result: SourceResult, got: _Collected, ok: Callable[..., bool]) -> None:
    """Status counts and latency bins overall, per named route, and for the route `other` (what is left)."""
    stats = result.aggregate
    for code, n in sorted(got.status.items()):
        stats.status.add(code, n)
    for idx, n in sorted(got.bins.items()):
        stats.latency.add_bin(idx, n)
    if ok("requests_by_status", "latency_bins"):
        stats.latency.add_bin(None, _derived(result, "the latency zero bin", stats.requests - sum(got.bins.values())))
    other_status, other_bins = Counter(got.status), Counter(got.bins)
    named = {name for name in got.route_status.keys() | got.route_bins.keys() if name != OTHER_ROUTE}
    for name in sorted(named):
        codes, bins = got.route_status.get(name, Counter()), got.route_bins.get(name, Counter())
        _fold_route(result, name, codes, bins, zero_known=ok("requests_by_route", "latency_bins_by_route"))
        other_status.subtract(codes)
        other_bins.subtract(bins)
    if ok("requests_by_status", "requests_by_route", "latency_bins", "latency_bins_by_route"):
        _fold_other_route(result, other_status, other_bins)


def _fold_route(result: SourceResult, name: str, codes: Counter[int], bins: Counter[int], *, zero_known: bool) -> None:
    route = result.aggregate.routes[name]
    for code, n in sorted(codes.items()):
        route.status.add(code, n)
    for idx, n in sorted(bins.items()):
        route.latency.add_bin(idx, n)
    if zero_known:
        zero = sum(codes.values()) - sum(bins.values())
        route.latency.add_bin(None, _derived(result, f"the {name} zero bin", zero))


def _fold_other_route(result: SourceResult, status: Counter[int], bins: Counter[int]) -> None:
    """The route `other`: all requests minus the named routes' (never negative, else a problem)."""
    other = result.aggregate.routes[OTHER_ROUTE]
    for code, n in sorted(status.items()):
        if n:
            other.status.add(code, _derived(result, f"other-route status {code}", n))
    for idx, n in sorted(bins.items()):
        if n:
            other.latency.add_bin(idx, _derived(result, "an other-route latency bin", n))
    binned = sum(n for n in bins.values() if n > 0)
    other.latency.add_bin(None, _derived(result, "the other-route zero bin", other.status.requests - binned))


def _check_cohorts(result: SourceResult) -> None:
    stats = result.aggregate
    c = stats.cohorts
    requests = sum(c.bucket_requests) + c.allowlisted_requests + c.anonymous_requests
    errors = sum(c.bucket_5xx) + c.allowlisted_5xx + c.anonymous_5xx
    if (requests, errors) != (stats.status.requests, stats.status.s5xx):
        result.problems.append(
            f"insights results disagree: per-passenger requests add up to {requests} "
            f"({errors} 5xx), the status breakdown to {stats.status.requests} "
            f"({stats.status.s5xx} 5xx) (logs changed between queries? rerun the checkpoint)"
        )


def add_samples(stats: WindowAggregate, messages: Iterable[str]) -> None:
    """Describe up to 5 malformed raw messages the way the scan engine does (field names only, never values)."""
    samples = stats.counts.malformed_samples
    for message in messages:
        if len(samples) >= MAX_SAMPLES:
            return
        scratch = stats.window.aggregate()
        ingest(scratch, None, message)
        samples.append((scratch.counts.malformed_samples or [_FALLBACK_SAMPLE])[0][:200])
