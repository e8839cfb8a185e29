"""Re-run some scenarios of `detection.py` with the same seeds and print their rows (the A/A and power tables).

The seeds are per (section, scenario index, cell), so a scenario's rows are exactly those a full run would print.
Used after a model fix that changes only some scenarios (`RESULTS-detection.md`, "Supplementary rows").

    python benchmarks/detection_rows.py [--phases N] [--aa-phases N] [--seed S] --aa NAME... --power NAME...
"""

from __future__ import annotations

import argparse
import sys

from detection import (
    AA,
    CELLS,
    HOURS_PER_PHASE,
    POWER,
    POWER_HOURS,
    Tally,
    aa_run,
    cell_name,
    frac,
    power_run,
    seeded,
    table,
    with_se,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--phases", type=int, default=1000)
    p.add_argument("--aa-phases", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--aa", nargs="*", default=[], help="A/A scenario names")
    p.add_argument("--power", nargs="*", default=[], help="power scenario names")
    args = p.parse_args(argv)
    tally = Tally()
    rows = []
    for i, sc in enumerate(AA):
        if sc.name not in args.aa:
            continue
        for rollout, rps in CELLS:
            r = aa_run(seeded(args, 3, i, rollout, rps), rollout, rps, sc, args.aa_phases, HOURS_PER_PHASE, tally)
            warn = r.warn_hours if r.warn_hours is not None else [0.0]
            rows.append(
                [
                    sc.name,
                    *cell_name(rollout, rps),
                    f"{r.fails['seeds'].mean():.2f}",
                    frac(r.fails["seeds"] > 0),
                    f"{r.fails['old'].mean():.2f}",
                    frac(r.fails["old"] > 0),
                    with_se(float(r.fails["req"].mean()), args.aa_phases),
                    with_se(float(r.fails["b"].mean()), args.aa_phases),
                    with_se(float(r.fails["bets"].mean()), args.aa_phases),
                    f"{sum(warn) / len(warn):.2f}",
                ]
            )
    if rows:
        header = ["scenario", "rollout", "req/s", "seeds: FAILs / 720 h", "seeds: P(any)", "old: FAILs / 720 h"]
        header += ["old: P(any)", "req units: P(any)", "(b): P(any)", "bets: P(any false FAIL in the phase)"]
        print(table([*header, "bets: WARN hours / 720 h"], rows) + "\n")
    rows = []
    for i, sc in enumerate(POWER):
        if sc.name not in args.power:
            continue
        for rollout, rps in CELLS:
            run = power_run(seeded(args, 1, i, rollout, rps), rollout, rps, sc, args.phases, tally)
            f = run.first
            rows.append(
                [
                    sc.name,
                    *cell_name(rollout, rps),
                    frac(f["seeds"] == 1),
                    frac(f["seeds"] <= 3),
                    frac(f["old"] == 1),
                    frac(f["old"] <= 3),
                    frac(f["b"] == 1),
                    frac(f["bets"] == 1),
                    frac(f["b"] <= 3),
                    frac(f["bets"] <= 3),
                    frac(f["b"] <= POWER_HOURS),
                    frac(f["bets"] <= POWER_HOURS),
                    frac(run.signal_1["module"]),
                    frac(run.signal_3["module"]),
                ]
            )
    if rows:
        header = ["scenario", "rollout", "req/s", "seeds @1", "seeds ≤3", "old @1", "old ≤3", "(b) @1", "bets @1"]
        header += ["(b) ≤3", "bets ≤3", f"(b) ≤{POWER_HOURS}", f"bets ≤{POWER_HOURS}", "bets WARN or FAIL @1"]
        print(table([*header, "bets WARN or FAIL ≤3"], rows) + "\n")
    print(
        f"{tally.phases:,} phases re-folded by the real fold_all ({tally.folded:,} phase-hours): the same first FAIL "
        "hour and WARN count in every one."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
