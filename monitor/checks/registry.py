"""Runs every check in a fixed order; a check that raises becomes ERROR and the others carry on (Kayenta's judge)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.checks.base import CheckContext
from monitor.checks.cohort import check_cohort_regression
from monitor.checks.config_drift import check_config_drift
from monitor.checks.data_quality import check_data_quality
from monitor.checks.determinism import check_determinism
from monitor.checks.error_rate import check_error_rate
from monitor.checks.latency import check_latency
from monitor.domain.checkpoint import CheckResult
from monitor.domain.status import Status

Check = Callable[[CheckContext], CheckResult]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("error_rate", check_error_rate),
    ("cohort_regression", check_cohort_regression),
    ("determinism", check_determinism),
    ("config_drift", check_config_drift),
    ("latency", check_latency),
    ("data_quality", check_data_quality),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKS)


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_checks(ctx: CheckContext, checks: Sequence[tuple[str, Check]] = CHECKS) -> list[CheckResult]:
    """Every check's result, in order. An exception inside a check is that check's ERROR, never the run's."""
    results: list[CheckResult] = []
    for name, check in checks:
        try:
            result = check(ctx)
        except Exception as exc:  # a broken check never stops the run (SPEC "Checks")
            summary = _one_line(f"check raised {type(exc).__name__}: {exc}")
            result = CheckResult(name=name, status=Status.ERROR, summary=summary,
                                 evidence={"exception": type(exc).__name__})
        results.append(result)
    return results
