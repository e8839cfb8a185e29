"""How numbers read in one-line text (stdout, summaries, gate reasons): one definition of each format.

The phase log's Markdown filters (`monitor.phaselog.markdown`) build on these and add escaping.
"""

from __future__ import annotations

NA = "n/a"


def pct(value: float | None, digits: int = 2) -> str:
    """0.0035 → '0.35%'; None → 'n/a'."""
    return NA if value is None else f"{value * 100:.{digits}f}%"


def interval_text(interval: list[float] | None, digits: int = 2) -> str:
    """[0.0017, 0.0072] → '0.17–0.72%'; None → 'n/a'."""
    if interval is None:
        return NA
    return f"{interval[0] * 100:.{digits}f}–{interval[1] * 100:.{digits}f}%"
