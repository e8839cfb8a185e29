"""What one read of the logs produced: the aggregate, and how it was measured — one value, one failure channel.

Every engine returns a `SourceResult` (`LogSource.read(window)`); a read that failed in part or in whole is a result
with `problems` (and, when the whole read failed, the `failure` it stopped on), never an exception. Only
configuration errors (a missing log group, an unreadable file, no AWS region) are raised, as Argo Rollouts'
`MarkMeasurementError` turns a provider failure into a measurement in phase Error. data_quality turns problems into
ERROR and the log-based checks never PASS on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.domain.aggregate import LogWindow, WindowAggregate
from monitor.errors import SourceError

FILE_FORMATS = (
    "accepted: {timestamp, message} lines, plain JSON or logfmt lines, CloudWatch export-task lines, "
    "aws logs filter-log-events / get-log-events JSON, gzip of any"
)


@dataclass
class SourceResult:
    """The aggregate of one read, plus how it was measured: the engine, every AWS call attempted (by API), the
    Insights queries run (so an operator can rerun them), and the problems that make the read incomplete."""

    aggregate: WindowAggregate
    engine: str
    problems: list[str] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    aws_calls: dict[str, int] = field(default_factory=dict)
    load_balancer: dict[str, Any] | None = None  # the CloudWatch metrics cross-check, when configured
    failure: SourceError | None = None  # the error a whole read stopped on, kept for its code
    inputs: dict[str, int] = field(default_factory=dict)  # `file:` inputs read, by format found
    unreadable: list[str] = field(default_factory=list)  # `file:` inputs mostly in no format it reads (first 5)
    shared_by: int = 1  # flags this one read serves (`beta-monitor watch` reads once for all of them)

    @classmethod
    def empty(cls, window: LogWindow, engine: str) -> SourceResult:
        return cls(window.aggregate(), engine)

    @property
    def window(self) -> LogWindow:
        return self.aggregate.window

    @property
    def complete(self) -> bool:
        return not self.problems

    def count_call(self, api: str, n: int = 1) -> None:
        self.aws_calls[api] = self.aws_calls.get(api, 0) + n

    def fail(self, error: SourceError) -> None:
        """The read stopped on `error` (retries spent): a problem, with the AWS error code when there is one."""
        code = f" [{error.code}]" if error.code else ""
        self.problems.append(f"{self.engine} read failed{code}: {error}")
        self.failure = error

    def cross_check(self, figures: dict[str, Any], aws_calls: dict[str, int]) -> None:
        """Attach the load balancer's view of the window (evidence only) and count its AWS calls."""
        self.load_balancer = figures
        for api, n in aws_calls.items():
            self.count_call(api, n)

    def read_cost(self) -> dict[str, int]:
        """What the read cost (data_quality's evidence): Logs Insights queries started, the bytes they scanned (from
        the queries' statistics, what Insights bills), and how many flags the read served."""
        return {
            "insights_queries": self.aws_calls.get("StartQuery", 0),
            "bytes_scanned": sum(int(q.get("bytes_scanned") or 0) for q in self.queries),
            "shared_by": self.shared_by,
        }

    def metrics(self) -> dict[str, Any]:
        """The measured figures and how they were measured, as plain JSON (stored with the checkpoint)."""
        return {
            "engine": self.engine,
            **self.aggregate.to_dict(),
            "aws_calls": dict(self.aws_calls),
            "queries": list(self.queries),
            "problems": list(self.problems),
            "load_balancer": self.load_balancer,
            "inputs": dict(self.inputs),
            "unreadable_inputs": list(self.unreadable),
        }
