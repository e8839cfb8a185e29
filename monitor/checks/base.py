"""What every check receives. Checks are pure: (context) -> CheckResult; time comes in as `now`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.domain.aggregate import WindowAggregate
from monitor.domain.bucketing import Bucketer
from monitor.domain.checkpoint import Checkpoint, Window
from monitor.domain.flag import ConfigChange, ExpectedConfig, FlagConfig
from monitor.domain.reading import SourceResult
from monitor.settings import Settings, parse_duration


@dataclass(frozen=True)
class Thresholds:
    max_5xx_rate: float = 0.01
    min_requests: int = 100
    alpha: float = 0.01
    min_effect: float = 0.005
    min_cohort_requests: int = 100
    latency_warn: float = 0.20
    latency_fail: float = 0.50
    max_malformed_share: float = 0.01
    freshness: timedelta = timedelta(minutes=15)
    drift_grace: timedelta = timedelta(minutes=10)
    cache_ttl: timedelta = timedelta(seconds=60)
    error_escalation: int = 4

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        return cls(
            max_5xx_rate=s.max_5xx_rate, min_requests=s.min_requests, alpha=s.alpha, min_effect=s.min_effect,
            min_cohort_requests=s.min_cohort_requests, latency_warn=s.latency_warn, latency_fail=s.latency_fail,
            max_malformed_share=s.max_malformed_share, freshness=parse_duration(s.freshness),
            drift_grace=parse_duration(s.drift_grace), cache_ttl=timedelta(seconds=s.flag_cache_ttl),
            error_escalation=s.error_escalation,
        )


@dataclass
class CheckContext:
    """Inputs of one checkpoint's checks.

    - `config`: the live flag config; `allowlist_hashes`: H(id) of its allowlist.
    - `previous_config`: the config in force before `config.updated_at`, when that change falls inside the window and
      an earlier config is known (previous checkpoint or `rollout set` audit); else None.
    - `reading`: what the log engine read (its aggregate is `stats`), with how it was read: engine, AWS calls,
      queries, problems and the load balancer's cross-check. The aggregate's decision segments are split at
      `config.updated_at` and at `config.updated_at + cache_ttl` when the change is inside the window (segment 0 =
      before, 1 = grace, 2 = after); otherwise there is a single segment judged against `config`.
    - `baseline`: the phase's baseline checkpoint (first PASS, or `--baseline-label`), None if there is none yet.
    - `previous`: the phase's latest checkpoint before this one (allowlist changes are reported against it).
    - `window_ends_now`: the window ends within ingestion lag of `now` (freshness applies only then).
    """

    feature: str
    config: FlagConfig
    allowlist_hashes: frozenset[str]
    expected: ExpectedConfig
    reading: SourceResult
    window: Window
    now: datetime
    thresholds: Thresholds = field(default_factory=Thresholds)
    bucketer: Bucketer = field(default_factory=Bucketer)
    previous_config: ConfigChange | None = None
    baseline: Checkpoint | None = None
    previous: Checkpoint | None = None
    window_ends_now: bool = True

    @property
    def stats(self) -> WindowAggregate:
        """What was measured in the window (the reading's aggregate)."""
        return self.reading.aggregate

    def in_force(self) -> tuple[bool, int]:
        """(enabled, rollout %) that governed the window: the earlier config when the change came after its end."""
        prev = self.previous_config
        changed = self.config.updated_at
        if prev is not None and changed is not None and changed >= self.window.end:
            return prev.enabled, prev.rollout_percentage
        return self.config.enabled, self.config.rollout_percentage
