"""Quarters, fiscal years and weeks: the periods every metric is computed over.

A quarter is written ``2026Q3``. Quarters are calendar quarters unless a
``fiscal_year_start_month`` (1-12) says otherwise; fiscal years follow pandas'
``Q-<month>`` convention and are named by the calendar year in which they end.
With ``fiscal_year_start_month=2`` the fiscal year 2027 runs from 2026-02-01
to 2027-01-31, and its first quarter ``2027Q1`` from 2026-02-01 to 2026-04-30.

"In quarter q" means ``start <= date <= end`` for dates (both ends inclusive)
and ``start <= ts < end_exclusive`` for timestamps, where ``end_exclusive`` is
the first instant of the next quarter. Weeks start on Monday; the full weeks of
a quarter are those whose Monday and Sunday both fall inside it.

Timestamps are naive UTC. A timezone-aware value is converted to UTC and made
naive before it is placed in a period.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "QuarterError",
    "Quarter",
    "quarter_range",
    "previous_quarters",
    "quarter_labels",
    "week_start",
    "MIN_YEAR",
    "MAX_YEAR",
]

#: Earliest and latest fiscal year a quarter may belong to.
MIN_YEAR = 1900
MAX_YEAR = 2200

_EXPECTED = "expected YYYYQn with n in 1-4, e.g. 2026Q3"
# ASCII digits only: str.isdigit() would also accept e.g. Arabic-Indic digits.
_QUARTER_TEXT = re.compile(r"([0-9]{4})-?[Qq]([0-9])", re.ASCII)
_MONTH_ABBR = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN",
               "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_ONE_DAY = pd.Timedelta(days=1)


class QuarterError(ValueError):
    """A quarter, or a parameter of one, that cannot be understood.

    The message says what was given and what is expected.

    Examples
    --------
    >>> try:
    ...     Quarter.parse("2026Q5")
    ... except QuarterError as err:
    ...     print(err)
    '2026Q5' is not a quarter: expected YYYYQn with n in 1-4, e.g. 2026Q3
    """


def _is_whole_number(value: Any) -> bool:
    # bool is an int subclass, but True is never a meaningful year or month.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_start_month(month: Any) -> int:
    if not _is_whole_number(month) or not 1 <= int(month) <= 12:
        raise QuarterError(
            f"fiscal_year_start_month must be a whole number 1-12 (the calendar month "
            f"the fiscal year starts in, 1 for calendar quarters), got {month!r}"
        )
    return int(month)


def _freq(fiscal_year_start_month: int) -> str:
    # pandas names a fiscal year by the month it ENDS in: the month before the start.
    return "Q-" + _MONTH_ABBR[(fiscal_year_start_month - 2) % 12]


def _naive_utc_scalar(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts is not pd.NaT and ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _naive_utc_series(values: Any) -> pd.Series:
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    if not isinstance(values.dtype, (np.dtype, pd.DatetimeTZDtype)) or values.dtype.kind != "M":
        # ISO text without an offset is UTC (SPEC §2); utc=True also accepts mixed offsets.
        values = pd.to_datetime(values, utc=True, format="ISO8601")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


@dataclass(frozen=True, order=True)
class Quarter:
    """One quarter of a (calendar or fiscal) year.

    Parameters
    ----------
    year : int
        The fiscal year, named by the calendar year in which it ends
        (for calendar quarters, simply the year). 1900-2200.
    number : int
        The quarter within that fiscal year, 1-4.
    fiscal_year_start_month : int, default 1
        Calendar month (1-12) in which the fiscal year starts; 1 gives
        calendar quarters.

    Raises
    ------
    QuarterError
        When a field is out of range or not a whole number.

    Notes
    -----
    Quarters sort chronologically within one convention. Comparing quarters of
    different conventions is not meaningful; :func:`quarter_range` refuses it.

    Examples
    --------
    >>> q = Quarter(2026, 3)
    >>> str(q), q.start.date(), q.end.date()
    ('2026Q3', datetime.date(2026, 7, 1), datetime.date(2026, 9, 30))
    >>> fq = Quarter(2027, 1, fiscal_year_start_month=2)
    >>> fq.start.date(), fq.end.date()
    (datetime.date(2026, 2, 1), datetime.date(2026, 4, 30))
    >>> sorted([Quarter(2026, 1), Quarter(2025, 4), Quarter(2025, 2)])[0].label
    '2025Q2'
    """

    year: int
    number: int
    fiscal_year_start_month: int = 1

    def __post_init__(self) -> None:
        if not _is_whole_number(self.year) or not MIN_YEAR <= int(self.year) <= MAX_YEAR:
            raise QuarterError(
                f"year must be a whole number within {MIN_YEAR}-{MAX_YEAR}, got {self.year!r}"
            )
        if not _is_whole_number(self.number) or not 1 <= int(self.number) <= 4:
            raise QuarterError(f"quarter number must be 1-4, got {self.number!r}")
        month = _check_start_month(self.fiscal_year_start_month)
        # Store plain ints so that numpy integers hash and print like Python ints.
        object.__setattr__(self, "year", int(self.year))
        object.__setattr__(self, "number", int(self.number))
        object.__setattr__(self, "fiscal_year_start_month", month)

    # ----------------------------------------------------------------- building

    @classmethod
    def parse(cls, text: Any, fiscal_year_start_month: int | None = None) -> Quarter:
        """Read a quarter written ``2026Q3``.

        Parameters
        ----------
        text : str or Quarter
            ``"2026Q3"``, ``"2026-Q3"`` or ``"2026q3"``, surrounding spaces
            allowed. A :class:`Quarter` is returned unchanged.
        fiscal_year_start_month : int, optional
            Fiscal convention of the result (1 when not given). For a
            :class:`Quarter` argument it must match the quarter's own
            convention when given.

        Returns
        -------
        Quarter

        Raises
        ------
        QuarterError
            When the text is not a quarter, the year is outside 1900-2200, or
            the start month is not 1-12. The message names the bad input.

        Examples
        --------
        >>> Quarter.parse(" 2026-q3 ")
        Quarter(year=2026, number=3, fiscal_year_start_month=1)
        >>> Quarter.parse("2027Q1", fiscal_year_start_month=4).start.date()
        datetime.date(2026, 4, 1)
        >>> Quarter.parse("26Q3")
        Traceback (most recent call last):
        ...
        partnerkit.periods.QuarterError: '26Q3' is not a quarter: expected YYYYQn with n in 1-4, e.g. 2026Q3
        """
        if fiscal_year_start_month is not None:
            fiscal_year_start_month = _check_start_month(fiscal_year_start_month)
        if isinstance(text, Quarter):
            if (fiscal_year_start_month is not None
                    and fiscal_year_start_month != text.fiscal_year_start_month):
                raise QuarterError(
                    f"{text} has fiscal_year_start_month={text.fiscal_year_start_month}, "
                    f"but fiscal_year_start_month={fiscal_year_start_month} was asked for"
                )
            return text
        if not isinstance(text, str):
            raise QuarterError(f"{text!r} is not a quarter: expected a string YYYYQn with "
                               f"n in 1-4, e.g. 2026Q3")
        match = _QUARTER_TEXT.fullmatch(text.strip())
        if match is None:
            raise QuarterError(f"{text!r} is not a quarter: {_EXPECTED}")
        year, number = int(match.group(1)), int(match.group(2))
        if not 1 <= number <= 4:
            raise QuarterError(f"{text!r} is not a quarter: {_EXPECTED}")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise QuarterError(
                f"{text!r} is not a supported quarter: the year must be within "
                f"{MIN_YEAR}-{MAX_YEAR}, got {year}"
            )
        return cls(year, number, 1 if fiscal_year_start_month is None else fiscal_year_start_month)

    @classmethod
    def of(cls, date: Any, fiscal_year_start_month: int = 1) -> Quarter:
        """The quarter containing a date or timestamp.

        Parameters
        ----------
        date : date, datetime, str, numpy.datetime64 or pandas.Timestamp
            Any value :class:`pandas.Timestamp` accepts. Timezone-aware values
            are placed by their UTC time.
        fiscal_year_start_month : int, default 1

        Returns
        -------
        Quarter

        Raises
        ------
        QuarterError
            For a missing (NaT/None) or unreadable date.

        Examples
        --------
        >>> str(Quarter.of("2026-09-30"))
        '2026Q3'
        >>> str(Quarter.of("2026-02-01", fiscal_year_start_month=2))
        '2027Q1'
        """
        month = _check_start_month(fiscal_year_start_month)
        try:
            ts = _naive_utc_scalar(date)
        except (TypeError, ValueError) as err:
            raise QuarterError(f"{date!r} is not a date or timestamp: {err}") from None
        if ts is pd.NaT:
            raise QuarterError(f"{date!r} is a missing date: it belongs to no quarter")
        period = pd.Period(ts, freq=_freq(month))
        return cls(period.qyear, period.quarter, month)

    # --------------------------------------------------------------- boundaries

    @property
    def freq(self) -> str:
        """The pandas period frequency of this convention, e.g. ``"Q-DEC"``.

        Examples
        --------
        >>> Quarter(2026, 1, fiscal_year_start_month=4).freq
        'Q-MAR'
        """
        return _freq(self.fiscal_year_start_month)

    @property
    def period(self) -> pd.Period:
        """The quarter as a :class:`pandas.Period`.

        Examples
        --------
        >>> Quarter(2026, 3).period
        Period('2026Q3', 'Q-DEC')
        """
        return pd.Period(year=self.year, quarter=self.number, freq=self.freq)

    @property
    def start(self) -> pd.Timestamp:
        """First day of the quarter, at midnight.

        Examples
        --------
        >>> Quarter(2026, 3).start
        Timestamp('2026-07-01 00:00:00')
        """
        return self.period.start_time.as_unit("ns")

    @property
    def end_exclusive(self) -> pd.Timestamp:
        """First instant of the next quarter (the exclusive end for timestamps).

        Examples
        --------
        >>> Quarter(2026, 4).end_exclusive
        Timestamp('2027-01-01 00:00:00')
        """
        return (self.period + 1).start_time.as_unit("ns")

    @property
    def end(self) -> pd.Timestamp:
        """Last day of the quarter, at midnight (the inclusive end for dates).

        Examples
        --------
        >>> Quarter(2024, 1).end
        Timestamp('2024-03-31 00:00:00')
        """
        return self.end_exclusive - _ONE_DAY

    @property
    def label(self) -> str:
        """The quarter written ``2026Q3`` (same as ``str(q)``).

        The label does not carry the fiscal convention.
        """
        return f"{self.year}Q{self.number}"

    def __str__(self) -> str:
        return self.label

    # --------------------------------------------------------------- stepping

    def shift(self, n: int) -> Quarter:
        """The quarter ``n`` quarters later (earlier for negative ``n``).

        Examples
        --------
        >>> str(Quarter(2026, 1).shift(-1)), str(Quarter(2026, 3).shift(6))
        ('2025Q4', '2028Q1')
        """
        if not _is_whole_number(n):
            raise QuarterError(f"a quarter can only be shifted by a whole number, got {n!r}")
        index = self.year * 4 + (self.number - 1) + int(n)
        if not MIN_YEAR <= index // 4 <= MAX_YEAR:
            raise QuarterError(
                f"{self} shifted by {int(n)} quarters falls in year {index // 4}, "
                f"outside the supported {MIN_YEAR}-{MAX_YEAR}"
            )
        return Quarter(index // 4, index % 4 + 1, self.fiscal_year_start_month)

    def next(self, n: int = 1) -> Quarter:
        """The quarter ``n`` quarters after this one.

        Examples
        --------
        >>> str(Quarter(2026, 4).next())
        '2027Q1'
        """
        return self.shift(n)

    def previous(self, n: int = 1) -> Quarter:
        """The quarter ``n`` quarters before this one.

        Examples
        --------
        >>> str(Quarter(2026, 1).previous())
        '2025Q4'
        """
        if not _is_whole_number(n):
            raise QuarterError(f"a quarter can only be shifted by a whole number, got {n!r}")
        return self.shift(-int(n))

    # ------------------------------------------------------------------ weeks

    def full_weeks(self) -> pd.DatetimeIndex:
        """Mondays of the weeks whose Monday and Sunday both fall in the quarter.

        Returns
        -------
        pandas.DatetimeIndex
            ``datetime64[ns]`` Mondays at midnight, oldest first, named
            ``week_start``.

        Examples
        --------
        >>> weeks = Quarter(2026, 3).full_weeks()
        >>> len(weeks), weeks[0].date(), weeks[-1].date()
        (12, datetime.date(2026, 7, 6), datetime.date(2026, 9, 21))
        """
        start = self.start
        first_monday = start + pd.Timedelta(days=(7 - start.day_of_week) % 7)
        last_monday = self.end - pd.Timedelta(days=6)
        weeks = pd.date_range(first_monday, last_monday, freq="7D", name="week_start")
        return pd.DatetimeIndex(weeks, freq=None).as_unit("ns")

    def last_full_week(self) -> pd.Timestamp:
        """Monday of the last full week of the quarter.

        Examples
        --------
        >>> Quarter(2026, 3).last_full_week()
        Timestamp('2026-09-21 00:00:00')
        """
        return self.full_weeks()[-1]

    # ------------------------------------------------------------- membership

    def contains_date(self, dates: Any) -> Any:
        """Whether dates fall in the quarter: ``start <= date <= end``.

        The time of day is ignored. Missing values are never in a quarter.

        Parameters
        ----------
        dates : pandas.Series or scalar
            Datetime values (or anything :func:`pandas.to_datetime` reads).

        Returns
        -------
        pandas.Series of bool (same index) or bool for a scalar

        Examples
        --------
        >>> s = pd.Series(pd.to_datetime(["2026-06-30", "2026-07-01", "2026-09-30", None]))
        >>> Quarter(2026, 3).contains_date(s).tolist()
        [False, True, True, False]
        """
        # For whole days, d <= end is the same as d < end_exclusive; comparing with
        # the exclusive end keeps a stray time of day on the last day inside.
        return self.contains_ts(dates)

    def contains_ts(self, timestamps: Any) -> Any:
        """Whether timestamps fall in the quarter: ``start <= ts < end_exclusive``.

        Parameters
        ----------
        timestamps : pandas.Series or scalar
            Naive UTC timestamps; timezone-aware ones are converted to UTC.

        Returns
        -------
        pandas.Series of bool (same index) or bool for a scalar

        Examples
        --------
        >>> s = pd.Series(pd.to_datetime(["2026-09-30 23:59:59", "2026-10-01 00:00:00"]))
        >>> Quarter(2026, 3).contains_ts(s).tolist()
        [True, False]
        """
        start, stop = self.start, self.end_exclusive
        if isinstance(timestamps, pd.Series):
            values = _naive_utc_series(timestamps)
            return (values >= start) & (values < stop)
        ts = _naive_utc_scalar(timestamps)
        if ts is pd.NaT:
            return False
        return bool(start <= ts < stop)


# ------------------------------------------------------------------- sequences


def _coerce(value: Any, fiscal_year_start_month: int | None) -> Quarter:
    return Quarter.parse(value, fiscal_year_start_month)


def quarter_range(first: Any, last: Any, fiscal_year_start_month: int | None = None) -> list[Quarter]:
    """All quarters from ``first`` to ``last``, both included, oldest first.

    Parameters
    ----------
    first, last : str or Quarter
    fiscal_year_start_month : int, optional
        Convention for quarters given as text. When not given, text follows
        the convention of the other argument if that is a :class:`Quarter`,
        else calendar quarters.

    Returns
    -------
    list of Quarter

    Raises
    ------
    QuarterError
        If ``first`` is after ``last`` or the two use different conventions.

    Examples
    --------
    >>> [str(q) for q in quarter_range("2025Q3", "2026Q2")]
    ['2025Q3', '2025Q4', '2026Q1', '2026Q2']
    """
    if fiscal_year_start_month is None:
        for value in (first, last):
            if isinstance(value, Quarter):
                fiscal_year_start_month = value.fiscal_year_start_month
                break
    first_q = _coerce(first, fiscal_year_start_month if not isinstance(first, Quarter) else None)
    last_q = _coerce(last, fiscal_year_start_month if not isinstance(last, Quarter) else None)
    if first_q.fiscal_year_start_month != last_q.fiscal_year_start_month:
        raise QuarterError(
            f"cannot range from {first_q} (fiscal_year_start_month="
            f"{first_q.fiscal_year_start_month}) to {last_q} (fiscal_year_start_month="
            f"{last_q.fiscal_year_start_month}): the conventions differ"
        )
    if first_q > last_q:
        raise QuarterError(f"first quarter {first_q} is after last quarter {last_q}")
    count = (last_q.year - first_q.year) * 4 + (last_q.number - first_q.number) + 1
    return [first_q.shift(i) for i in range(count)]


def previous_quarters(quarter: Any, n: int, fiscal_year_start_month: int | None = None) -> list[Quarter]:
    """The ``n`` quarters before ``quarter`` (not including it), oldest first.

    Parameters
    ----------
    quarter : str or Quarter
    n : int
        How many quarters, >= 0.
    fiscal_year_start_month : int, optional
        Convention when ``quarter`` is text (calendar quarters by default).

    Returns
    -------
    list of Quarter

    Examples
    --------
    >>> [str(q) for q in previous_quarters("2026Q2", 3)]
    ['2025Q3', '2025Q4', '2026Q1']
    """
    if not _is_whole_number(n) or n < 0:
        raise QuarterError(f"the number of previous quarters must be a whole number >= 0, got {n!r}")
    q = _coerce(quarter, fiscal_year_start_month)
    return [q.shift(-k) for k in range(int(n), 0, -1)]


# ---------------------------------------------------------------- vectorised


def quarter_labels(dates: pd.Series, fiscal_year_start_month: int = 1) -> pd.Series:
    """The quarter label (``"2026Q3"``) of every date in a Series.

    Vectorised: the work per row is integer arithmetic on month numbers; only
    the distinct quarters are formatted as text.

    Parameters
    ----------
    dates : pandas.Series
        Datetime values (dates or timestamps).
    fiscal_year_start_month : int, default 1

    Returns
    -------
    pandas.Series
        String labels with the index of ``dates``, named ``quarter``; missing
        where the date is missing.

    Examples
    --------
    >>> s = pd.Series(pd.to_datetime(["2026-01-31", "2026-02-01", None]))
    >>> quarter_labels(s).tolist()
    ['2026Q1', '2026Q1', nan]
    >>> quarter_labels(s, fiscal_year_start_month=2).tolist()
    ['2026Q4', '2027Q1', nan]
    """
    month = _check_start_month(fiscal_year_start_month)
    values = _naive_utc_series(dates)
    raw = values.to_numpy()
    valid = ~np.isnat(raw)
    # Months since 1970-01, shifted so that each fiscal year starts on a multiple
    # of 12: the fiscal year is then 1970 + shifted // 12, named by its end year.
    months = raw[valid].astype("datetime64[M]").astype(np.int64)
    shifted = months - (month - 1) + (12 if month != 1 else 0)
    codes = shifted // 3  # quarters since fiscal 1970Q1
    uniques, inverse = np.unique(codes, return_inverse=True)
    texts = np.array([f"{1970 + c // 4}Q{c % 4 + 1}" for c in uniques.tolist()], dtype=object)
    out = np.full(len(raw), np.nan, dtype=object)
    out[valid] = texts[inverse]
    return pd.Series(out, index=values.index, name="quarter", dtype="str")


def week_start(timestamps: pd.Series) -> pd.Series:
    """The Monday (at midnight) of the week of every timestamp.

    Parameters
    ----------
    timestamps : pandas.Series
        Datetime values; missing values stay missing.

    Returns
    -------
    pandas.Series
        Datetimes of the same resolution, with the index of ``timestamps``.

    Examples
    --------
    >>> s = pd.Series(pd.to_datetime(["2026-07-05 23:00", "2026-07-06 00:00", "2026-07-08 13:30"]))
    >>> week_start(s).dt.strftime("%Y-%m-%d").tolist()
    ['2026-06-29', '2026-07-06', '2026-07-06']
    """
    values = _naive_utc_series(timestamps)
    back = pd.to_timedelta(values.dt.day_of_week, unit="D")
    return values.dt.normalize() - back
