"""The doctor's engine comparison: the Insights engine and the scan engine read the same last minutes of real events
and must give exactly the same figures (the engines' contract, README "Logs Insights"). The headline figures are
shown side by side; every other part of the aggregate (status codes, latency sketch, routes, cohorts, each
passenger's decisions) must be equal too, and is named when it is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.doctor.report import FAIL, PASS, SKIP, DoctorReport
from monitor.domain.aggregate import LogWindow, WindowAggregate
from monitor.sources.base import LogSource

HEADLINE: tuple[tuple[str, Callable[[WindowAggregate], int]], ...] = (
    ("events", lambda a: a.counts.events),
    ("requests", lambda a: a.status.requests),
    ("5xx", lambda a: a.status.s5xx),
    ("decisions", lambda a: a.decisions.total),
    ("passengers with decisions", lambda a: a.decisions.distinct_passengers()),
    ("malformed", lambda a: a.counts.malformed),
    ("other", lambda a: a.counts.other),
)
PARTS: tuple[tuple[str, Callable[[WindowAggregate], Any]], ...] = (
    ("status codes", lambda a: a.status.to_dict()),
    ("latency sketch", lambda a: a.latency.to_dict()),
    ("routes", lambda a: {name: route.to_dict() for name, route in sorted(a.routes.items())}),
    ("cohorts", lambda a: a.cohorts.to_dict()),
    ("decisions per passenger", lambda a: a.decisions.per_hash),
    ("first and last event", lambda a: (a.counts.first_event_ms, a.counts.last_event_ms)),
)


def compare_engines(
    report: DoctorReport, insights: LogSource, scan: LogSource, window: LogWindow, minutes: int
) -> None:
    """Read `window` with both engines and add one probe: PASS with the figures side by side when every figure is
    equal, FAIL naming what differs or what stopped a read, SKIP when the window holds no event at all."""
    name = f"insights = scan ({window.feature}, last {minutes} min)"
    by_insights, by_scan = insights.read(window), scan.read(window)
    for engine, read in (("insights", by_insights), ("scan", by_scan)):
        if read.problems:
            report.add(name, FAIL, f"the {engine} read is incomplete: {read.problems[0]}")
            return
    a, b = by_insights.aggregate, by_scan.aggregate
    figures = {label: {"insights": get(a), "scan": get(b)} for label, get in HEADLINE}
    if not a.counts.events and not b.counts.events:
        report.add(name, SKIP, f"no event in the last {minutes} min to compare: rerun with a larger --minutes")
        return
    side = ", ".join(f"{label} {f['insights']:,}/{f['scan']:,}" for label, f in figures.items())
    differ = [label for label, f in figures.items() if f["insights"] != f["scan"]]
    differ += [label for label, get in PARTS if get(a) != get(b)]
    queries = len(by_insights.queries)
    if differ:
        report.add(
            name,
            FAIL,
            f"the engines disagree on {', '.join(differ)} (insights/scan: {side})",
            figures=figures,
            queries=queries,
        )
        return
    report.add(name, PASS, f"every figure equal (insights/scan: {side}; {queries} queries)", figures=figures)
