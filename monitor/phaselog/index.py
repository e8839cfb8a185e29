"""The index page `beta-monitor watch` keeps beside the phase logs: every watched flag with its phase, latest status,
gate and a relative link to its phase log.

Where it goes: the directory the template's `{feature}` part sits in (`reports/{feature}/{phase}.md` →
`reports/index.md`; `s3://bucket/logs/{feature}-{phase}.md` → `s3://bucket/logs/index.md`), or, with no `{feature}`
in the template, the directory of the rendered phase log. Text from outside (features, phases, labels) goes through
`markdown.md`; a link target is a relative path of sanitised parts, percent-encoded where Markdown would read it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from monitor.phaselog.markdown import md
from monitor.phaselog.sinks import phase_log_destination

INDEX_NAME = "index.md"
_S3 = "s3://"


@dataclass(frozen=True)
class IndexRow:
    """One watched flag: where its phase log is, and its latest checkpoint's verdicts."""

    feature: str
    phase: str
    label: str
    status: str
    gate: str
    checkpoint_id: int | None
    at: datetime | None
    destination: str


def index_destination(template: str) -> str:
    """Where the index of the phase logs written from `template` lives. Raises ConfigError on a bad template."""
    cut = template.find("{feature}")
    if cut < 0:
        rendered = phase_log_destination(template, "feature", "phase")
        return _join(_dirname(rendered), INDEX_NAME)
    return _join(_dirname(template[:cut] + "x"), INDEX_NAME)


def _dirname(destination: str) -> str:
    if destination.startswith(_S3):
        bucket, _, key = destination[len(_S3) :].partition("/")
        return _S3 + bucket + ("/" + posixpath.dirname(key) if posixpath.dirname(key) else "")
    return posixpath.dirname(destination.removeprefix("file://")) or "."


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def relative_link(index: str, destination: str) -> str:
    """The phase log's path relative to the index's directory, URL-quoted for a Markdown link."""
    base = _dirname(index)
    target = destination.removeprefix("file://")
    if target.startswith(_S3) and base.startswith(_S3):
        return quote(posixpath.relpath(target[len(_S3) :], base[len(_S3) :]))
    return quote(posixpath.relpath(target, base))


def render_index(index: str, rows: list[IndexRow], generated_at: datetime) -> str:
    """The whole page (rewritten by every watch): one table row per flag, sorted by feature."""
    lines = [
        "# Rollouts watched by beta-monitor",
        "",
        f"Updated {md(generated_at.strftime('%Y-%m-%dT%H:%M:%SZ'))} by `beta-monitor watch`: one row per flag "
        "in rollout.",
        "",
        "| Feature | Phase | Latest checkpoint | Status | Gate | Phase log |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r.feature, r.phase)):
        when = row.at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.at else "n/a"
        ident = f"#{row.checkpoint_id} " if row.checkpoint_id is not None else ""
        lines.append(
            f"| {md(row.feature)} | {md(row.phase)} | {ident}{md(row.label)} ({md(when)}) | **{md(row.status)}** "
            f"| {md(row.gate)} | [{md(posixpath.basename(row.destination))}]({relative_link(index, row.destination)}) |"
        )
    return "\n".join(lines) + "\n"
