"""What the rest of the watchdog needs from its databases, as narrow interfaces: each caller depends on the few
methods it uses (a test's fake implements only those), never on psycopg.

One adapter implements them today: `PostgresCheckpointStore` (the watchdog's tables) and `PostgresFlagSource` (the
backend's flag tables).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import ExpectedConfig, FlagConfig


class FlagSource(Protocol):
    """The backend's flags (read-only)."""

    def get(self, feature: str) -> FlagConfig:
        """The live config with its allowlist. Raises FlagNotFoundError, StoreError."""
        ...

    def all_flags(self) -> list[FlagConfig]:
        """Every flag with its allowlist, by key (the other flags in rollout beside a checked one). Raises
        StoreError."""
        ...


class FlagCatalog(Protocol):
    """Which flags exist (`beta-monitor watch` looks for the ones in rollout)."""

    def keys(self) -> list[str]:
        """Every flag key of the backend's flag table, sorted. Raises StoreError."""
        ...


class CheckpointHistory(Protocol):
    """Stored checkpoints, read: `history`, `gate`, `report` and planning a checkpoint."""

    def history(self, feature: str, phase: str | None = None, limit: int | None = None) -> list[Checkpoint]:
        """Newest first."""
        ...


class Checkpoints(CheckpointHistory, Protocol):
    """What the runner stores a checkpoint with."""

    def lock(self, feature: str, phase: str) -> AbstractContextManager[None]:
        """Serialize check → store → append per feature+phase across processes (advisory lock)."""
        ...

    def find(self, run_key: str) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint, failures: Collection[int] = ()) -> tuple[Checkpoint, bool]:
        """Insert, with the window's entering passengers (keys) in the same transaction; on a run-key conflict
        return the stored one and write nothing. Returns (checkpoint with id, created)."""
        ...

    def entered_before(self, feature: str, phase: str, keys: Collection[int]) -> set[int]:
        """Which of `keys` entered the cohort evidence at an earlier checkpoint of the phase."""
        ...


class AppendLedger(CheckpointHistory, Protocol):
    """Which stored checkpoints have their phase-log entry: what the phase-log service appends, repairs and
    rebuilds with."""

    def mark_appended(self, checkpoint_id: int) -> None: ...

    def iter_unappended(self, feature: str, phase: str) -> Iterator[Checkpoint]:
        """Checkpoints whose entry was never appended, oldest first."""
        ...


class Expectations(Protocol):
    def expectation(self, feature: str) -> ExpectedConfig | None:
        """The expectation stored by `rollout set`, or None."""
        ...

    def expected_features(self) -> list[str]:
        """The flags with an expectation stored by `rollout set`, sorted."""
        ...


class RolloutAudit(Protocol):
    def rollout_audit(self, feature: str, limit: int | None = None) -> list[dict[str, Any]]:
        """`rollout set` audit rows, newest first: actor, at, before, after, reason."""
        ...


class RolloutStory(RolloutAudit, Protocol):
    """What `report FEATURE` tells the whole rollout from: every checkpoint across phases, the phases, the audit."""

    def timeline(self, feature: str) -> list[Checkpoint]:
        """Every checkpoint of the feature, oldest judged window first."""
        ...

    def phases(self, feature: str) -> list[str]:
        """The feature's phases, in the order they began."""
        ...


class Migrations(Protocol):
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        ...
