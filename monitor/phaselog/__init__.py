"""The phase log: Markdown rendered from Jinja2 templates (`render`, with the escaping filters of `markdown`), the
file and S3 sinks it is written to (`sinks`), and the service that appends, repairs and rebuilds it (`service`)."""

from monitor.phaselog.index import IndexRow, index_destination, render_index
from monitor.phaselog.render import render_entry, render_header, render_phase_log, render_summary
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
    "render_entry",
    "render_header",
    "render_index",
    "render_phase_log",
    "render_summary",
]
