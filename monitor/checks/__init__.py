"""The judges, pure (no boto3, psycopg or Jinja2): one module per check, `(CheckContext) -> CheckResult`, the registry
that lists them, the statistics they share, and the roll-up of their results into a checkpoint's status."""

from monitor.checks.base import CheckContext, Thresholds
from monitor.checks.registry import BY_NAME, CHECKS, CheckSpec, run_checks, title
from monitor.checks.verdict import checkpoint_status, escalate_errors, mark_incomplete

__all__ = [
    "BY_NAME",
    "CHECKS",
    "CheckContext",
    "CheckSpec",
    "Thresholds",
    "checkpoint_status",
    "escalate_errors",
    "mark_incomplete",
    "run_checks",
    "title",
]
