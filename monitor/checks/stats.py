"""The statistics the checks share: proportion intervals and the one-sided cohort test, all from scipy.stats.

scipy is imported inside each function, not at the top: `import scipy.stats` costs ≈1 s (it parses docstrings), and
only a checkpoint judges; `history`, `gate`, `report` and `db init` import the checks' modules without paying it.

Choice of the cohort test: `fisher_exact(alternative="greater")` on the 2×2 table [[ON 5xx, ON ok], [OFF 5xx, OFF ok]].
- It is exact (no normal approximation), so it judges the case the watchdog exists for: "0 errors OFF vs a few
  errors ON" at 1–5% rollout, where a z-test or chi-square is invalid.
- It conditions on the total number of errors, which makes it slightly conservative: a FAIL from it is a real
  regression, which is what a rollback needs.
- It costs one hypergeometric tail whatever the traffic. `boschloo_exact` is more powerful but maximises over a
  nuisance parameter on the full (n_on+1)×(n_off+1) table; with 10⁵ OFF requests an hour it takes seconds to minutes
  and memory in proportion, which an hourly job cannot afford.
"""

from __future__ import annotations


def rate(errors: int, requests: int) -> float | None:
    """errors / requests, or None without requests (never 0: "no data" is not "no errors")."""
    return errors / requests if requests > 0 else None


def wilson_interval(errors: int, requests: int, confidence: float = 0.95) -> list[float] | None:
    """Wilson score interval [lo, hi] of a proportion; None without requests."""
    if requests <= 0:
        return None
    from scipy.stats import binomtest  # noqa: PLC0415 - lazy, see the module docstring

    ci = binomtest(errors, requests).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def binomial_share_interval(n: int, p: float, confidence: float = 0.99) -> list[float] | None:
    """The central `confidence` interval of the share k/n when k ~ Binomial(n, p); None when n is 0.

    An observed share outside it is unlikely (< 1 - confidence) if the true share is p.
    """
    if n <= 0:
        return None
    from scipy.stats import binom  # noqa: PLC0415 - lazy, see the module docstring

    lo, hi = binom.interval(confidence, n, min(max(p, 0.0), 1.0))
    return [float(lo) / n, float(hi) / n]


def one_sided_greater_p(on_errors: int, on_requests: int, off_errors: int, off_requests: int) -> float | None:
    """p-value of "ON has a higher 5xx rate than OFF" (Fisher's exact test, one-sided). None if a cohort is empty."""
    if on_requests <= 0 or off_requests <= 0:
        return None
    from scipy.stats import fisher_exact  # noqa: PLC0415 - lazy, see the module docstring

    table = [[on_errors, on_requests - on_errors], [off_errors, off_requests - off_errors]]
    result = fisher_exact(table, alternative="greater")
    return float(result.pvalue)
