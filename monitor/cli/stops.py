"""How the job ends when it does not finish: a stop signal, or an exception nobody expected.

- SIGTERM (ECS stopping the task, where the job may be PID 1 and the kernel drops a signal with no handler) and
  SIGINT (Ctrl-C) raise `monitor.errors.Stopped` wherever the job is: reading stops, the `finally` blocks release the
  lock, kill a reading child and stop running Insights queries, and the runner notes what was already stored. In
  case the exception lands where Python swallows it (a finalizer) or clean-up hangs, a timer ends the process with
  exit 3 after `STOP_GRACE_S` — safe, because nothing is ever stored half-done: the row is written before the
  phase-log entry, which the next run appends, and the lock dies with the session. Exactly one line says so.
- Any other exception that escapes is a bug: exit 3 all the same (no checkpoint was produced), one line that says
  so — in containers one JSON record with the traceback as a field — and never a bare traceback in the log group.
"""

from __future__ import annotations

import logging
import os
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
STOP_GRACE_S = 10.0
_reported = threading.Lock()  # held by whoever writes the one line of a stop or a bug


class _Stopping:
    """The stop in progress: its signal and the timer that ends the process if the clean stop does not."""

    signal_name: str | None = None
    json_logs: Callable[[], bool] = staticmethod(lambda: False)
    timer: threading.Timer | None = None


def _stop(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _Stopping.signal_name is None:
        _Stopping.signal_name = name
        _Stopping.timer = threading.Timer(STOP_GRACE_S, _force_exit, args=(name,))
        _Stopping.timer.daemon = True
        _Stopping.timer.start()
    raise Stopped(name)


def _force_exit(name: str) -> None:
    """The clean stop did not finish in time (or its exception was swallowed): say so once, and exit 3."""
    if _reported.acquire(blocking=False):
        message = (
            f"beta-monitor: stopped by {name}: the clean stop did not finish within {STOP_GRACE_S:g} s; "
            "anything stored stays, and a missing phase-log entry is appended by the next run"
        )
        if _Stopping.json_logs():
            log.error(message, extra={"exit_code": 3, "signal": name, "stopped": True})
        else:
            print(message, file=sys.stderr, flush=True)
        for handler in log.handlers:
            handler.flush()
    os._exit(3)


@contextmanager
def stop_on_signals(json_logs: Callable[[], bool]) -> Iterator[None]:
    """SIGTERM and SIGINT raise `Stopped` inside the block (main thread only); the previous handlers come back.
    `json_logs()` says, when a stop is forced, in which format to log it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Stopping.json_logs = json_logs
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if _Stopping.timer is not None:  # after this, the timer can no longer end the process
            _Stopping.timer.cancel()
            _Stopping.timer.join()
        _Stopping.signal_name, _Stopping.timer = None, None


def report_stop(exc: Stopped, json_logs: bool, scrub: Callable[[str], str]) -> None:
    """The one line of a stopped run: which signal, and what was stored."""
    with _reported:
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
