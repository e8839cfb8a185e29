"""The rollout's story: `beta-monitor report FEATURE` without PHASE, the whole rollout of a flag across its phases.

One timeline of every checkpoint (phase, label, window end, the rollout % it was judged at, status, the gate it
stored, ON and OFF 5xx rates) in the order of the time it judged, a Mermaid xychart of rollout % and the ON/OFF 5xx
rates over that time, the `rollout set` audit (who, from → to, why) and the gate of the latest phase now. Rendered by
`templates/rollout.md.j2`; outside text (labels, phases, actors, reasons) goes through the `md` filter and the chart's
x labels through `mermaid_category`.

Where it is written: beside the phase logs, at the phase-log template with `{phase}` replaced by `ROLLOUT`
(`reports/{feature}/{phase}.md` → `reports/<feature>/ROLLOUT.md`, `s3://b/logs/{feature}/{phase}.md` →
`s3://b/logs/<feature>/ROLLOUT.md`); a template without `{phase}` gets `.ROLLOUT` before its extension. The sinks
of the phase log write it (`write_all`: a local file replaced atomically, or one S3 PutObject).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from monitor.domain.checkpoint import Checkpoint, GateDecision
from monitor.domain.evidence import CohortEvidence, CohortWindow
from monitor.domain.flag import FlagConfig
from monitor.domain.status import Status
from monitor.errors import ConfigError
from monitor.gate import judged_config, phase_gate
from monitor.phaselog import markdown as fmt
from monitor.phaselog.render import environment
from monitor.phaselog.service import PhaseLog
from monitor.phaselog.sinks import phase_log_destination
from monitor.settings import Settings
from monitor.store.base import RolloutStory

STORY_NAME = "ROLLOUT"  # what `{phase}` becomes in the story's destination
_RATE_FLOOR = 0.1  # the chart's y axis reaches at least this 5xx rate (%), so a clean rollout is not all noise


def story_destination(template: str, feature: str) -> str:
    """Where the story of `feature` is written for a phase-log `template`: `{phase}` → `ROLLOUT`, or, without
    `{phase}`, `<name>.ROLLOUT.<ext>` beside the one log. Raises ConfigError (as `phase_log_destination`)."""
    destination = phase_log_destination(template, feature, STORY_NAME)
    if "{phase}" in template:
        return destination
    head, slash, name = destination.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    renamed = f"{stem}.{STORY_NAME}.{ext}" if dot and stem else f"{name}.{STORY_NAME}.md"
    return head + slash + renamed


def _rollout_text(judged: tuple[bool, int] | None) -> str:
    if judged is None:
        return fmt.NA
    enabled, rollout = judged
    return f"{rollout}%" if enabled else "disabled"


def _cohort(cp: Checkpoint) -> tuple[CohortWindow, CohortWindow]:
    evidence = cp.evidence(CohortEvidence) or CohortEvidence()
    return evidence.on, evidence.off


def _point(cp: Checkpoint, index: int) -> dict[str, Any]:
    judged = judged_config(cp)
    on, off = _cohort(cp)
    return {
        "cp": cp,
        "category": fmt.mermaid_category(cp.label, index),
        "rollout": _rollout_text(judged),
        "exposure": 0 if judged is None or not judged[0] else judged[1],
        "gate": cp.gate.action.value if cp.gate else fmt.NA,
        "on": on,
        "off": off,
    }


def _phases(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per phase, in the order it first appears on the timeline: its checkpoints, first and last window end, the
    rollout its latest checkpoint was judged at, status counts and its latest stored gate."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault(point["cp"].phase, []).append(point)
    result = []
    for phase, members in groups.items():
        latest = max(members, key=lambda p: p["cp"].id or 0)
        counts = Counter(str(p["cp"].status) for p in members)
        result.append(
            {
                "phase": phase,
                "count": len(members),
                "first": members[0]["cp"].window.end,
                "last": members[-1]["cp"].window.end,
                "rollout": latest["rollout"],
                "statuses": ", ".join(f"{s} {counts[str(s)]}" for s in Status if counts[str(s)]),
                "gate": latest["gate"],
            }
        )
    return result


def _state(value: Any) -> str:
    """An audit row's before/after ({enabled, rollout_percentage}) as "5%" or "disabled (5%)"."""
    if not isinstance(value, dict):
        return str(value)
    rollout = value.get("rollout_percentage")
    shown = f"{rollout}%" if isinstance(rollout, int) and not isinstance(rollout, bool) else str(rollout)
    return shown if value.get("enabled") is not False else f"disabled ({shown})"


def _change(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": row.get("at"),
        "actor": row.get("actor"),
        "before": _state(row.get("before")),
        "after": _state(row.get("after")),
        "reason": row.get("reason"),
    }


def _chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's series in percent: ON and OFF 5xx rates (n/a plotted as 0) as lines, and the rollout as bars drawn
    to the rate axis' scale, its top standing for the highest rollout reached (100% when none was above 0): one y
    axis is all a Mermaid xychart has, and the steps of a rollout at 1-10% stay visible."""

    def rate(cohort: CohortWindow) -> float:
        number = fmt.as_number(cohort.rate)
        return (number or 0.0) * 100

    on = [rate(p["on"]) for p in points]
    off = [rate(p["off"]) for p in points]
    top = max([*on, *off, _RATE_FLOOR / 1.25]) * 1.25
    highest = max(p["exposure"] for p in points) or 100
    return {
        "on": [f"{v:.2f}" for v in on],
        "off": [f"{v:.2f}" for v in off],
        "rollout": [f"{p['exposure'] * top / highest:.4f}" for p in points],
        "top": f"{top:.2f}",
        "highest": highest,
    }


def render_rollout_story(
    feature: str,
    checkpoints: list[Checkpoint],
    changes: list[dict[str, Any]],
    config: FlagConfig | None,
    *,
    current_phase: str | None = None,
    gate: GateDecision | None = None,
) -> str:
    """The story's Markdown. `checkpoints` in the order of the time they judged (`timeline`), `changes` the
    `rollout set` audit rows oldest first, `config` the live flag (None: not in the flag table), `gate` the decision
    of `current_phase` now. Pure: no clock, no I/O."""
    points = [_point(cp, i) for i, cp in enumerate(checkpoints, start=1)]
    return (
        environment()
        .get_template("rollout.md.j2")
        .render(
            feature=feature,
            config=config,
            points=points,
            phases=_phases(points),
            chart=_chart(points) if points else None,
            changes=[_change(row) for row in changes],
            current_phase=current_phase,
            gate=gate,
        )
    )


def rollout_story(store: RolloutStory, feature: str, config: FlagConfig | None, settings: Settings) -> str:
    """Read the feature's whole rollout from the store and render it; the gate is that of the phase of the latest
    stored checkpoint, decided now. A feature with no checkpoint and no flag is a typo: ConfigError."""
    checkpoints = store.timeline(feature)
    if not checkpoints and config is None:
        raise ConfigError(
            f"no checkpoint stored for {feature} and no flag {feature!r} in the backend's flag table: check FEATURE"
        )
    changes = list(reversed(store.rollout_audit(feature)))
    current_phase, gate = None, None
    if checkpoints:
        in_order = sorted(checkpoints, key=lambda cp: cp.id or 0)
        current_phase = in_order[-1].phase
        phase = [cp for cp in in_order if cp.phase == current_phase]
        gate = phase_gate(feature, current_phase, phase, settings, config)
    return render_rollout_story(feature, checkpoints, changes, config, current_phase=current_phase, gate=gate)


def write_rollout_story(
    log: PhaseLog, feature: str, text: str, *, phases: list[str], template: str | None = None
) -> str:
    """Write the story beside the phase logs (`story_destination`) through the phase log's sinks; returns where.
    Refuses (ConfigError, nothing written) when the log of one of `phases` would be that very file. Raises SinkError."""
    chosen = template or log.template
    destination = story_destination(chosen, feature)
    for phase in phases:
        if log.destination(feature, phase, chosen) == destination:
            raise ConfigError(
                f"phase {phase[:100]!r} of {feature[:100]} has its log where the rollout story goes ({destination}): "
                f"{STORY_NAME} is the story's name beside the phase logs, give the phase another name"
            )
    log.open_sink(destination).write_all(text)
    return destination


def publish_rollout_story(
    log: PhaseLog,
    store: RolloutStory,
    feature: str,
    config: FlagConfig | None,
    settings: Settings,
    *,
    template: str | None = None,
) -> tuple[str, str]:
    """`rollout_story` written by `write_rollout_story`: returns (the story's Markdown, where it was written)."""
    text = rollout_story(store, feature, config, settings)
    return text, write_rollout_story(log, feature, text, phases=store.phases(feature), template=template)
