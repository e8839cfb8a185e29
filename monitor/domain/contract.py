"""The backend's log-line contract: parse one message (JSON or logfmt) and add it to a `WindowAggregate`.

Shared by every engine that reads raw events (`scan`, `file:`), so they give identical results on the same events.
A message that claims to be a request or a decision but breaks the contract is counted as malformed, with a sample
that names the problem and the field names only (never values: they could carry identifiers).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from monitor.domain.aggregate import DECISION_BITS, WindowAggregate

_LOGFMT = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')
HEX = re.compile(r"[0-9a-fA-F]+")  # a passenger_hash is a hex digest, in either case
REQUEST_TYPE = "http_request"
DECISION_TYPE = "feature_flag_decision"


def parse_logfmt(message: str) -> dict[str, Any]:
    """`key=value key2="quoted value"` → dict of strings. Returns {} when nothing looks like a pair."""
    out: dict[str, Any] = {}
    for key, raw in _LOGFMT.findall(message):
        quoted = raw.startswith('"') and raw.endswith('"') and len(raw) >= 2
        out[key] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if quoted else raw
    return out


def parse_message(message: str) -> tuple[dict[str, Any] | None, bool]:
    """Decode one message body. Returns (fields, typed): typed is True for JSON (values keep their types)."""
    text = message.strip()
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None, True
        return (data if isinstance(data, dict) else None), True
    if "type=" in text:
        return parse_logfmt(text), False
    return None, False


def _int_field(value: Any, typed: bool) -> int | None:
    if typed:
        return value if type(value) is int else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _num_field(value: Any, typed: bool) -> float | None:
    if typed:
        if type(value) not in (int, float):
            return None
        number = float(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
    return number if number >= 0 and math.isfinite(number) else None


def passenger_hash(value: Any) -> str | None:
    """A logged `passenger_hash` as the lower-case digest it stands for, or None when it is not a hex string."""
    return value.lower() if isinstance(value, str) and HEX.fullmatch(value) else None


def _describe(kind: str, problem: str, fields: dict[str, Any]) -> str:
    return f"{kind}: {problem} (fields: {','.join(sorted(str(k) for k in fields)[:12])})"


def ingest(stats: WindowAggregate, ts_ms: int | None, message: str) -> None:
    """Add one raw event to `stats` (the caller has already checked its timestamp against the window)."""
    stats.seen(ts_ms)
    fields, typed = parse_message(message)
    if fields is None:
        stats.counts.other += 1
        return
    kind = fields.get("type")
    if kind == REQUEST_TYPE:
        _ingest_request(stats, fields, typed)
    elif kind == DECISION_TYPE:
        _ingest_decision(stats, ts_ms, fields)
    else:
        stats.counts.other += 1


def _ingest_request(stats: WindowAggregate, fields: dict[str, Any], typed: bool) -> None:
    method, path = fields.get("method"), fields.get("path")
    status = _int_field(fields.get("status"), typed)
    duration = _num_field(fields.get("duration_ms"), typed)
    problem = None
    if not isinstance(method, str) or not method:
        problem = "method missing or not a string"
    elif not isinstance(path, str) or not path:
        problem = "path missing or not a string"
    elif status is None or not 100 <= status <= 599:
        problem = "status missing or not an HTTP status"
    elif duration is None:
        problem = "duration_ms missing or not a non-negative number"
    raw_hash = fields.get("passenger_hash")
    passenger = None
    if problem is None and raw_hash not in (None, ""):
        passenger = passenger_hash(raw_hash)
        if passenger is None:
            problem = "passenger_hash not a hex digest"
    if problem is not None:
        stats.add_malformed(_describe(REQUEST_TYPE, problem, fields))
        return
    assert status is not None and duration is not None and isinstance(path, str)
    stats.add_request(status, duration, stats.window.route_of(path), passenger)


def _ingest_decision(stats: WindowAggregate, ts_ms: int | None, fields: dict[str, Any]) -> None:
    feature, decision = fields.get("feature_key"), fields.get("decision")
    passenger = passenger_hash(fields.get("passenger_hash"))
    problem = None
    if not isinstance(feature, str) or not feature:
        problem = "feature_key missing or not a string"
    elif not isinstance(decision, str) or decision not in DECISION_BITS:
        problem = "decision not one of OFF, ALLOWLIST, ROLLOUT"
    elif passenger is None:
        problem = "passenger_hash missing or not a hex digest"
    if problem is not None:
        stats.add_malformed(_describe(DECISION_TYPE, problem, fields))
        return
    assert isinstance(feature, str) and isinstance(decision, str) and passenger is not None
    stats.add_decision(ts_ms, feature, decision, passenger)
