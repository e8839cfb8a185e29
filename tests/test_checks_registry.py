"""run_checks: fixed order, exact names, and a check that raises becomes ERROR while the others carry on."""

from __future__ import annotations

from datetime import datetime

from helpers_checks import config, ctx, hashes, requests, stats

from monitor.checks.base import CheckContext
from monitor.checks.error_rate import check_error_rate
from monitor.checks.registry import CHECK_NAMES, CHECKS, run_checks
from monitor.domain import CheckResult, ExpectedConfig, Status

ORDER = ["error_rate", "cohort_regression", "determinism", "config_drift", "latency", "data_quality"]


def busy_context(**cfg_kw: object) -> CheckContext:
    cfg = config(rollout=5, **cfg_kw)  # type: ignore[arg-type]
    s = stats(cfg)
    for p in hashes(200):
        requests(s, 10, 0, passenger=p)
        s.add_decision(None, cfg.key, "ROLLOUT" if s.window.bucketer.bucket_of_hash(p) < 5 else "OFF", p)
    return ctx(s, cfg, expected=ExpectedConfig(rollout_percentage=5, enabled=True, source="flags"))


def test_order_and_names() -> None:
    results = run_checks(busy_context())
    assert [r.name for r in results] == ORDER == list(CHECK_NAMES)
    by_name = {r.name: r.status for r in results}
    assert by_name["error_rate"] is Status.PASS
    assert by_name["determinism"] is Status.PASS
    assert by_name["config_drift"] is Status.PASS
    assert by_name["latency"] is Status.SKIP  # no baseline yet
    assert by_name["data_quality"] is Status.PASS


def test_a_check_that_raises_becomes_error_and_the_others_run() -> None:
    def broken(ctx: CheckContext) -> CheckResult:
        raise ZeroDivisionError("division by zero\nsecond line")

    checks = [("error_rate", check_error_rate), ("cohort_regression", broken), *CHECKS[2:]]
    results = run_checks(busy_context(), checks)
    assert [r.name for r in results] == ORDER
    broken_result = results[1]
    assert broken_result.status is Status.ERROR
    assert broken_result.summary == "check raised ZeroDivisionError: division by zero second line"
    assert results[0].status is Status.PASS and results[2].status is Status.PASS


def test_bad_input_to_a_real_check_is_contained() -> None:
    # A naive updated_at cannot be compared with an aware `now`: config_drift raises, the rest still judge.
    results = run_checks(busy_context(updated_at=datetime(2025, 3, 1, 9, 0)))
    by_name = {r.name: r for r in results}
    assert by_name["config_drift"].status is Status.ERROR
    assert by_name["config_drift"].summary.startswith("check raised TypeError: ")
    assert by_name["error_rate"].status is Status.PASS
    assert by_name["data_quality"].status is Status.PASS
