"""`beta-monitor demo`: a whole rollout story on an embedded PostgreSQL and an in-process AWS emulation (moto).

allowlist → 1% → 5% → 10% with a regression only the ON cohort sees (FAIL, ROLLBACK) → rollback to 5% with
`rollout set`. A second flag, healthy, is in rollout at the same time (its beta testers on the allowlist): every
hour ONE `watch` reads the logs once and checks both. The demo acts as a careful operator: it takes hourly
checkpoints in a phase until the gate says ADVANCE (or ROLLBACK) and only then runs the `rollout set` the gate
names; a gate that still says HOLD after `MAX_CHECKPOINTS_PER_PHASE` hours ends the story, saying why. Traffic is
simulated for past hours; each checkpoint judges one hour.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.aws import make_client
from monitor.cli.databases import Databases
from monitor.cli.demo.traffic import OtherFlag, TrafficModel, generate, passenger_ids
from monitor.cli.wiring import build_adapters, phase_log
from monitor.domain.bucketing import Bucketer
from monitor.errors import ConfigError
from monitor.gate import check_phase_plan
from monitor.phaselog.rollout_story import publish_rollout_story
from monitor.runner import CheckpointRunner
from monitor.settings import Settings, load_settings
from monitor.sources.base import LogSource
from monitor.sources.factory import open_source
from monitor.store.admin import recreate_database
from monitor.store.embedded import embedded_database_url, stop_embedded_server
from monitor.store.flags import create_flag_tables, upsert_flag
from monitor.store.rollout import PostgresRolloutWriter
from monitor.watch import WatchRequest, WatchRunner

FEATURE = "passenger_favorites_matching"
COMPANION = "driver_eta_v2"  # the healthy flag watched alongside
LOG_GROUP = "/ecs/kaviar-backend"


@dataclass
class Phase:
    """One phase of the story: the rollout the operator sets, why, and the traffic its hours see."""

    name: str
    label: str  # checkpoint labels: <label>-validation, then <label>-hour2, ...
    rollout: int
    reason: str
    needs: str  # the gate decision of the previous phase that leads here (empty: the start)
    on_error_rate: float = 0.002


STORY = [
    Phase("phase0_allowlist", "allowlist", 0, "start: allowlist only", needs=""),
    Phase("phase1_rollout", "rollout-1pct", 1, "gate ADVANCE: allowlist clean", needs="ADVANCE"),
    Phase("phase2_rollout", "rollout-5pct", 5, "gate ADVANCE: 1% clean", needs="ADVANCE"),
    Phase("phase3_rollout", "rollout-10pct", 10, "gate ADVANCE: 5% clean", needs="ADVANCE", on_error_rate=0.05),
    Phase("phase3_rollback", "rollback-5pct", 5, "gate ROLLBACK: ON-cohort regression", needs="ROLLBACK"),
]
MAX_CHECKPOINTS_PER_PHASE = 3
HOURS = len(STORY) * MAX_CHECKPOINTS_PER_PHASE  # simulated hours, ending at the last full hour


Say = Callable[[str], None]


def _settings(url: str, out_dir: Path) -> Settings:
    return load_settings(
        database_url=url,
        flags_database_url=url,
        source="scan",
        log_group=LOG_GROUP,
        phase_log=str(out_dir / "{feature}" / "{phase}.md"),
        actor="demo-operator",
        publish_metric=True,
    )


def _put_events(logs: Any, events: list[tuple[int, str]], streams: int = 3) -> None:
    per_stream: list[list[dict[str, Any]]] = [[] for _ in range(streams)]
    for i, (ts, message) in enumerate(events):
        per_stream[i % streams].append({"timestamp": ts, "message": message})
    for n, batch in enumerate(per_stream):
        name = f"backend/api/task-{n}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)
        for i in range(0, len(batch), 5000):
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=name, logEvents=batch[i : i + 5000])


def run_demo(args: argparse.Namespace, say: Say) -> int:
    try:
        # Imported here: moto is the optional `demo` extra, which production images do not install.
        from moto import mock_aws  # noqa: PLC0415
    except ImportError:
        raise ConfigError("the demo emulates AWS with moto: pip install 'beta-monitor[demo]'") from None

    for key, value in {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        os.environ.setdefault(key, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        return _story(args, say)


@dataclass
class _Tour:
    """The demo's world: settings, the emulated log group, the runner and the rollout writer."""

    settings: Settings
    databases: Databases
    runner: CheckpointRunner
    writer: PostgresRolloutWriter
    source: LogSource
    logs: Any
    results: list[dict[str, Any]] = field(default_factory=list)
    companion: list[dict[str, Any]] = field(default_factory=list)  # the healthy flag, hour by hour
    ending: str = ""


def companion_testers() -> list[str]:
    """The healthy flag's beta testers: outside the first 10 buckets, so its ON cohort never overlaps the regressing
    flag's (buckets are unsalted, as the backend's: a 10% flag's ON cohort holds every lower rollout's)."""
    bucketer = Bucketer()
    return [p for p in passenger_ids(80, seed=4321) if bucketer.bucket_of_hash(bucketer.hash_id(p)) >= 10][:24]


def _setup(args: argparse.Namespace, say: Say) -> _Tour:
    out_dir = Path(args.dir).resolve()
    say("Starting embedded PostgreSQL")
    url = recreate_database(embedded_database_url(), "beta_monitor_demo")
    settings = _settings(url, out_dir)
    logs = make_client("logs", region=None, endpoint_url=None, max_attempts=settings.aws_max_attempts)
    logs.create_log_group(logGroupName=LOG_GROUP)
    sns = make_client("sns", region=None, endpoint_url=None, max_attempts=settings.aws_max_attempts)
    settings.sns_topic_arn = sns.create_topic(Name="beta-monitor-alerts")["TopicArn"]
    create_flag_tables(url, schema="columns")
    upsert_flag(
        url,
        "columns",
        FEATURE,
        enabled=True,
        rollout=0,
        allowlist=passenger_ids(12, seed=1234),
        updated_at=datetime.now(UTC) - timedelta(hours=8),
    )
    upsert_flag(
        url,
        "columns",
        COMPANION,
        enabled=True,
        rollout=0,
        allowlist=companion_testers(),
        updated_at=datetime.now(UTC) - timedelta(hours=30),
    )
    databases = Databases.open(settings, lambda _m: None)
    databases.store.migrate()
    return _Tour(
        settings=settings,
        databases=databases,
        runner=CheckpointRunner(settings, build_adapters(settings, databases), progress=lambda _m: None),
        writer=databases.rollout_writer(),
        source=open_source(settings.source, settings),
        logs=logs,
    )


def _story(args: argparse.Namespace, say: Say) -> int:
    tour = _setup(args, say)
    top = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    say(f"Simulating {args.requests_per_hour} requests/hour of backend traffic into CloudWatch Logs (emulated)")
    ends = iter(top - timedelta(hours=HOURS - n) for n in range(HOURS))
    gate = ""
    for phase in STORY:
        if phase.needs and gate != phase.needs:
            tour.ending = f"the gate says {gate or 'nothing'}, not {phase.needs}: a careful operator does not step on"
            break
        gate = _phase(tour, phase, ends, args.requests_per_hour, say)
    else:
        tour.ending = (
            f"the rollback phase's gate says {gate}: the rollout may go back to 10% once the regression is fixed"
        )
    say(f"The demo ends here: {tour.ending}")
    _finish(args, tour, _write_summaries(tour))
    return 0


def _phase(tour: _Tour, phase: Phase, ends: Iterator[datetime], requests_per_hour: int, say: Say) -> str:
    """Set the phase's rollout, then take hourly checkpoints until the gate is no longer HOLD; returns its action."""
    end = next(ends)
    live = tour.runner.adapters.flags.get(FEATURE)
    check_phase_plan(live.rollout_percentage, phase.rollout, tour.settings.phase_steps, force=False)
    # The change is made (and audited) just before the simulated hour it governs, as an operator would.
    changed = end - timedelta(hours=1, minutes=5)
    tour.writer.set_rollout(FEATURE, phase.rollout, True, reason=phase.reason, actor="demo-operator", now=changed)
    say(f"rollout set {FEATURE} {phase.rollout}% --reason {phase.reason!r} (at {changed:%H:%M} UTC)")
    action = "HOLD"
    for hour in range(1, MAX_CHECKPOINTS_PER_PHASE + 1):
        label = f"{phase.label}-validation" if hour == 1 else f"{phase.label}-hour{hour}"
        action = _checkpoint(tour, phase, label, end, requests_per_hour=requests_per_hour, say=say)
        if action != "HOLD" or hour == MAX_CHECKPOINTS_PER_PHASE:
            break
        say(f"gate HOLD at {label}: taking another hourly checkpoint before acting")
        end = next(ends)
    return action


def _checkpoint(tour: _Tour, phase: Phase, label: str, end: datetime, *, requests_per_hour: int, say: Say) -> str:
    """One simulated hour: its traffic, and its checkpoint. Returns the gate's action."""
    config = tour.runner.adapters.flags.get(FEATURE)
    # Its testers use the app as much as anyone (5 requests an hour): a cohort of heavier users than the rest would
    # fail more often per passenger whatever the feature does.
    # Its decisions are logged where it is evaluated: the rides pages.
    companion = OtherFlag(
        COMPANION, tour.runner.adapters.flags.get(COMPANION), allowlist_requests=5, path_prefix="/api/rides"
    )
    model = TrafficModel(
        requests=requests_per_hour,
        start_ms=int((end - timedelta(hours=1)).timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        config=config,
        on_error_rate=phase.on_error_rate,
        seed=len(tour.results) + 1,
        feature=FEATURE,
        malformed_share=0.001,
        other_flags=(companion,),
    )
    _put_events(tour.logs, list(generate(model)))
    # One watch per hour checks both flags from one read; the story names its own phases and labels.
    request = WatchRequest(
        features=[FEATURE, COMPANION],
        label="hourly",
        end=end,
        window="1h",
        phases={FEATURE: phase.name},
        labels={FEATURE: label},
    )
    watched = {
        o.checkpoint.feature: o
        for o in WatchRunner(tour.runner, tour.databases.flags()).run(request, tour.source).outcomes
    }
    outcome = watched[FEATURE]
    cp = outcome.checkpoint
    other = watched[COMPANION].checkpoint
    tour.companion.append(
        {"phase": other.phase, "status": other.status.value, "gate": other.gate.action.value if other.gate else None}
    )
    gate = cp.gate
    alerts = [f"{c.name} {c.status.value}" for c in cp.alerts]
    say(
        f"{phase.name:<17} {label:<26} {config.rollout_percentage:>3}%  {cp.status.value:<4}  "
        f"gate {gate.action.value if gate else 'n/a':<8} {'; '.join(alerts)}"
        f" | {COMPANION} {other.phase} {other.status.value}"
    )
    tour.results.append(
        {
            "phase": phase.name,
            "label": label,
            "rollout": config.rollout_percentage,
            "status": cp.status.value,
            "gate": gate.action.value if gate else None,
            "gate_command": gate.command if gate else None,
            "checks": {c.name: c.status.value for c in cp.checks},
            "phase_log": outcome.phase_log,
        }
    )
    return gate.action.value if gate else "HOLD"


def _write_summaries(tour: _Tour) -> dict[str, Path]:
    """The demo's summary: the rollout's story of each demo flag (FEATURE first), written where `report FEATURE`
    writes it, beside the phase logs."""
    log = phase_log(tour.settings, tour.databases)
    written = {}
    for feature in dict.fromkeys([FEATURE, *(r.get("feature", FEATURE) for r in tour.results)]):
        config = tour.runner.adapters.flags.get(feature)
        _text, where = publish_rollout_story(log, tour.databases.store, feature, config, tour.settings)
        written[feature] = Path(where)
    return written


def _finish(args: argparse.Namespace, tour: _Tour, summaries: dict[str, Path]) -> None:
    results, url = tour.results, tour.databases.store_url
    logs = sorted({r["phase_log"] for r in results})
    if args.json:
        document = {
            "feature": FEATURE,
            "steps": results,
            "watched_alongside": {"feature": COMPANION, "steps": tour.companion},
            "ending": tour.ending,
            "phase_logs": logs,
        }
        stories = {feature: str(path) for feature, path in summaries.items()}
        print(json.dumps({**document, "summary": stories[FEATURE], "summaries": stories}, indent=2))
        return
    print("beta-monitor demo: a rollout of", FEATURE)
    for r in results:
        print(
            f"  {r['phase']:<17} {r['label']:<26} rollout={r['rollout']:>3}%  status={r['status']:<4}  gate={r['gate']}"
        )
        if r["gate"] in ("ADVANCE", "ROLLBACK"):
            print(f"      → {r['gate_command']}")
    statuses = ", ".join(sorted({s["status"] for s in tour.companion}))
    print(f"  watched alongside by the same hourly `watch`: {COMPANION} (allowlist phase) — {statuses} every hour")
    print(f"The demo ends here: {tour.ending}")
    print("Phase logs:")
    for path in logs:
        print(f"  {path}")
    for path in summaries.values():
        print(f"Summary report: {path}")
    if args.keep:
        print(
            f"Embedded database kept running. Explore: BETA_MONITOR_DATABASE_URL='{url}' beta-monitor history {FEATURE}"
        )
    else:
        stop_embedded_server()
        print("Embedded database stopped (run with --keep to explore it afterwards)")
