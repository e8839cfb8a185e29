"""The log-line contract: what counts as a request, a decision, other, or malformed — and that nothing crashes."""

from __future__ import annotations

import json

import pytest

from monitor.domain import LogWindow, WindowAggregate
from monitor.domain.contract import ingest, parse_logfmt
from monitor.settings import parse_route_groups

H = "ab" * 32


def _stats() -> WindowAggregate:
    return LogWindow(
        feature="f",
        start_ms=0,
        end_ms=10**13,
        route_groups=parse_route_groups("feature_flag=/api/feature-flags,matching=/api/matching"),
    ).aggregate()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        pytest.param(
            json.dumps(
                {"type": "http_request", "method": "GET", "path": "/api/matching/x", "status": 200, "duration_ms": 5}
            ),
            "request",
            id="json-request",
        ),
        pytest.param(
            "type=http_request method=GET path=/api/matching status=503 duration_ms=3.5", "request", id="logfmt"
        ),
        pytest.param(
            json.dumps({"type": "feature_flag_decision", "feature_key": "f", "decision": "OFF", "passenger_hash": H}),
            "decision",
            id="decision",
        ),
        pytest.param(
            json.dumps({"type": "feature_flag_decision", "feature_key": "f", "decision": ["OFF"], "passenger_hash": H}),
            "malformed",
            id="decision-list",
        ),
        pytest.param(
            "type=http_request method=GET path=/a status=200 duration_ms=inf", "malformed", id="infinite-duration"
        ),
        pytest.param("type=http_request method=GET path=/a status=200 duration_ms=1e400", "malformed", id="overflow"),
        pytest.param(
            json.dumps({"type": "http_request", "method": "GET", "path": "/a", "status": True, "duration_ms": 1}),
            "malformed",
            id="bool-status",
        ),
        pytest.param(
            json.dumps({"type": "http_request", "method": "GET", "path": "/a", "status": 200, "duration_ms": -1}),
            "malformed",
            id="negative-duration",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "http_request",
                    "method": "GET",
                    "path": "/a",
                    "status": 200,
                    "duration_ms": 1,
                    "passenger_hash": "not-hex",
                }
            ),
            "malformed",
            id="bad-hash",
        ),
        pytest.param("INFO worker started", "other", id="plain-text"),
        pytest.param("[1, 2]", "other", id="json-array"),
        pytest.param('{"level": "info"}', "other", id="json-other"),
        pytest.param("{broken", "other", id="broken-json"),
    ],
)
def test_classification(message: str, kind: str) -> None:
    stats = _stats()
    ingest(stats, 1000, message)
    got = {
        "request": stats.requests,
        "decision": stats.decisions.total,
        "malformed": stats.counts.malformed,
        "other": stats.counts.other,
    }
    assert got[kind] == 1 and sum(got.values()) == 1


def test_logfmt_quoted_values() -> None:
    assert parse_logfmt('a=1 b="two words" c="q\\"x"') == {"a": "1", "b": "two words", "c": 'q"x'}


def test_malformed_sample_names_fields_never_values() -> None:
    stats = _stats()
    ingest(
        stats,
        1,
        json.dumps(
            {"type": "http_request", "method": "GET", "path": "/secret-passenger-42", "status": "x", "duration_ms": 1}
        ),
    )
    samples = stats.counts.malformed_samples
    assert samples and "secret-passenger-42" not in samples[0]
    assert "status" in samples[0]
