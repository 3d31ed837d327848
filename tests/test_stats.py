"""Wilson and Newcombe intervals against published values and first principles."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partnerkit.stats import newcombe_difference, normal_quantile, wilson_interval

Z95 = 1.959963984540054


def wilson_closed_form(x, n, z=Z95):
    """Wilson bounds written as the roots of the score quadratic (a different
    arrangement of the formula from the one in the module)."""
    p = x / n
    root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (
        (2 * n * p + z * z - root) / (2 * (n + z * z)),
        (2 * n * p + z * z + root) / (2 * (n + z * z)),
    )


def test_normal_quantile_matches_the_usual_constants():
    assert normal_quantile(0.95) == pytest.approx(Z95, abs=1e-12)
    assert normal_quantile(0.99) == pytest.approx(2.5758293035489, abs=1e-9)
    with pytest.raises(ValueError):
        normal_quantile(1.0)
    with pytest.raises(ValueError):
        normal_quantile(0.0)


def test_wilson_81_of_263_published_and_closed_form():
    # Newcombe (1998a) single-proportion example: 81/263 -> 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    expected_low, expected_high = wilson_closed_form(81, 263)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)


def test_wilson_at_the_extremes():
    # 0/n: the lower bound is 0 and the upper is z^2 / (n + z^2).
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)
    assert round(high, 4) == 0.2775
    # n/n mirrors it.
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(10 / (10 + Z95**2), abs=1e-12)
    # A single trial still gives a finite, wide interval.
    low, high = wilson_interval(1, 1)
    assert high == 1.0 and low == pytest.approx(1 / (1 + Z95**2))


def test_wilson_empty_sample_is_nan_not_zero():
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)


def test_wilson_other_confidence_levels_widen_and_narrow():
    low90, high90 = wilson_interval(30, 100, confidence=0.90)
    low95, high95 = wilson_interval(30, 100)
    low99, high99 = wilson_interval(30, 100, confidence=0.99)
    assert low99 < low95 < low90 < 0.3 < high90 < high95 < high99
    z90 = 1.6448536269514722
    assert (low90, high90) == pytest.approx(wilson_closed_form(30, 100, z=z90), abs=1e-12)


@pytest.mark.parametrize("successes, n", [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


# Newcombe (1998b), Table II, method 10 (hybrid score, no continuity correction).
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize("counts, published", NEWCOMBE_TABLE_II)
def test_newcombe_matches_the_published_table(counts, published):
    s1, n1, s2, n2 = counts
    diff, low, high = newcombe_difference(s1, n1, s2, n2)
    assert diff == pytest.approx(s1 / n1 - s2 / n2, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == published


def test_newcombe_built_from_the_two_wilson_intervals():
    # 56/70 vs 48/80 by hand from the closed-form Wilson bounds.
    l1, u1 = wilson_closed_form(56, 70)
    l2, u2 = wilson_closed_form(48, 80)
    p1, p2 = 0.8, 0.6
    expected_low = 0.2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    expected_high = 0.2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    diff, low, high = newcombe_difference(56, 70, 48, 80)
    assert diff == pytest.approx(0.2, abs=1e-12)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)


def test_newcombe_swapping_groups_mirrors_the_interval():
    diff, low, high = newcombe_difference(9, 10, 3, 10)
    diff_r, low_r, high_r = newcombe_difference(3, 10, 9, 10)
    assert diff_r == pytest.approx(-diff)
    assert low_r == pytest.approx(-high)
    assert high_r == pytest.approx(-low)


@pytest.mark.parametrize("counts", [(0, 0, 3, 5), (3, 5, 0, 0), (0, 0, 0, 0)])
def test_newcombe_with_an_empty_group_is_nan(counts):
    assert all(math.isnan(v) for v in newcombe_difference(*counts))


def test_newcombe_rejects_impossible_counts():
    with pytest.raises(ValueError):
        newcombe_difference(5, 4, 1, 2)


counts = st.integers(min_value=1, max_value=5000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(counts, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_is_inside_unit_interval_and_holds_the_estimate(xn, confidence):
    x, n = xn
    low, high = wilson_interval(x, n, confidence)
    assert 0.0 <= low <= x / n <= high <= 1.0
    # Interior bounds are the points where the score statistic equals z.
    z = normal_quantile(confidence)
    for bound in (low, high):
        if 0.0 < bound < 1.0:
            score = abs(x / n - bound) / math.sqrt(bound * (1 - bound) / n)
            assert score == pytest.approx(z, rel=1e-6)


@given(counts, counts)
def test_newcombe_is_inside_minus_one_one_and_holds_the_difference(a, b):
    (s1, n1), (s2, n2) = a, b
    diff, low, high = newcombe_difference(s1, n1, s2, n2)
    assert -1.0 <= low <= diff <= high <= 1.0
