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
    AA_HEADER,
    CELLS,
    HOURS_PER_PHASE,
    POWER,
    POWER_HEADER,
    Tally,
    aa_row,
    aa_run,
    power_row,
    power_run,
    seeded,
    table,
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
    rows = [
        aa_row(sc.name, rollout, rps, aa_run(seeded(args, 3, i, rollout, rps), rollout, rps, sc, args.aa_phases,
                                             HOURS_PER_PHASE, tally), args.aa_phases)
        for i, sc in enumerate(AA)
        if sc.name in args.aa
        for rollout, rps in CELLS
    ]  # fmt: skip
    if rows:
        print(table(AA_HEADER, rows) + "\n")
    rows = [
        power_row(sc.name, rollout, rps,
                  power_run(seeded(args, 1, i, rollout, rps), rollout, rps, sc, args.phases, tally))
        for i, sc in enumerate(POWER)
        if sc.name in args.power
        for rollout, rps in CELLS
    ]  # fmt: skip
    if rows:
        print(table(POWER_HEADER, rows) + "\n")
    print(
        f"{tally.phases:,} phases re-folded by the real fold_all ({tally.folded:,} phase-hours): the same first FAIL "
        "hour and WARN count in every one."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
