"""The watchdog's vocabulary, pure (no I/O library): flags and the resolver, the log-line contract, the window
aggregate and a read's result, checkpoints with their typed evidence, and the two verdict types.

Modules inside the package import each other directly (never through this `__init__`), so the package has no cycle.
"""

from monitor.domain.aggregate import (
    CohortCounts,
    DecisionStats,
    EventCounts,
    LatencySketch,
    LogWindow,
    PassengerStates,
    RouteStats,
    StatusCounts,
    WindowAggregate,
    passenger_key,
)
from monitor.domain.bucketing import Bucketer, resolve, resolve_hash, short_hash
from monitor.domain.checkpoint import Checkpoint, CheckResult, GateDecision, Window
from monitor.domain.contract import ingest, parse_message
from monitor.domain.flag import Decision, ExpectedConfig, FlagConfig
from monitor.domain.reading import SourceResult
from monitor.domain.status import GateAction, Status
from monitor.domain.timeline import FlagState, SegmentPlan, config_eras, plan_segments

__all__ = [
    "Bucketer",
    "CheckResult",
    "Checkpoint",
    "CohortCounts",
    "Decision",
    "DecisionStats",
    "EventCounts",
    "ExpectedConfig",
    "FlagConfig",
    "FlagState",
    "GateAction",
    "GateDecision",
    "LatencySketch",
    "LogWindow",
    "PassengerStates",
    "RouteStats",
    "SegmentPlan",
    "SourceResult",
    "Status",
    "StatusCounts",
    "Window",
    "WindowAggregate",
    "config_eras",
    "ingest",
    "parse_message",
    "passenger_key",
    "plan_segments",
    "resolve",
    "resolve_hash",
    "short_hash",
]
