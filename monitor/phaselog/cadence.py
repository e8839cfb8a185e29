"""Which form a checkpoint's phase-log entry takes at a sub-hourly cadence (issue 14). Pure.

Run every 10 minutes (`--window 10m`), a phase log of full entries would be six times longer and no more useful:
a checkpoint gets the full entry when something changed — the first of the phase, a status or gate change, an
automatic change of the flag — and once an hour of windows since the last full entry; the quiet runs in between get
one line each. Every checkpoint is stored in full either way, and the form is stored with it, so
`report --rebuild` writes the same log. A window of an hour or more always gets the full entry.
"""

from __future__ import annotations

from datetime import timedelta

from monitor.domain.checkpoint import Checkpoint

FULL = "full"
BRIEF = "brief"
FULL_EVERY = timedelta(hours=1)


def entry_form(checkpoint: Checkpoint, history: list[Checkpoint], *, acting: bool = False) -> str:
    """FULL or BRIEF for `checkpoint`, given the phase's earlier checkpoints (newest first) and whether the job is
    about to act on its gate."""
    window = checkpoint.window.end - checkpoint.window.start
    if window >= FULL_EVERY or not history or acting:
        return FULL
    previous = history[0]
    if previous.status is not checkpoint.status or _action(previous) != _action(checkpoint):
        return FULL
    last_full = next((cp for cp in history if cp.entry == FULL), None)
    if last_full is None:
        return FULL
    # Half a window of slack: runs every 10 minutes give exactly one full entry an hour despite a late run.
    if checkpoint.window.end - last_full.window.end >= FULL_EVERY - window / 2:
        return FULL
    return BRIEF


def _action(checkpoint: Checkpoint) -> str | None:
    return checkpoint.gate.action.value if checkpoint.gate else None
