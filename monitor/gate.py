"""The gate: a phase's checkpoints → ADVANCE, HOLD or ROLLBACK, with the exact command to carry it out. Pure.

SPEC "Gate":
- ROLLBACK: 5xx above the limit on the 2 latest checkpoints, or a determinism or cohort_regression FAIL on the latest;
- ADVANCE: at least 2 consecutive PASS checkpoints at the end of the phase, the latest 5xx ≤ limit, determinism PASS
  on the latest, and no FAIL checkpoint since the phase began;
- HOLD otherwise, saying what is still missing.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable

from monitor.checks.cohort import hours_covered
from monitor.domain.checkpoint import Checkpoint, GateDecision
from monitor.domain.evidence import CohortEvidence, DeterminismEvidence, ErrorRateEvidence
from monitor.domain.flag import FlagConfig
from monitor.domain.format import pct
from monitor.domain.status import GateAction, Status
from monitor.errors import ConfigError
from monitor.settings import Settings

PASS_STREAK = 2
# Hours of PASS evidence ADVANCE needs: the wall-clock hours the trailing PASS checkpoints' windows cover (their
# union), so running every 10 minutes does not advance sooner than two hourly PASS checkpoints do. A sub-hourly
# cadence likewise needs the 5xx limit exceeded over this many hours of windows before it rolls back on the 5xx
# rate (the same false-alarm rate as two hourly windows); the cohort test is anytime-valid and needs no such rule.
EVIDENCE_HOURS = 2.0
_EPSILON = 1e-9
MINUTES_BELOW_HOURS = 1.5  # traffic still missing is said in minutes below this many hours, in hours above
ROLLBACK_ON_FAIL = (DeterminismEvidence.check, CohortEvidence.check)  # any FAIL of these rolls back


def _rate(cp: Checkpoint) -> float | None:
    evidence = cp.evidence(ErrorRateEvidence)
    return evidence.rate if evidence else None


def _status(cp: Checkpoint, name: str) -> Status | None:
    result = cp.check(name)
    return result.status if result else None


def _over_limit(cp: Checkpoint, limit: float) -> bool:
    rate = _rate(cp)
    return _status(cp, ErrorRateEvidence.check) is Status.FAIL and rate is not None and rate > limit


def rollback_reasons(checkpoints: list[Checkpoint], limit: float) -> list[str]:
    latest = checkpoints[-1]
    reasons: list[str] = []
    last_two = checkpoints[-2:]
    if len(last_two) == 2 and all(_over_limit(cp, limit) for cp in last_two):
        over = _trailing(checkpoints, lambda cp: _over_limit(cp, limit))
        covered = hours_covered([cp.window for cp in over])
        if _hourly(latest) or covered >= EVIDENCE_HOURS - _EPSILON:
            figures = ", ".join(f"{pct(_rate(cp) or 0.0)} at {cp.label}" for cp in last_two)
            span = "" if _hourly(latest) else f", {len(over)} checkpoints over {_span(covered)}"
            reasons.append(f"5xx above {pct(limit)} on 2 consecutive checkpoints ({figures}{span})")
    for name in ROLLBACK_ON_FAIL:
        result = latest.check(name)
        if result is not None and result.status is Status.FAIL:
            reasons.append(f"{name} FAIL at {latest.label}: {result.summary}")
    return reasons


def _trailing(checkpoints: list[Checkpoint], keep: Callable[[Checkpoint], bool]) -> list[Checkpoint]:
    """The checkpoints at the end of the phase for which `keep` holds, oldest first."""
    found: list[Checkpoint] = []
    for cp in reversed(checkpoints):
        if not keep(cp):
            break
        found.append(cp)
    return found[::-1]


def _pass_streak(checkpoints: list[Checkpoint]) -> int:
    return len(_trailing(checkpoints, lambda cp: cp.status is Status.PASS))


def pass_evidence_hours(checkpoints: list[Checkpoint]) -> float:
    """Wall-clock hours covered by the windows of the trailing PASS checkpoints (overlaps count once)."""
    return hours_covered([cp.window for cp in _trailing(checkpoints, lambda cp: cp.status is Status.PASS)])


def _hourly(cp: Checkpoint) -> bool:
    return cp.window.seconds >= 3600 - _EPSILON


def _streak_missing(checkpoints: list[Checkpoint]) -> tuple[str | None, str | None]:
    """(reason, missing) while the trailing PASS checkpoints are too few or cover too few hours; (None, None) once
    there are PASS_STREAK of them over EVIDENCE_HOURS."""
    latest = checkpoints[-1]
    streak, covered = _pass_streak(checkpoints), pass_evidence_hours(checkpoints)
    short_hours = EVIDENCE_HOURS - covered
    if streak >= PASS_STREAK and short_hours <= _EPSILON:
        return None, None
    window_hours = max(latest.window.seconds / 3600, 1 / 60)
    more = max(PASS_STREAK - streak, math.ceil(short_hours / window_hours - _EPSILON) if short_hours > 0 else 0, 1)
    missing = f"{more} more PASS checkpoint" + ("s" if more > 1 else "")
    if not _hourly(latest):
        missing += f" ({_span(short_hours)} more PASS evidence: {EVIDENCE_HOURS:g} h needed)"
    reason = None
    if latest.status is Status.PASS:
        reason = f"{streak} consecutive PASS checkpoint{'s' if streak != 1 else ''} so far (latest {latest.label})"
        if _hourly(latest) and streak < PASS_STREAK and short_hours <= window_hours:
            reason += f", {PASS_STREAK} needed"
        else:
            reason += f" covering {_span(covered)} of windows, {EVIDENCE_HOURS:g} h of PASS evidence needed"
    return reason, missing


def _amount(hours: float) -> str:
    return f"≈{hours:.0f} h" if hours >= MINUTES_BELOW_HOURS else f"≈{max(1, round(hours * 60))} min"


def _span(hours: float) -> str:
    """Hours of windows to the minute: '≈40 min', '≈1 h 40 min', '≈2 h'."""
    minutes = max(0, round(hours * 60))
    if minutes < 60:
        return f"≈{minutes} min"
    whole, rest = divmod(minutes, 60)
    return f"≈{whole} h {rest} min" if rest else f"≈{whole} h"


def _cohort_missing(latest: Checkpoint) -> list[str]:
    """What more traffic cohort_regression needs: the NODATA shortfall, or the hours a WARN needs to decide."""
    cohort = latest.evidence(CohortEvidence)
    status = _status(latest, CohortEvidence.check)
    if cohort is None:
        return []
    if status is Status.NODATA:
        hours, needed = cohort.needed_hours, cohort.needed_requests
        if hours is not None:
            return [f"{_amount(hours)} more traffic at this rate (cohort_regression needs {needed} more requests)"]
        if needed:
            return [f"{needed} more requests in the cohorts (no ON traffic yet to estimate the time)"]
    if status is Status.WARN and cohort.hours_to_decide is not None:
        return [
            f"{_amount(cohort.hours_to_decide)} more traffic at this rate "
            "(cohort_regression: ON worse this hour, not yet conclusive)"
        ]
    return []


def _traffic_missing(latest: Checkpoint) -> list[str]:
    """What more traffic the latest checkpoint's NODATA (or undecided WARN) checks need."""
    missing = _cohort_missing(latest)
    errors = latest.evidence(ErrorRateEvidence)
    if errors is not None and _status(latest, ErrorRateEvidence.check) is Status.NODATA:
        short = (errors.min_requests or 0) - (errors.requests or 0)
        if short > 0:
            missing.append(f"{short} more requests for error_rate")
    return missing


def hold_findings(checkpoints: list[Checkpoint], limit: float) -> tuple[list[str], list[str]]:
    """(reasons, missing): everything that stands between the phase and ADVANCE. Both empty → ADVANCE."""
    latest = checkpoints[-1]
    reasons: list[str] = []
    missing: list[str] = []
    if latest.status is not Status.PASS:
        bad = [f"{c.name} {c.status.value}" for c in latest.checks if c.status not in (Status.PASS, Status.SKIP)]
        detail = f": {', '.join(bad)}" if bad else ""
        reasons.append(f"latest checkpoint {latest.label} is {latest.status.value}{detail}")
    streak_reason, streak_missing = _streak_missing(checkpoints)
    if streak_reason:
        reasons.append(streak_reason)
    if streak_missing:
        missing.append(streak_missing)
    rate = _rate(latest)
    if rate is None:
        reasons.append(f"no 5xx rate at {latest.label}")
    elif rate > limit:
        reasons.append(f"5xx {pct(rate)} above {pct(limit)} at {latest.label}: a second one in a row rolls back")
    determinism = _status(latest, DeterminismEvidence.check)
    if determinism is not Status.PASS:
        reasons.append(f"determinism is {determinism or 'missing'} at {latest.label}, not PASS")
    failed = [cp.label for cp in checkpoints if cp.status is Status.FAIL]
    if failed:
        reasons.append(f"FAIL since the phase began ({', '.join(failed[:5])}): advancing needs a phase without FAIL")
        missing.append("a new phase once the cause of the FAIL is fixed")
    missing.extend(_traffic_missing(latest))
    return reasons, missing


def next_label(label: str | None) -> str:
    """'h3' → 'h4', 'hour-09' → 'hour-10', 'baseline' → 'baseline-2'; no label → 'checkpoint-1'."""
    if not label:
        return "checkpoint-1"
    match = re.search(r"(\d+)$", label)
    if not match:
        return f"{label}-2"
    digits = match.group(1)
    return label[: match.start()] + str(int(digits) + 1).zfill(len(digits))


def judged_config(cp: Checkpoint) -> tuple[bool, int] | None:
    """(enabled, rollout %) a checkpoint was judged at: the known config with the highest exposure in force in its
    window, as determinism recorded it; for a checkpoint stored without it, the live config it read."""
    evidence = cp.evidence(DeterminismEvidence)
    if evidence is not None and evidence.in_force is not None and evidence.in_force.rollout_percentage is not None:
        return evidence.in_force.enabled is not False, int(evidence.in_force.rollout_percentage)
    rollout = cp.live_config.get("rollout_percentage")
    if isinstance(rollout, bool) or not isinstance(rollout, int | float):
        return None
    return cp.live_config.get("enabled") is not False, int(rollout)


def _level(enabled: bool, rollout: int) -> int:
    """Exposure order: disabled (everyone OFF) is below 0%."""
    return rollout if enabled else -1


def _describe(enabled: bool, rollout: int) -> str:
    return f"{rollout}%" if enabled else "disabled"


def advance_command(
    feature: str, phase: str, latest: Checkpoint, judged: tuple[bool, int] | None, steps: list[int]
) -> tuple[str, str | None, int | None]:
    """(command, note, target level). From the rollout the phase was judged at to the next step of the plan; past the
    last step there is nothing to advance: the command writes the phase report."""
    enabled, rollout = judged if judged is not None else (True, 0)
    above = sorted(s for s in steps if s > rollout)
    if not above:
        command = f"beta-monitor report {shlex.quote(feature)} {shlex.quote(phase)}"
        return command, f"rollout complete at {rollout}%", None
    parts = ["beta-monitor", "rollout", "set", shlex.quote(feature), str(above[0])]
    if not enabled:
        parts.append("--enable")
    parts += ["--reason", shlex.quote(f"gate ADVANCE after {latest.label}")]
    return " ".join(parts), None, above[0]


def rollback_command(feature: str, judged: int | None, steps: list[int], reason: str) -> str:
    """From the rollout the phase was judged at to the plan's step below it (0% and --disable below the first)."""
    below = sorted(s for s in steps if judged is not None and s < judged)
    target = [str(below[-1])] if below else ["0", "--disable"]
    # The headline of the reason ("cohort_regression FAIL at h3"); the figures are in the phase log.
    headline = re.split(r": | \(", reason, maxsplit=1)[0]
    short = headline if len(headline) <= 100 else headline[:99] + "…"
    reason_arg = shlex.quote(f"gate ROLLBACK: {short}")
    return " ".join(["beta-monitor", "rollout", "set", shlex.quote(feature), *target, "--reason", reason_arg])


def _rollback_target(judged: int | None, steps: list[int]) -> int:
    below = sorted(s for s in steps if judged is not None and s < judged)
    return below[-1] if below else -1


def already_moved(
    live: FlagConfig | None, judged: tuple[bool, int] | None, target: int | None, action: GateAction
) -> str | None:
    """When the live flag has already left the rollout the phase was judged at in the gate's direction, say so
    (the command stays the one the phase log named, never another step)."""
    if live is None or judged is None or target is None:
        return None
    level, was = _level(live.enabled, live.rollout_percentage), _level(*judged)
    if (action is GateAction.ROLLBACK and level >= was) or (action is GateAction.ADVANCE and level <= was):
        return None
    verb = "rolled back" if action is GateAction.ROLLBACK else "advanced"
    when = f" at {live.updated_at.strftime('%Y-%m-%dT%H:%M:%SZ')}" if live.updated_at else ""
    now = f"{verb} to {_describe(live.enabled, live.rollout_percentage)}{when}"
    judged_at = f"this phase was judged at {_describe(*judged)}"
    if level == target:
        return f"already {now} ({judged_at}): the command is carried out, nothing more to run"
    beyond = level < target if action is GateAction.ROLLBACK else level > target
    if beyond:
        return f"already {now}, past the command's step ({judged_at}): do not run the command"
    return f"already {now} ({judged_at}): the command would take it the rest of the way"


def hold_command(feature: str, phase: str, latest: Checkpoint | None) -> str:
    label = next_label(latest.label if latest else None)
    return f"beta-monitor checkpoint {shlex.quote(feature)} {shlex.quote(phase)} {shlex.quote(label)}"


def no_checkpoint_gate(feature: str, phase: str, known_phases: list[str] | None) -> GateDecision:
    """HOLD for a phase without any stored checkpoint, saying so — and which phases of the feature have one (a
    mistyped PHASE reads as "never seen", not as a phase waiting for traffic)."""
    reason = f"no checkpoint stored for {feature} / {phase}"
    if known_phases is not None:
        shown = ", ".join(known_phases[:10]) + (f" and {len(known_phases) - 10} more" if len(known_phases) > 10 else "")
        reason += f" (phases with checkpoints: {shown})" if known_phases else f" (no phase of {feature} has one yet)"
    return GateDecision(
        action=GateAction.HOLD,
        reasons=[reason],
        missing=[f"{PASS_STREAK} more PASS checkpoints"],
        command=hold_command(feature, phase, None),
    )


def decide_gate(
    feature: str,
    phase: str,
    checkpoints: list[Checkpoint],
    *,
    max_5xx_rate: float,
    phase_steps: list[int],
    live: FlagConfig | None,
) -> GateDecision:
    """The gate over the phase's checkpoints, oldest → newest. Its command goes from the rollout the latest checkpoint
    was judged at (the same at the checkpoint, in `gate` and in `report`), and `live` (when known) only adds a note
    that the flag has already moved."""
    if not checkpoints:
        return no_checkpoint_gate(feature, phase, None)
    latest = checkpoints[-1]
    judged = judged_config(latest)
    rollback = rollback_reasons(checkpoints, max_5xx_rate)
    if rollback:
        rollout = judged[1] if judged is not None and judged[0] else (None if judged is None else 0)
        return GateDecision(
            action=GateAction.ROLLBACK,
            reasons=rollback,
            command=rollback_command(feature, rollout, phase_steps, rollback[0]),
            note=already_moved(live, judged, _rollback_target(rollout, phase_steps), GateAction.ROLLBACK),
        )
    reasons, missing = hold_findings(checkpoints, max_5xx_rate)
    if reasons or missing:
        return GateDecision(
            action=GateAction.HOLD, reasons=reasons, missing=missing, command=hold_command(feature, phase, latest)
        )
    command, complete, target = advance_command(feature, phase, latest, judged, phase_steps)
    streak = _pass_streak(checkpoints)
    advance = [
        f"{streak} consecutive PASS checkpoints (latest {latest.label})"
        + ("" if _hourly(latest) else f" covering {_span(pass_evidence_hours(checkpoints))} of windows"),
        f"5xx {pct(_rate(latest) or 0.0)} ≤ {pct(max_5xx_rate)}",
        "determinism PASS",
        "no FAIL since the phase began",
    ]
    if complete:
        advance.append(complete)
    note = already_moved(live, judged, target, GateAction.ADVANCE)
    return GateDecision(action=GateAction.ADVANCE, reasons=advance, command=command, note=note)


def phase_gate(
    feature: str, phase: str, checkpoints: list[Checkpoint], settings: Settings, config: FlagConfig | None
) -> GateDecision:
    """`decide_gate` with the configured 5xx limit and phase plan; the live config when it is known."""
    return decide_gate(
        feature,
        phase,
        checkpoints,
        max_5xx_rate=settings.max_5xx_rate,
        phase_steps=settings.phase_steps,
        live=config,
    )


def check_phase_plan(current: int, target: int, steps: list[int], force: bool) -> None:
    """`rollout set`'s guard, the other half of the plan the gate's commands follow: refuse an increase that skips a
    step of the plan (decreases — rollbacks — are always allowed). Raises ConfigError."""
    if force or target <= current:
        return
    if target not in steps:
        raise ConfigError(f"{target}% is not a step of the phase plan {steps}: pick one or pass --force")
    skipped = [s for s in steps if current < s < target]
    if skipped:
        raise ConfigError(
            f"{current}% → {target}% skips {', '.join(f'{s}%' for s in skipped)} of the phase plan: "
            "step through them or pass --force"
        )
