"""The registry: fixed order, exact names, one evidence model per check whose every field the check sets, and a
check that raises becomes ERROR while the others carry on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from helpers_checks import config, ctx, hashes, requests, stats

from monitor.checks.base import CheckContext
from monitor.checks.registry import CHECKS, run_checks
from monitor.domain import CheckResult, ExpectedConfig, Status
from monitor.domain.evidence import EVIDENCE_MODELS

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
    assert [r.name for r in results] == ORDER == [spec.name for spec in CHECKS]
    by_name = {r.name: r.status for r in results}
    assert by_name["error_rate"] is Status.PASS
    assert by_name["determinism"] is Status.PASS
    assert by_name["config_drift"] is Status.PASS
    assert by_name["latency"] is Status.SKIP  # no baseline yet
    assert by_name["data_quality"] is Status.PASS


def test_a_check_that_raises_becomes_error_and_the_others_run() -> None:
    def broken(ctx: CheckContext) -> CheckResult:
        raise ZeroDivisionError("division by zero\nsecond line")

    checks = [CHECKS[0], replace(CHECKS[1], run=broken), *CHECKS[2:]]
    results = run_checks(busy_context(), checks)
    assert [r.name for r in results] == ORDER
    broken_result = results[1]
    assert broken_result.status is Status.ERROR
    assert broken_result.summary == "check raised ZeroDivisionError: division by zero second line"
    assert broken_result.model_dump()["evidence"] == {"exception": "ZeroDivisionError"}
    assert not broken_result.evidence.measured
    assert results[0].status is Status.PASS and results[2].status is Status.PASS


def test_bad_input_to_a_real_check_is_contained() -> None:
    # A naive updated_at cannot be compared with an aware `now`: config_drift raises, the rest still judge.
    results = run_checks(busy_context(updated_at=datetime(2025, 3, 1, 9, 0)))
    by_name = {r.name: r for r in results}
    assert by_name["config_drift"].status is Status.ERROR
    assert by_name["config_drift"].summary.startswith("check raised TypeError: ")
    assert by_name["error_rate"].status is Status.PASS
    assert by_name["data_quality"].status is Status.PASS


def test_one_evidence_model_per_check_in_the_registry_order() -> None:
    assert [(spec.name, spec.evidence) for spec in CHECKS] == list(EVIDENCE_MODELS.items())
    assert [spec.name for spec in CHECKS if not spec.reads_logs] == ["config_drift"]


def test_every_check_sets_every_field_of_its_evidence() -> None:
    """Evidence dumps only the keys set (so stored rows round-trip): a field a check forgets would vanish."""
    for result in run_checks(busy_context()):
        model = type(result.evidence)
        assert model is EVIDENCE_MODELS[result.name]
        assert result.evidence.model_fields_set == set(model.model_fields), result.name
