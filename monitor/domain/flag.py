"""A feature flag as the backend holds it, what the operator expects it to be, and what the resolver decides.

Pydantic v2 for what crosses a boundary (database, JSON, reports).
"""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def in_rollout(self) -> bool:
        """Whether the flag splits passengers into ON and OFF: enabled, below 100%, and above 0% or with an
        allowlist. Only such a flag can share (overlap) another flag's ON passengers without being ON for all."""
        return self.enabled and self.rollout_percentage < 100 and (self.rollout_percentage > 0 or bool(self.allowlist))

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


@dataclass(frozen=True)
class OtherFlag:
    """Another flag in rollout (`FlagConfig.in_rollout`) beside the one a checkpoint judges, as the cohort check
    sees it: its name, its live rollout % and the keys (`monitor.domain.aggregate.passenger_key`) of its allowlist's
    hashes — never the ids. Its ON passengers are the allowlisted keys plus the buckets below `rollout_percentage`
    (buckets are unsalted: the same bucket for every flag)."""

    name: str
    rollout_percentage: int
    allowlist_keys: frozenset[int] = frozenset()

    @property
    def allowlist_size(self) -> int:
        return len(self.allowlist_keys)
