"""How a run ends when it does not finish, through the installed CLI: kill -9 and SIGTERM during a large `file:` read
(whose second half a forked child reads), SIGTERM to the job as PID 1, a database session lost mid-run, and a bug.

The export is 64 MiB or more, the size from which the read forks, generated once per session."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from e2e_support import FEATURE, PHASE, World, beta_monitor_bin, make_world
from helpers_events import passenger_hash, request_message

from monitor.sources.file.parallel import PARALLEL_MIN_BYTES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Plain request lines (no timestamp: all in the window), a little over the size that makes the read fork."""
    path = tmp_path_factory.mktemp("export") / "big.jsonl"
    block = "".join(
        request_message(status=500 if i % 97 == 0 else 200, duration_ms=50 + i % 40, passenger=passenger_hash(i)) + "\n"
        for i in range(2000)
    ).encode()
    with path.open("wb") as fh:
        for _ in range(PARALLEL_MIN_BYTES // len(block) + 2):
            fh.write(block)
    assert path.stat().st_size >= PARALLEL_MIN_BYTES
    yield path
    path.unlink()


@pytest.fixture
def world(tmp_path: Path, pg_url: str, moto_reset: str) -> World:
    return make_world(tmp_path, pg_url, moto_reset)


def _env(world: World, **extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BETA_MONITOR_")} | world.env | extra


def _checkpoint_args(label: str, source: Path) -> list[str]:
    return ["checkpoint", FEATURE, PHASE, label, "--source", f"file:{source}", "--expected-rollout", "5"]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _wait_for_child(proc: subprocess.Popen[str], pid: int | None = None) -> int:
    """The pid of the reading child of `pid` (default: the process itself), once it is forked."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = _children(pid or proc.pid)
        if children:
            return children[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("the read never forked")


def _dead(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status  # a zombie has exited; its new parent reaps it


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _dead(pid):
        time.sleep(0.01)
    assert _dead(pid), f"process {pid} outlived its parent"


def _advisory_locks(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchone()
    assert row is not None
    return int(row[0])


def _wait_unlocked(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _advisory_locks(url):
        time.sleep(0.05)
    assert _advisory_locks(url) == 0, "the checkpoint lock is still held"


def _next_run_completes(world: World, big_export: Path) -> None:
    """The lock is free: the next run of the same phase stores its checkpoint (the lock timeout is 15 minutes, so a
    held lock would hit the subprocess timeout instead)."""
    run = world.cli(*_checkpoint_args("after", big_export), "--json", timeout=120)
    assert run.code in (0, 1, 2), run.stderr
    assert run.json()["duplicate"] is False and run.json()["checkpoint_id"] is not None


def test_kill_9_during_a_large_read_leaves_no_process_and_no_lock(world: World, big_export: Path) -> None:
    proc = subprocess.Popen(
        [beta_monitor_bin(), "-q", *_checkpoint_args("killed", big_export)],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = _wait_for_child(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    _wait_dead(child)
    _wait_unlocked(world.url)
    assert world.cli("history", FEATURE, "--json").json() == []
    _next_run_completes(world, big_export)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_during_a_large_read_exits_3_with_one_line(
    world: World, big_export: Path, signum: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [beta_monitor_bin(), "-q", *_checkpoint_args("stopped", big_export)],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = _wait_for_child(proc)
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=10)  # within a few seconds, or the test fails
    assert proc.returncode == 3, err
    assert out == ""
    assert err.splitlines() == [
        f"beta-monitor: stopped by {signum.name}: nothing stored (the checkpoint row is written only once the read "
        "and the checks are done)"
    ]
    _wait_dead(child)
    _wait_unlocked(world.url)
    assert world.cli("history", FEATURE, "--json").json() == []
    assert not world.log.exists()
    _next_run_completes(world, big_export)


def test_sigterm_to_the_job_as_pid_1_stops_it_with_one_json_line(world: World, big_export: Path) -> None:
    """A container's entrypoint is PID 1, where the kernel drops SIGTERM unless a handler is installed."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a new PID namespace")
    probe = subprocess.run([unshare, "--pid", "--fork", "--kill-child", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare --pid is not permitted here: {probe.stderr.decode().strip()}")
    proc = subprocess.Popen(
        [
            *(unshare, "--pid", "--fork", "--kill-child"),
            *(beta_monitor_bin(), "-q", "--log-format", "json"),
            *_checkpoint_args("pid-1", big_export),
        ],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job = _wait_for_child(proc)  # beta-monitor, PID 1 of its namespace
    nspid = next(line for line in Path(f"/proc/{job}/status").read_text().splitlines() if line.startswith("NSpid:"))
    assert nspid.split()[-1] == "1", nspid  # its pid inside the namespace
    reader = _wait_for_child(proc, job)
    os.kill(job, signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 3, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["signal"] == "SIGTERM" and record["exit_code"] == 3
    assert record["message"].startswith("beta-monitor: stopped by SIGTERM: nothing stored")
    _wait_dead(reader)
    _wait_unlocked(world.url)
    _next_run_completes(world, big_export)


def test_a_lock_session_lost_mid_run_stores_nothing(world: World, big_export: Path) -> None:
    """PostgreSQL restarting (here: the lock's backend terminated) while the logs are read: the run must not store a
    checkpoint outside the lock, where another run of the phase could interleave with it."""
    proc = subprocess.Popen(
        [beta_monitor_bin(), "-q", *_checkpoint_args("orphaned", big_export)],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_child(proc)  # the lock is held and the read is under way
    with psycopg.connect(world.url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        ).fetchall()
    assert killed == [(True,)]
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    assert err.splitlines() == [
        f"beta-monitor: error: lost the checkpoint lock of {FEATURE}/{PHASE} before storing (the database session "
        "holding it ended: PostgreSQL restarted or the session was terminated); nothing stored — run again"
    ]
    assert world.cli("history", FEATURE, "--json").json() == []
    assert not world.log.exists()


SITE_BUG = """
import monitor.cli.commands.history as history

def broken(args, settings, say):
    raise RuntimeError("boom while listing: " + {url!r})

history.run = broken
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_an_unexpected_exception_exits_3_with_one_record(world: World, tmp_path: Path, log_format: str) -> None:
    """A bug anywhere (injected here through sitecustomize) is exit 3 — no checkpoint was produced — never 1 (WARN)
    with a bare traceback in the job's log group; the credential it may quote is scrubbed."""
    url = world.url.replace("postgresql://postgres@", "postgresql://postgres:pa@ss-w0rd@")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE_BUG.format(url=url))
    run = world.cli(
        "--log-format", log_format, "history", FEATURE, env={"PYTHONPATH": str(site), "BETA_MONITOR_DATABASE_URL": url}
    )
    assert run.code == 3
    assert run.stdout == ""
    assert "ss-w0rd" not in run.stderr
    first = run.stderr.splitlines()[0]
    if log_format == "json":
        assert len(run.stderr.splitlines()) == 1, run.stderr
        record = json.loads(first)
        assert record["level"] == "ERROR" and record["exit_code"] == 3 and record["error_type"] == "RuntimeError"
        assert record["message"].startswith("beta-monitor: internal error (a bug; no checkpoint was produced): ")
        assert "RuntimeError: boom while listing" in record["traceback"]
        assert 'in broken\n    raise RuntimeError("boom while listing: "' in record["traceback"]
    else:
        assert first.startswith("beta-monitor: internal error (a bug; no checkpoint was produced): RuntimeError: ")
        assert first.endswith(" — please report it with the traceback")
        assert "Traceback (most recent call last):" in run.stderr


def test_a_bug_in_the_settings_is_exit_3_too(world: World, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib\n"
        "main = importlib.import_module('monitor.cli.main')\n"
        "def broken(**_):\n"
        "    raise KeyError('settings')\n"
        "main.load_settings = broken\n"
    )
    run = world.cli("--log-format", "json", "gate", FEATURE, PHASE, env={"PYTHONPATH": str(site)})
    assert run.code == 3 and len(run.stderr.splitlines()) == 1
    assert json.loads(run.stderr)["error_type"] == "KeyError"


def test_sigterm_while_waiting_for_the_lock_exits_3_at_once(world: World) -> None:
    """Another run holds the phase's lock: a stop while waiting for it cancels the wait and stores nothing."""
    from monitor.store.migrations import advisory_key

    world.traffic(300)
    with psycopg.connect(world.url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (advisory_key("checkpoint", FEATURE, PHASE),))
        proc = subprocess.Popen(
            [beta_monitor_bin(), "-q", "checkpoint", FEATURE, PHASE, "waiting", "--end", world.end.isoformat()],
            env=_env(world),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%advisory%'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 3, out + err
    assert err.startswith("beta-monitor: stopped by SIGTERM: nothing stored") and len(err.splitlines()) == 1
    assert world.cli("history", FEATURE, "--json").json() == []


SITE_DEAF = """
import importlib, time
history = importlib.import_module("monitor.cli.commands.history")

def deaf(args, settings, say):
    listening = False
    while True:  # swallows every exception, a stop included: only the timer can end this
        try:
            # "listening" is said inside the try, and the sleeping loop is inside it too: the one stop the test sends
            # is raised at a loop's back edge or in sleep, both inside the try, however loaded the machine is.
            if not listening:
                listening = True
                print("listening", flush=True)
            while True:
                time.sleep(0.05)
        except BaseException:
            pass

history.run = deaf
"""


def test_a_stop_that_is_swallowed_still_ends_the_job_with_one_line(world: World, tmp_path: Path) -> None:
    from monitor.cli.stops import STOP_GRACE_S

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE_DEAF)
    proc = subprocess.Popen(
        [beta_monitor_bin(), "--log-format", "json", "history", FEATURE],
        env=_env(world, PYTHONPATH=str(site)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "listening\n"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=STOP_GRACE_S + 10)
    assert proc.returncode == 3
    lines = err.splitlines()
    assert len(lines) == 1, err
    record = json.loads(lines[0])
    assert record["signal"] == "SIGTERM" and record["exit_code"] == 3
    assert "the clean stop did not finish within" in record["message"]
