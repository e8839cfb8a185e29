"""config_drift: live against expected (grace for a change in progress), mirror disagreement, allowlist changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from helpers_checks import END, allowlist_hashes, allowlist_ids, checkpoint, config, ctx, stats

from monitor.checks.config_drift import check_config_drift
from monitor.domain import ExpectedConfig, Status, short_hash

NOW = END + timedelta(minutes=5)
LONG_AGO = NOW - timedelta(days=2)
JUST_NOW = NOW - timedelta(minutes=3)


def expected(rollout: int | None = None, enabled: bool | None = None, source: str = "flags") -> ExpectedConfig:
    return ExpectedConfig(rollout_percentage=rollout, enabled=enabled, source=source)


@pytest.mark.parametrize(
    ("cfg", "exp", "status", "fragment"),
    [
        pytest.param(
            {},
            ExpectedConfig(),
            Status.SKIP,
            "no expected config: pass --expected-rollout or run rollout set",
            id="no-expectation",
        ),
        pytest.param({}, expected(5, True), Status.PASS, "as expected", id="match"),
        pytest.param({}, expected(5, source="stored"), Status.PASS, "as expected (stored)", id="match-stored"),
        pytest.param({}, expected(10), Status.FAIL, "rollout: live 5%, expected 10%", id="rollout-mismatch"),
        pytest.param(
            {"enabled": False},
            expected(enabled=True),
            Status.FAIL,
            "enabled: live false, expected true",
            id="enabled-mismatch",
        ),
        pytest.param(
            {"updated_at": JUST_NOW}, expected(10), Status.WARN, "change in progress", id="mismatch-within-grace"
        ),
        pytest.param(
            {"updated_at": NOW - timedelta(minutes=10)},
            expected(10),
            Status.FAIL,
            "config drift",
            id="mismatch-exactly-at-grace",
        ),
        pytest.param({"updated_at": None}, expected(10), Status.FAIL, "change time unknown", id="no-updated-at"),
        pytest.param(
            {"mirror": {"enabled": True, "rollout_percentage": 10}},
            expected(5),
            Status.WARN,
            "config_json rollout_percentage=10 but column rollout_percentage=5",
            id="mirror-percent",
        ),
        pytest.param(
            {"mirror": {"enabled": False, "percentage": 5}},
            expected(5),
            Status.WARN,
            "config_json enabled=false but column enabled=true",
            id="mirror-enabled",
        ),
        pytest.param(
            {"mirror": {"enabled": True, "rollout_percentage": 5}},
            expected(5),
            Status.PASS,
            "as expected",
            id="mirror-agrees",
        ),
        pytest.param(
            {"mirror": {"rollout_percentage": "5"}},
            expected(5),
            Status.WARN,
            "rollout_percentage=5 but",
            id="mirror-wrong-type",
        ),
        pytest.param(
            {"mirror": {"rollout_percentage": 1}},
            ExpectedConfig(),
            Status.WARN,
            "config_json rollout_percentage=1",
            id="mirror-without-expectation",
        ),
        pytest.param({"mirror": {"rollout_percentage": 1}}, expected(10), Status.FAIL, "config_json", id="fail-wins"),
    ],
)
def test_config_drift(cfg: dict[str, Any], exp: ExpectedConfig, status: Status, fragment: str) -> None:
    c = config(**{"updated_at": LONG_AGO, **cfg})
    got = check_config_drift(ctx(stats(c), c, expected=exp, now=NOW))
    assert got.name == "config_drift"
    assert got.status is status, got.summary
    assert fragment in got.summary


def test_evidence_shape() -> None:
    c = config(rollout=5, allow=allowlist_ids(2), updated_at=JUST_NOW, mirror={"rollout_percentage": 1})
    ev = check_config_drift(ctx(stats(c), c, expected=expected(10, True), now=NOW)).evidence
    assert ev.live is not None
    assert ev.live.model_dump() == {
        "enabled": True,
        "rollout_percentage": 5,
        "allowlist_size": 2,
        "updated_at": JUST_NOW.isoformat(),
    }
    assert ev.expected is not None
    assert ev.expected.model_dump() == {"enabled": True, "rollout_percentage": 10, "source": "flags"}
    assert ev.mismatches == ["rollout: live 5%, expected 10%"]
    assert ev.changed_ago_s == 180.0
    assert ev.mirror_disagreements == ["config_json rollout_percentage=1 but column rollout_percentage=5"]
    assert ev.allowlist_added is None and ev.allowlist_removed is None and ev.allowlist_examples == []


def test_allowlist_changes_since_previous_checkpoint() -> None:
    before = sorted(allowlist_hashes(("allow-0", "allow-1", "gone-0")))
    c = config(allow=allowlist_ids(4), updated_at=LONG_AGO)  # allow-0..3: two added, gone-0 removed
    previous = checkpoint("h1", Status.PASS, allowlist=before, hours_ago=1)
    got = check_config_drift(ctx(stats(c), c, expected=expected(5), now=NOW, previous=previous))
    ev = got.evidence
    assert got.status is Status.PASS  # reported, not judged
    assert ev.allowlist_added == 2 and ev.allowlist_removed == 1
    added = sorted(allowlist_hashes(("allow-2", "allow-3")))
    removed = allowlist_hashes(("gone-0",))
    assert sorted(ev.allowlist_examples) == sorted(
        [f"+{short_hash(h)}" for h in added] + [f"-{short_hash(h)}" for h in removed]
    )
    assert "allowlist since previous checkpoint: +2 −1" in got.summary
    assert not any(h in got.summary for h in added)  # full hashes never printed
