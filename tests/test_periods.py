"""Quarter arithmetic (SPEC §3): boundaries, fiscal years, weeks and membership.

Expected values were worked out on a calendar, not by running the code:
2026-07-01 is a Wednesday, 2024-01-01 and 2024-07-01 are Mondays, 2024-03-31 is
a Sunday, and the US federal fiscal year 2026 (October start) began 2025-10-01.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerkit.periods import (
    Quarter,
    QuarterError,
    previous_quarters,
    quarter_labels,
    quarter_range,
    week_start,
)

T = pd.Timestamp


def days(*isos: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([T(d) for d in isos])


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text", ["2026Q3", "2026-Q3", "2026q3", "2026-q3", "  2026Q3 ", "\t2026Q3\n"])
def test_parse_accepts_the_written_forms(text):
    q = Quarter.parse(text)
    assert (q.year, q.number, q.fiscal_year_start_month) == (2026, 3, 1)


def test_parse_returns_a_quarter_unchanged():
    q = Quarter(2027, 1, fiscal_year_start_month=4)
    assert Quarter.parse(q) is q
    assert Quarter.parse(q, fiscal_year_start_month=4) is q


def test_parse_refuses_a_quarter_of_another_convention():
    with pytest.raises(QuarterError, match="fiscal_year_start_month=4.*fiscal_year_start_month=1"):
        Quarter.parse(Quarter(2027, 1, 4), fiscal_year_start_month=1)


def test_parse_applies_the_fiscal_convention():
    q = Quarter.parse("2027Q1", fiscal_year_start_month=2)
    assert q == Quarter(2027, 1, 2)
    assert q.start == T("2026-02-01")


@pytest.mark.parametrize(
    "bad",
    ["2026Q0", "2026Q5", "Q3", "26Q3", "2026", "", "2026Q3x", "x2026Q3", "2026 Q3",
     "2026--Q3", "2026Q33", "20260Q3", "２０２６Q3"],
)
def test_parse_rejects_malformed_text_naming_it(bad):
    with pytest.raises(QuarterError, match=re.escape(repr(bad)) + ".*expected YYYYQn"):
        Quarter.parse(bad)


def test_parse_message_is_the_documented_one():
    with pytest.raises(QuarterError) as err:
        Quarter.parse("2026Q5")
    assert str(err.value) == "'2026Q5' is not a quarter: expected YYYYQn with n in 1-4, e.g. 2026Q3"


@pytest.mark.parametrize("bad", [None, 2026, 2026.3, ["2026Q3"]])
def test_parse_rejects_non_text_naming_it(bad):
    with pytest.raises(QuarterError, match=re.escape(repr(bad)) + " is not a quarter: expected a string"):
        Quarter.parse(bad)


@pytest.mark.parametrize("bad, year", [("1899Q4", "1899"), ("2201Q1", "2201"), ("0000Q1", "0")])
def test_parse_rejects_years_outside_the_supported_range(bad, year):
    with pytest.raises(QuarterError, match=re.escape(repr(bad)) + f".*1900-2200, got {year}$"):
        Quarter.parse(bad)


@pytest.mark.parametrize("edge", ["1900Q1", "2200Q4"])
def test_parse_accepts_the_edge_years(edge):
    assert str(Quarter.parse(edge)) == edge


@pytest.mark.parametrize("month", [0, 13, -1, "4", 4.0, True, None])
def test_bad_fiscal_start_month_is_rejected_naming_it(month):
    if month is None:
        # None means "not given" for parse; the constructor still refuses it.
        with pytest.raises(QuarterError, match="fiscal_year_start_month .*got None"):
            Quarter(2026, 1, month)
        return
    with pytest.raises(QuarterError, match=f"fiscal_year_start_month .*got {re.escape(repr(month))}$"):
        Quarter.parse("2026Q3", fiscal_year_start_month=month)
    with pytest.raises(QuarterError, match=f"got {re.escape(repr(month))}$"):
        Quarter(2026, 1, month)
    with pytest.raises(QuarterError, match=f"got {re.escape(repr(month))}$"):
        Quarter.of("2026-01-01", fiscal_year_start_month=month)


@pytest.mark.parametrize("year, number, expected", [
    (2026, 0, "quarter number must be 1-4, got 0"),
    (2026, 5, "quarter number must be 1-4, got 5"),
    (2026, True, "quarter number must be 1-4, got True"),
    (1899, 4, "year must be a whole number within 1900-2200, got 1899"),
    ("2026", 1, "year must be a whole number within 1900-2200, got '2026'"),
])
def test_constructor_rejects_out_of_range_fields(year, number, expected):
    with pytest.raises(QuarterError) as err:
        Quarter(year, number)
    assert str(err.value) == expected


def test_quarter_error_is_a_value_error():
    with pytest.raises(ValueError):
        Quarter.parse("nonsense")


def test_numpy_integers_are_stored_as_plain_ints():
    q = Quarter(np.int64(2026), np.int32(3))
    assert type(q.year) is int and type(q.number) is int
    assert hash(q) == hash(Quarter(2026, 3))


# ------------------------------------------------------- calendar boundaries


def test_calendar_2026q3_boundaries():
    q = Quarter.parse("2026Q3")
    assert q.start == T("2026-07-01")
    assert q.end == T("2026-09-30")
    assert q.end_exclusive == T("2026-10-01")
    assert str(q) == q.label == "2026Q3"
    assert q.freq == "Q-DEC"


def test_boundaries_are_midnight_nanosecond_timestamps():
    q = Quarter(2026, 3)
    for ts in (q.start, q.end, q.end_exclusive):
        assert ts == ts.normalize()
        assert ts.unit == "ns"


@pytest.mark.parametrize("year, length", [(2024, 91), (2025, 90), (2000, 91), (1900, 90)])
def test_q1_ends_on_march_31_in_leap_and_common_years(year, length):
    # 1900 is not a leap year (divisible by 100, not by 400); 2000 is.
    q = Quarter(year, 1)
    assert q.end == T(f"{year}-03-31")
    assert (q.end_exclusive - q.start).days == length


def test_2024q1_contains_the_leap_day():
    q = Quarter(2024, 1)
    assert q.contains_date(T("2024-02-29"))
    assert Quarter.of("2024-02-29") == q


def test_q4_ends_on_december_31_and_the_next_year_follows():
    q = Quarter(2026, 4)
    assert (q.start, q.end, q.end_exclusive) == (T("2026-10-01"), T("2026-12-31"), T("2027-01-01"))


# ------------------------------------------------------------ fiscal quarters


def test_fiscal_year_starting_in_february():
    # FY2027 runs 2026-02-01 .. 2027-01-31.
    q1 = Quarter(2027, 1, fiscal_year_start_month=2)
    q4 = Quarter(2027, 4, fiscal_year_start_month=2)
    assert (q1.start, q1.end) == (T("2026-02-01"), T("2026-04-30"))
    assert (q4.start, q4.end) == (T("2026-11-01"), T("2027-01-31"))
    assert q1.freq == "Q-JAN"


def test_fiscal_year_starting_in_april():
    # FY2027 runs 2026-04-01 .. 2027-03-31.
    q1 = Quarter(2027, 1, fiscal_year_start_month=4)
    q4 = Quarter(2027, 4, fiscal_year_start_month=4)
    assert (q1.start, q1.end) == (T("2026-04-01"), T("2026-06-30"))
    assert (q4.start, q4.end) == (T("2027-01-01"), T("2027-03-31"))
    assert q1.freq == "Q-MAR"


def test_fiscal_year_starting_in_october_matches_the_us_federal_year():
    # US federal FY2026 began on 2025-10-01.
    q1 = Quarter(2026, 1, fiscal_year_start_month=10)
    q2 = Quarter(2026, 2, fiscal_year_start_month=10)
    assert (q1.start, q1.end) == (T("2025-10-01"), T("2025-12-31"))
    assert (q2.start, q2.end) == (T("2026-01-01"), T("2026-03-31"))
    assert q1.freq == "Q-SEP"


def test_fiscal_february_quarter_holds_the_leap_day():
    # FY2029 (Feb start) Q1 is 2028-02-01 .. 2028-04-30 and 2028 is a leap year.
    q = Quarter(2029, 1, fiscal_year_start_month=2)
    assert (q.end_exclusive - q.start).days == 29 + 31 + 30
    assert Quarter.of("2028-02-29", fiscal_year_start_month=2) == q
    # In a common year the same quarter is 28 + 31 + 30 days.
    assert (Quarter(2028, 1, 2).end_exclusive - Quarter(2028, 1, 2).start).days == 89


@pytest.mark.parametrize("start_month, date, label", [
    (2, "2026-01-31", "2026Q4"),
    (2, "2026-02-01", "2027Q1"),
    (2, "2026-04-30", "2027Q1"),
    (2, "2026-05-01", "2027Q2"),
    (2, "2027-01-31", "2027Q4"),
    (4, "2026-03-31", "2026Q4"),
    (4, "2026-04-01", "2027Q1"),
    (4, "2026-07-15", "2027Q2"),
    (4, "2026-12-31", "2027Q3"),
    (10, "2026-09-30", "2026Q4"),
    (10, "2026-10-01", "2027Q1"),
    (10, "2027-01-01", "2027Q2"),
    (1, "2026-12-31", "2026Q4"),
    (1, "2027-01-01", "2027Q1"),
])
def test_labels_near_fiscal_year_boundaries(start_month, date, label):
    assert str(Quarter.of(date, fiscal_year_start_month=start_month)) == label
    labels = quarter_labels(pd.Series([T(date)]), fiscal_year_start_month=start_month)
    assert labels.tolist() == [label]


def test_of_accepts_python_numpy_and_pandas_values():
    expected = Quarter(2026, 3)
    assert Quarter.of(dt.date(2026, 8, 15)) == expected
    assert Quarter.of(dt.datetime(2026, 9, 30, 23, 59)) == expected
    assert Quarter.of(np.datetime64("2026-07-01")) == expected
    assert Quarter.of(T("2026-07-01 00:00:00")) == expected


def test_of_places_aware_timestamps_by_utc():
    # 01:00 in Berlin on 1 October is 23:00 UTC on 30 September.
    assert Quarter.of(T("2026-10-01 01:00", tz="Europe/Berlin")) == Quarter(2026, 3)


@pytest.mark.parametrize("bad", [None, pd.NaT, "not a date"])
def test_of_rejects_missing_or_unreadable_dates(bad):
    with pytest.raises(QuarterError, match=re.escape(repr(bad))):
        Quarter.of(bad)


# ------------------------------------------------------------------ stepping


def test_previous_across_a_year_boundary():
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)
    assert Quarter(2026, 1).previous(5) == Quarter(2024, 4)
    assert Quarter(2025, 4).next() == Quarter(2026, 1)
    assert Quarter(2026, 3).shift(-7) == Quarter(2024, 4)
    assert Quarter(2026, 3).shift(0) == Quarter(2026, 3)


def test_previous_keeps_the_fiscal_convention():
    q = Quarter(2027, 1, fiscal_year_start_month=4).previous()
    assert q == Quarter(2026, 4, fiscal_year_start_month=4)
    assert (q.start, q.end) == (T("2026-01-01"), T("2026-03-31"))
    assert Quarter(2026, 4, 10).next().start == T("2026-10-01")


def test_stepping_outside_the_supported_years_fails_clearly():
    with pytest.raises(QuarterError, match="2200Q4 shifted by 1 quarters falls in year 2201"):
        Quarter(2200, 4).next()
    with pytest.raises(QuarterError, match="1900Q1 shifted by -1"):
        Quarter(1900, 1).previous()
    with pytest.raises(QuarterError, match="whole number, got 1.5"):
        Quarter(2026, 1).shift(1.5)


def test_quarters_order_chronologically():
    texts = ["2026Q1", "2025Q4", "2024Q2", "2026Q3", "2025Q1"]
    ordered = sorted(Quarter.parse(t) for t in texts)
    assert [str(q) for q in ordered] == ["2024Q2", "2025Q1", "2025Q4", "2026Q1", "2026Q3"]
    assert Quarter(2025, 4) < Quarter(2026, 1) < Quarter(2026, 2)
    assert max(ordered) == Quarter(2026, 3)
    # Fiscal quarters order the same way within their convention.
    assert Quarter(2026, 4, 4) < Quarter(2027, 1, 4)


def test_quarters_are_hashable_values():
    assert {Quarter(2026, 3), Quarter.parse("2026-q3")} == {Quarter(2026, 3)}
    assert Quarter(2026, 3) != Quarter(2026, 3, fiscal_year_start_month=4)


def test_quarter_range_is_inclusive_and_oldest_first():
    assert [str(q) for q in quarter_range("2025Q3", "2026Q2")] == ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]
    assert quarter_range("2026Q2", Quarter(2026, 2)) == [Quarter(2026, 2)]


def test_quarter_range_follows_the_convention_of_a_quarter_argument():
    qs = quarter_range(Quarter(2026, 4, 10), "2027Q1")
    assert qs == [Quarter(2026, 4, 10), Quarter(2027, 1, 10)]
    assert qs[1].start == T("2026-10-01")
    assert quarter_range("2027Q1", "2027Q2", fiscal_year_start_month=2)[0].start == T("2026-02-01")


def test_quarter_range_refuses_reversed_bounds():
    with pytest.raises(QuarterError, match="first quarter 2026Q3 is after last quarter 2026Q1"):
        quarter_range("2026Q3", "2026Q1")


def test_quarter_range_refuses_mixed_conventions():
    with pytest.raises(QuarterError, match="conventions differ"):
        quarter_range(Quarter(2026, 1), Quarter(2026, 2, 4))


def test_quarter_range_names_a_bad_bound():
    with pytest.raises(QuarterError, match="'2026Q9'"):
        quarter_range("2026Q1", "2026Q9")


def test_previous_quarters_oldest_first():
    assert [str(q) for q in previous_quarters("2026Q2", 4)] == ["2025Q2", "2025Q3", "2025Q4", "2026Q1"]
    assert previous_quarters(Quarter(2026, 1, 4), 1) == [Quarter(2025, 4, 4)]
    assert previous_quarters("2026Q2", 0) == []
    with pytest.raises(QuarterError, match="got -1"):
        previous_quarters("2026Q2", -1)


# --------------------------------------------------------------------- weeks


def test_full_weeks_of_2026q3():
    # 2026-07-01 is a Wednesday: the first full week starts Monday 07-06.
    # 2026-09-28 is a Monday whose Sunday (10-04) is in Q4, so the last full
    # week is the one of Monday 09-21 (Sunday 09-27).
    assert dt.date(2026, 7, 1).weekday() == 2
    weeks = Quarter(2026, 3).full_weeks()
    expected = days("2026-07-06", "2026-07-13", "2026-07-20", "2026-07-27",
                    "2026-08-03", "2026-08-10", "2026-08-17", "2026-08-24", "2026-08-31",
                    "2026-09-07", "2026-09-14", "2026-09-21")
    assert list(weeks) == list(expected)
    assert weeks.dtype == "datetime64[ns]"
    assert Quarter(2026, 3).last_full_week() == T("2026-09-21")


def test_full_weeks_of_a_quarter_starting_on_a_monday():
    # 2024-07-01 is a Monday, and so is 2024-09-30: its week ends 10-06, in Q4.
    assert dt.date(2024, 7, 1).weekday() == 0 and dt.date(2024, 9, 30).weekday() == 0
    weeks = Quarter(2024, 3).full_weeks()
    assert len(weeks) == 13
    assert weeks[0] == T("2024-07-01")
    assert weeks[-1] == T("2024-09-23")


def test_full_weeks_of_a_quarter_ending_on_a_sunday():
    # 2024Q1 starts Monday 01-01 and ends Sunday 03-31: both edge weeks count.
    assert dt.date(2024, 3, 31).weekday() == 6
    weeks = Quarter(2024, 1).full_weeks()
    assert len(weeks) == 13
    assert (weeks[0], weeks[-1]) == (T("2024-01-01"), T("2024-03-25"))
    assert Quarter(2024, 1).last_full_week() == T("2024-03-25")


def test_full_weeks_of_a_fiscal_quarter():
    # FY2027Q1 with a February start: 2026-02-01 (Sunday) .. 2026-04-30 (Thursday).
    weeks = Quarter(2027, 1, 2).full_weeks()
    assert weeks[0] == T("2026-02-02")
    assert weeks[-1] == T("2026-04-20")  # 04-27's Sunday is 05-03
    assert len(weeks) == 12


def test_week_start_gives_the_monday_at_midnight():
    ts = pd.Series(
        pd.to_datetime(["2026-07-05 23:59:59", "2026-07-06 00:00:00", "2026-07-08 13:30",
                        None, "2024-02-29 08:00", "2024-03-03 12:00"], format="ISO8601"),
        index=[10, 11, 12, 13, 14, 15],
    )
    got = week_start(ts)
    assert got.index.tolist() == [10, 11, 12, 13, 14, 15]
    assert got.iloc[:3].tolist() == [T("2026-06-29"), T("2026-07-06"), T("2026-07-06")]
    assert pd.isna(got.iloc[3])
    # 2024-02-29 is a Thursday, 2024-03-03 a Sunday: both in the week of Monday 02-26.
    assert got.iloc[4:].tolist() == [T("2024-02-26"), T("2024-02-26")]


def test_week_start_keeps_the_resolution():
    ts = pd.Series(pd.to_datetime(["2026-07-08 13:30"])).astype("datetime64[ns]")
    assert week_start(ts).dtype == "datetime64[ns]"


# ---------------------------------------------------------------- membership


def test_contains_date_at_the_boundary_days():
    q = Quarter(2026, 3)
    dates = pd.Series(pd.to_datetime(["2026-06-30", "2026-07-01", "2026-09-30", "2026-10-01", None]),
                      index=list("abcde"))
    got = q.contains_date(dates)
    assert got.tolist() == [False, True, True, False, False]
    assert got.index.tolist() == list("abcde")
    assert got.dtype == bool


def test_contains_date_on_scalars():
    q = Quarter(2026, 3)
    assert q.contains_date(T("2026-09-30")) is True
    assert q.contains_date(dt.date(2026, 10, 1)) is False
    assert q.contains_date(pd.NaT) is False
    assert q.contains_date(None) is False


def test_contains_date_of_a_fiscal_quarter():
    q = Quarter(2027, 1, 10)  # 2026-10-01 .. 2026-12-31
    dates = pd.Series(pd.to_datetime(["2026-09-30", "2026-10-01", "2026-12-31", "2027-01-01"]))
    assert q.contains_date(dates).tolist() == [False, True, True, False]


def test_contains_ts_at_the_exclusive_end():
    q = Quarter(2026, 3)
    ts = pd.Series(pd.to_datetime([
        "2026-06-30 23:59:59.999999", "2026-07-01 00:00:00", "2026-09-30 23:59:59.999999",
        "2026-10-01 00:00:00", None,
    ], format="ISO8601"))
    assert q.contains_ts(ts).tolist() == [False, True, True, False, False]
    assert q.contains_ts(T("2026-10-01")) is False
    assert q.contains_ts(T("2026-09-30 18:00")) is True
    assert q.contains_ts(pd.NaT) is False


def test_contains_ts_reads_iso_text_as_utc():
    q = Quarter(2026, 3)
    ts = pd.Series(["2026-09-30T23:00:00", "2026-10-01T01:00:00+02:00", "2026-10-01T00:00:00Z"])
    assert q.contains_ts(ts).tolist() == [True, True, False]


# ------------------------------------------------------------ quarter_labels


def test_quarter_labels_with_missing_dates():
    dates = pd.Series(pd.to_datetime(["2026-07-01", None, "2025-12-31", "2026-03-31", None]),
                      index=[5, 6, 7, 8, 9])
    labels = quarter_labels(dates)
    assert labels.index.tolist() == [5, 6, 7, 8, 9]
    assert labels.name == "quarter"
    assert labels.isna().tolist() == [False, True, False, False, True]
    assert labels.dropna().tolist() == ["2026Q3", "2025Q4", "2026Q1"]
    assert pd.api.types.is_string_dtype(labels)


def test_quarter_labels_of_only_missing_or_no_dates():
    assert quarter_labels(pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]")).isna().all()
    assert len(quarter_labels(pd.Series([], dtype="datetime64[ns]"))) == 0


def test_quarter_labels_ignore_the_resolution_and_time_of_day():
    dates = pd.Series(pd.to_datetime(["2026-09-30 23:59:59", "1969-12-31", "2300-01-01"],
                                     format="ISO8601"))
    for unit in ("s", "ms", "us"):
        labels = quarter_labels(dates.astype(f"datetime64[{unit}]"))
        assert labels.tolist() == ["2026Q3", "1969Q4", "2300Q1"]


def test_quarter_labels_of_aware_timestamps_use_utc():
    ts = pd.Series(pd.to_datetime(["2026-10-01 01:00"])).dt.tz_localize("Europe/Berlin")
    assert quarter_labels(ts).tolist() == ["2026Q3"]


def test_quarter_labels_on_a_large_series_agree_with_the_calendar():
    # One row per hour over ~11 years: each label must match the row's own
    # year and month, computed here with plain integer arithmetic.
    ts = pd.Series(pd.date_range("2019-11-15", periods=100_000, freq="h"))
    ts.iloc[::997] = pd.NaT
    for start_month in (1, 2, 7):
        labels = quarter_labels(ts, fiscal_year_start_month=start_month)
        valid = ts.notna()
        year, month = ts[valid].dt.year, ts[valid].dt.month
        offset = (month - start_month) % 12
        fiscal_year = year + ((month >= start_month) & (start_month != 1)).astype(int)
        expected = fiscal_year.astype(str) + "Q" + (offset // 3 + 1).astype(str)
        assert (labels[valid] == expected).all()
        assert labels[~valid].isna().all()


# ---------------------------------------------------------------- properties

supported_dates = st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2199, 6, 30))
start_months = st.integers(min_value=1, max_value=12)


@settings(max_examples=300, deadline=None)
@given(day=supported_dates, start_month=start_months)
def test_a_date_lies_in_its_own_quarter(day, start_month):
    q = Quarter.of(day, fiscal_year_start_month=start_month)
    ts = T(day)
    assert q.contains_date(ts)
    assert q.contains_date(pd.Series([ts])).tolist() == [True]
    assert q.start <= ts <= q.end
    assert not q.previous().contains_date(ts)
    assert not q.next().contains_date(ts)
    # Quarters start on the first of a month that is 0, 3, 6 or 9 months after the
    # fiscal start month; the fiscal year is named by the calendar year it ends in.
    assert q.start.day == 1
    assert (q.start.month - start_month) % 3 == 0
    assert (q.start.month - start_month) % 12 == 3 * (q.number - 1)
    fiscal_year_end = Quarter(q.year, 4, start_month).end
    assert fiscal_year_end.year == q.year
    assert quarter_labels(pd.Series([ts]), fiscal_year_start_month=start_month).tolist() == [str(q)]


@settings(max_examples=300, deadline=None)
@given(
    year=st.integers(min_value=1901, max_value=2199),
    number=st.integers(min_value=1, max_value=4),
    start_month=start_months,
)
def test_quarters_tile_the_timeline(year, number, start_month):
    q = Quarter(year, number, start_month)
    assert q.next().start == q.end_exclusive
    assert q.end + pd.Timedelta(days=1) == q.end_exclusive
    assert q.previous().end_exclusive == q.start
    assert q.next().previous() == q
    assert 89 <= (q.end_exclusive - q.start).days <= 92
    assert Quarter.parse(str(q), start_month) == q
    weeks = q.full_weeks()
    assert (weeks.day_of_week == 0).all()
    assert weeks[0] >= q.start and weeks[0] - pd.Timedelta(days=7) < q.start
    assert weeks[-1] + pd.Timedelta(days=6) <= q.end
    assert weeks[-1] + pd.Timedelta(days=13) > q.end
    assert (np.diff(weeks.asi8) == pd.Timedelta(days=7).value).all()


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2199, 6, 30)),
    start_month=start_months,
)
def test_a_timestamp_lies_in_exactly_one_quarter(moment, start_month):
    q = Quarter.of(moment, fiscal_year_start_month=start_month)
    ts = T(moment)
    assert q.contains_ts(ts)
    assert not q.previous().contains_ts(ts) and not q.next().contains_ts(ts)
    monday = week_start(pd.Series([ts])).iloc[0]
    assert monday.weekday() == 0 and monday == monday.normalize()
    assert pd.Timedelta(0) <= ts - monday < pd.Timedelta(days=7)
