"""`--source scan`: stream FilterLogEvents and aggregate client-side."""

from monitor.sources.scan.source import ScanLogSource

__all__ = ["ScanLogSource"]
