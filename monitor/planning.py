"""What a checkpoint measures, decided before anything is read: the window, the run key, the expected config, the
baseline and the config segments a flag change imposes. Pure functions of their arguments (time comes in as `now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.checks.base import Thresholds
from monitor.domain.checkpoint import Checkpoint, Window
from monitor.domain.flag import ConfigChange, ExpectedConfig, FlagConfig
from monitor.domain.format import iso_z
from monitor.domain.status import Status
from monitor.errors import ConfigError
from monitor.settings import DURATION_LIMITS, Settings, parse_duration, window_length
from monitor.store.base import Expectations

AUTO_PHASE = "auto"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def auto_phase(config: FlagConfig) -> str:
    """PHASE `auto`: the phase named after the live rollout, so an hourly schedule never needs editing between
    phases ("rollout-5pct", "allowlist" at 0% with an allowlist, "disabled" with the master switch off)."""
    if not config.enabled:
        return "disabled"
    if config.rollout_percentage == 0:
        return "allowlist" if config.allowlist else "rollout-0pct"
    return f"rollout-{config.rollout_percentage}pct"


@dataclass
class CheckpointRequest:
    feature: str
    phase: str
    label: str
    expected_rollout: int | None = None
    expected_enabled: bool | None = None
    window: str | None = None
    end: datetime | None = None
    phase_log: str | None = None
    run_key: str | None = None
    dry_run: bool = False
    baseline_label: str | None = None


@dataclass(frozen=True)
class CheckpointPlan:
    """A request made concrete before any log is read: its phase resolved (`auto`), run key, window (and whether it
    ends now), the time, the live config, the expectation and the phase log's destination."""

    request: CheckpointRequest
    run_key: str
    window: Window
    ends_now: bool
    now: datetime
    config: FlagConfig
    expected: ExpectedConfig
    destination: str


def compute_window(settings: Settings, request: CheckpointRequest, now: datetime) -> tuple[Window, bool]:
    """The window and whether it ends "now" (within ingestion lag), which is when freshness applies."""
    length = window_length(request.window or settings.window)
    lag = parse_duration(settings.ingestion_lag, maximum=DURATION_LIMITS["ingestion_lag"], what="ingestion lag")
    if request.end is not None:
        end = request.end.astimezone(UTC)
        if end > now + timedelta(minutes=1):
            raise ConfigError(f"--end {iso_z(end)} is in the future: give a time before now")
        if end - EPOCH < length:
            raise ConfigError(f"--end {iso_z(end)} puts the window before 1970-01-01: give a later time")
    else:
        end = (now - lag).replace(second=0, microsecond=0)
    ends_now = now - end <= lag + timedelta(minutes=1)
    return Window(start=end - length, end=end), ends_now


def run_key_of(request: CheckpointRequest, window: Window) -> str:
    """The idempotency key: `--run-key` scoped to the feature and phase (so one EventBridge time shared by several
    features' schedules never collides), else feature|phase|label|window end."""
    scope = f"{request.feature}|{request.phase}|"
    if request.run_key:
        return request.run_key if request.run_key.startswith(scope) else scope + request.run_key
    return f"{scope}{request.label}|{window.end.isoformat()}"


def resolve_expected(request: CheckpointRequest, store: Expectations) -> ExpectedConfig:
    if request.expected_rollout is not None or request.expected_enabled is not None:
        enabled = request.expected_enabled
        if enabled is None and request.expected_rollout:
            enabled = True  # a rollout above 0% means nothing with the master switch off
        return ExpectedConfig(rollout_percentage=request.expected_rollout, enabled=enabled, source="flags")
    return store.expectation(request.feature) or ExpectedConfig()


def pick_baseline(history: list[Checkpoint], label: str | None) -> Checkpoint | None:
    """The phase's first PASS checkpoint, or the newest one carrying `label`. `history` is newest first."""
    if label:
        found = next((c for c in history if c.label == label), None)
        if found is None:
            raise ConfigError(
                f"--baseline-label {label!r} names no checkpoint of this phase: see `beta-monitor history`"
            )
        return found
    return next((c for c in reversed(history) if c.status == Status.PASS), None)


def config_segments(
    config: FlagConfig,
    window: Window,
    thresholds: Thresholds,
    history: list[Checkpoint],
    *,
    audit: list[dict[str, Any]] | None = None,
    allowlist_hashes: frozenset[str] = frozenset(),
) -> tuple[list[int], ConfigChange | None]:
    """Decision segments when the last config change can affect the window, and the earlier config when known.

    A change at T splits decisions into before T (old config), [T, T+ttl) (either: the backend's cache) and after.
    A change after the window's end means the whole window ran on the old config. The old config comes from the
    `rollout set` audit row of that change, else from the latest checkpoint taken before it.
    """
    changed = config.updated_at
    if changed is None or changed + thresholds.cache_ttl <= window.start:
        return [], None
    at_ms = int(changed.timestamp() * 1000)
    bounds = [at_ms, at_ms + int(thresholds.cache_ttl.total_seconds() * 1000)]
    for row in audit or []:  # `rollout set` changes enabled and rollout, never the allowlist
        at, before = row.get("at"), row.get("before") or {}
        if isinstance(at, datetime) and abs((at - changed).total_seconds()) <= 2 and "rollout_percentage" in before:
            return bounds, ConfigChange(
                enabled=bool(before.get("enabled")),
                rollout_percentage=int(before["rollout_percentage"]),
                allowlist_hashes=tuple(sorted(allowlist_hashes)),
                until=changed,
            )
    before_cp = next((c for c in history if c.created_at < changed), None)
    if before_cp is None:
        return bounds, None
    live = before_cp.live_config
    return bounds, ConfigChange(
        enabled=bool(live.get("enabled")),
        rollout_percentage=int(live.get("rollout_percentage", 0)),
        allowlist_hashes=tuple(before_cp.allowlist_hashes),
        until=changed,
    )
