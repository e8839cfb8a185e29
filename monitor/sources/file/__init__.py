"""`--source file:…`: replay what AWS exported — a file, a directory or an S3 prefix; our wrapper lines, export-task
lines, the AWS CLI's JSON, gzip of any — each input recognised by its content, a large plain file on two cores."""

from monitor.sources.file.source import FileLogSource

__all__ = ["FileLogSource"]
