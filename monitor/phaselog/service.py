"""The phase log as one service: where a feature+phase's log lives, and appending, repairing and rebuilding it.

The store is the source of truth: a checkpoint is saved first and marked appended once its entry is in the log, so
a crash or an S3 outage between the two is repaired by the next run (`repair`) or by `report --rebuild`, which
rewrites the log byte for byte from the stored checkpoints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor.domain.checkpoint import Checkpoint
from monitor.errors import ConfigError, SinkError
from monitor.phaselog.index import IndexRow, index_destination, render_index
from monitor.phaselog.render import render_entry, render_header, render_phase_log
from monitor.phaselog.sinks import PhaseLogSink, phase_log_destination
from monitor.store.base import AppendLedger

log = logging.getLogger("beta_monitor")


@dataclass(frozen=True)
class Repair:
    """What `PhaseLog.repair` did: entries appended, and why it stopped early (None when it did not)."""

    count: int = 0
    error: str | None = None


class PhaseLog:
    """Phase logs at `template` (a path or s3://bucket/key with {feature} and {phase}), opened by `open_sink`, with
    the store's record of which entries were appended (`ledger`)."""

    def __init__(self, ledger: AppendLedger, open_sink: Callable[[str], PhaseLogSink], template: str) -> None:
        self.ledger = ledger
        self.open_sink = open_sink
        self.template = template

    def destination(self, feature: str, phase: str, template: str | None = None) -> str:
        """Where the log of feature+phase lives (`template` overrides the configured one). Raises ConfigError."""
        return phase_log_destination(template or self.template, feature, phase)

    def write_index(self, rows: list[IndexRow], now: datetime, template: str | None = None) -> tuple[str, str | None]:
        """Rewrite the index page of the phase logs (`monitor.phaselog.index`) listing `rows`. Returns where, and
        None or why it could not be written (never raised: the checkpoints are stored, the next watch rewrites it)."""
        index = index_destination(template or self.template)
        try:
            self.open_sink(index).write_all(render_index(index, rows, now))
        except SinkError as exc:
            log.error("phase log index not written", extra={"destination": index, "error": str(exc)})
            return index, str(exc)
        return index, None

    def append(self, checkpoint: Checkpoint, destination: str) -> str | None:
        """Append the entry of a stored checkpoint and mark it appended (in the store and on `checkpoint`).
        Returns None, or why the append failed (never raised: the next run repairs it)."""
        try:
            self.open_sink(destination).append(
                render_entry(checkpoint), render_header(checkpoint.feature, checkpoint.phase, checkpoint.created_at)
            )
        except SinkError as exc:
            log.error(
                "phase log append failed; the next run repairs it",
                extra={"destination": destination, "error": str(exc), "checkpoint_id": checkpoint.id},
            )
            return str(exc)
        assert checkpoint.id is not None
        self.ledger.mark_appended(checkpoint.id)
        checkpoint.appended = True
        return None

    def repair(self, feature: str, phase: str, destination: str) -> Repair:
        """Append entries of stored checkpoints whose append never happened (crash, S3 down). Oldest first."""
        repaired = 0
        for pending in self.ledger.iter_unappended(feature, phase):
            try:
                sink = self.open_sink(destination)
                entry = render_entry(pending)
                # A crash after the append but before the mark leaves the entry in the log: only mark it then.
                if entry not in (sink.read() or ""):
                    sink.append(entry, render_header(feature, phase, pending.created_at))
            except SinkError as exc:
                log.error("phase log repair failed", extra={"destination": destination, "error": str(exc)})
                return Repair(repaired, str(exc))
            assert pending.id is not None
            self.ledger.mark_appended(pending.id)
            repaired += 1
        return Repair(repaired)

    def rebuild(self, feature: str, phase: str, destination: str) -> int:
        """Rewrite the whole log from the stored checkpoints; returns how many entries it holds. Only a rebuild of
        the configured destination marks the checkpoints appended: a copy written elsewhere (`--phase-log OTHER`)
        leaves a pending repair of the real log pending."""
        checkpoints = list(reversed(self.ledger.history(feature, phase)))
        if not checkpoints:
            raise ConfigError(f"no checkpoints stored for {feature} / {phase}: nothing to rebuild")
        self.open_sink(destination).write_all(render_phase_log(feature, phase, checkpoints))
        if not _same_destination(destination, self.destination(feature, phase)):
            return len(checkpoints)
        for cp in checkpoints:
            if not cp.appended and cp.id is not None:
                self.ledger.mark_appended(cp.id)
        return len(checkpoints)


def _same_destination(one: str, other: str) -> bool:
    """Whether two destinations name one log (`reports/x.md` and `./reports/x.md` do)."""
    if one.startswith("s3://") or other.startswith("s3://"):
        return one == other
    return os.path.abspath(one.removeprefix("file://")) == os.path.abspath(other.removeprefix("file://"))
