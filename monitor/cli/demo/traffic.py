"""A traffic model of the backend: request and flag-decision events as the backend logs them.

Used by the demo, the benchmarks and the tests to produce realistic events from a rollout config, with a chosen
error rate for passengers who have the feature (ON) and those who do not (OFF). Pure: no I/O, seeded.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.domain.bucketing import Bucketer, resolve_hash
from monitor.domain.flag import Decision, FlagConfig

# (method, path, share of traffic, latency factor against the model's typical latency)
ROUTES = (
    ("GET", "/api/matching/request", 0.45, 1.4),
    ("POST", "/api/matching/accept", 0.15, 1.1),
    ("GET", "/api/feature-flags/evaluate", 0.20, 0.25),
    ("GET", "/api/rides/history", 0.20, 0.8),
)


@dataclass(frozen=True)
class OtherFlag:
    """Another flag in rollout in the same traffic: its decisions are logged too, and its ON passengers fail at
    `on_error_rate` (buckets are unsalted, as the backend's: a 1% and a 5% flag share bucket 0)."""

    feature: str
    config: FlagConfig
    on_error_rate: float = 0.002
    allowlist_requests: int = 15  # requests per allowlisted passenger in the window
    path_prefix: str = "/api/matching"  # the requests whose handler evaluates this flag (and logs its decision)


@dataclass
class TrafficModel:
    requests: int  # requests in the window
    start_ms: int
    end_ms: int
    config: FlagConfig
    passengers: int = 3000
    anonymous_share: float = 0.10
    on_error_rate: float = 0.002
    off_error_rate: float = 0.002
    latency_ms: float = 80.0
    on_latency_factor: float = 1.0
    allowlist_requests: int = 15  # requests per allowlisted passenger in the window (they are the keenest users)
    seed: int = 7
    bucketer: Bucketer = field(default_factory=Bucketer)
    feature: str = "passenger_favorites_matching"
    other_share: float = 0.02  # application log lines
    malformed_share: float = 0.0
    other_flags: tuple[OtherFlag, ...] = ()  # more flags in rollout at once (`beta-monitor watch`)


def passenger_ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"pax-{rng.getrandbits(48):012x}" for _ in range(n)]


def generate(model: TrafficModel) -> Iterator[tuple[int, str]]:
    """Yield (timestamp_ms, message) in timestamp order: requests, their flag decisions, app logs, malformed."""
    rng = random.Random(model.seed)
    b = model.bucketer
    population = [b.hash_id(p) for p in passenger_ids(model.passengers, model.seed)]
    allow = frozenset(b.hash_id(p) for p in model.config.allowlist)
    others = [(flag, frozenset(b.hash_id(p) for p in flag.config.allowlist)) for flag in model.other_flags]
    keen = sorted(allow) * model.allowlist_requests
    for flag, testers in others:
        keen += sorted(testers - allow) * flag.allowlist_requests
    total = model.requests
    span = max(1, model.end_ms - model.start_ms)
    times = sorted(model.start_ms + int(rng.random() * span) for _ in range(total))
    keen_slots = set(rng.sample(range(total), min(len(keen), total)))
    keen_iter = iter(keen)
    routes = [(method, path, factor) for method, path, _, factor in ROUTES]
    weights = [r[2] for r in ROUTES]
    for i, ts in enumerate(times):
        r = rng.random()
        if r < model.other_share:
            yield ts, f"INFO matching worker heartbeat queue_depth={rng.randint(0, 40)}"
            continue
        if r < model.other_share + model.malformed_share:
            yield ts, json.dumps({"type": "http_request", "method": "GET", "path": "/api/matching/request"})
            continue
        if i in keen_slots:
            pax: str | None = next(keen_iter)
        else:
            pax = None if rng.random() < model.anonymous_share else population[rng.randrange(len(population))]
        decision = resolve_hash(model.config, pax, allow, b) if pax else Decision.OFF
        on = pax is not None and decision != Decision.OFF
        error_rate = model.on_error_rate if on else model.off_error_rate
        decided = [(flag, resolve_hash(flag.config, pax, a, b) if pax else Decision.OFF) for flag, a in others]
        error_rate = max([error_rate, *(flag.on_error_rate for flag, other in decided if other != Decision.OFF)])
        status = (
            503 if rng.random() < error_rate else rng.choices((200, 200, 200, 201, 304, 404, 401, 403, 429), k=1)[0]
        )
        method, path, factor = rng.choices(routes, weights=weights, k=1)[0]
        latency = rng.lognormvariate(0, 0.35) * model.latency_ms * factor * (model.on_latency_factor if on else 1.0)
        request = {
            "type": "http_request",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(latency, 1),
        }
        if pax:
            request["passenger_hash"] = pax
        if pax:
            logged = [(model.feature, decision)] if path.startswith("/api/matching") else []
            logged += [(flag.feature, other) for flag, other in decided if path.startswith(flag.path_prefix)]
            yield from ((ts, _decision(feature, value, pax)) for feature, value in logged)
        yield ts, json.dumps(request)


def _decision(feature: str, decision: Decision, passenger: str) -> str:
    return json.dumps(
        {
            "type": "feature_flag_decision",
            "feature_key": feature,
            "decision": decision.value,
            "passenger_hash": passenger,
        }
    )


def export_line(ts_ms: int, message: str) -> str:
    """One line of the `file:` export format."""
    return json.dumps({"timestamp": ts_ms, "message": message})
