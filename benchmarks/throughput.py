"""Throughput and memory of the `file:` engine through the real CLI, against jq and grep on the same file.

    python benchmarks/throughput.py                 # 1M and 4M events (a few minutes)
    python benchmarks/throughput.py --sizes 20000   # a quick look

For each size it writes N exported events (`{"timestamp": ms, "message": "<json body>"}` per line, the traffic model
of monitor.cli.demo.traffic), then times in the same run:
  (a) `beta-monitor checkpoint … --source file:PATH --dry-run --json` (a whole checkpoint: flags from PostgreSQL,
      every check), with its peak RSS;
  (b) jq computing the same count of requests and 5xx over the file (`fromjson` on each message);
  (c) `grep -c` over it: the floor of reading the file at all.
  (d) the same checkpoint on the same events as a CloudWatch export-task object (`000000.gz`: gzip, lines
      `<ISO-8601 ms>Z <message>`), the format `aws logs create-export-task` writes (gzip is read on one core).
It prints events/s for each, our speedup over jq, peak memory (RSS and PSS, summed over the process and the child
it forks for a large file), how RSS grows from the smallest to the largest size, and the export-task row beside the
plain one.
Ratios are taken within one run, since machines are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.cli.demo.traffic import TrafficModel, export_line, generate, passenger_ids
from monitor.domain import FlagConfig
from monitor.store.embedded import embedded_database_url, stop_embedded_server
from monitor.store.flags import create_flag_tables, upsert_flag

FEATURE = "passenger_favorites_matching"
JQ_PROGRAM = (
    'reduce (inputs | .message | fromjson? | select(type == "object" and .type == "http_request") | .status) as $s'
    " ({requests: 0, errors_5xx: 0}; .requests += 1 | if ($s >= 500 and $s < 600) then .errors_5xx += 1 else . end)"
)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


def write_events(path: Path, n: int, end: datetime, *, export_task: Path | None = None) -> int:
    config = FlagConfig(key=FEATURE, enabled=True, rollout_percentage=5, allowlist=tuple(passenger_ids(12, 1234)))
    model = TrafficModel(
        requests=n,
        start_ms=int((end - timedelta(hours=1)).timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        config=config,
        passengers=50_000,
        feature=FEATURE,
        malformed_share=0.001,
        seed=n,
    )
    count = 0
    with path.open("w", encoding="utf-8") as fh, _maybe_gzip(export_task) as gz:
        for ts, message in generate(model):
            fh.write(export_line(ts, message) + "\n")
            if gz is not None:
                gz.write(f"{_iso(ts)} {message}\n")
            count += 1
            if count >= n:
                break
    return count


def _maybe_gzip(path: Path | None) -> Any:
    return gzip.open(path, "wt", encoding="utf-8", compresslevel=6) if path else contextlib.nullcontext()


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB of `pid` and its children (the `file:` engine forks one to read the second half)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(c) for c in task.read_text().split()]
    rss = pss = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str, tuple[int, int]]:
    """(seconds, stdout, peak (RSS, PSS) in KiB of the command and its children, sampled every 20 ms)."""
    peak = (0, 0)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        while proc.poll() is None:
            rss, pss = _memory_kib(proc.pid)
            peak = (max(peak[0], rss), max(peak[1], pss))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {stderr.strip()[-500:]}")
    return elapsed, stdout, peak


def database(tmp: Path) -> str:
    url = embedded_database_url(tmp / "pgdata")
    create_flag_tables(url, schema="columns")
    upsert_flag(
        url,
        "columns",
        FEATURE,
        enabled=True,
        rollout=5,
        allowlist=passenger_ids(12, 1234),
        updated_at=datetime.now(UTC) - timedelta(days=1),
    )
    # Migrate once up front, as in production: the timed runs measure checkpoints, not a first-time schema setup.
    cli = shutil.which("beta-monitor") or str(Path(sys.executable).parent / "beta-monitor")
    env = {**os.environ, "BETA_MONITOR_DATABASE_URL": url}
    subprocess.run([cli, "-q", "db", "init"], env=env, check=True, capture_output=True)
    return url


def checkpoint(path: Path, tmp: Path, url: str, end: datetime) -> tuple[float, dict[str, Any], tuple[int, int]]:
    """(seconds, the --json document, peak (RSS, PSS) KiB) of a dry-run checkpoint replaying `path`."""
    env = {**os.environ, "BETA_MONITOR_DATABASE_URL": url, "BETA_MONITOR_PHASE_LOG": str(tmp / "log.md")}
    cli = shutil.which("beta-monitor") or str(Path(sys.executable).parent / "beta-monitor")
    args = ["-q", "checkpoint", FEATURE, "bench", "bench", "--source", f"file:{path}", "--end", end.isoformat()]
    seconds, out, peak = timed([cli, *args, "--dry-run", "--json"], env)
    return seconds, json.loads(out), peak


def measure(n: int, tmp: Path, url: str, end: datetime, jq: str | None) -> dict[str, float | int | None]:
    path, gz = tmp / f"events-{n}.jsonl", tmp / f"export-{n}" / "000000.gz"
    gz.parent.mkdir()
    events = write_events(path, n, end, export_task=gz)
    ours, doc, (rss, pss) = checkpoint(path, tmp, url, end)
    gz_s, gz_doc, (gz_rss, gz_pss) = checkpoint(gz, tmp, url, end)
    assert gz_doc["metrics"]["status"] == doc["metrics"]["status"], "the export-task object must give the same counts"
    row: dict[str, float | int | None] = {
        "events": events,
        "ours_s": ours,
        "ours_rss_mib": rss / 1024 if rss else None,
        "ours_pss_mib": pss / 1024 if pss else None,
        "requests": doc["metrics"]["status"]["requests"],
        "errors_5xx": doc["metrics"]["status"]["5xx"],
        "plain_mib": path.stat().st_size / 2**20,
        "gz_mib": gz.stat().st_size / 2**20,
        "gz_s": gz_s,
        "gz_rss_mib": gz_rss / 1024 if gz_rss else None,
        "gz_pss_mib": gz_pss / 1024 if gz_pss else None,
    }
    if jq:
        jq_s, jq_out, _ = timed([jq, "-n", "-c", JQ_PROGRAM, str(path)])
        jq_counts = json.loads(jq_out)
        assert jq_counts["requests"] >= row["requests"], (jq_counts, row)  # jq also counts malformed requests
        row.update(jq_s=jq_s, jq_requests=jq_counts["requests"], jq_5xx=jq_counts["errors_5xx"])
    grep_s, _, _ = timed(["grep", "-c", "http_request", str(path)])
    row["grep_s"] = grep_s
    path.unlink()
    gz.unlink()
    return row


def report(rows: list[dict[str, float | int | None]]) -> None:
    print(
        "| events | beta-monitor checkpoint | jq (same counts) | grep -c (floor) | speedup over jq "
        "| peak RSS (summed) | peak PSS (summed) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        n = int(r["events"] or 0)
        ours = n / float(r["ours_s"] or 1)
        jq = n / float(r["jq_s"] or 1) if r.get("jq_s") else None
        grep = n / float(r["grep_s"] or 1)
        speed = f"{ours / jq:.2f}×" if jq else "n/a (no jq)"
        jq_text = f"{jq:,.0f} ev/s" if jq else "n/a"
        rss = f"{r['ours_rss_mib']:.0f} MiB" if r["ours_rss_mib"] else "n/a"
        pss = f"{r['ours_pss_mib']:.0f} MiB" if r["ours_pss_mib"] else "n/a"
        print(
            f"| {n:,} | {ours:,.0f} ev/s ({r['ours_s']:.1f} s) | {jq_text} | {grep:,.0f} ev/s | {speed} | {rss} "
            f"| {pss} |"
        )
    first, last = rows[0], rows[-1]
    if len(rows) > 1 and first["ours_rss_mib"] and last["ours_rss_mib"]:
        growth = float(last["ours_rss_mib"]) / float(first["ours_rss_mib"]) - 1
        print(f"\nPeak RSS from {first['events']:,} to {last['events']:,} events: {growth * 100:+.1f}%")
    print(
        "Memory is sampled every 20 ms from /proc for the process and the child it forks to read the second half "
        "of a large file; RSS counts pages the two share twice, PSS (proportional set size) splits them."
    )
    print()
    print("| events | format | file size | beta-monitor checkpoint | peak RSS (summed) | peak PSS (summed) |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        n = int(r["events"] or 0)
        for label, size, key in (("wrapper lines", "plain_mib", "ours"), ("export-task 000000.gz", "gz_mib", "gz")):
            seconds = float(r[f"{key}_s"] or 1)
            peaks = [r[f"{key}_rss_mib"], r[f"{key}_pss_mib"]]
            rss_text, pss_text = (f"{float(p):.0f} MiB" if p else "n/a" for p in peaks)
            print(
                f"| {n:,} | {label} | {float(r[size] or 0):,.1f} MiB | {n / seconds:,.0f} ev/s ({seconds:.1f} s) "
                f"| {rss_text} | {pss_text} |"
            )
    print(
        "The export-task object holds the same events as the wrapper lines (same counts, checked); gzip cannot be "
        "split, so it is read on one core while a plain file of 64 MiB or more is read on two."
    )
    for r in rows:
        print(
            f"- {r['events']:,} events: beta-monitor counted {r['requests']:,} requests / {r['errors_5xx']:,} 5xx; "
            f"jq {r.get('jq_requests', 'n/a')} / {r.get('jq_5xx', 'n/a')} (jq also counts malformed requests)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,4000000", help="comma-separated event counts")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    jq = shutil.which("jq")
    end = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bm-throughput-", dir="/tmp") as tmp:
        url = database(Path(tmp))
        print(f"Command: python benchmarks/throughput.py --sizes {args.sizes}")
        rows = [measure(n, Path(tmp), url, end, jq) for n in sizes]
        report(rows)
        stop_embedded_server(Path(tmp) / "pgdata")


if __name__ == "__main__":
    main()
