"""Formatting and escaping for the phase log: pure functions, registered as Jinja2 filters by `monitor.phaselog.render`.

Anything that comes from outside (labels, phases, features, paths, log samples, evidence strings, hashes) goes
through `md`, which makes it inert text: no heading, list, link, table cell, emphasis or HTML can start from it.
Numbers are formatted here, so a value of an unexpected type falls back to escaped text instead of failing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor.domain import format as plain
from monitor.domain.format import NA

# Escaped wherever they stand: they open emphasis, code, links, HTML, entities, table cells or autolinks.
_MD_SPECIAL = frozenset("\\`*_{}[]!|<>&~@")
# Structural only at the start of a line (headings, lists, quotes, setext underlines, ordered lists).
_LINE_START = re.compile(r"^(\s*)((?:[#+\-]|\d{1,9}[.)])(?=\s|$)|[=>])")
# GFM extended autolinks: http://, https://, ftp://, www.
_AUTOLINK = re.compile(r"(?i)(://|www\.)")
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]")
# C0/C1 controls, DEL, and the bidirectional overrides that make text read differently from what it is.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BACKTICK_RUN = re.compile(r"`+")
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _plain(value: Any) -> str:
    """One line of printable text: line breaks become spaces, other control characters go."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", str(value)))


def md(value: Any) -> str:
    """Outside text as inert Markdown: every character that could start structure is backslash-escaped (the
    line-start ones only at the start, where they act), so ordinary prose like "0.75% (88/11773)" stays readable;
    None → n/a."""
    if value is None:
        return NA
    text = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in _plain(value))
    text = _AUTOLINK.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)
    return _LINE_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text, count=1)


def _fence_for(text: str, minimum: int) -> str:
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def code(value: Any) -> str:
    """An inline code span that the text cannot close: the fence is longer than any backtick run inside."""
    text = _plain("" if value is None else value).strip()
    fence = _fence_for(text, 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(value: Any, lang: str = "") -> str:
    """A fenced code block (fence longer than any backtick run in the text); control characters stripped."""
    lines = [_CONTROLS.sub("", line) for line in str(value or "").splitlines()]
    body = "\n".join(lines)
    fence = _fence_for(body, 3)
    return f"{fence}{_MERMAID_UNSAFE.sub('', lang)}\n{body}\n{fence}"


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _other(value: Any) -> str:
    """What a number formatter shows for a value that is not a usable number."""
    return NA if isinstance(value, float) else md(value)


def _number(value: Any, render: Callable[[float], str]) -> str:
    """`render` a usable number; anything else as `_other` shows it."""
    number = as_number(value)
    return _other(value) if number is None else render(number)


def pct(value: Any) -> str:
    """A share (0.0015) as a percentage with 2 decimals ("0.15%")."""
    return _number(value, plain.pct)


def signed_pct(value: Any) -> str:
    """A relative change (0.123) as a signed percentage ("+12.30%")."""
    return _number(value, lambda n: f"{n * 100:+.2f}%")


def pp(value: Any) -> str:
    """A difference of two shares as signed percentage points ("+0.45 pp")."""
    return _number(value, lambda n: f"{n * 100:+.2f} pp")


def percent(value: Any) -> str:
    """A whole percentage (rollout 5) as "5%"."""
    return _number(value, lambda n: f"{n:g}%")


def interval(value: Any) -> str:
    """A [low, high] pair of shares as "0.05%–0.44%"."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(as_number(v) is not None for v in value):
        return f"{pct(value[0])}–{pct(value[1])}"
    return NA if isinstance(value, list | tuple) else _other(value)


def pvalue(value: Any) -> str:
    """A probability with 3 significant digits ("0.412", "1.20e-05")."""
    return _number(value, lambda n: f"{n:#.3g}")


def count(value: Any) -> str:
    """A count with thousands separators ("12,345")."""
    number = as_number(value)
    if number is None:
        return _other(value)
    return f"{int(number):,}" if number == int(number) else f"{number:,.1f}"


def num(value: Any) -> str:
    """A plain number in its shortest form ("0.01", "5")."""
    return _number(value, lambda n: f"{n:g}")


def ms(value: Any) -> str:
    """Milliseconds ("141.2 ms")."""
    return _number(value, lambda n: f"{n:,.1f} ms")


def hours(value: Any) -> str:
    """Hours, approximately ("≈3.0 h")."""
    return _number(value, lambda n: f"≈{n:,.1f} h")


def duration(value: Any) -> str:
    """Seconds as "45 s", "12 min 5 s", "3 h 20 min"."""
    number = as_number(value)
    if number is None:
        return _other(value)
    seconds = round(abs(number))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        text = f"{h} h {m} min" if m else f"{h} h"
    elif m:
        text = f"{m} min {s} s" if s else f"{m} min"
    else:
        text = f"{s} s"
    return "−" + text if number < 0 else text


def flag(value: Any) -> str:
    """A boolean as true/false (as stdout prints it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return md(value)


def when(value: Any) -> str:
    """A datetime or ISO-8601 string as UTC "2024-05-01T10:00:00Z"; anything else as escaped text."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return md(value)
    if not isinstance(moment, datetime):
        return md(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_ms(value: Any) -> str:
    """Epoch milliseconds as UTC "2024-05-01T10:00:00Z"."""
    number = as_number(value)
    if number is None:
        return _other(value)
    try:
        return when(datetime.fromtimestamp(number / 1000, tz=UTC))
    except (OverflowError, OSError, ValueError):
        return NA


def share(value: Any) -> str:
    """A share in its shortest percentage form (0.99 → "99%"), e.g. a confidence level."""
    number = as_number(value)
    return _other(value) if number is None else f"{number * 100:g}%"


def text(value: Any) -> str:
    """A value of unknown shape: dict → "k=v, …" (sorted), list → "a, b", scalars formatted; all escaped."""
    if isinstance(value, dict):
        return md(", ".join(f"{k}={_scalar(value[k])}" for k in sorted(value, key=str)))
    if isinstance(value, list | tuple):
        return "; ".join(text(v) for v in value) if value else NA
    if isinstance(value, bool):
        return flag(value)
    if as_number(value) is not None:
        return count(value)
    return md(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return NA
    if isinstance(value, dict | list | tuple):
        return "…"
    return str(value)


MERMAID_LABEL_CHARS = 24


def mermaid_category(label: Any, index: int) -> str:
    """An x-axis category for a Mermaid chart: "<index>-<label>" with only [A-Za-z0-9_-]. The index keeps it unique;
    a long label keeps its start and its end (where labels of one phase differ: `rollout-5pct-hour2`) around
    a `~`, so two checkpoints never read alike."""
    safe = _MERMAID_UNSAFE.sub("", str(label))
    if len(safe) > MERMAID_LABEL_CHARS:
        head = (MERMAID_LABEL_CHARS - 1) // 2
        safe = safe[:head] + "~" + safe[-(MERMAID_LABEL_CHARS - 1 - head) :]
    return f"{index}-{safe}" if safe else str(index)


def ratio(value: Any) -> str:
    """A ratio of rates as "1.93×"."""
    return _number(value, plain.ratio)


def ratio_interval(value: Any) -> str:
    """A [low, high] pair of ratios as "1.21×–3.10×" (a low of 0 reads "0", a high of None "∞")."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and as_number(value[0]) is not None
        and (value[1] is None or as_number(value[1]) is not None)
    ):
        return plain.ratio_interval([float(value[0]), None if value[1] is None else float(value[1])])
    return NA if value is None or isinstance(value, list | tuple) else _other(value)


def evalue(value: Any, log_value: Any = None) -> str:
    """Evidence (an e-value) with 3 significant digits, from its log when it is too large for a float."""
    return plain.e_value(as_number(value), as_number(log_value))
