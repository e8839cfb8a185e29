"""The same events written in every format AWS hands an operator after an incident (and ours), for the `file:` tests.

- `export_task_lines`: what `aws logs create-export-task` writes into each `000000.gz` — `<ISO-8601 ms>Z <message>`;
- `cli_document`: what `aws logs filter-log-events --output json` prints (`events` with `logStreamName`,
  `timestamp`, `message`, `ingestionTime`, `eventId`; `searchedLogStreams`), or `get-log-events`
  (`nextForwardToken` / `nextBackwardToken`), indented by 4 as the CLI does; `pages` documents back to back, as
  `>>` after each page leaves them;
- `export_layout`: an export task's objects, `<task-id>/<log-stream>/000000.gz`, events dealt across streams.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from helpers_events import Event, export_line

TASK_ID = "7c2f6a1e-4b1d-4f0e-9a55-0f3c2d9e8b11"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


def export_task_lines(events: Sequence[Event]) -> bytes:
    return "".join(f"{iso(ts)} {message}\n" for ts, message in events).encode()


def wrapper_lines(events: Sequence[Event]) -> bytes:
    return "".join(export_line(ts, message, "wrapper") + "\n" for ts, message in events).encode()


def _event(i: int, ts: int, message: str, stream: str) -> dict[str, object]:
    return {
        "logStreamName": stream,
        "timestamp": ts,
        "message": message,
        "ingestionTime": ts + 150,
        "eventId": f"{37_000_000_000 + i:056d}",
    }


def cli_document(events: Sequence[Event], *, pages: int = 1, command: str = "filter-log-events") -> bytes:
    """The AWS CLI's JSON output for `events`, split into `pages` documents printed one after another."""
    docs = []
    size = max(1, -(-len(events) // pages))
    for page in range(pages):
        chunk = events[page * size : (page + 1) * size]
        items = [_event(page * size + i, ts, m, f"backend/task-{i % 2}") for i, (ts, m) in enumerate(chunk)]
        if command == "filter-log-events":
            doc: dict[str, object] = {"events": items, "searchedLogStreams": []}
            if page < pages - 1:
                doc["nextToken"] = f"token-{page}"
        else:
            doc = {"events": items, "nextForwardToken": f"f/{page:056d}", "nextBackwardToken": f"b/{page:056d}"}
        docs.append(json.dumps(doc, indent=4))
    return ("\n".join(docs) + "\n").encode()


def export_layout(events: Sequence[Event], streams: int = 2) -> dict[str, bytes]:
    """{key under the export prefix: gzip object} of an export task with `streams` log streams."""
    dealt: list[list[Event]] = [[] for _ in range(streams)]
    for i, event in enumerate(events):
        dealt[i % streams].append(event)
    return {
        f"{TASK_ID}/backend-task-{n}/000000.gz": gzip.compress(export_task_lines(part)) for n, part in enumerate(dealt)
    }


def write_layout(root: Path, objects: dict[str, bytes]) -> Path:
    for key, data in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def every_format(events: Sequence[Event]) -> dict[str, bytes]:
    """{name: file content} of the same events in every single-file format the `file:` engine reads."""
    lines, export = wrapper_lines(events), export_task_lines(events)
    return {
        "wrapper": lines,
        "wrapper-gzip": gzip.compress(lines),
        "export-task": export,
        "export-task-gzip": gzip.compress(export),
        "filter-log-events": cli_document(events),
        "filter-log-events-pages": cli_document(events, pages=3),
        "filter-log-events-gzip": gzip.compress(cli_document(events, pages=2)),
        "filter-log-events-compact": json.dumps({"events": json.loads(cli_document(events))["events"]}).encode(),
        "get-log-events": cli_document(events, command="get-log-events"),
        "events-array": json.dumps(json.loads(cli_document(events))["events"], indent=2).encode(),
    }
