"""config_drift: the live flag config against the expected one, and the two sources of one flag (SPEC "Checks").

Expected comes from `--expected-rollout` / `--expected-enabled` (source "flags") or the stored expectation of
`rollout set` (source "stored"); without either the comparison is SKIP. A mismatch younger than `drift_grace` is a
change in progress (WARN), older is FAIL. The `config_json` mirror disagreeing with the columns is WARN. Allowlist
changes since the previous checkpoint are reported, never judged.
"""

from __future__ import annotations

from monitor.checks.base import CheckContext
from monitor.domain.bucketing import short_hash
from monitor.domain.checkpoint import CheckResult
from monitor.domain.evidence import ConfigDriftEvidence, ExpectedState, LiveState
from monitor.domain.flag import FlagConfig
from monitor.domain.status import Status

NAME = ConfigDriftEvidence.check
MAX_EXAMPLES = 5
_PERCENT_KEYS = ("rollout_percentage", "percentage")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:40]


def mirror_disagreements(config: FlagConfig) -> list[str]:
    """Where config_json says something else than the columns, naming both values."""
    mirror = config.mirror
    if not isinstance(mirror, dict):
        return []
    out: list[str] = []
    if "enabled" in mirror and mirror["enabled"] is not config.enabled:
        out.append(f"config_json enabled={_text(mirror['enabled'])} but column enabled={_text(config.enabled)}")
    key = next((k for k in _PERCENT_KEYS if k in mirror), None)
    if key is not None:
        value = mirror[key]
        same = isinstance(value, int | float) and not isinstance(value, bool) and value == config.rollout_percentage
        if not same:
            out.append(f"config_json {key}={_text(value)} but column rollout_percentage={config.rollout_percentage}")
    return out


def _mismatches(ctx: CheckContext) -> list[str]:
    exp, live = ctx.expected, ctx.config
    out: list[str] = []
    if exp.enabled is not None and exp.enabled != live.enabled:
        out.append(f"enabled: live {_text(live.enabled)}, expected {_text(exp.enabled)}")
    if exp.rollout_percentage is not None and exp.rollout_percentage != live.rollout_percentage:
        out.append(f"rollout: live {live.rollout_percentage}%, expected {exp.rollout_percentage}%")
    return out


def _allowlist_changes(ctx: CheckContext) -> tuple[int | None, int | None, list[str]]:
    if ctx.previous is None:
        return None, None, []
    before = set(ctx.previous.allowlist_hashes)
    added = sorted(ctx.allowlist_hashes - before)
    removed = sorted(before - ctx.allowlist_hashes)
    examples = [f"+{short_hash(h)}" for h in added] + [f"-{short_hash(h)}" for h in removed]
    return len(added), len(removed), examples[:MAX_EXAMPLES]


def check_config_drift(ctx: CheckContext) -> CheckResult:
    live, exp = ctx.config, ctx.expected
    changed_ago = (ctx.now - live.updated_at).total_seconds() if live.updated_at is not None else None
    added, removed, examples = _allowlist_changes(ctx)
    mirror = mirror_disagreements(live)
    mismatches = _mismatches(ctx) if exp.is_set else []
    evidence = ConfigDriftEvidence(
        live=LiveState(
            enabled=live.enabled,
            rollout_percentage=live.rollout_percentage,
            allowlist_size=len(live.allowlist),
            updated_at=live.updated_at.isoformat() if live.updated_at else None,
        ),
        expected=ExpectedState(enabled=exp.enabled, rollout_percentage=exp.rollout_percentage, source=exp.source),
        mismatches=mismatches,
        changed_ago_s=changed_ago,
        drift_grace_s=ctx.thresholds.drift_grace.total_seconds(),
        mirror_disagreements=mirror,
        allowlist_added=added,
        allowlist_removed=removed,
        allowlist_examples=examples,
    )
    status, summary = _judge(ctx, mismatches, changed_ago)
    if mirror:
        summary += "; " + "; ".join(mirror)
        if status in (Status.PASS, Status.SKIP):
            status = Status.WARN
    if added or removed:
        summary += f"; allowlist since previous checkpoint: +{added} −{removed}"
    return CheckResult(name=NAME, status=status, summary=summary, evidence=evidence)


def _judge(ctx: CheckContext, mismatches: list[str], changed_ago: float | None) -> tuple[Status, str]:
    live = ctx.config
    state = f"enabled={_text(live.enabled)}, rollout={live.rollout_percentage}%"
    if not ctx.expected.is_set:
        return Status.SKIP, f"no expected config: pass --expected-rollout or run rollout set (live {state})"
    if not mismatches:
        return Status.PASS, f"live {state} as expected ({ctx.expected.source})"
    what = "; ".join(mismatches)
    grace = ctx.thresholds.drift_grace.total_seconds()
    if changed_ago is not None and changed_ago < grace:
        return Status.WARN, f"change in progress: {what} (changed {changed_ago:.0f} s ago, grace {grace:.0f} s)"
    ago = f"changed {changed_ago:.0f} s ago" if changed_ago is not None else "change time unknown"
    return Status.FAIL, f"config drift: {what} ({ago}, expected from {ctx.expected.source})"
