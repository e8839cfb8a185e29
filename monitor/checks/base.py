"""What every check receives. Checks are pure: (context) -> CheckResult; time comes in as `now`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from monitor.domain.aggregate import WindowAggregate
from monitor.domain.bucketing import Bucketer
from monitor.domain.checkpoint import Checkpoint, Window
from monitor.domain.flag import ExpectedConfig, FlagConfig, OtherFlag
from monitor.domain.reading import SourceResult
from monitor.domain.timeline import SegmentPlan
from monitor.settings import Settings, parse_duration


def _threshold(name: str, settings: Settings) -> Any:
    """The threshold `name` as the checks use it, read from `settings` (durations parsed)."""
    if name == "cache_ttl":
        return timedelta(seconds=settings.flag_cache_ttl)
    value = getattr(settings, name)
    return parse_duration(value) if name in _DURATIONS else value


_DURATIONS = frozenset({"freshness", "drift_grace"})
_DEFAULTS = Settings.model_construct()  # every setting at its declared default, no environment read


@dataclass(frozen=True)
class Thresholds:
    """What the checks judge against. `Settings` is the one place each default is written: these fields default to
    it, and `from_settings` reads a configured instance. Tests and benchmarks override one field:
    `Thresholds(alpha=0.001)`."""

    max_5xx_rate: float = _threshold("max_5xx_rate", _DEFAULTS)
    min_requests: int = _threshold("min_requests", _DEFAULTS)
    alpha: float = _threshold("alpha", _DEFAULTS)
    min_relative_effect: float | None = _threshold("min_relative_effect", _DEFAULTS)
    min_cohort_requests: int = _threshold("min_cohort_requests", _DEFAULTS)
    latency_warn: float = _threshold("latency_warn", _DEFAULTS)
    latency_fail: float = _threshold("latency_fail", _DEFAULTS)
    max_malformed_share: float = _threshold("max_malformed_share", _DEFAULTS)
    freshness: timedelta = _threshold("freshness", _DEFAULTS)
    drift_grace: timedelta = _threshold("drift_grace", _DEFAULTS)
    cache_ttl: timedelta = _threshold("cache_ttl", _DEFAULTS)  # the backend's flag cache (BETA_MONITOR_FLAG_CACHE_TTL)
    error_escalation: int = _threshold("error_escalation", _DEFAULTS)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(**{f.name: _threshold(f.name, settings) for f in fields(cls)})


@dataclass
class CheckContext:
    """Inputs of one checkpoint's checks.

    - `config`: the live flag config; `allowlist_hashes`: H(id) of its allowlist.
    - `segment_plan`: the configs in force over the window, reconstructed from the whole `rollout set` audit
      (`monitor.domain.timeline`): one segment per config and a cache-TTL grace segment around each change. The
      aggregate's decision segments are split at its bounds (segment i of the plan is `per_hash[i]`). None: a single
      segment judged against `config`.
    - `reading`: what the log engine read (its aggregate is `stats`), with how it was read: engine, AWS calls,
      queries, problems and the load balancer's cross-check.
    - `baseline`: the phase's baseline checkpoint (first PASS, or `--baseline-label`), None if there is none yet.
    - `previous`: the phase's latest checkpoint before this one (allowlist changes are reported against it).
    - `window_ends_now`: the window ends within ingestion lag of `now` (freshness applies only then).
    - `history`: the phase's stored checkpoints before this one, newest first (cohort_regression folds their
      evidence: the phase's hours).
    - `entered_before`: keys (`passenger_key`) of the passengers seen in this window who entered the cohort evidence
      at an earlier checkpoint of the phase (a 5xx, or `ENTRY_REQUESTS` requests, in an earlier window: they are no
      longer at risk, `monitor.checks.bets`).
    - `other_flags`: the other flags in rollout (`monitor.planning.other_flags`, read from the backend's flag table
      at their live config), whose ON passengers may overlap this flag's (buckets are unsalted); () when there is
      none, None when unknown (not read). cohort_regression reports the overlap and tests the exclusive part.
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
    segment_plan: SegmentPlan | None = None
    baseline: Checkpoint | None = None
    previous: Checkpoint | None = None
    window_ends_now: bool = True
    history: Sequence[Checkpoint] = ()
    entered_before: frozenset[int] = frozenset()
    other_flags: tuple[OtherFlag, ...] | None = None

    @property
    def stats(self) -> WindowAggregate:
        """What was measured in the window (the reading's aggregate)."""
        return self.reading.aggregate

    def in_force(self) -> tuple[bool, int]:
        """(enabled, rollout %) that governed the window: the known config with the highest exposure in force inside it,
        from the same reconstruction determinism judges by (a change after the window's end never counts)."""
        if self.segment_plan is None:
            return self.config.enabled, self.config.rollout_percentage
        return self.segment_plan.in_force.switches()
