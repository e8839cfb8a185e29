"""`--source file:PATH`: replay exported events, one per line.

A line is either the export wrapper `{"timestamp": <epoch ms>, "message": <body>}` (other keys such as
`logStreamName` are ignored; the body is the message string, or the message already decoded as a JSON object), or a
plain message line (a JSON body or logfmt) with no timestamp, which counts as inside the window. A JSON object with a
`type` key is always a plain body. Wrapped events whose timestamp falls outside [start_ms, end_ms) are counted in
`outside_window` and not ingested. Blank lines are skipped.

Speed: this engine replays millions of events. Each line is parsed once (twice when the body is a string); JSON
bodies are queued and counted a batch at a time (`monitor.sources.tally`); everything else (logfmt, plain text)
goes through `monitor.events.ingest`. Results, malformed counts and malformed samples match the `scan` engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson

from monitor.errors import ConfigError
from monitor.events import DECISION_TYPE, REQUEST_TYPE, ingest
from monitor.sources.tally import BATCH, BatchTally
from monitor.window import WindowStats

_MAX_SAMPLES = 5  # WindowStats keeps this many malformed samples; file order only matters until they are taken


class FileLogSource:
    """Reads exported events from a local file (see the module docstring for the format)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self, stats: WindowStats) -> None:
        stats.engine = self.name
        tally = BatchTally(stats)
        try:
            with self.path.open("rb") as fh:
                _read_lines(fh, stats, tally)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"cannot read events file {self.path}: {reason} — check --source file:PATH") from None
        tally.flush()
        tally.fold()


def _careful(stats: WindowStats, tally: BatchTally, ts: int | None, text: str) -> None:
    """`ingest` one event now. Should it yield a malformed sample while earlier events still wait in the queue,
    the queue is flushed first so the samples stay in file order (as `scan` takes them)."""
    samples = stats.malformed_samples
    before = len(samples)
    ingest(stats, ts, text)
    if len(samples) > before and tally.stamps:
        new = samples[before:]
        del samples[before:]
        tally.flush()
        samples.extend(new[: max(0, _MAX_SAMPLES - len(samples))])


def _read_lines(fh: IO[bytes], stats: WindowStats, tally: BatchTally) -> None:
    """The hot loop: decode each line, queue JSON bodies for the batch tally, hand the rest to `ingest`."""
    start_ms, end_ms = stats.start_ms, stats.end_ms
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    pending, requests, decisions, stamps = tally.pending, tally.requests, tally.decisions, tally.stamps
    for raw in fh:
        if raw[0] != 0x7B:  # "{": a JSON object, else a plain line (logfmt, text) or blank
            raw = raw.strip()
            if not raw:
                continue
        try:
            obj = loads(raw) if raw[0] == 0x7B else None
        except decode_error:
            obj = None
        if type(obj) is not dict:
            _careful(stats, tally, None, raw.strip().decode("utf-8", "replace"))
            continue
        ts = obj.get("timestamp")
        original: Any = obj
        msg: Any = obj
        if "type" in obj or type(ts) is not int or "message" not in obj:
            ts, original = None, raw  # a plain JSON body
        elif not start_ms <= ts < end_ms:
            stats.outside_window += 1
            continue
        else:
            original = msg = obj["message"]
            if type(msg) is str:
                try:
                    msg = loads(msg) if msg[:1] == "{" else None
                except decode_error:
                    msg = None
            if type(msg) is not dict:
                if type(original) is str and "type=" not in original and original.lstrip()[:1] != "{":
                    stats.other += 1  # plain text: neither JSON nor logfmt with a type, as `parse_message` decides
                    stamps.append(ts)
                    continue
                _careful(stats, tally, ts, original if type(original) is str else orjson.dumps(original).decode())
                continue
        kind = msg.get("type")
        if kind == REQUEST_TYPE:
            requests.append(msg)
            pending.append((ts, msg, original))
        elif kind == DECISION_TYPE:
            decisions.append(msg)
            pending.append((ts, msg, original))
        else:
            stats.other += 1
        stamps.append(ts)
        if len(stamps) >= BATCH:
            tally.flush()
