"""The checks, in their fixed order: one entry each, the only list of checks there is.

An entry says what the check records (its evidence model, which names it), how stdout titles it, whether it judges
figures read from the logs (such a check never PASSes on a read that was incomplete), and the pure function that
runs it. `run_checks` runs them all; a check that raises becomes ERROR and the others carry on (Kayenta's judge).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.checks.base import CheckContext
from monitor.checks.cohort import check_cohort_regression
from monitor.checks.config_drift import check_config_drift
from monitor.checks.data_quality import check_data_quality
from monitor.checks.determinism import check_determinism
from monitor.checks.error_rate import check_error_rate
from monitor.checks.latency import check_latency
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import (
    CohortEvidence,
    ConfigDriftEvidence,
    DataQualityEvidence,
    DeterminismEvidence,
    ErrorRateEvidence,
    Evidence,
    LatencyEvidence,
)
from monitor.domain.status import Status

Check = Callable[[CheckContext], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    """One check: its evidence model (whose `check` is the check's name), its title on stdout, whether it judges
    figures read from the logs, and the function that runs it."""

    evidence: type[Evidence]
    title: str
    reads_logs: bool
    run: Check

    @property
    def name(self) -> str:
        return self.evidence.check


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(ErrorRateEvidence, "Error rate", reads_logs=True, run=check_error_rate),
    CheckSpec(CohortEvidence, "Cohort regression", reads_logs=True, run=check_cohort_regression),
    CheckSpec(DeterminismEvidence, "Determinism", reads_logs=True, run=check_determinism),
    CheckSpec(ConfigDriftEvidence, "Config drift", reads_logs=False, run=check_config_drift),
    CheckSpec(LatencyEvidence, "Latency", reads_logs=True, run=check_latency),
    CheckSpec(DataQualityEvidence, "Data quality", reads_logs=True, run=check_data_quality),
)
BY_NAME: dict[str, CheckSpec] = {spec.name: spec for spec in CHECKS}


def title(name: str) -> str:
    """How stdout names a check (its name when no check has it)."""
    spec = BY_NAME.get(name)
    return spec.title if spec else name


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_checks(ctx: CheckContext, checks: Sequence[CheckSpec] = CHECKS) -> list[CheckResult]:
    """Every check's result, in order. An exception inside a check is that check's ERROR, never the run's."""
    results: list[CheckResult] = []
    for spec in checks:
        try:
            result = spec.run(ctx)
        except Exception as exc:  # a broken check never stops the run (SPEC "Checks")
            summary = _one_line(f"check raised {type(exc).__name__}: {exc}")
            result = CheckResult(
                name=spec.name, status=Status.ERROR, summary=summary, evidence=spec.evidence.raised(exc)
            )
        results.append(result)
    return results
