"""Log and metrics sources: one folder per engine (`file/`, `scan/`, `insights/`, `metrics/`), the contract beside
the factory. boto3 lives only here (imported when the first AWS client is built, so a `file:` replay never pays
for it)."""

from monitor.sources.base import CrossCheck, LogSource, MetricsSource
from monitor.sources.factory import open_metrics, open_source

__all__ = ["CrossCheck", "LogSource", "MetricsSource", "open_metrics", "open_source"]
