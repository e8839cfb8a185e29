"""What `beta-monitor watch` saves over one `checkpoint` per flag: Logs Insights queries and bytes scanned per hourly
run, and wall time on the `file:` engine — both side by side, in one run.

    python benchmarks/watch.py                       # 1, 5 and 20 flags, 12,000 requests an hour
    python benchmarks/watch.py --flags 1,3 --requests 3000 --checkpoint-runs 3   # a quick look

(a) Insights: one hour of the traffic model's events with N flags in rollout (each logging its decisions) is read by
    the insights engine against the test suite's Insights evaluator (`tests/fake_insights.py`: it runs the query
    texts over the raw events and answers with CloudWatch's statistics, `bytesScanned` the bytes of the events in the
    query's time range, what Insights bills). "N checkpoints" is N separate reads (one per flag, as N hourly
    `checkpoint` jobs do), "watch" the one shared read. StartQuery calls and bytes scanned are counted by the
    evaluator, never estimated.
(b) `file:` engine, through the installed CLI (process start, PostgreSQL and every check included): one
    `beta-monitor watch --dry-run` against N `beta-monitor checkpoint FEATURE auto hourly --dry-run` runs in a row,
    on the same export, timed in the same run. With `--checkpoint-runs K` (< N) only K of the N checkpoints are
    timed and their mean multiplied by N (said in the table).
Ratios are taken within one run: machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.cli.demo.traffic import OtherFlag, TrafficModel, export_line, generate
from monitor.domain import Bucketer, FlagConfig, LogWindow
from monitor.domain.shared import shared_window
from monitor.settings import parse_route_groups
from monitor.sources.insights import InsightsLogSource
from monitor.store.embedded import embedded_database_url, stop_embedded_server
from monitor.store.flags import create_flag_tables, upsert_flag

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_insights import FakeInsightsClient  # the test suite's evaluator, by path

ROUTES = "feature_flag=/api/feature-flags,matching=/api/matching"
LOG_GROUP = "/ecs/kaviar-backend"
ROLLOUTS = (1, 5, 10, 25, 50)


def flag_names(n: int) -> list[str]:
    return [f"flag_{i:02d}" for i in range(n)]


def events(n_flags: int, requests: int, end: datetime) -> list[tuple[int, str]]:
    """One hour of traffic with `n_flags` flags in rollout (1%, 5%, 10%, 25%, 50%, …), each logging its decisions."""
    configs = [
        FlagConfig(key=name, enabled=True, rollout_percentage=ROLLOUTS[i % len(ROLLOUTS)])
        for i, name in enumerate(flag_names(n_flags))
    ]
    model = TrafficModel(
        requests=requests,
        start_ms=int((end - timedelta(hours=1)).timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        config=configs[0],
        feature=configs[0].key,
        passengers=10_000,
        seed=3,
        other_flags=tuple(OtherFlag(c.key, c) for c in configs[1:]),
    )
    return list(generate(model))


def insights_cost(found: list[tuple[int, str]], n_flags: int, end: datetime) -> dict[str, tuple[int, int]]:
    """{"checkpoints": (StartQuery, bytes), "watch": (StartQuery, bytes)} for one hourly run of `n_flags` flags."""
    routes, bucketer = parse_route_groups(ROUTES), Bucketer()
    start_ms, end_ms = int((end - timedelta(hours=1)).timestamp() * 1000), int(end.timestamp() * 1000)
    windows = [
        LogWindow(feature=f, start_ms=start_ms, end_ms=end_ms, route_groups=routes, bucketer=bucketer)
        for f in flag_names(n_flags)
    ]

    def run(window: LogWindow) -> tuple[int, int]:
        client = FakeInsightsClient(found)
        reading = InsightsLogSource(LOG_GROUP, client=client, sleep=lambda _s: None).read(window)
        if reading.problems:
            raise SystemExit(f"insights read failed: {reading.problems[:2]}")
        return client.call_count("StartQuery"), reading.read_cost()["bytes_scanned"]

    separate = [run(window) for window in windows]
    return {
        "checkpoints": (sum(q for q, _ in separate), sum(b for _, b in separate)),
        "watch": run(shared_window(windows)),
    }


def cli() -> str:
    return shutil.which("beta-monitor") or str(Path(sys.executable).parent / "beta-monitor")


def database(tmp: Path, n_flags: int) -> str:
    url = embedded_database_url(tmp / "pgdata")
    create_flag_tables(url, schema="columns")
    for i, name in enumerate(flag_names(n_flags)):
        rollout = ROLLOUTS[i % len(ROLLOUTS)]
        upsert_flag(
            url,
            "columns",
            name,
            enabled=True,
            rollout=rollout,
            allowlist=[],
            updated_at=datetime.now(UTC) - timedelta(days=1),
        )
    env = {**os.environ, "BETA_MONITOR_DATABASE_URL": url}
    subprocess.run([cli(), "-q", "db", "init"], env=env, check=True, capture_output=True)
    return url


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    run = subprocess.run([cli(), "-q", *args], env=env, capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1, 2):
        raise SystemExit(f"beta-monitor {args[0]} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return time.perf_counter() - started


def wall_times(
    found: list[tuple[int, str]], n_flags: int, end: datetime, tmp: Path, runs: int | None
) -> tuple[float, float, int]:
    """(watch seconds, N checkpoints seconds, checkpoints actually timed) on the `file:` engine."""
    path = tmp / f"export-{n_flags}.jsonl"
    path.write_text("".join(export_line(ts, message) + "\n" for ts, message in found))
    url = database(tmp / f"db-{n_flags}", n_flags)
    env = {**os.environ, "BETA_MONITOR_DATABASE_URL": url, "BETA_MONITOR_PHASE_LOG": str(tmp / "{feature}/{phase}.md")}
    common = ["--source", f"file:{path}", "--end", end.isoformat(), "--dry-run"]
    watch = timed(["watch", *common], env)
    names = flag_names(n_flags)[: runs or n_flags]
    each = [timed(["checkpoint", name, "auto", "hourly", *common], env) for name in names]
    stop_embedded_server(tmp / f"db-{n_flags}" / "pgdata")
    return watch, sum(each) / len(each) * n_flags, len(each)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flags", default="1,5,20", help="numbers of flags in rollout, comma-separated")
    parser.add_argument("--requests", type=int, default=12_000, help="requests in the hour")
    parser.add_argument("--checkpoint-runs", type=int, default=None, help="time at most this many checkpoints")
    args = parser.parse_args()
    counts = [int(n) for n in args.flags.split(",")]
    end = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bm-watch-bench-", dir="/tmp") as tmp:
        for n in counts:
            found = events(n, args.requests, end)
            cost = insights_cost(found, n, end)
            wall = wall_times(found, n, end, Path(tmp), args.checkpoint_runs)
            rows.append((n, len(found), cost, wall))
            print(f"… {n} flag(s) measured", file=sys.stderr, flush=True)
    print(f"One hourly run, {args.requests:,} requests in the hour (events include every flag's decisions).\n")
    print("Logs Insights (the test suite's evaluator; bytes = the statistics' bytesScanned):\n")
    print("| flags | events | N checkpoints: StartQuery | watch: StartQuery | N checkpoints: bytes scanned | "
          "watch: bytes scanned | bytes ratio |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, size, cost, _ in rows:
        (q_cp, b_cp), (q_w, b_w) = cost["checkpoints"], cost["watch"]
        print(f"| {n} | {size:,} | {q_cp} | {q_w} | {b_cp:,} | {b_w:,} | {b_cp / b_w:.1f}× |")
    print("\n`file:` engine through the CLI (process start, PostgreSQL, every check; --dry-run):\n")
    print("| flags | watch | N checkpoints | speedup |")
    print("|---:|---:|---:|---:|")
    for n, _, _, (watch, checkpoints, timed_runs) in rows:
        note = "" if timed_runs == n else f" (mean of {timed_runs} × {n})"
        print(f"| {n} | {watch:.2f} s | {checkpoints:.2f} s{note} | {checkpoints / watch:.1f}× |")


if __name__ == "__main__":
    main()
