"""Adding one `WindowStats` into another: the `file:` engine reads a large file in parts and merges them.

Every field of a `WindowStats` is a sum, a min/max, a union of bitmasks or an ordered sample, so reading in parts and
merging gives exactly the figures of one sequential read (tests/test_file_parallel.py checks it).
"""

from __future__ import annotations

from monitor.window import WindowStats

MAX_SAMPLES = 5


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def clone_empty(stats: WindowStats) -> WindowStats:
    """A fresh aggregate measuring the same window, feature, routes, allowlist and segments."""
    return WindowStats(
        feature=stats.feature,
        start_ms=stats.start_ms,
        end_ms=stats.end_ms,
        route_groups=stats.route_groups,
        bucket_of_hash=stats.bucket_of_hash,
        allowlist_hashes=stats.allowlist_hashes,
        segment_bounds=list(stats.decisions.segment_bounds),
        engine=stats.engine,
    )


def merge_into(target: WindowStats, later: WindowStats) -> None:
    """Add `later` into `target`; `later` holds the events that come after `target`'s in reading order."""
    target.events += later.events
    target.other += later.other
    target.outside_window += later.outside_window
    target.malformed += later.malformed
    target.malformed_samples = (target.malformed_samples + later.malformed_samples)[:MAX_SAMPLES]
    target.first_event_ms = _earliest(target.first_event_ms, later.first_event_ms)
    target.last_event_ms = _latest(target.last_event_ms, later.last_event_ms)
    target.status.merge(later.status)
    target.latency.merge(later.latency)
    for name, route in later.routes.items():
        into = target.routes[name]
        into.status.merge(route.status)
        into.latency.merge(route.latency)
    a, b = target.cohorts, later.cohorts
    a.bucket_requests = [x + y for x, y in zip(a.bucket_requests, b.bucket_requests, strict=True)]
    a.bucket_5xx = [x + y for x, y in zip(a.bucket_5xx, b.bucket_5xx, strict=True)]
    a.allowlisted_requests += b.allowlisted_requests
    a.allowlisted_5xx += b.allowlisted_5xx
    a.anonymous_requests += b.anonymous_requests
    a.anonymous_5xx += b.anonymous_5xx
    d, e = target.decisions, later.decisions
    d.total += e.total
    d.other_feature += e.other_feature
    for decision, n in e.by_decision.items():
        d.by_decision[decision] += n
    for table, more in zip(d.per_hash, e.per_hash, strict=True):
        for passenger, mask in more.items():
            table[passenger] = table.get(passenger, 0) | mask
    for api, n in later.aws_calls.items():
        target.count_call(api, n)
    target.queries.extend(later.queries)
    target.problems.extend(later.problems)
    target.load_balancer = target.load_balancer or later.load_balancer
