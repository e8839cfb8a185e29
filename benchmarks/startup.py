"""Startup of the commands that only read or administer the store: `history`, `gate` and `db init`.

    python benchmarks/startup.py                        # this checkout, 9 runs of each command
    python benchmarks/startup.py --tree ../old-checkout # another checkout too, interleaved (before / after)

Each run is a whole process, `python -m monitor COMMAND`, against a running embedded PostgreSQL given by
BETA_MONITOR_DATABASE_URL (so pgserver's attach is not timed), with one flag and no checkpoints, with compiled
bytecode as an installed package has it. It prints the minimum wall time of the runs (the least disturbed by other
load on the machine) and the modules' import time of the command (`python -X importtime`, summed self time).
Interleaving the trees makes both see the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monitor.store.embedded import embedded_database_url, stop_embedded_server
from monitor.store.flags import create_flag_tables, upsert_flag

REPO = Path(__file__).resolve().parents[1]
FEATURE = "startup_feature"
COMMANDS = (("history", FEATURE), ("gate", FEATURE, "p1"), ("db", "init"))
_IMPORT = re.compile(r"import time:\s+(\d+) \|")


def run_once(tree: Path, url: str, command: tuple[str, ...], *, importtime: bool = False) -> tuple[float, float]:
    """(wall seconds, import seconds summed over every module, or 0 without `importtime`)."""
    flags = ["-X", "importtime"] if importtime else []
    # Bytecode is written and reused, as an installed package has it (pip compiles it): with PYTHONDONTWRITEBYTECODE
    # an editable checkout would compile every module on every run and time the compiler.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"BETA_MONITOR_DATABASE_URL": url}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-m", "monitor", *command],
        cwd=tree,  # `python -m monitor` imports the tree it runs in
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1, 2):
        raise SystemExit(f"{' '.join(command)} in {tree} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    imports = sum(int(m.group(1)) for m in _IMPORT.finditer(done.stderr)) / 1e6 if importtime else 0.0
    return wall, imports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (the minimum is reported)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to time as well")
    args = parser.parse_args(argv)
    trees = [REPO, *args.tree]
    with tempfile.TemporaryDirectory(prefix="beta-monitor-startup-") as tmp:
        url = embedded_database_url(Path(tmp) / "pgdata")
        create_flag_tables(url)
        upsert_flag(url, "columns", FEATURE, enabled=True, rollout=5)
        best: dict[tuple[Path, tuple[str, ...]], float] = {}
        for _ in range(args.runs):
            for tree in trees:
                for command in COMMANDS:
                    wall, _ = run_once(tree, url, command)
                    best[tree, command] = min(wall, best.get((tree, command), wall))
        print(f"Minimum wall time of {args.runs} runs, and import time (python -X importtime, summed):\n")
        print("| tree | command | wall | imports |\n|---|---|---:|---:|")
        for tree in trees:
            for command in COMMANDS:
                _, imports = run_once(tree, url, command, importtime=True)
                name = "this checkout" if tree == REPO else str(tree)
                print(f"| {name} | `{' '.join(command)}` | {best[tree, command]:.2f} s | {imports:.2f} s |")
        stop_embedded_server(Path(tmp) / "pgdata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
