"""A feature flag as the backend holds it, what the operator expects it to be, and what the resolver decides.

Pydantic v2 for what crosses a boundary (database, JSON, reports).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Decision(StrEnum):
    """What the backend's resolver decided for one passenger (SPEC "Resolver semantics")."""

    OFF = "OFF"
    ALLOWLIST = "ALLOWLIST"
    ROLLOUT = "ROLLOUT"


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
