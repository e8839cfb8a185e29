"""The phase log: Markdown rendered from Jinja2 templates (`render`, with the escaping filters of `markdown`), the
file and S3 sinks it is written to (`sinks`), the service that appends, repairs and rebuilds it (`service`), and the
rollout's story across phases written beside it (`rollout_story`)."""

from monitor.phaselog.index import IndexRow, index_destination, render_index
from monitor.phaselog.render import render_entry, render_header, render_phase_log, render_summary
from monitor.phaselog.rollout_story import (
    publish_rollout_story,
    render_rollout_story,
    rollout_story,
    story_destination,
    write_rollout_story,
)
from monitor.phaselog.service import PhaseLog
from monitor.phaselog.sinks import FilePhaseLog, PhaseLogSink, S3PhaseLog, open_sink, phase_log_destination

__all__ = [
    "FilePhaseLog",
    "IndexRow",
    "PhaseLog",
    "PhaseLogSink",
    "S3PhaseLog",
    "index_destination",
    "open_sink",
    "phase_log_destination",
    "publish_rollout_story",
    "render_entry",
    "render_header",
    "render_index",
    "render_phase_log",
    "render_rollout_story",
    "render_summary",
    "rollout_story",
    "story_destination",
    "write_rollout_story",
]
