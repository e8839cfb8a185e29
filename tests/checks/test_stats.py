"""The shared statistics: Fisher's one-sided exact test (the detection benchmark's old rule still uses it)."""

from __future__ import annotations

import pytest

from monitor.checks.stats import one_sided_greater_p


@pytest.mark.parametrize(
    ("on", "off", "low", "high"),
    [
        pytest.param((200, 4), (3800, 0), 0.0, 0.001, id="few-on-errors-zero-off"),
        pytest.param((100, 1), (100, 1), 0.7, 1.0, id="equal"),
        pytest.param((100, 0), (100, 5), 0.99, 1.0, id="on-better"),
    ],
)
def test_one_sided_exact_p(on: tuple[int, int], off: tuple[int, int], low: float, high: float) -> None:
    p = one_sided_greater_p(on[1], on[0], off[1], off[0])
    assert p is not None and low <= p <= high
    assert one_sided_greater_p(0, 0, 1, 10) is None
