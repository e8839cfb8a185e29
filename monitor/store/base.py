"""Interfaces of the two databases the watchdog talks to, so the runner and tests depend on behaviour, not psycopg."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import ExpectedConfig, FlagConfig


class FlagSource(Protocol):
    def get(self, feature: str) -> FlagConfig:
        """The live config with its allowlist. Raises FlagNotFoundError, StoreError."""
        ...


class CheckpointStore(Protocol):
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        ...

    def lock(self, feature: str, phase: str) -> AbstractContextManager[None]:
        """Serialize check → store → append per feature+phase across processes (advisory lock)."""
        ...

    def find(self, run_key: str) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> tuple[Checkpoint, bool]:
        """Insert; on a run-key conflict return the stored one. Returns (checkpoint with id, created)."""
        ...

    def mark_appended(self, checkpoint_id: int) -> None: ...

    def history(self, feature: str, phase: str | None = None, limit: int | None = None) -> list[Checkpoint]:
        """Newest first."""
        ...

    def phases(self, feature: str) -> list[str]: ...

    def expectation(self, feature: str) -> ExpectedConfig | None:
        """The expectation stored by `rollout set`, or None."""
        ...

    def iter_unappended(self, feature: str, phase: str) -> Iterator[Checkpoint]: ...

    def rollout_audit(self, feature: str, limit: int | None = None) -> list[dict[str, Any]]:
        """`rollout set` audit rows, newest first: actor, at, before, after, reason."""
        ...


class RolloutWriter(Protocol):
    def set_rollout(
        self, feature: str, percent: int, enabled: bool | None, *, reason: str, actor: str, now: datetime
    ) -> dict[str, Any]:
        """Update the flag, write an audit row and store the new expectation, in one transaction when the flag and
        watchdog tables share a database. Returns {"before": {...}, "after": {...}}. Raises FlagNotFoundError."""
        ...
