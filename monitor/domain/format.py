"""How numbers read in one-line text (stdout, summaries, gate reasons): one definition of each format.

The phase log's Markdown filters (`monitor.phaselog.markdown`) build on these and add escaping.
"""

from __future__ import annotations

from datetime import UTC, datetime

NA = "n/a"


def iso_z(moment: datetime) -> str:
    """A time as UTC ISO 8601 with a `Z`, as JSON and the Markdown write it: 2026-11-22T14:00:00Z."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 checkpoint', '2 checkpoints', '0 entries' (with `many`)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def pct(value: float | None, digits: int = 2) -> str:
    """0.0035 → '0.35%'; None → 'n/a'."""
    return NA if value is None else f"{value * 100:.{digits}f}%"


def interval_text(interval: list[float] | None, digits: int = 2) -> str:
    """[0.0017, 0.0072] → '0.17–0.72%'; None → 'n/a'."""
    if interval is None:
        return NA
    return f"{interval[0] * 100:.{digits}f}–{interval[1] * 100:.{digits}f}%"


def ratio(value: float | None) -> str:
    """1.934 → '1.93×'; None → 'n/a'."""
    return NA if value is None else f"{value:.2f}×"


def ratio_interval(interval: list[float | None] | None) -> str:
    """[1.21, 3.1] → '1.21×–3.10×'; a bound at 0 reads '0', an unbounded top (None) '∞'; None → 'n/a'."""
    if interval is None or len(interval) != 2:
        return NA
    lo, hi = interval
    low = "0" if not lo else ratio(lo)
    return f"{low}–{'∞' if hi is None else ratio(hi)}"


def e_value(value: float | None, log_value: float | None = None) -> str:
    """Evidence (an e-value) with 3 significant digits: 0.31, 145, 2.4e+07; beyond a float, from its log."""
    if value is not None:
        return f"{value:.3g}"
    if log_value is not None:
        return f"e^{log_value:.0f}"
    return NA
