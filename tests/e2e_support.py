"""Support for end-to-end tests: the backend's flag tables written with plain SQL (as the backend would own them),
events put into a moto_server log group, and the installed `beta-monitor` run as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg

COLUMNS_DDL = """
CREATE TABLE IF NOT EXISTS feature_flags (
  key text PRIMARY KEY,
  enabled boolean NOT NULL,
  rollout_percentage integer NOT NULL CHECK (rollout_percentage BETWEEN 0 AND 100),
  config_json jsonb,
  updated_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS feature_flag_allowlist (
  feature_key text NOT NULL REFERENCES feature_flags(key),
  passenger_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (feature_key, passenger_id)
);
"""


def seed_columns_flag(
    url: str,
    key: str,
    *,
    enabled: bool,
    rollout: int,
    allowlist: Sequence[str],
    updated_at: datetime,
    mirror: dict[str, Any] | None = None,
) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(COLUMNS_DDL)
        conn.execute("DELETE FROM feature_flag_allowlist WHERE feature_key = %s", (key,))
        conn.execute(
            "INSERT INTO feature_flags (key, enabled, rollout_percentage, config_json, updated_at)"
            " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (key) DO UPDATE SET enabled = EXCLUDED.enabled,"
            " rollout_percentage = EXCLUDED.rollout_percentage,"
            " config_json = EXCLUDED.config_json, updated_at = EXCLUDED.updated_at",
            (key, enabled, rollout, json.dumps(mirror) if mirror is not None else None, updated_at),
        )
        for pid in allowlist:
            conn.execute("INSERT INTO feature_flag_allowlist (feature_key, passenger_id) VALUES (%s, %s)", (key, pid))


def put_events(endpoint: str, log_group: str, events: Iterable[tuple[int, str]], streams: int = 3) -> int:
    logs = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=log_group)
    per_stream: list[list[dict[str, Any]]] = [[] for _ in range(streams)]
    count = 0
    for i, (ts, message) in enumerate(sorted(events)):
        per_stream[i % streams].append({"timestamp": ts, "message": message})
        count += 1
    for n, batch in enumerate(per_stream):
        name = f"backend/task-{n}-{uuid.uuid4().hex[:8]}"
        logs.create_log_stream(logGroupName=log_group, logStreamName=name)
        for i in range(0, len(batch), 5000):
            resp = logs.put_log_events(logGroupName=log_group, logStreamName=name, logEvents=batch[i : i + 5000])
            assert not resp.get("rejectedLogEventsInfo"), resp
    return count


def beta_monitor_bin() -> str:
    candidate = Path(sys.executable).parent / "beta-monitor"
    found = str(candidate) if candidate.exists() else shutil.which("beta-monitor")
    assert found, "the beta-monitor console script is not installed in this environment"
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def line(self, prefix: str) -> str:
        return next(line for line in self.stdout.splitlines() if line.startswith(prefix))


def run_cli(args: Sequence[str], env: dict[str, str], timeout: float = 180) -> Run:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BETA_MONITOR_")}
    full_env.update(env)
    proc = subprocess.run(
        [beta_monitor_bin(), *args], env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


FEATURE = "passenger_favorites_matching"
PHASE = "phase2_rollout"


@dataclass
class World:
    """A backend (flag tables + log group on moto_server) and the environment the CLI runs with."""

    end: datetime
    env: dict[str, str]
    url: str
    endpoint: str
    log: Path
    allowlist: list[str]

    def traffic(
        self,
        requests: int,
        *,
        on_error: float = 0.002,
        off_error: float = 0.002,
        rollout: int = 5,
        end: datetime | None = None,
        seed: int = 11,
        log_group: str = "/ecs/kaviar-backend",
    ) -> int:
        from monitor.cli.demo.traffic import TrafficModel, generate
        from monitor.domain import FlagConfig

        end = end or self.end
        config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=rollout, allowlist=tuple(self.allowlist))
        model = TrafficModel(
            requests=requests,
            start_ms=int((end - timedelta(hours=1)).timestamp() * 1000),
            end_ms=int(end.timestamp() * 1000),
            config=config,
            on_error_rate=on_error,
            off_error_rate=off_error,
            feature=FEATURE,
            seed=seed,
        )
        return put_events(self.endpoint, log_group, generate(model))

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Run:
        return run_cli(list(args), {**self.env, **(env or {})}, timeout=timeout)

    def checkpoint(
        self, label: str, *extra: str, end: datetime | None = None, env: dict[str, str] | None = None
    ) -> Run:
        return self.cli("checkpoint", FEATURE, PHASE, label, "--end", (end or self.end).isoformat(), *extra, env=env)


def make_world(tmp_path: Path, pg_url: str, endpoint: str, *, rollout: int = 5) -> World:
    from monitor.cli.demo.traffic import passenger_ids

    end = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    allowlist = passenger_ids(12, seed=1234)
    seed_columns_flag(
        pg_url,
        FEATURE,
        enabled=True,
        rollout=rollout,
        allowlist=allowlist,
        updated_at=end - timedelta(hours=3),
        mirror={"enabled": True, "rollout_percentage": rollout},
    )
    env = {
        "BETA_MONITOR_DATABASE_URL": pg_url,
        "BETA_MONITOR_PHASE_LOG": str(tmp_path / "reports" / "{feature}" / "{phase}.md"),
        "BETA_MONITOR_SOURCE": "scan",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
    }
    return World(
        end=end,
        env=env,
        url=pg_url,
        endpoint=endpoint,
        log=tmp_path / "reports" / FEATURE / f"{PHASE}.md",
        allowlist=allowlist,
    )
