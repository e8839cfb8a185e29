"""The flag's config over time, and the decision segments of a window judged against it. Pure.

`config_eras` reconstructs which config was in force since when, walking back from the live config through the
`rollout set` audit (newest first): each audited change says what it replaced, and the chain of changes says since
when. What no audit row explains is unknown, never guessed:
- the live config changed outside `rollout set` (its `updated_at` is no audited change): the config before it is the
  one a checkpoint recorded before that change (its era starting at the `updated_at` it recorded), else unknown;
- two consecutive audit rows that do not chain (the older one's `after` is not the newer one's `before`): something
  changed in between, at an unknown time, so that stretch is unknown.
`rollout set` changes enabled and rollout only, so audited eras carry the live allowlist.

`plan_segments` cuts a window into segments by the eras in force inside it: one segment per config, and around each
change the backend's cache TTL as a grace segment accepting the configs on both sides (grace periods that overlap are
merged and accept every config they span). A change at or after the window's end never changes what the window is
judged against. The config the window was judged at (`SegmentPlan.in_force`) is the known config with the highest
exposure in force inside it: a rollback in the middle of a window is judged at the rollout it rolled back from, an
advance at the rollout it advanced to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import FlagConfig

SAME_CHANGE = timedelta(seconds=2)  # an audit row and the flag's updated_at this close are one change

LIVE = "live"  # a segment judged against the live config
PREVIOUS = "previous"  # … against an earlier config, reconstructed
GRACE = "grace"  # … inside the cache TTL after a change: either neighbour accepted
UNVERIFIABLE = "unverifiable"  # … where the config in force is unknown


class FlagState(BaseModel):
    """What the resolver needs of one config: the master switch, the rollout and the allowlist's hashes."""

    model_config = ConfigDict(frozen=True)

    enabled: bool
    rollout_percentage: int
    allowlist_hashes: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: FlagConfig, allowlist_hashes: frozenset[str] | Sequence[str]) -> FlagState:
        return cls(
            enabled=config.enabled,
            rollout_percentage=config.rollout_percentage,
            allowlist_hashes=tuple(sorted(allowlist_hashes)),
        )

    def describe(self) -> str:
        """'5%', or 'disabled' when the master switch is off (everyone OFF)."""
        return f"{self.rollout_percentage}%" if self.enabled else "disabled"

    def switches(self) -> tuple[bool, int]:
        return self.enabled, self.rollout_percentage

    def as_config(self, key: str) -> FlagConfig:
        return FlagConfig(key=key, enabled=self.enabled, rollout_percentage=self.rollout_percentage)


@dataclass(frozen=True)
class Era:
    """From `since` (None: as far back as anything is known) until the next era, `state` was in force (None: unknown).
    `origin` says how it is known: live, audit, checkpoint or unknown."""

    since: datetime | None
    state: FlagState | None
    origin: str


@dataclass(frozen=True)
class PlannedSegment:
    """[from_ms, until_ms) of a window's decisions and what they are judged against. `states` are the configs whose
    predictions are accepted; a grace segment with an unknown neighbour (`partial`) calls a mismatch unverifiable."""

    from_ms: int
    until_ms: int
    judged_against: str
    states: tuple[FlagState, ...] = ()
    partial: bool = False

    def describe(self) -> list[str]:
        return [state.describe() for state in self.states]


@dataclass(frozen=True)
class SegmentPlan:
    segments: tuple[PlannedSegment, ...]
    in_force: FlagState

    @property
    def bounds(self) -> list[int]:
        """The epoch-ms instants that split the window's decisions (`LogWindow.segment_bounds`)."""
        return [segment.from_ms for segment in self.segments[1:]]


# -- reconstruction ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Change:
    at: datetime
    before: tuple[bool, int]
    after: tuple[bool, int]


def _switches(value: Any) -> tuple[bool, int] | None:
    if not isinstance(value, dict) or not isinstance(value.get("rollout_percentage"), int):
        return None
    return bool(value.get("enabled")), int(value["rollout_percentage"])


def _changes(audit: Sequence[dict[str, Any]], live_since: datetime | None) -> list[_Change]:
    """Usable audit rows, newest first; a row newer than the live config's change (its flag commit failed) is none."""
    found = []
    for row in audit:
        at, before, after = row.get("at"), _switches(row.get("before")), _switches(row.get("after"))
        if not isinstance(at, datetime) or before is None or after is None:
            continue
        if live_since is not None and at > live_since + SAME_CHANGE:
            continue
        found.append(_Change(at, before, after))
    return sorted(found, key=lambda c: c.at, reverse=True)


def _state(switches: tuple[bool, int], allowlist: tuple[str, ...]) -> FlagState:
    return FlagState(enabled=switches[0], rollout_percentage=switches[1], allowlist_hashes=allowlist)


def _recorded(
    history: Sequence[Checkpoint], before: datetime, after: datetime | None
) -> tuple[datetime | None, FlagState] | None:
    """(since, config) the latest checkpoint taken in [after, before) recorded as live, since the `updated_at` it
    recorded; None when there is none, or what it recorded does not fit in that stretch."""
    for cp in sorted(history, key=lambda c: c.created_at, reverse=True):
        if cp.created_at >= before:
            continue
        live = cp.live_config
        if (after is not None and cp.created_at < after) or not isinstance(live.get("rollout_percentage"), int):
            return None
        raw = live.get("updated_at")
        since = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        if since is not None and (since >= before or (after is not None and since < after - SAME_CHANGE)):
            return None
        state = FlagState(
            enabled=bool(live.get("enabled")),
            rollout_percentage=int(live["rollout_percentage"]),
            allowlist_hashes=tuple(cp.allowlist_hashes),
        )
        return since, state
    return None


def config_eras(
    live: FlagConfig,
    allowlist_hashes: frozenset[str],
    audit: Sequence[dict[str, Any]],
    history: Sequence[Checkpoint] = (),
) -> list[Era]:
    """The flag's eras, oldest first, the live config last (see the module doc)."""
    allowlist = tuple(sorted(allowlist_hashes))
    changes = _changes(audit, live.updated_at)
    eras = [Era(live.updated_at, FlagState.of(live, allowlist_hashes), LIVE)]
    since, current = live.updated_at, (live.enabled, live.rollout_percentage)
    i = 0
    for _ in range(2 * (len(changes) + len(history)) + 4):  # each turn moves back in time; a bound all the same
        if since is None:
            break
        if i < len(changes) and abs(changes[i].at - since) <= SAME_CHANGE and changes[i].after == current:
            change = changes[i]  # the audited change that started the current era
            i += 1
            older = changes[i] if i < len(changes) else None
            if older is not None and older.after != change.before:
                eras.append(Era(older.at, None, "unknown"))  # an unaudited change somewhere in between
                since, current = older.at, older.after
                continue
            since, current = (older.at if older else None), change.before
            eras.append(Era(since, _state(current, allowlist), "audit"))
            continue
        # `since` is a change no audit row explains: what came before is known only from a checkpoint
        newest = changes[i].at if i < len(changes) else None
        recorded = _recorded(history, since, newest)
        if recorded is None:
            eras.append(Era(newest, None, "unknown"))
            since, current = newest, changes[i].after if i < len(changes) else current
            continue
        recorded_since, state = recorded
        eras.append(Era(recorded_since, state, "checkpoint"))
        since, current = recorded_since, state.switches()
        if since is not None and newest is not None and since > newest + SAME_CHANGE:
            eras.append(Era(newest, None, "unknown"))
            since, current = newest, changes[i].after
    if since is not None:
        eras.append(Era(None, None, "unknown"))
    return list(reversed(eras))


# -- segments ----------------------------------------------------------------------------------------------------
_EARLIEST = -(2**62)  # epoch ms before any log event


def _ms(moment: datetime | None, default: int) -> int:
    return default if moment is None else int(moment.timestamp() * 1000)


def _grace_runs(starts: list[int], ttl_ms: int, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """Merged grace periods touching [lo, hi): (from, until, first era index, last era index) for changes at
    `starts[k]` (k ≥ 1, era k-1 → era k)."""
    runs: list[tuple[int, int, int, int]] = []
    for k in range(1, len(starts)):
        begin, end = starts[k], starts[k] + ttl_ms
        if begin >= hi or end <= lo:
            continue
        if runs and begin <= runs[-1][1]:
            first_from, first_until, first_era, _ = runs[-1]
            runs[-1] = (first_from, max(first_until, end), first_era, k)
        else:
            runs.append((begin, end, k - 1, k))
    return runs


def plan_segments(eras: Sequence[Era], start_ms: int, end_ms: int, ttl: timedelta) -> SegmentPlan:
    """The window [start_ms, end_ms) cut by `eras` (oldest first, the live one last; see the module doc)."""
    live = eras[-1].state
    assert live is not None, "the live era is always known"
    starts = [_EARLIEST]  # the oldest era reaches back as far as anything is known
    for era in eras[1:]:
        starts.append(max(starts[-1], _ms(era.since, _EARLIEST)))  # never back in time (changes seconds apart)
    runs = _grace_runs(starts, int(ttl.total_seconds() * 1000), start_ms, end_ms)
    pieces: list[PlannedSegment] = []
    cursor = start_ms
    for run_from, until, first, last in [*runs, (end_ms, end_ms, -1, -1)]:
        begin = max(run_from, start_ms)
        pieces.extend(_plain(eras, starts, cursor, min(begin, end_ms)))
        if first >= 0:
            states = tuple(dict.fromkeys(e.state for e in eras[first : last + 1] if e.state is not None))
            partial = any(e.state is None for e in eras[first : last + 1])
            pieces.append(PlannedSegment(begin, min(until, end_ms), GRACE, states, partial))
            cursor = min(until, end_ms)
    segments = tuple(p for p in pieces if p.from_ms < p.until_ms) or (PlannedSegment(start_ms, end_ms, LIVE, (live,)),)
    return SegmentPlan(segments, _highest(segments, live))


def _plain(eras: Sequence[Era], starts: list[int], lo: int, hi: int) -> list[PlannedSegment]:
    """Segments of [lo, hi) (no grace inside) by the era in force."""
    out = []
    for k, era in enumerate(eras):
        begin = max(lo, starts[k])
        until = min(hi, starts[k + 1]) if k + 1 < len(eras) else hi
        if begin >= until:
            continue
        if era.state is None:
            out.append(PlannedSegment(begin, until, UNVERIFIABLE))
        else:
            out.append(PlannedSegment(begin, until, LIVE if k == len(eras) - 1 else PREVIOUS, (era.state,)))
    return out


def _highest(segments: Sequence[PlannedSegment], live: FlagState) -> FlagState:
    """The known config with the highest exposure judged in the window (the later on a tie; disabled is below 0%);
    the live one when none is known."""
    chosen: tuple[int, int, FlagState] | None = None
    for index, segment in enumerate(segments):
        if segment.judged_against in (LIVE, PREVIOUS):
            state = segment.states[0]
            level = state.rollout_percentage if state.enabled else -1
            if chosen is None or (level, index) >= chosen[:2]:
                chosen = (level, index, state)
    return chosen[2] if chosen is not None else live
