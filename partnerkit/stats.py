"""Confidence intervals for rates and for the difference of two rates.

Win rates and renewal rates are proportions over small samples, so they are
reported with a Wilson score interval; lifts (one rate minus another) use
Newcombe's hybrid score interval, which is built from the two Wilson
intervals. Both are plain arithmetic: no statistics package is needed.

An empty sample (n = 0) has no rate: every function then returns NaN values
rather than raising, so a caller can report "not measured" with a reason.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["normal_quantile", "wilson_interval", "newcombe_difference"]


def normal_quantile(confidence: float = 0.95) -> float:
    """Two-sided standard normal critical value for a confidence level.

    Parameters
    ----------
    confidence : float, default 0.95
        Coverage of the interval, strictly between 0 and 1.

    Returns
    -------
    float
        ``z`` such that a standard normal lies in ``[-z, z]`` with
        probability ``confidence``.

    Examples
    --------
    >>> round(normal_quantile(0.95), 6)
    1.959964
    >>> round(normal_quantile(0.90), 4)
    1.6449
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or successes < 0:
        raise ValueError(f"counts must be non-negative, got successes={successes}, n={n}")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the textbook ``p ± z·sqrt(p(1-p)/n)`` interval it stays inside
    [0, 1] and keeps a sensible width at 0/n and n/n, which matters for the
    small samples a partner programme produces.

    Parameters
    ----------
    successes : int
        Number of successes (won deals, renewals), ``0 <= successes <= n``.
    n : int
        Number of trials (closed deals, renewals due).
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``0 <= low <= successes / n <= high <= 1``;
        ``(nan, nan)`` when ``n == 0`` (no rate to bound).

    Raises
    ------
    ValueError
        If a count is negative, ``successes > n`` or ``confidence`` is not
        in (0, 1).

    Examples
    --------
    >>> low, high = wilson_interval(81, 263)
    >>> round(low, 4), round(high, 4)
    (0.2553, 0.3662)
    >>> low, high = wilson_interval(0, 10)
    >>> low, round(high, 4)
    (0.0, 0.2775)
    >>> wilson_interval(0, 0)
    (nan, nan)
    """
    _check_counts(successes, n)
    z = normal_quantile(confidence)
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half_width = (z / denominator) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    # At 0/n and n/n the bound equals p exactly in theory; pin it there so
    # rounding cannot push it a hair outside [0, 1] or past the estimate.
    low = 0.0 if successes == 0 else min(max(centre - half_width, 0.0), p)
    high = 1.0 if successes == n else max(min(centre + half_width, 1.0), p)
    return (low, high)


def newcombe_difference(
    s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference of two independent proportions with Newcombe's interval.

    The hybrid score interval (method 10 of Newcombe, 1998, *Statistics in
    Medicine* 17:873-890) combines the Wilson intervals ``(l1, u1)`` and
    ``(l2, u2)`` of the two rates::

        d     = p1 - p2
        low   = d - sqrt((p1 - l1)**2 + (u2 - p2)**2)
        high  = d + sqrt((u1 - p1)**2 + (p2 - l2)**2)

    Parameters
    ----------
    s1, n1 : int
        Successes and trials of the first group (e.g. influenced deals).
    s2, n2 : int
        Successes and trials of the second group (e.g. unassisted deals).
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    tuple of float
        ``(difference, low, high)`` with ``difference = s1/n1 - s2/n2`` and
        ``-1 <= low <= difference <= high <= 1``; all three NaN when either
        group is empty.

    Raises
    ------
    ValueError
        On invalid counts or confidence (see :func:`wilson_interval`).

    Examples
    --------
    Newcombe's worked example, 56/70 against 48/80:

    >>> d, low, high = newcombe_difference(56, 70, 48, 80)
    >>> round(d, 4), round(low, 4), round(high, 4)
    (0.2, 0.0524, 0.3339)
    >>> newcombe_difference(3, 5, 0, 0)
    (nan, nan, nan)
    """
    _check_counts(s1, n1)
    _check_counts(s2, n2)
    l1, u1 = wilson_interval(s1, n1, confidence)
    l2, u2 = wilson_interval(s2, n2, confidence)
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan, math.nan)
    p1 = s1 / n1
    p2 = s2 / n2
    difference = p1 - p2
    low = difference - math.hypot(p1 - l1, u2 - p2)
    high = difference + math.hypot(u1 - p1, p2 - l2)
    return (difference, max(low, -1.0), min(high, 1.0))
