"""Named errors. Callers test for the class, so "no data" and "could not measure" are handled on purpose.

Every message is one line that says what to fix, and never carries a passenger id, a secret or a password.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error beta-monitor raises on purpose."""


class ConfigError(MonitorError):
    """Bad arguments or settings: exit 3, nothing written."""


class FlagNotFoundError(ConfigError):
    """The feature flag does not exist in the backend's database."""


class SourceError(MonitorError):
    """A log or metrics source failed (AWS error, failed or truncated query)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LogGroupNotFoundError(ConfigError):
    """The configured CloudWatch log group does not exist."""


class StoreError(MonitorError):
    """The watchdog's or the backend's database failed or is unreachable."""


class ConfigChangedError(MonitorError):
    """A compare-and-set write found the flag no longer in the state it was judged at: nothing was written."""

    def __init__(self, message: str, *, current: dict[str, object]) -> None:
        super().__init__(message)
        self.current = current


class SinkError(MonitorError):
    """The phase log could not be written (file system or S3)."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: stop at once (exit 3). A KeyboardInterrupt, so that psycopg cancels a query in
    flight and `except Exception` blocks never swallow it. `note` says what was stored before the stop."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.note = "nothing stored"
