"""What a checkpoint measures, decided before anything is read: the window, the run key, the expected config, the
baseline and the config segments the flag's changes impose. Pure functions of their arguments (time comes in as `now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.checks.base import Thresholds
from monitor.domain.aggregate import passenger_key
from monitor.domain.bucketing import Bucketer
from monitor.domain.checkpoint import Checkpoint, Window
from monitor.domain.flag import ExpectedConfig, FlagConfig, OtherFlag
from monitor.domain.format import iso_z
from monitor.domain.status import Status
from monitor.domain.timeline import SegmentPlan, config_eras, plan_segments
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


def config_plan(
    config: FlagConfig,
    window: Window,
    thresholds: Thresholds,
    history: list[Checkpoint],
    *,
    audit: list[dict[str, Any]] | None = None,
    allowlist_hashes: frozenset[str] = frozenset(),
) -> SegmentPlan:
    """The configs in force over the window, one decision segment each, with the cache TTL as grace around every
    change (`monitor.domain.timeline`): reconstructed from the live config, the `rollout set` audit (newest first;
    pass all of it that can reach back to the window) and, for a change made outside `rollout set`, the phase's
    checkpoints (newest first) that recorded the config before it."""
    eras = config_eras(config, allowlist_hashes, audit or [], history)
    return plan_segments(
        eras, int(window.start.timestamp() * 1000), int(window.end.timestamp() * 1000), thresholds.cache_ttl
    )


def other_flags(flags: list[FlagConfig], feature: str, bucketer: Bucketer) -> tuple[OtherFlag, ...]:
    """The flags in rollout beside `feature` (`FlagConfig.in_rollout`: enabled, below 100%, above 0% or with an
    allowlist), by name, each with its live rollout % and its allowlist as passenger keys (ids hashed here, never
    kept). A flag disabled, at 0% without allowlist or at 100% is ON for no passenger or for all of them alike, so it
    cannot make one cohort differ from the other; a stored `rollout set` expectation adds only such flags."""
    return tuple(
        OtherFlag(
            name=f.key,
            rollout_percentage=f.rollout_percentage,
            allowlist_keys=frozenset(passenger_key(bucketer.hash_id(p)) for p in f.allowlist),
        )
        for f in sorted(flags, key=lambda f: f.key)
        if f.key != feature and f.in_rollout
    )
