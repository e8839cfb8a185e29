"""How the job ends when it does not finish: a stop signal, or an exception nobody expected.

- SIGTERM (ECS stopping the task, where the job may be PID 1 and the kernel drops a signal with no handler) and
  SIGINT (Ctrl-C) raise `monitor.errors.Stopped` wherever the job is: reading stops, the `finally` blocks release the
  lock and kill a reading child, and the runner notes what was already stored. A second signal is ignored so that
  clean-up is not cut short (ECS sends SIGKILL after the stop timeout anyway).
- Any other exception that escapes is a bug: exit 3 all the same (no checkpoint was produced), one line that says
  so — in containers one JSON record with the traceback as a field — and never a bare traceback in the log group.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from monitor.errors import Stopped

log = logging.getLogger("beta_monitor")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop(signum: int, _frame: FrameType | None) -> None:
    for other in STOP_SIGNALS:  # one stop: clean-up is not interrupted again
        signal.signal(other, signal.SIG_IGN)
    raise Stopped(signal.Signals(signum).name)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise `Stopped` inside the block (main thread only); the previous handlers come back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def report_stop(exc: Stopped, json_logs: bool, scrub: Callable[[str], str]) -> None:
    """The one line of a stopped run: which signal, and what was stored."""
    message = scrub(f"beta-monitor: stopped by {exc.signal_name}: {exc.note}")
    if json_logs:
        log.error(message, extra={"exit_code": 3, "signal": exc.signal_name, "stopped": True})
    else:
        print(message, file=sys.stderr)


def report_bug(exc: BaseException, json_logs: bool, scrub: Callable[[str], str]) -> None:
    """An exception nobody expected: one line saying it is a bug (text: the traceback follows it), or one JSON
    record with the traceback as a field."""
    detail = " ".join(str(exc).split())[:300]
    message = scrub(
        f"beta-monitor: internal error (a bug; no checkpoint was produced): {type(exc).__name__}"
        + (f": {detail}" if detail else "")
        + " — please report it with the traceback"
    )
    trace = scrub("".join(traceback.format_exception(exc)))
    if json_logs:
        log.error(message, extra={"exit_code": 3, "error_type": type(exc).__name__, "traceback": trace})
    else:
        print(message, file=sys.stderr)
        print(trace, file=sys.stderr, end="")
