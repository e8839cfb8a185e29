"""What each check records as its evidence: one pydantic model per check, read by attribute everywhere (the gate, the
stdout lines, the phase-log templates), never by string key.

The models describe stored JSON, so they are lenient on purpose: every field has a default (None, the value a
missing key always meant, or an empty record for the cohorts), unknown keys are kept (`extra="allow"`), and a
checkpoint row written by an older or a newer version loads. A model dumps only the keys that were set
(`CheckResult` serialises evidence with `exclude_unset`), so what was stored, printed by `--json` or read back is
exactly what the check wrote — a check therefore sets every field it declares (tests/checks/test_registry.py checks
it).

`Checkpoint` and the checks' own inputs (the baseline, the previous checkpoint) hold these models, which is why they
live in the domain and not beside each check function: `monitor.checks.registry` pairs each model with its check.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.status import Status

_EXCEPTION = "exception"  # what a check that raised records instead of evidence
_DIAGNOSTIC = frozenset({_EXCEPTION, "error"})
_ESCALATED_FROM = "escalated_from"
_CONSECUTIVE_ERRORS = "consecutive_errors"


class Record(BaseModel):
    """A stored JSON object: every field optional, unknown keys kept."""

    model_config = ConfigDict(extra="allow")


class Evidence(Record):
    """The evidence of one check. `check` names the check the model belongs to."""

    check: ClassVar[str] = ""

    @classmethod
    def raised(cls, exc: BaseException) -> Self:
        """The evidence of a check that raised: only the exception's type (its message is in the summary)."""
        return cls.model_validate({_EXCEPTION: type(exc).__name__})

    @property
    def measured(self) -> bool:
        """Whether the check measured anything: not the case for one that raised or was not run."""
        return bool(self.model_fields_set - _DIAGNOSTIC)

    def escalate(self, consecutive_errors: int) -> Self:
        """The same evidence, marked as an ERROR escalated to FAIL after `consecutive_errors` checkpoints."""
        extra = {_ESCALATED_FROM: Status.ERROR.value, _CONSECUTIVE_ERRORS: consecutive_errors}
        return self.model_copy(update=extra)

    @property
    def escalated(self) -> bool:
        """A FAIL that was an escalated ERROR (the streak of errors goes on)."""
        return (self.model_extra or {}).get(_ESCALATED_FROM) == Status.ERROR.value


# -- error_rate ------------------------------------------------------------------------------------------------
class Counts(Record):
    requests: int | None = None
    errors_5xx: int | None = None


class Rate(Counts):
    """5xx among requests with the 95% Wilson interval of the rate."""

    rate: float | None = None
    interval: list[float] | None = None


class BaselineRate(Record):
    label: str | None = None
    created_at: str | None = None
    rate: float | None = None


class ErrorRateEvidence(Evidence):
    check: ClassVar[str] = "error_rate"

    requests: int | None = None
    errors_5xx: int | None = None
    rate: float | None = None
    interval: list[float] | None = None
    limit: float | None = None
    min_requests: int | None = None
    breakdown: dict[str, int] | None = None  # StatusCounts.to_dict(): keys "2xx", "401", …
    routes: dict[str, Rate] | None = None
    baseline: BaselineRate | None = None


# -- cohort_regression -----------------------------------------------------------------------------------------
class CohortWindow(Rate):
    """One cohort in the checkpoint's window: requests and 5xx (rate and 95% Wilson interval), passengers seen and
    those with ≥ 1 5xx, and the test's units: passengers at risk (no 5xx earlier in the phase) and, of them, those
    failing for the first time."""

    passengers: int | None = None
    failing_passengers: int | None = None
    units: int | None = None
    first_failures: int | None = None


class OverlapFlag(Record):
    """Another flag in rollout and how many of the checked flag's ON passengers it is ON for too."""

    name: str | None = None
    rollout_percentage: int | None = None
    allowlist_size: int | None = None
    also_on: int | None = None  # this window: the checked flag's ON passengers seen who are ON for this flag too
    share: float | None = None  # also_on / on_passengers; None without ON passengers
    phase_share: float | None = None  # the same over the phase's checkpoints that recorded it (passenger-hours)


class PartTest(Record):
    """One part of the passengers tested against a control over the phase, as the main cohort test is
    (`monitor.checks.sequential`). `hour` is this window's `HourCounts` (on_* the part, off_* the control): what later
    checkpoints fold; `phase` their sum. `interval` is the anytime-valid (lo, hi) of the part/control ratio, `hi`
    None when unbounded; `hours` the informative hours, `checkpoints` the hours folded."""

    hour: dict[str, int] | None = None
    phase: dict[str, int] | None = None
    verdict: str | None = None  # FAIL / WARN / PASS / NODATA
    ratio: float | None = None
    interval: list[float | None] | None = None
    log_e_value: float | None = None
    e_value: float | None = None
    p_value: float | None = None
    hours: int | None = None
    checkpoints: int | None = None


class Overlap(Record):
    """Overlapping rollouts (`monitor.checks.overlap`): the share of the ON cohort also ON for other flags, and two
    parts tested over the phase: `exclusive`, the ON passengers with only this flag against the OFF cohort, and
    `others_only`, the OFF passengers ON for another flag against those ON for no flag. `attribution`:
    "attributable", "not_attributable" or "undecided", with `attribution_reason` saying why."""

    flags: list[OverlapFlag] | None = None
    on_passengers: int | None = None
    shared: int | None = None  # ON passengers also ON for at least one other flag
    share: float | None = None
    phase_share: float | None = None
    exclusive: PartTest | None = None
    others_only: PartTest | None = None
    attribution: str | None = None
    attribution_reason: str | None = None


class CohortEvidence(Evidence):
    """The window's cohorts and the phase's accumulated evidence (`monitor.checks.sequential`).

    `hour` is this window's `HourCounts` (as a dict): what the phase's later checkpoints fold, read back from the
    database. `phase` is the sum over the folded checkpoints. `interval` is the anytime-valid (lo, hi) of the ON/OFF
    ratio, `hi` None when unbounded; `e_value` None when too large for a float (`log_e_value` always holds it).
    `bets`: this window's entering passengers as `monitor.checks.bets.Bets` (rollout %, per cohort a histogram of
    [capped 5xx, request bin, passengers]): the evidence the verdict folds, when present. `evidence_unit`: "bets"
    (per-passenger bets) or "split" (the binary split of first failures). `overlap`: the other flags in rollout
    sharing ON passengers, the exclusive part's test and the attribution
    (None when not computed: the other flags unknown, or the check SKIPped)."""

    check: ClassVar[str] = "cohort_regression"

    on: CohortWindow = Field(default_factory=CohortWindow)
    off: CohortWindow = Field(default_factory=CohortWindow)
    anonymous: Counts = Field(default_factory=Counts)
    hour: dict[str, int] | None = None
    bets: dict[str, Any] | None = None
    evidence_unit: str | None = None
    entered: int | None = None  # passengers who entered the evidence this window (allowlist apart)
    phase: dict[str, int] | None = None
    ratio: float | None = None
    interval: list[float | None] | None = None
    log_e_value: float | None = None
    e_value: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    hour_e_value: float | None = None
    hour_ratio: float | None = None
    hours: float | None = None
    checkpoints: int | None = None
    fail_since: str | None = None
    hours_to_decide: float | None = None
    hours_to_decide_phase: float | None = None
    needed_requests: int | None = None
    needed_hours: float | None = None
    alpha: float | None = None
    min_relative_effect: float | None = None
    min_cohort_requests: int | None = None
    overlap: Overlap | None = None


# -- determinism -----------------------------------------------------------------------------------------------
class Exposure(Record):
    """(d): distinct non-allowlisted passengers seen ON against the rollout %, with its binomial interval."""

    seen_on: int | None = None
    seen: int | None = None
    share: float | None = None
    expected: float | None = None
    interval: list[float] | None = None
    inside: bool | None = None
    confidence: float | None = None


class Segment(Record):
    """One config segment of the window's decisions and what judging it found."""

    index: int | None = None
    judged_against: str | None = None
    from_ms: int | None = None
    until_ms: int | None = None
    passengers: int | None = None
    wrong_decision_passengers: int | None = None
    conflicting_passengers: int | None = None
    unverifiable_passengers: int | None = None
    allowlist_violations: int | None = None
    configs: list[str] | None = None  # the configs accepted in the segment, e.g. ["5%"], ["10%", "5%"], ["disabled"]


class InForce(Record):
    """The config a window was judged at: the known config with the highest exposure in force inside it."""

    enabled: bool | None = None
    rollout_percentage: int | None = None


class DeterminismEvidence(Evidence):
    check: ClassVar[str] = "determinism"

    allowlist_size: int | None = None
    allowlist_violations: int | None = None
    decisions: int | None = None
    passengers: int | None = None
    wrong_decision_passengers: int | None = None
    conflicting_passengers: int | None = None
    unverifiable_passengers: int | None = None
    examples: list[str] | None = None
    exposure: Exposure | None = None
    segments: list[Segment] | None = None
    by_decision: dict[str, int] | None = None
    in_force: InForce | None = None


# -- config_drift ----------------------------------------------------------------------------------------------
class LiveState(Record):
    enabled: bool | None = None
    rollout_percentage: int | None = None
    allowlist_size: int | None = None
    updated_at: str | None = None


class ExpectedState(Record):
    enabled: bool | None = None
    rollout_percentage: int | None = None
    source: str | None = None


class ConfigDriftEvidence(Evidence):
    check: ClassVar[str] = "config_drift"

    live: LiveState | None = None
    expected: ExpectedState | None = None
    mismatches: list[str] | None = None
    changed_ago_s: float | None = None
    drift_grace_s: float | None = None
    mirror_disagreements: list[str] | None = None
    allowlist_added: int | None = None
    allowlist_removed: int | None = None
    allowlist_examples: list[str] | None = None


# -- latency ---------------------------------------------------------------------------------------------------
class RouteLatency(Record):
    p95_ms: float | None = None
    baseline_p95_ms: float | None = None
    change: float | None = None
    status: Status | None = None
    requests: int | None = None


class LatencyEvidence(Evidence):
    check: ClassVar[str] = "latency"

    p95_ms: float | None = None
    baseline_p95_ms: float | None = None
    baseline_label: str | None = None
    baseline_created_at: str | None = None
    change: float | None = None
    requests: int | None = None
    warn_above: float | None = None
    fail_above: float | None = None
    routes: dict[str, RouteLatency] | None = None


# -- data_quality ----------------------------------------------------------------------------------------------
class DataQualityEvidence(Evidence):
    check: ClassVar[str] = "data_quality"

    events: int | None = None
    malformed: int | None = None
    malformed_share: float | None = None
    max_malformed_share: float | None = None
    samples: list[str] | None = None
    other: int | None = None
    last_event_age_s: float | None = None
    freshness_s: float | None = None
    window_ends_now: bool = True  # rows written before this field existed judged freshness
    problems: list[str] | None = None
    aws_calls: dict[str, int] | None = None
    queries: list[dict[str, Any]] | None = None  # engine-specific records (Insights: name, query, status, rows, …)
    load_balancer: dict[str, Any] | None = None  # the cross-check's figures, whose keys depend on its status
    engine: str | None = None
    unrecognised: int | None = None  # `file:` lines in no format it reads
    inputs: dict[str, int] | None = None  # `file:` inputs read, by the format found
    unreadable_inputs: list[str] | None = None  # `file:` inputs mostly unrecognised, with their first line's shape
    read_cost: dict[str, int] | None = None  # Insights queries, bytes scanned, flags served (`SourceResult.read_cost`)


EVIDENCE_MODELS: dict[str, type[Evidence]] = {
    model.check: model
    for model in (
        ErrorRateEvidence,
        CohortEvidence,
        DeterminismEvidence,
        ConfigDriftEvidence,
        LatencyEvidence,
        DataQualityEvidence,
    )
}


def evidence_model(check: str) -> type[Evidence]:
    """The evidence model of a check by name; plain `Evidence` for a name no check has."""
    return EVIDENCE_MODELS.get(check, Evidence)
