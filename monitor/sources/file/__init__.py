"""`--source file:PATH`: replay exported events from a local file, on two cores when it is large."""

from monitor.sources.file.source import FileLogSource

__all__ = ["FileLogSource"]
