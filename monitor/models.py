"""The data the watchdog passes around. Pydantic v2 for what crosses a boundary (database, JSON, reports).

The hot path (per log event) lives in `monitor.window` with plain classes; these models describe configuration,
results and stored checkpoints.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    NODATA = "NODATA"
    ERROR = "ERROR"
    SKIP = "SKIP"


class Decision(StrEnum):
    OFF = "OFF"
    ALLOWLIST = "ALLOWLIST"
    ROLLOUT = "ROLLOUT"


class GateAction(StrEnum):
    ADVANCE = "ADVANCE"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"


EXIT_CODES: dict[str, int] = {"PASS": 0, "WARN": 1, "FAIL": 2, "UNKNOWN": 3}


class FlagConfig(BaseModel):
    """The live configuration of one flag, as the backend's database holds it.

    `allowlist` holds raw passenger ids: it is used to compute hashes and must never be printed, logged or stored by
    the watchdog. Use `public()` for anything that leaves the process.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    enabled: bool
    rollout_percentage: int = Field(ge=0, le=100)
    allowlist: tuple[str, ...] = ()
    updated_at: datetime | None = None
    # A second source of the same facts (columns schema: config_json), e.g. {"enabled": true, "rollout_percentage": 5}.
    mirror: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """Everything about the config that may appear in output: no passenger ids."""
        return {
            "key": self.key,
            "enabled": self.enabled,
            "rollout_percentage": self.rollout_percentage,
            "allowlist_size": len(self.allowlist),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "mirror": self.mirror,
        }


class ExpectedConfig(BaseModel):
    """What the operator expects the flag to be. `source` says where it came from: flags, stored, or none."""

    rollout_percentage: int | None = Field(default=None, ge=0, le=100)
    enabled: bool | None = None
    source: str = "none"

    @property
    def is_set(self) -> bool:
        return self.rollout_percentage is not None or self.enabled is not None


class ConfigChange(BaseModel):
    """An earlier config of the flag, known from the previous checkpoint or the audit of `rollout set`."""

    enabled: bool
    rollout_percentage: int
    allowlist_hashes: tuple[str, ...] = ()
    until: datetime  # when the live config replaced it (the live config's updated_at)


class CheckResult(BaseModel):
    name: str
    status: Status
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class Window(BaseModel):
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


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
