"""Checkpoint status roll-up and the escalation of a check that stays ERROR."""

from __future__ import annotations

import pytest
from helpers_checks import checkpoint, result

from monitor.checks.verdict import checkpoint_status, escalate_errors
from monitor.domain import Status

P, W, F, N, E, S = Status.PASS, Status.WARN, Status.FAIL, Status.NODATA, Status.ERROR, Status.SKIP


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([P, P, P], P, id="all-pass"),
        pytest.param([P, S, S], P, id="skip-ignored"),
        pytest.param([P, W], W, id="warn"),
        pytest.param([P, N], W, id="nodata-is-warn-not-pass"),
        pytest.param([P, E], W, id="error-is-warn-not-pass"),
        pytest.param([W, N, E, F], F, id="fail-wins"),
        pytest.param([F, P], F, id="one-fail"),
        pytest.param([N, N, N, N, N, S], W, id="zero-traffic-never-pass"),
    ],
)
def test_checkpoint_status(statuses: list[Status], expected: Status) -> None:
    checks = [result(f"c{i}", s) for i, s in enumerate(statuses)]
    assert checkpoint_status(checks) is expected


def history(*statuses: Status, name: str = "data_quality") -> list:
    """Previous checkpoints, newest first, each with `name` in the given status."""
    return [checkpoint(f"h{i}", Status.WARN, [result(name, s)], hours_ago=i + 1) for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("now", "previous", "k", "expected"),
    [
        pytest.param(E, [E, E, E], 4, F, id="fourth-error-in-a-row"),
        pytest.param(E, [E, E, E, P], 4, F, id="older-history-does-not-matter"),
        pytest.param(E, [E, E], 4, E, id="not-enough-history"),
        pytest.param(E, [E, P, E], 4, E, id="streak-broken"),
        pytest.param(E, [E, N, E], 4, E, id="nodata-breaks-streak"),
        pytest.param(E, [], 1, F, id="k1-escalates-at-once"),
        pytest.param(E, [E], 2, F, id="k2"),
        pytest.param(W, [E, E, E], 4, W, id="not-error-now"),
        pytest.param(E, [F, E, E], 4, E, id="real-fail-is-not-an-error-streak"),
    ],
)
def test_escalate_errors(now: Status, previous: list[Status], k: int, expected: Status) -> None:
    checks = [result("error_rate", P), result("data_quality", now, problems=["timed out"])]
    got = escalate_errors(checks, history(*previous), k)
    assert got[0].status is P
    assert got[1].status is expected
    if expected is F:
        assert got[1].summary.startswith(f"ERROR on {k} consecutive checkpoints, escalated to FAIL: ")
        assert got[1].evidence.problems == ["timed out"]  # evidence kept


def test_escalated_fail_continues_the_streak() -> None:
    previous = [
        checkpoint("h1", Status.FAIL, [result("data_quality", F, escalated_from="ERROR")], hours_ago=1),
        *history(E, E),
    ]
    got = escalate_errors([result("data_quality", E)], previous, 3)
    assert got[0].status is F


def test_escalation_is_per_check() -> None:
    previous = history(E, E, E, name="latency")
    got = escalate_errors([result("data_quality", E), result("latency", E)], previous, 4)
    assert [c.status for c in got] == [E, F]
