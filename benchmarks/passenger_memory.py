"""Memory of the per-passenger state a read keeps: bytes per passenger, measured with tracemalloc.

    python benchmarks/passenger_memory.py                    # 10,000 / 100,000 / 1,000,000 passengers
    python benchmarks/passenger_memory.py --passengers 1000  # a quick run
    python benchmarks/passenger_memory.py --store            # and the store's look-up of earlier failures

For N distinct passengers (sha256 hashes made before measuring; each event hands the engine a fresh copy of its
hash, as parsing a log line does), each making 3 requests of which one passenger in 20 has a 5xx, it fills, through
the engines' own entry points and one part at a time:
- `PassengerStates` (cohort_regression's units: one 64-bit key → bucket, requests and 5xx in one int), via
  `WindowAggregate.add_cohort_request`;
- for reference in the same run, `DecisionStats.per_hash` (determinism's table: the hex hash → decision bits), via
  `WindowAggregate.add_decision`, which every read already held per passenger before this part existed.
It prints the traced bytes each part holds afterwards, per passenger and per 100,000 passengers, and the time the
cohort check takes to split them into ON / OFF units (`monitor.checks.cohort.window_hour`).

With `--store` (needs the `embedded` extra), it also times `PostgresCheckpointStore.entered_before` — which of a
window's passengers entered the cohort evidence earlier in the phase — on an embedded PostgreSQL holding a 720-hour
phase's entered passengers at 50 and 500 req/s (the detection benchmark's traffic: 56% of the population enters in
a phase, 1.76× the 32% who fail, so 430,000 and 4,300,000 keys), for a window of 7,300 and 73,000 passengers (its
passengers per hour at those loads), 5–10% of whom entered before.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from monitor.checks.base import CheckContext
from monitor.checks.cohort import window_hour
from monitor.domain import Bucketer, ExpectedConfig, FlagConfig, LogWindow, SourceResult, Window, WindowAggregate

BUCKETER = Bucketer()
END = datetime(2026, 1, 1, tzinfo=UTC)


def _window() -> LogWindow:
    return LogWindow(feature="f", start_ms=0, end_ms=10**13, bucketer=BUCKETER)


def fresh(text: str) -> str:
    """A new string object equal to `text` (a parsed log line's hash is never the object the generator made)."""
    return (text + " ")[:-1]


def traced(fill: Callable[[], WindowAggregate]) -> tuple[int, WindowAggregate]:
    """Bytes still allocated by `fill` once it returns (what the aggregate it built holds)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    aggregate = fill()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, aggregate


def measure(n: int) -> dict[str, float]:
    hashes = [BUCKETER.hash_id(f"passenger-{i}") for i in range(n)]

    def cohort_part() -> WindowAggregate:
        stats = _window().aggregate()
        for i, h in enumerate(hashes):
            stats.add_cohort_request(fresh(h), False, 2)
            stats.add_cohort_request(fresh(h), i % 20 == 0, 1)
        return stats

    def decisions_part() -> WindowAggregate:
        stats = _window().aggregate()
        for h in hashes:
            stats.add_decision(None, "f", "OFF", fresh(h))
        return stats

    empty, _ = traced(lambda: _window().aggregate())
    cohort_bytes, stats = traced(cohort_part)
    decision_bytes, _ = traced(decisions_part)
    cohort_bytes -= empty
    decision_bytes -= empty
    assert len(stats.passengers.states) == n
    config = FlagConfig(key="f", enabled=True, rollout_percentage=5)
    ctx = CheckContext(
        feature="f",
        config=config,
        allowlist_hashes=frozenset(),
        expected=ExpectedConfig(),
        reading=SourceResult(stats, engine="benchmark"),
        window=Window(start=END - timedelta(hours=1), end=END),
        now=END,
        bucketer=BUCKETER,
    )
    began = time.perf_counter()
    hour, _bets = window_hour(ctx, True, 5)
    split = time.perf_counter() - began
    assert hour.on_seen + hour.off_seen == n
    return {
        "cohort": cohort_bytes / n,
        "decisions": decision_bytes / n,
        "split_ms": split * 1000,
    }


def store_lookup(stored: int, per_checkpoint: int, seen: int) -> float:
    """Seconds of one `entered_before` over `stored` keys (in rows of `per_checkpoint`) for `seen` passengers."""
    import psycopg  # noqa: PLC0415 - only with --store

    from monitor.store.admin import recreate_database  # noqa: PLC0415
    from monitor.store.checkpoints import PostgresCheckpointStore  # noqa: PLC0415
    from monitor.store.embedded import embedded_database_url  # noqa: PLC0415

    url = recreate_database(embedded_database_url(), "beta_monitor_bench_failures")
    store = PostgresCheckpointStore(url)
    store.migrate()
    rng = random.Random(1)
    earlier: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE cohort_failures DROP CONSTRAINT cohort_failures_checkpoint_id_fkey")
        for row in range(stored // per_checkpoint):
            keys = [rng.getrandbits(63) for _ in range(per_checkpoint)]
            earlier += keys[: max(1, seen // 20 // (stored // per_checkpoint))]
            conn.execute("INSERT INTO cohort_failures VALUES (%s, 'f', 'p', %s)", (row + 1, keys))
        conn.execute("ANALYZE cohort_failures")
    window = [rng.getrandbits(63) for _ in range(seen - len(earlier))] + earlier
    store.entered_before("f", "p", window)  # connect and migrate-check once: time the look-up itself
    began = time.perf_counter()
    found = store.entered_before("f", "p", window)
    elapsed = time.perf_counter() - began
    assert found == set(earlier)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--passengers", type=int, action="append", help="distinct passengers (repeatable; default 10k, 100k, 1M)"
    )
    parser.add_argument("--store", action="store_true", help="also time the store's look-up of earlier failures")
    args = parser.parse_args(argv)
    sizes = args.passengers or [10_000, 100_000, 1_000_000]
    flags = " ".join([*(f"--passengers {n}" for n in sizes), *(["--store"] if args.store else [])])
    print("## Per-passenger memory of a read\n")
    print(f"Command: `python benchmarks/passenger_memory.py {flags}`\n")
    print(
        "| passengers | PassengerStates (cohort units) bytes / passenger | MiB per 100,000 | "
        "reference: determinism's per-hash table bytes / passenger | ratio | ON/OFF split by the check |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        m = measure(n)
        print(
            f"| {n:,} | {m['cohort']:.1f} | {m['cohort'] * 100_000 / 2**20:.2f} | {m['decisions']:.1f} | "
            f"{m['cohort'] / m['decisions']:.2f} | {m['split_ms']:.1f} ms |"
        )
    print(
        "\nThe store keeps a phase's entered passengers as 64-bit keys in a bigint[] per checkpoint (8 bytes a "
        "passenger); a checkpoint reads back only the keys of the passengers its window saw."
    )
    if args.store:
        print("\n| phase's entered passengers stored | window's passengers | entered_before |")
        print("|---:|---:|---:|")
        for stored, per_checkpoint, seen in ((430_000, 600, 7_300), (4_300_000, 6_000, 73_000)):
            print(f"| {stored:,} | {seen:,} | {store_lookup(stored, per_checkpoint, seen):.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
