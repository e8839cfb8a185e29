"""What the job did about its own gate (issue 14): an automatic rollback or advance, recorded with the checkpoint.

Stored inside the checkpoint's gate (`GateDecision.act`), so `report --rebuild` renders the same line the append did,
and a later run of the phase sees that the phase already had its one automatic change. Pure: the text is a function
of the record.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from monitor.domain.format import iso_z


class ActKind(StrEnum):
    ROLLBACK = "rollback"
    ADVANCE = "advance"


class ActOutcome(StrEnum):
    DONE = "done"  # the flag was changed, audited, the expectation stored
    SKIPPED = "skipped"  # a guardrail left the flag alone (`detail` says which)
    DRY_RUN = "dry_run"  # --dry-run: what it would have done
    FAILED = "failed"  # the write failed: nothing changed, the gate's command is for a person


class FlagLevel(BaseModel):
    """The part of a flag an automatic change moves."""

    enabled: bool
    rollout_percentage: int

    def describe(self) -> str:
        return f"{self.rollout_percentage}%" if self.enabled else "disabled"


class AutoAct(BaseModel):
    kind: ActKind
    outcome: ActOutcome
    before: FlagLevel | None = None
    after: FlagLevel | None = None
    at: datetime | None = None
    actor: str = ""
    detail: str = ""
    # WARN when a guardrail found the flag changed under the verdict: someone must look at who changed it and why.
    warn: bool = False

    @property
    def line(self) -> str:
        """One line for stdout, the phase log and the notification."""
        name = "auto-rollback" if self.kind is ActKind.ROLLBACK else "auto-advance"
        move = f"{self.before.describe()} → {self.after.describe()}" if self.before and self.after else "n/a"
        if self.outcome is ActOutcome.DONE:
            verb = "Rolled back" if self.kind is ActKind.ROLLBACK else "Advanced"
            when = iso_z(self.at) if self.at else "n/a"
            return f"{verb} {move} at {when}, by {self.actor}"
        if self.outcome is ActOutcome.DRY_RUN:
            verb = "roll back" if self.kind is ActKind.ROLLBACK else "advance"
            return f"Dry run: {name} would {verb} {move}; nothing changed"
        if self.outcome is ActOutcome.FAILED:
            return f"{name.capitalize()} FAILED ({self.detail}): nothing changed, run the gate's command by hand"
        return f"{name.capitalize()} not carried out: {self.detail}"
