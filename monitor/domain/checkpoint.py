"""One stored checkpoint: the window it judged, every check's result, the status and the gate's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from monitor.domain.flag import ExpectedConfig
from monitor.domain.status import GateAction, Status


class Window(BaseModel):
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class CheckResult(BaseModel):
    name: str
    status: Status
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class GateDecision(BaseModel):
    action: GateAction
    reasons: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    command: str = ""


class Checkpoint(BaseModel):
    """One stored checkpoint: what was seen, what was judged, and whether its phase-log entry was appended."""

    id: int | None = None
    feature: str
    phase: str
    label: str
    run_key: str
    status: Status
    window: Window
    live_config: dict[str, Any]
    expected: ExpectedConfig
    checks: list[CheckResult]
    metrics: dict[str, Any] = Field(default_factory=dict)
    gate: GateDecision | None = None
    created_at: datetime
    appended: bool = False
    # Full hashes of the allowlist at this checkpoint, to report allowlist changes at the next one. Never printed.
    allowlist_hashes: list[str] = Field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The checkpoint as it may be shown (`--json`, reports): without the allowlist hashes."""
        return self.model_dump(mode="json", exclude={"allowlist_hashes"})

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def alerts(self) -> list[CheckResult]:
        """The checks someone must look at: every status but PASS and SKIP."""
        return [c for c in self.checks if c.status.alerts]
