"""Hourly traffic of a persistent passenger population for cohort_regression's end-to-end tests.

Every hour a seeded sample of the population is active; each active passenger makes 1–9 requests, each a 5xx with
the rate of its cohort (ON = bucket below the rollout %), and logs the flag decision the resolver gives it. One ON
passenger can storm: a failing call retried `storm_retries` times every hour. Anonymous requests come on top.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from monitor.domain import Bucketer

FEATURE = "passenger_favorites_matching"
BUCKETER = Bucketer()


@dataclass(frozen=True)
class CohortTraffic:
    rollout: int = 5
    population: int = 20_000
    active: int = 8_000  # passengers active in an hour
    off_5xx: float = 0.004  # per request
    on_5xx: float = 0.004
    storm_retries: int = 0  # one ON passenger retrying a failing call this many times, every hour
    anonymous: int = 2_000  # anonymous requests an hour
    seed: int = 1

    def hashes(self) -> list[str]:
        return [BUCKETER.hash_id(f"pax-{self.seed}-{i}") for i in range(self.population)]

    def hour(self, end: datetime, index: int) -> list[tuple[int, str]]:
        """The events of the hour ending at `end` (the `index`-th hour of the run: its own random draw)."""
        rng = random.Random(f"{self.seed}/{index}")
        start_ms = int((end - timedelta(hours=1)).timestamp() * 1000)
        span = 3_600_000
        population = self.hashes()
        on = [h for h in population if BUCKETER.bucket_of_hash(h) < self.rollout]
        events: list[tuple[int, str]] = []

        def at() -> int:
            return start_ms + rng.randrange(span)

        for h in rng.sample(population, self.active):
            is_on = BUCKETER.bucket_of_hash(h) < self.rollout
            events.append((at(), _decision(h, "ROLLOUT" if is_on else "OFF")))
            rate = self.on_5xx if is_on else self.off_5xx
            for _ in range(rng.randint(1, 9)):
                events.append((at(), _request(503 if rng.random() < rate else 200, h)))
        if self.storm_retries:
            stormer = on[0]
            events.append((at(), _decision(stormer, "ROLLOUT")))
            events.extend((at(), _request(503, stormer)) for _ in range(self.storm_retries))
        events.extend(
            (at(), _request(503 if rng.random() < self.off_5xx else 200, None)) for _ in range(self.anonymous)
        )
        return sorted(events)


def _request(status: int, passenger: str | None) -> str:
    body: dict[str, object] = {
        "type": "http_request",
        "method": "GET",
        "path": "/api/matching/request",
        "status": status,
        "duration_ms": 80.0,
    }
    if passenger is not None:
        body["passenger_hash"] = passenger
    return json.dumps(body)


def _decision(passenger: str, decision: str) -> str:
    return json.dumps(
        {"type": "feature_flag_decision", "feature_key": FEATURE, "decision": decision, "passenger_hash": passenger}
    )


def write_hour(path: Path, events: list[tuple[int, str]]) -> Path:
    """An hourly export in the wrapper format `--source file:` reads."""
    path.write_text("".join(json.dumps({"timestamp": ts, "message": m}) + "\n" for ts, m in events), encoding="utf-8")
    return path
