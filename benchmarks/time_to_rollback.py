"""Time-to-rollback benchmark (issue 14): simulated minutes from the start of a regression to the rollback, when the
job acts on its own ROLLBACK every 60 or every 10 minutes, beside the manual process (the hourly report, then a
person), and the phase's false-ROLLBACK budget with no regression (A/A) at both cadences.

Traffic: `phase_model.py` (persistent passengers, heavy-tailed activity and requests, diurnal load, 10% anonymous,
base 5xx 0.5%; retry storms in the A/A runs). At a cadence of C minutes the model's time step is a C-minute slot
(`slots_per_hour`): an active passenger-hour falls in one slot — a session shorter than the slot — so an hour holds
the same passengers and requests whatever the cadence; only how often the job looks changes.

Judging, per slot: the cohort verdict by the bets test (`monitor.checks.bets` folded by
`monitor.checks.sequential`: per-passenger bets on the hash coin, each passenger entering once per phase; α = 0.01
per phase), vectorised as in the detection benchmark (`vector_fold.py`) and re-folded by the real `fold_all` with
real `Bets` for a sample of phases and every phase near the threshold (a disagreement aborts the run); error_rate
as the check judges it (5xx share above 1% once 100 requests are seen); the gate's 5xx rule as `monitor.gate`
applies it (2 consecutive over-limit checkpoints, covering 2 h of windows below an hourly cadence).
For a sample of phases every slot up to the first ROLLBACK is rebuilt as a checkpoint and judged by the real
`monitor.gate.decide_gate` (it must say ROLLBACK there and not before), and the real `monitor.autopilot.Autopilot`
plans the act (the flag's step back).

Timing: the regression starts with the rollout step, at a uniformly random moment of the day and of the cadence; the
job's runs judge the window that ended `LAG` (5 min, the ingestion lag) before they start. The slot in which the step
happens (a fraction u ~ U(0, 1) of a slot) is judged without its share of the regression (slightly conservative).
Time to rollback = u·C + k·C + LAG, k = the first slot the gate says ROLLBACK. Manual: the hourly run's ROLLBACK,
then a person, RESPONSE_MINUTES later (uniform 30–120 min: paged by the report or the alarm, reads it, runs the
command). The seeds' own rule (global 5xx above 1% on 2 consecutive hours) is shown beside it.

    python benchmarks/time_to_rollback.py [--phases N] [--aa-phases N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np
from detection import DESIGN, Tally, judge_bets, seeds_rule
from phase_model import HOURS_PER_PHASE, Counts, Scenario, simulate
from vector_fold import hour_bets, hour_rows

from monitor.autopilot import Autopilot
from monitor.checks.sequential import EvidenceState, HourCounts, fold, verdict
from monitor.domain import Checkpoint, CheckResult, ExpectedConfig, GateAction, Status, Window
from monitor.domain.evidence import ErrorRateEvidence
from monitor.gate import decide_gate
from monitor.settings import load_settings

CADENCES = (60, 10)  # minutes
LAG = 5.0  # minutes: the window ends this long before the run
RESPONSE_MINUTES = (30.0, 120.0)
HORIZON_HOURS = 24
TARGET_MINUTES = 20.0
LIMIT, MIN_REQUESTS = 0.01, 100
STEPS = [0, 1, 5, 10, 25, 50, 100]
REGRESSIONS = (
    ("2× at 5%, 50 req/s", 5, 50, Scenario("2×", factor=2.0)),
    ("5× at 5%, 50 req/s", 5, 50, Scenario("5×", factor=5.0)),
    ("1.5× at 10%, 50 req/s", 10, 50, Scenario("1.5×", factor=1.5)),
)
A_A = (
    ("A/A", 5, 50, Scenario("A/A")),
    ("A/A", 10, 50, Scenario("A/A")),
    ("A/A + random storms", 5, 5, Scenario("A/A + random storms", storms_per_hour=1.0)),
)
VERIFY_PHASES = 10  # phases per scenario and cadence re-judged slot by slot by the real gate
CHUNK_SLOTS = 250 * 720  # A/A: phases × slots simulated at once (the histograms: × cells)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def over_limit(c: Counts) -> np.ndarray:
    """(phases, slots + 1): error_rate FAILs (≥ MIN_REQUESTS requests, 5xx share above LIMIT)."""
    req = c.on["requests"] + c.off["requests"] + c.anon_requests
    return (req >= MIN_REQUESTS) & (c.global_rate() > LIMIT)


def five_xx_rollback(c: Counts, slots_per_hour: int) -> np.ndarray:
    """Per phase, the first slot (1-based) the gate's 5xx rule rolls back at (inf when never): `need` consecutive
    over-limit windows, 2 hourly ones or 2 h of shorter ones."""
    over = over_limit(c)[:, 1:].astype(np.int64)
    need = 2 if slots_per_hour == 1 else 2 * slots_per_hour
    run = np.zeros(over.shape[0], dtype=np.int64)
    first = np.full(over.shape[0], np.inf)
    for t in range(over.shape[1]):
        run = (run + 1) * over[:, t]
        hit = (run >= need) & np.isinf(first)
        first[hit] = t + 1
    return first


def first_rollback(c: Counts, rollout: int, slots_per_hour: int, tally: Tally) -> np.ndarray:
    """Per phase, the first slot (1-based) the gate says ROLLBACK at: a cohort_regression FAIL or the 5xx rule."""
    return np.minimum(judge_bets(c, rollout, DESIGN, tally).first, five_xx_rollback(c, slots_per_hour))


def _checkpoint(t: int, minutes: int, rollout: int, cohort: Status, error: Status, rate: float) -> Checkpoint:
    end = T0 + timedelta(minutes=minutes * t)
    checks = [
        CheckResult(name="error_rate", status=error, summary="", evidence=ErrorRateEvidence(rate=rate)),
        CheckResult(name="cohort_regression", status=cohort, summary=""),
        CheckResult(name="determinism", status=Status.PASS, summary=""),
    ]
    return Checkpoint(
        id=t,
        feature="f",
        phase="p",
        label=f"s{t}",
        run_key=f"f|p|s{t}",
        status=Status.worst(cohort, error),
        window=Window(start=end - timedelta(minutes=minutes), end=end),
        live_config={"enabled": True, "rollout_percentage": rollout},
        expected=ExpectedConfig(),
        checks=checks,
        created_at=end,
    )


def verify(c: Counts, phase: int, first: float, minutes: int, rollout: int) -> str:
    """Re-judge one phase slot by slot through the real gate (and plan the act): ROLLBACK exactly at `first`."""
    rows, over, rates = hour_rows(c, "b")[phase], over_limit(c)[phase], c.global_rate()[phase]
    req = c.on["requests"][phase] + c.off["requests"][phase] + c.anon_requests[phase]
    state, history = EvidenceState(), []
    last = int(min(first, rows.shape[0] - 1))
    for t in range(1, last + 1):
        state = fold(state, HourCounts._make(int(v) for v in rows[t]), DESIGN, hour_bets(c, phase, t, rollout))
        cohort = Status(verdict(state, DESIGN).value)
        error = Status.FAIL if over[t] else (Status.PASS if req[t] >= MIN_REQUESTS else Status.NODATA)
        history.append(_checkpoint(t, minutes, rollout, cohort, error, float(rates[t])))
        gate = decide_gate("f", "p", history, max_5xx_rate=LIMIT, phase_steps=STEPS, live=None)
        history[-1].gate = gate
        if (gate.action is GateAction.ROLLBACK) != (t == first):
            raise SystemExit(f"the real gate disagrees at slot {t} of phase {phase} (expected ROLLBACK at {first})")
    if not np.isfinite(first):
        return ""
    planned = Autopilot(load_settings(auto_rollback=True), None, None, lambda: T0).plan(history[-1], history[-2::-1])
    return planned.line if planned is not None else "no act planned"


@dataclass
class Timing:
    minutes: np.ndarray  # per phase; inf when not rolled back within the horizon

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.minutes, q, method="higher")) if self.minutes.size else float("nan")

    def within(self, limit: float) -> float:
        return float(np.mean(self.minutes <= limit))


def fmt_minutes(value: float) -> str:
    if not np.isfinite(value):
        return f"> {HORIZON_HOURS} h"
    return f"{value:.0f}" if value < 600 else f"{value:.0f} ({value / 60:.1f} h)"


def regression_rows(rng: np.random.Generator, phases: int, tally: Tally) -> tuple[list[list[str]], list[str], dict]:
    table, acts, target = [], [], {}
    for name, rollout, rps, scenario in REGRESSIONS:
        slots: dict[int, np.ndarray] = {}
        seeds = None
        for minutes in CADENCES:
            per_hour = 60 // minutes
            c = simulate(rng, rollout, rps, scenario, phases, HORIZON_HOURS * per_hour, slots_per_hour=per_hour)
            first = first_rollback(c, rollout, per_hour, tally)
            slots[minutes] = first
            for p in range(min(VERIFY_PHASES, phases)):
                line = verify(c, p, first[p], minutes, rollout)
                tally.exact += 1
                if p == 0 and line:
                    acts.append(f"{name}, every {minutes} min: {line}")
            if minutes == 60:
                alarm = seeds_rule(c)[:, 1:]
                seeds = np.where(alarm.any(axis=1), alarm.argmax(axis=1) + 1.0, np.inf)
        u = rng.random(phases)
        response = rng.uniform(*RESPONSE_MINUTES, phases)
        timings = {
            "auto, every 60 min": Timing(u * 60 + slots[60] * 60 + LAG),
            "auto, every 10 min": Timing(u * 10 + slots[10] * 10 + LAG),
            "manual: hourly report + a person (30–120 min)": Timing(u * 60 + slots[60] * 60 + LAG + response),
            "seeds' rule (5xx > 1% twice) + a person": Timing(
                u * 60 + (seeds if seeds is not None else 0) * 60 + LAG + response
            ),
        }
        for process, timing in timings.items():
            table.append(
                [
                    name,
                    process,
                    fmt_minutes(timing.quantile(0.5)),
                    fmt_minutes(timing.quantile(0.95)),
                    f"{timing.within(TARGET_MINUTES):.3f}",
                    f"{timing.within(60):.3f}",
                    f"{timing.within(HORIZON_HOURS * 60):.3f}",
                ]
            )
            target[(name, process)] = timing
    return table, acts, target


def aa_rows(rng: np.random.Generator, phases: int, tally: Tally) -> list[list[str]]:
    rows = []
    for name, rollout, rps, scenario in A_A:
        cells = []
        for minutes in CADENCES:
            per_hour = 60 // minutes
            cohort_any, gate_any = 0, 0
            chunk = max(1, CHUNK_SLOTS // (HOURS_PER_PHASE * per_hour))
            for start in range(0, phases, chunk):
                n = min(chunk, phases - start)
                c = simulate(rng, rollout, rps, scenario, n, HOURS_PER_PHASE * per_hour, slots_per_hour=per_hour)
                cohort = judge_bets(c, rollout, DESIGN, tally, sample=1).first
                cohort_any += int(np.isfinite(cohort).sum())
                gate_any += int(np.isfinite(np.minimum(cohort, five_xx_rollback(c, per_hour))).sum())
            cells += [_share(cohort_any, phases), _share(gate_any, phases)]
        rows.append([name, f"{rollout}%", str(rps), *cells])
    return rows


def _share(events: int, n: int) -> str:
    p = events / n
    se = max(p * (1 - p), 1 / n) ** 0.5 / n**0.5
    return f"{p:.3f} ± {se:.3f}"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", type=int, default=1000, help="phases per regression and cadence")
    parser.add_argument("--aa-phases", type=int, default=200, help="720-hour A/A phases per cell and cadence")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 phases, 5 A/A phases")
    args = parser.parse_args(argv)
    if args.quick:
        args.phases, args.aa_phases = 40, 5
    if args.phases < 1 or args.aa_phases < 1:
        parser.error("--phases and --aa-phases must be 1 or more")
    rng = np.random.default_rng(args.seed)
    tally = Tally()
    began = time.perf_counter()
    table, acts, timings = regression_rows(rng, args.phases, tally)
    print("## Time to rollback: the job acting on its own ROLLBACK, every 60 or 10 minutes, against a person\n")
    print(
        f"Command: `python benchmarks/time_to_rollback.py --phases {args.phases} --aa-phases {args.aa_phases} "
        f"--seed {args.seed}`\n"
    )
    print(
        f"- {args.phases} phases per regression and cadence, each {HORIZON_HOURS} h from the rollout step; minutes "
        f"from the regression's start (the step) to the flag stepped back; window ends {LAG:g} min before the run; "
        f"manual response uniform {RESPONSE_MINUTES[0]:g}–{RESPONSE_MINUTES[1]:g} min after the hourly ROLLBACK\n"
    )
    header = [
        "regression",
        "process",
        "median min",
        "p95 min",
        f"≤ {TARGET_MINUTES:g} min",
        "≤ 60 min",
        f"≤ {HORIZON_HOURS} h",
    ]
    print(markdown(header, table))
    print()
    two = timings[(REGRESSIONS[0][0], "auto, every 10 min")]
    p95 = two.quantile(0.95)
    met = "met" if p95 <= TARGET_MINUTES else "NOT met"
    print(
        f"- Target: 2× at 5%/50 req/s rolled back within {TARGET_MINUTES:g} min at the 95th percentile (every 10 "
        f"min): {met} (p95 {fmt_minutes(p95)} min; {two.within(TARGET_MINUTES):.3f} of phases within "
        f"{TARGET_MINUTES:g} min)"
    )
    for line in acts:
        print(f"- the act planned by `monitor.autopilot` at the first ROLLBACK — {line}")
    print(f"- real gate re-judged {tally.exact} phases slot by slot: the same first ROLLBACK in every one")
    print(
        f"- the bets test folded vectorised; {tally.phases} phases re-folded by the real `fold_all` with real `Bets` "
        f"({tally.folded:,} slots): the same first FAIL and WARN count in every one\n"
    )
    print("### False ROLLBACKs with no regression (A/A), 720-hour phases\n")
    print(
        "P(any false FAIL of cohort_regression in the phase) and P(any false ROLLBACK of the gate: cohort FAIL or "
        f"the 5xx rule), {args.aa_phases} phases per cell and cadence, ± one Monte-Carlo standard error\n"
    )
    aa = aa_rows(rng, args.aa_phases, tally)
    print(
        markdown(
            [
                "scenario",
                "rollout",
                "req/s",
                "60 min: cohort FAIL",
                "60 min: gate ROLLBACK",
                "10 min: cohort FAIL",
                "10 min: gate ROLLBACK",
            ],
            aa,
        )
    )
    print(f"\n- {tally.folded:,} windows folded; {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
