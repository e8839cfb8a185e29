"""Builders for the pure check tests: real WindowAggregate, FlagConfig, Bucketer and Checkpoint, no mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from monitor.checks.base import CheckContext, Thresholds
from monitor.domain import (
    Bucketer,
    Checkpoint,
    CheckResult,
    ExpectedConfig,
    FlagConfig,
    LogWindow,
    SourceResult,
    Status,
    Window,
    WindowAggregate,
)

FEATURE = "passenger_favorites_matching"
BUCKETER = Bucketer()
ROUTE_GROUPS = [("feature_flag", "/api/feature-flags"), ("matching", "/api/matching")]
END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(start=END - timedelta(hours=1), end=END)
START_MS = int(WINDOW.start.timestamp() * 1000)
END_MS = int(WINDOW.end.timestamp() * 1000)


@cache
def _pool() -> tuple[tuple[str, int], ...]:
    return tuple((BUCKETER.hash_id(f"passenger-{i}"), BUCKETER.bucket(f"passenger-{i}")) for i in range(20000))


def hashes(count: int, low: int = 0, high: int = 100, skip: int = 0) -> list[str]:
    """`count` distinct passenger hashes whose bucket is in [low, high), after skipping the first `skip` of them."""
    found = [h for h, b in _pool() if low <= b < high][skip : skip + count]
    assert len(found) == count, "pool too small for this bucket range"
    return found


def allowlist_ids(count: int) -> tuple[str, ...]:
    return tuple(f"allow-{i}" for i in range(count))


def allowlist_hashes(ids: tuple[str, ...]) -> frozenset[str]:
    return frozenset(BUCKETER.hash_id(p) for p in ids)


def config(enabled: bool = True, rollout: int = 5, allow: tuple[str, ...] = (), **kw: Any) -> FlagConfig:
    kw.setdefault("updated_at", END - timedelta(days=1))
    return FlagConfig(key=FEATURE, enabled=enabled, rollout_percentage=rollout, allowlist=allow, **kw)


def stats(cfg: FlagConfig | None = None, segment_bounds: list[int] | None = None) -> WindowAggregate:
    allow = allowlist_hashes(cfg.allowlist) if cfg else frozenset()
    return LogWindow(
        feature=FEATURE,
        start_ms=START_MS,
        end_ms=END_MS,
        route_groups=ROUTE_GROUPS,
        bucketer=BUCKETER,
        allowlist_hashes=allow,
        segment_bounds=segment_bounds or (),
    ).aggregate()


def reading(s: WindowAggregate) -> SourceResult:
    """What a read by the test engine produced: `s`, complete."""
    return SourceResult(s, engine="test")


def requests(
    s: WindowAggregate,
    total: int,
    errors: int,
    *,
    duration: float = 100.0,
    route: str = "matching",
    passenger: str | None = None,
    at_ms: int | None = None,
) -> None:
    """`total` requests of which `errors` are 500s, each counted as a seen event."""
    if errors:
        s.add_request(500, duration, route, passenger, errors)
    if total - errors:
        s.add_request(200, duration, route, passenger, total - errors)
    s.seen(at_ms if at_ms is not None else END_MS - 60_000, total)


def ctx(s: WindowAggregate | SourceResult, cfg: FlagConfig | None = None, **kw: Any) -> CheckContext:
    cfg = cfg or config()
    kw.setdefault("expected", ExpectedConfig())
    kw.setdefault("now", END + timedelta(minutes=5))
    kw.setdefault("thresholds", Thresholds())
    return CheckContext(
        feature=FEATURE,
        config=cfg,
        allowlist_hashes=allowlist_hashes(cfg.allowlist),
        reading=s if isinstance(s, SourceResult) else reading(s),
        window=WINDOW,
        bucketer=BUCKETER,
        **kw,
    )


def checkpoint(
    label: str,
    status: Status,
    checks: list[CheckResult] | None = None,
    *,
    rollout: int = 5,
    enabled: bool = True,
    allowlist: list[str] | None = None,
    hours_ago: int = 0,
) -> Checkpoint:
    created = END - timedelta(hours=hours_ago)
    return Checkpoint(
        feature=FEATURE,
        phase="p5",
        label=label,
        run_key=f"{FEATURE}|p5|{label}",
        status=status,
        window=Window(start=created - timedelta(hours=1), end=created),
        live_config={"key": FEATURE, "enabled": enabled, "rollout_percentage": rollout, "allowlist_size": 0},
        expected=ExpectedConfig(),
        checks=checks or [],
        created_at=created,
        allowlist_hashes=allowlist or [],
    )


def result(name: str, status: Status, **evidence: Any) -> CheckResult:
    return CheckResult(name=name, status=status, summary=f"{name} {status.value}", evidence=evidence)
