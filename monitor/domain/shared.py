"""One read of the logs for several flags (`beta-monitor watch`): the shared window, and each flag's own reading
split out of the shared one.

Only two parts of a `WindowAggregate` depend on the flag: its decisions (kept per feature, each split at its own
config changes) and its allowlist (which passengers' requests count as allowlisted rather than in their bucket).
Everything else — events, status, latency, routes, the per-passenger states — is the same for every flag. So the
shared window reads the decisions of every watched feature, splits them at the union of their config changes, and
puts the union of the allowlists apart, with each allowlisted passenger's requests kept by hash; `split_reading`
then gives each flag exactly the aggregate its own read would have produced (a test checks it engine by engine).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from copy import copy

from monitor.domain.aggregate import CohortCounts, DecisionStats, LogWindow, WindowAggregate
from monitor.domain.reading import SourceResult


def shared_window(windows: Sequence[LogWindow]) -> LogWindow:
    """The one window that reads for all of `windows` (same time range, route groups and bucketing): every
    feature's decisions, split at every feature's config changes, with the union of the allowlists apart."""
    if not windows:
        raise ValueError("a shared read needs at least one window")
    first = windows[0]
    if len(windows) == 1:
        return first
    for window in windows[1:]:
        same = (window.start_ms, window.end_ms, window.route_groups, window.bucketer)
        if same != (first.start_ms, first.end_ms, first.route_groups, first.bucketer):
            raise ValueError("only windows of the same time range, route groups and bucketing share a read")
    return LogWindow(
        feature=first.feature,
        start_ms=first.start_ms,
        end_ms=first.end_ms,
        route_groups=first.route_groups,
        bucketer=first.bucketer,
        allowlist_hashes=frozenset().union(*(w.allowlist_hashes for w in windows)),
        segment_bounds=sorted({b for w in windows for b in w.segment_bounds}),
        also_features=list(dict.fromkeys(w.feature for w in windows[1:])),
    )


def split_reading(shared: SourceResult, window: LogWindow) -> SourceResult:
    """`window`'s own reading out of the shared one: the flag-independent parts as read (shared, not copied: they
    are read-only from here on), its cohorts under its allowlist, its decisions under its own segments."""
    if shared.window == window:
        return shared
    source = shared.aggregate
    agg = WindowAggregate(window)
    agg.counts, agg.status, agg.latency = source.counts, source.status, source.latency
    agg.routes, agg.passengers = source.routes, source.passengers
    agg.cohorts = _cohorts(source, window)
    agg.decisions = _decisions(source, window)
    result = copy(shared)
    result.aggregate = agg
    return result


def _cohorts(source: WindowAggregate, window: LogWindow) -> CohortCounts:
    """The shared cohorts with the passengers on another flag's allowlist (not on this one's) back in their bucket."""
    shared = source.cohorts
    cohorts = CohortCounts(
        bucket_requests=list(shared.bucket_requests),
        bucket_5xx=list(shared.bucket_5xx),
        anonymous_requests=shared.anonymous_requests,
        anonymous_5xx=shared.anonymous_5xx,
    )
    for passenger, (n, err) in source.allowlisted.items():
        if passenger in window.allowlist_hashes:
            cohorts.allowlisted_requests += n
            cohorts.allowlisted_5xx += err
        else:
            bucket = window.bucketer.bucket_of_hash(passenger)
            cohorts.bucket_requests[bucket] += n
            cohorts.bucket_5xx[bucket] += err
    return cohorts


def _decisions(source: WindowAggregate, window: LogWindow) -> DecisionStats:
    """The feature's decisions, the shared segments (split at every feature's changes) folded into its own; its
    `other_feature` counts every valid decision of another feature, as its own read would."""
    primary = source.window.feature
    mine = source.decisions if window.feature == primary else source.other_decisions.get(window.feature)
    if mine is None:
        raise ValueError(f"the shared read did not keep the decisions of {window.feature[:100]!r}")
    all_decisions = source.decisions.total + source.decisions.other_feature
    out = DecisionStats(window.segment_bounds)
    out.total = mine.total
    out.by_decision = dict(mine.by_decision)
    out.other_feature = all_decisions - mine.total
    shared_bounds = mine.segment_bounds
    for index, table in enumerate(mine.per_hash):
        segment = bisect_right(out.segment_bounds, shared_bounds[index - 1]) if index else 0
        into = out.per_hash[segment]
        for passenger, mask in table.items():
            into[passenger] = into.get(passenger, 0) | mask
    return out
