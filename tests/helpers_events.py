"""Event generators shared by the source tests: contract messages, a moto log group, and the `file:` export format."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from monitor.domain import LogWindow, SourceResult, WindowAggregate
from monitor.domain.contract import ingest
from monitor.settings import parse_route_groups

FEATURE = "passenger_favorites_matching"
ROUTES = "feature_flag=/api/feature-flags,matching=/api/matching"
LOG_GROUP = "/ecs/kaviar-backend"
Event = tuple[int, str]  # (timestamp ms, message body)


def passenger_hash(n: int) -> str:
    return hashlib.sha256(f"passenger-{n}".encode()).hexdigest()


def _logfmt(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        text = str(value)
        parts.append(f'{key}="{text}"' if " " in text else f"{key}={text}")
    return " ".join(parts)


def request_message(
    *,
    method: str = "GET",
    path: str = "/api/matching/request",
    status: int = 200,
    duration_ms: float = 87.5,
    passenger: str | None = None,
    fmt: str = "json",
) -> str:
    fields: dict[str, Any] = {
        "type": "http_request",
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    if passenger is not None:
        fields["passenger_hash"] = passenger
    return json.dumps(fields) if fmt == "json" else _logfmt(fields)


def decision_message(*, decision: str, passenger: str, feature_key: str = FEATURE, fmt: str = "json") -> str:
    fields = {
        "type": "feature_flag_decision",
        "feature_key": feature_key,
        "decision": decision,
        "passenger_hash": passenger,
    }
    return json.dumps(fields) if fmt == "json" else _logfmt(fields)


MALFORMED = (
    '{"type": "http_request", "method": "GET", "path": "/api/x", "duration_ms": 5}',  # no status
    '{"type": "http_request", "method": "GET", "path": "/api/x", "status": "200", "duration_ms": 5}',  # str status
    '{"type": "feature_flag_decision", "feature_key": "f", "decision": "MAYBE", "passenger_hash": "ab"}',
    "type=http_request method=GET path=/api/matching status=abc duration_ms=3",
    '{"type": "http_request", "method": "GET", "path": "/x", "status": 200, "duration_ms": 1, "passenger_hash": "zz"}',
)
OTHER = (
    "INFO starting worker 3",
    '{"level": "info", "msg": "cache refreshed"}',
    "{not json at all",
    "level=warn msg=slow",
    "[1, 2, 3]",
)
_ROUTE_PATHS = ("/api/matching/request", "/api/feature-flags/passenger_favorites_matching", "/api/rides/42", "/health")
_STATUSES = (200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 429, 500, 502, 503)


def mixed_events(n: int, start_ms: int, end_ms: int, *, seed: int = 7, passengers: int = 40) -> list[Event]:
    """`n` events spread over [start_ms, end_ms), sorted by time: requests and decisions (JSON and logfmt),
    anonymous requests, other application lines and malformed contract lines."""
    rng = random.Random(seed)
    hashes = [passenger_hash(i) for i in range(passengers)]
    events: list[Event] = []
    for _ in range(n):
        ts = rng.randrange(start_ms, end_ms)
        roll = rng.random()
        fmt = "logfmt" if rng.random() < 0.25 else "json"
        if roll < 0.55:
            msg = request_message(
                method=rng.choice(("GET", "POST")),
                path=rng.choice(_ROUTE_PATHS),
                status=rng.choice(_STATUSES),
                duration_ms=round(rng.uniform(0.5, 900), 1),
                passenger=rng.choice(hashes) if rng.random() < 0.8 else None,
                fmt=fmt,
            )
        elif roll < 0.85:
            msg = decision_message(
                decision=rng.choice(("OFF", "ROLLOUT", "ALLOWLIST")),
                passenger=rng.choice(hashes),
                fmt=fmt,
                feature_key=FEATURE if rng.random() < 0.9 else "another_flag",
            )
        elif roll < 0.95:
            msg = rng.choice(OTHER)
        else:
            msg = rng.choice(MALFORMED)
        events.append((ts, msg))
    events.sort(key=lambda e: e[0])
    return events


def recent_window(hours: float = 1.0) -> tuple[int, int]:
    """A window ending at the last full minute (moto accepts events up to 14 days old)."""
    end_ms = int(time.time() // 60 * 60 * 1000)
    return end_ms - int(hours * 3_600_000), end_ms


def make_window(
    start_ms: int, end_ms: int, *, allowlist: Iterable[str] = (), segment_bounds: Sequence[int] = ()
) -> LogWindow:
    return LogWindow(
        feature=FEATURE,
        start_ms=start_ms,
        end_ms=end_ms,
        route_groups=parse_route_groups(ROUTES),
        allowlist_hashes=frozenset(allowlist),
        segment_bounds=segment_bounds,
    )


def put_events(client: Any, events: Sequence[Event], *, log_group: str = LOG_GROUP, streams: int = 3) -> None:
    """Create `log_group` and spread `events` round-robin over `streams` streams, each in timestamp order."""
    client.create_log_group(logGroupName=log_group)
    per_stream: list[list[dict[str, Any]]] = [[] for _ in range(streams)]
    for i, (ts, msg) in enumerate(sorted(events, key=lambda e: e[0])):
        per_stream[i % streams].append({"timestamp": ts, "message": msg})
    for s, batch in enumerate(per_stream):
        name = f"ecs/backend/task-{s}"
        client.create_log_stream(logGroupName=log_group, logStreamName=name)
        for i in range(0, len(batch), 5000):
            resp = client.put_log_events(logGroupName=log_group, logStreamName=name, logEvents=batch[i : i + 5000])
            assert not resp.get("rejectedLogEventsInfo"), resp["rejectedLogEventsInfo"]


def export_line(ts: int | None, msg: str, style: str) -> str:
    """One line of the `file:` format: `wrapper` (message as a string), `object` (message as a JSON object when
    it is one) or `plain` (the message alone, no timestamp)."""
    if style == "plain" or ts is None:
        return msg
    if style == "object":
        try:
            body: Any = json.loads(msg)
        except ValueError:
            body = msg
        return json.dumps({"timestamp": ts, "message": body if isinstance(body, dict) else msg})
    return json.dumps({"timestamp": ts, "message": msg, "logStreamName": "ecs/backend/task-0"})


def write_export(path: Path, events: Iterable[Event], *, style: str = "wrapper") -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for ts, msg in events:
            fh.write(export_line(ts, msg, style) + "\n")
    return path


def reference_stats(
    events: Iterable[tuple[int | None, str]], start_ms: int, end_ms: int, **kwargs: Any
) -> WindowAggregate:
    """What the contract says: every in-window event through `monitor.domain.contract.ingest`, one by one."""
    stats = make_window(start_ms, end_ms, **kwargs).aggregate()
    for ts, msg in events:
        if ts is not None and not start_ms <= ts < end_ms:
            stats.counts.outside_window += 1
            continue
        ingest(stats, ts, msg)
    return stats


def snapshot(read: SourceResult | WindowAggregate) -> dict[str, Any]:
    """Everything an engine fills: the measured figures, cohorts, every passenger's state, per-hash decisions, whole
    latency sketches, and the read's problems and cross-check (an aggregate alone has none) — not how it was read
    (engine, calls, queries)."""
    stats = read.aggregate if isinstance(read, SourceResult) else read
    data = stats.to_dict()
    data["problems"] = read.problems if isinstance(read, SourceResult) else []
    data["load_balancer"] = read.load_balancer if isinstance(read, SourceResult) else None
    data["cohorts"] = stats.cohorts.to_dict()
    data["passenger_states"] = dict(stats.passengers.states)
    data["per_hash"] = stats.decisions.per_hash
    data["latency"] = stats.latency.to_dict()
    data["route_latency"] = {name: r.latency.to_dict() for name, r in stats.routes.items()}
    return data
