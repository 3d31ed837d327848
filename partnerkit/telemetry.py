"""Weekly rollups of integration sync telemetry, computed where the events live.

``sync_events`` is the one large table (10^8 rows is normal), so it never
enters pandas. Every rollup here is an ibis expression: by default DuckDB
reads the Parquet or CSV file in place, and the very same expressions run on
Spark (``ibis.pyspark.connect(session)``) or on a warehouse backend. Only the
aggregated rows (one per week and integration, a few thousand at most) come
back as a pandas DataFrame.

One query does the heavy work for a time window: the events are grouped per
(connection, week), joined to the small installs table, and grouped again per
(week, integration). From that small result pandas derives

- weekly active connections (>= 1 ok sync event in the week), for the company,
  per integration and per partner;
- sync attempts, errors and the error rate per quarter;
- the orphan events (connection_id unknown to ``installs``), which are left out
  of every rollup and reported instead.

A week that straddles a quarter boundary is split inside that query at the
boundary instant, so quarter totals stay exact while weekly counts still see
the whole week.

Events are ``(connection_id, ts, ok)``; ``ts`` is naive UTC (a timezone-aware
column is converted to UTC). Windows are half-open: ``start <= ts < end``.
Weeks start on Monday at 00:00:00. An attempt is any event, an error an event
with ``ok`` false.

DuckDB uses all cores and up to 80% of RAM by default; to bound memory pass
your own connection, e.g. ``backend=ibis.duckdb.connect(memory_limit="1GB")``.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from partnerkit.dataset import OrphanEvents

__all__ = [
    "EVENT_COLUMNS",
    "OrphanEvents",
    "TelemetryRollup",
    "TelemetryEngine",
    "open_events",
    "connection_weeks",
    "weekly_active",
    "error_rates",
    "orphan_events",
]

#: Columns a sync_events source must have.
EVENT_COLUMNS = ("connection_id", "ts", "ok")

_WEEK = pd.Timedelta(days=7)
_MONTH_ABBR = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN",
               "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_BY = (None, "integration", "partner")


# --------------------------------------------------------------------------- sources


def _is_ibis_table(obj: Any) -> bool:
    return isinstance(obj, ibis.expr.types.Table)


def _source_path_and_format(source: Any) -> tuple[Path, str]:
    """Path and format of a sync_events source (a path or an EventSource)."""
    if hasattr(source, "path") and hasattr(source, "format"):
        return Path(source.path), str(source.format).lower()
    path = Path(source)
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return path, "csv"
    if path.is_dir() or name.endswith((".parquet", ".pq")) or "*" in name:
        return path, "parquet"
    raise ValueError(
        f"cannot tell the format of sync_events source {str(path)!r}: "
        "expected a .parquet or .csv file, or a directory of Parquet files"
    )


def open_events(source: Any, backend: Any = None) -> ibis.expr.types.Table:
    """Open ``sync_events`` as an ibis table without reading it.

    Parameters
    ----------
    source : str, Path, EventSource or ibis Table
        A Parquet file, a directory or glob of Parquet files, a CSV file, a
        :class:`partnerkit.dataset.EventSource`, or an existing ibis table
        (on any backend) with the columns ``connection_id, ts, ok``.
    backend : ibis backend, optional
        Where to read a file. Defaults to a new in-process DuckDB connection.
        Ignored for an ibis table, which stays on its own backend.

    Returns
    -------
    ibis Table
        Exactly ``connection_id`` (string), ``ts`` (naive UTC timestamp) and
        ``ok`` (boolean). Nothing has been executed.

    Raises
    ------
    ValueError
        If the format cannot be told from the path or a column is missing.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "sync_events.csv"
    >>> _ = path.write_text("connection_id,ts,ok\\n007,2026-01-05T09:30:00Z,true\\n")
    >>> events = open_events(path)
    >>> events.schema()
    ibis.Schema {
      connection_id  string
      ts             timestamp
      ok             boolean
    }
    >>> events.to_pandas().connection_id.tolist()
    ['007']
    """
    if _is_ibis_table(source):
        return _canonical_events(source)
    path, fmt = _source_path_and_format(source)
    if backend is None:
        backend = ibis.duckdb.connect()
    name = getattr(backend, "name", "")
    if fmt == "parquet":
        target = str(path)
        if path.is_dir() and name == "duckdb":
            target = str(path / "**" / "*.parquet")
        table = backend.read_parquet(target)
    elif fmt == "csv":
        # Read every column as text and cast explicitly: type sniffing would
        # turn connection id "007" into the number 7.
        if name == "duckdb":
            table = backend.read_csv(str(path), all_varchar=True)
        elif name == "pyspark":
            table = backend.read_csv(str(path), inferSchema=False)
        else:
            table = backend.read_csv(str(path))
    else:
        raise ValueError(f"sync_events format must be 'parquet' or 'csv', got {fmt!r}")
    return _canonical_events(table, source=str(path))


def _canonical_events(table: ibis.expr.types.Table, source: str = "sync_events"):
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
    connection_id = table.connection_id
    if not connection_id.type().is_string():
        connection_id = connection_id.cast("string")
    ts = table.ts
    if ts.type().is_string():
        # Text may carry an offset ("...Z", "+02:00"): parse it as an
        # instant first, then take the UTC wall clock.
        ts = ts.cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
    elif ts.type().is_timestamp() and ts.type().timezone is not None:
        ts = ts.cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
    elif not ts.type().is_timestamp():
        ts = ts.cast(dt.Timestamp())
    ok = table.ok
    if not ok.type().is_boolean():
        ok = ok.cast("boolean")
    return table.select(connection_id=connection_id, ts=ts, ok=ok)


# --------------------------------------------------------------------------- windows


def _naive_utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _window(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` from timestamps or from period objects.

    ``start`` may be anything with a ``.start`` (a quarter) and ``end``
    anything with an ``.end_exclusive``; with ``end=None`` the window is the
    period ``start`` itself.
    """
    if end is None:
        if not hasattr(start, "end_exclusive"):
            raise ValueError("end is required unless start is a period with .end_exclusive")
        end = start.end_exclusive
    lo = _naive_utc(getattr(start, "start", start))
    hi = _naive_utc(getattr(end, "end_exclusive", end))
    if not lo < hi:
        raise ValueError(f"empty window: start {lo} is not before end {hi}")
    return lo, hi


def _monday(ts: pd.Timestamp) -> pd.Timestamp:
    day = ts.normalize()
    return day - pd.Timedelta(days=day.day_of_week)


def _quarter_freq(fiscal_year_start_month: int) -> str:
    if not isinstance(fiscal_year_start_month, int) or not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(
            f"fiscal_year_start_month must be 1-12, got {fiscal_year_start_month!r}"
        )
    # pandas names a fiscal quarter by the month its year ends in.
    return "Q-" + _MONTH_ABBR[(fiscal_year_start_month - 2) % 12]


def _quarters(lo: pd.Timestamp, hi: pd.Timestamp, freq: str) -> pd.PeriodIndex:
    last = hi - pd.Timedelta(microseconds=1)
    return pd.period_range(lo.to_period(freq), last.to_period(freq), freq=freq)


def _weeks(lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DatetimeIndex:
    last = hi - pd.Timedelta(microseconds=1)
    return pd.date_range(_monday(lo), _monday(last), freq="7D")


def _ts_literal(value: pd.Timestamp):
    return ibis.literal(value.to_pydatetime(), type=dt.Timestamp())


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TelemetryRollup:
    """The aggregated telemetry of one window, ready for pandas.

    Built by :meth:`TelemetryEngine.rollup` from one query. ``cells`` holds
    one row per (week, integration) for known connections and one row per
    (week, unknown connection id) for orphans.

    Attributes
    ----------
    start, end : Timestamp
        The window ``[start, end)``.
    quarters : PeriodIndex
        The quarters overlapping the window.
    cells : DataFrame
        Columns ``week, integration_id, partner_id, known, orphan_id,
        connections, active_connections, attempts, errors, ok_events,
        tail_attempts, tail_errors``; ``tail_*`` count the events of a week
        that fall after a quarter boundary inside it.
    integrations : DataFrame
        ``integration_id, partner_id`` of every integration a per-integration
        or per-partner rollup should list, even with no events.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    quarters: pd.PeriodIndex
    cells: pd.DataFrame
    integrations: pd.DataFrame = field(repr=False)

    # ------------------------------------------------------------------ building blocks

    @property
    def _known(self) -> pd.DataFrame:
        return self.cells[self.cells["known"]]

    def _keys(self, by: str | None) -> list[str]:
        if by not in _BY:
            raise ValueError(f"by must be None, 'integration' or 'partner', got {by!r}")
        if by == "integration":
            return ["integration_id", "partner_id"]
        if by == "partner":
            return ["partner_id"]
        return []

    def _scopes(self, keys: list[str]) -> pd.DataFrame:
        observed = self._known[keys]
        scopes = pd.concat([self.integrations[keys], observed], ignore_index=True)
        return scopes.drop_duplicates().sort_values(keys, na_position="last").reset_index(drop=True)

    def _grid(self, keys: list[str], periods: pd.DataFrame) -> pd.DataFrame:
        if not keys:
            return periods
        return periods.merge(self._scopes(keys), how="cross")

    # ------------------------------------------------------------------ rollups

    def weekly_active(self, by: str | None = None) -> pd.DataFrame:
        """Connections with at least one ok sync event, per week.

        Parameters
        ----------
        by : {None, "integration", "partner"}
            ``None`` for the company; otherwise one row per week and
            integration (with its partner_id) or per week and partner.

        Returns
        -------
        DataFrame
            ``week`` (Monday 00:00), ``quarter`` (label of the quarter of
            which this is a full week, lying wholly inside the window; missing
            for a week cut by a quarter boundary or by the window),
            the scope columns, ``active_connections``,
            ``connections_with_events``, ``attempts``, ``errors``. Every week
            overlapping the window is listed, with zeros when it had no events.
        """
        keys = self._keys(by)
        known = self._known
        sums = (
            known.groupby(["week", *keys], dropna=False)[
                ["active_connections", "connections", "attempts", "errors"]
            ]
            .sum()
            .reset_index()
            .rename(columns={"connections": "connections_with_events"})
        )
        weeks = _weeks(self.start, self.end)
        frame = pd.DataFrame({"week": weeks.astype("datetime64[ns]")})
        freq = self.quarters.freq
        labels = []
        for monday in weeks:
            sunday_end = monday + _WEEK
            q_first = monday.to_period(freq)
            q_last = (sunday_end - pd.Timedelta(microseconds=1)).to_period(freq)
            inside = monday >= self.start and sunday_end <= self.end
            labels.append(str(q_first) if q_first == q_last and inside else pd.NA)
        frame["quarter"] = pd.array(labels, dtype="string")
        grid = self._grid(keys, frame)
        sums["week"] = sums["week"].astype("datetime64[ns]")
        out = grid.merge(sums, on=["week", *keys], how="left")
        counts = ["active_connections", "connections_with_events", "attempts", "errors"]
        out[counts] = out[counts].fillna(0).astype("int64")
        return out.sort_values(["week", *keys], na_position="last").reset_index(drop=True)

    def error_rates(self, by: str | None = None) -> pd.DataFrame:
        """Sync attempts, errors and error rate per quarter.

        Parameters
        ----------
        by : {None, "integration", "partner"}
            Scope, as in :meth:`weekly_active`.

        Returns
        -------
        DataFrame
            ``quarter`` (label), ``start`` and ``end_exclusive`` (the part of
            the quarter inside the window), the scope columns, ``attempts``,
            ``errors`` (events with ``ok`` false) and ``error_rate``
            (``errors / attempts``; NaN when there were no attempts).
        """
        keys = self._keys(by)
        cells = self._known
        freq = self.quarters.freq
        # Events before a quarter boundary inside a week belong to the quarter
        # of the week's first counted instant; the tail to the next quarter.
        head_quarter = cells["week"].where(cells["week"] >= self.start, self.start)
        tail_quarter = cells["week"] + pd.Timedelta(days=6)
        head = pd.DataFrame({
            "quarter": head_quarter.dt.to_period(freq),
            **{k: cells[k] for k in keys},
            "attempts": cells["attempts"] - cells["tail_attempts"],
            "errors": cells["errors"] - cells["tail_errors"],
        })
        tail = pd.DataFrame({
            "quarter": tail_quarter.dt.to_period(freq),
            **{k: cells[k] for k in keys},
            "attempts": cells["tail_attempts"],
            "errors": cells["tail_errors"],
        })
        parts = pd.concat([head, tail], ignore_index=True)
        sums = parts.groupby(["quarter", *keys], dropna=False)[["attempts", "errors"]].sum().reset_index()
        frame = pd.DataFrame({"quarter": self.quarters})
        frame["start"] = [max(q.start_time, self.start) for q in self.quarters]
        frame["end_exclusive"] = [
            min((q + 1).start_time, self.end) for q in self.quarters
        ]
        frame["start"] = frame["start"].astype("datetime64[ns]")
        frame["end_exclusive"] = frame["end_exclusive"].astype("datetime64[ns]")
        out = self._grid(keys, frame).merge(sums, on=["quarter", *keys], how="left")
        out[["attempts", "errors"]] = out[["attempts", "errors"]].fillna(0).astype("int64")
        out["error_rate"] = (out["errors"] / out["attempts"].where(out["attempts"] > 0)).astype("float64")
        out["quarter"] = out["quarter"].astype(str).astype("string")
        return out.sort_values(["start", *keys], na_position="last").reset_index(drop=True)

    @property
    def orphans(self) -> OrphanEvents:
        """Events of the window whose connection is unknown to ``installs``."""
        cells = self.cells[~self.cells["known"]]
        ids = sorted(set(cells["orphan_id"].dropna().tolist()))
        missing = int(cells.loc[cells["orphan_id"].isna(), "attempts"].sum())
        return OrphanEvents(int(cells["attempts"].sum()), tuple(ids), missing)


# --------------------------------------------------------------------------- engine


class TelemetryEngine:
    """Telemetry rollups over ``sync_events`` on any ibis backend.

    Parameters
    ----------
    events : str, Path, EventSource or ibis Table
        The sync events (see :func:`open_events`).
    installs : DataFrame
        ``connection_id, integration_id`` (other columns are ignored). Small:
        it is sent to the engine and joined there.
    integrations : DataFrame, optional
        ``integration_id, partner_id``; needed for per-partner rollups and to
        list integrations that had no events.
    backend : ibis backend, optional
        Where the events are read and the queries run, e.g.
        ``ibis.pyspark.connect(spark)``. Defaults to the backend of an ibis
        table, else a new in-process DuckDB connection.

    Examples
    --------
    >>> import pandas as pd, ibis
    >>> events = ibis.memtable(pd.DataFrame({
    ...     "connection_id": ["c1", "c1", "c2", "zz"],
    ...     "ts": pd.to_datetime(["2026-03-30 08:00", "2026-04-01 08:00",
    ...                           "2026-04-02 09:00", "2026-04-02 10:00"]),
    ...     "ok": [False, True, False, True],
    ... }))
    >>> installs = pd.DataFrame({"connection_id": ["c1", "c2"],
    ...                          "integration_id": ["i1", "i1"]})
    >>> engine = TelemetryEngine(events, installs)
    >>> roll = engine.rollup("2026-03-30", "2026-04-06")
    >>> roll.weekly_active()[["week", "active_connections", "attempts"]]
            week  active_connections  attempts
    0 2026-03-30                   1         3
    >>> roll.error_rates()[["quarter", "attempts", "errors", "error_rate"]]
      quarter  attempts  errors  error_rate
    0  2026Q1         1       1         1.0
    1  2026Q2         2       1         0.5
    >>> roll.orphans
    OrphanEvents(events=1, connection_ids=('zz',), missing_id_events=0)
    """

    def __init__(
        self,
        events: Any,
        installs: pd.DataFrame,
        integrations: pd.DataFrame | None = None,
        *,
        backend: Any = None,
    ) -> None:
        if _is_ibis_table(events):
            self.backend = backend if backend is not None else ibis.get_backend(events)
        else:
            self.backend = backend if backend is not None else ibis.duckdb.connect()
        self.events = open_events(events, self.backend)
        self.connections = _connection_map(installs, integrations)
        self.integrations = _integration_scopes(self.connections, integrations)
        self._has_partners = integrations is not None
        # Sent to the engine once; a few columns of the small installs table.
        self._known = ibis.memtable(self.connections.assign(known=True))
        self._rollups: dict[tuple, TelemetryRollup] = {}

    # ------------------------------------------------------------------ expressions

    def _window_events(self, lo: pd.Timestamp, hi: pd.Timestamp):
        e = self.events
        return e.filter(e.ts >= _ts_literal(lo), e.ts < _ts_literal(hi))

    def connection_weeks_expr(
        self, start: Any, end: Any = None, *, quarter_boundaries: tuple = ()
    ) -> ibis.expr.types.Table:
        """The (connection, week) aggregate as an unexecuted ibis expression.

        Parameters
        ----------
        start, end
            The window ``[start, end)``.
        quarter_boundaries : tuple of Timestamp
            Instants inside the window at which a week is split: events at or
            after such an instant but in the same week are counted again in
            ``tail_attempts`` / ``tail_errors``.

        Returns
        -------
        ibis Table
            ``connection_id, week, attempts, errors, ok_events,
            tail_attempts, tail_errors``; all connections, known or not.
        """
        lo, hi = _window(start, end)
        e = self._window_events(lo, hi)
        tail_terms = [
            (e.ts >= _ts_literal(b)) & (e.ts < _ts_literal(_monday(b) + _WEEK))
            for b in quarter_boundaries
            if b != _monday(b)
        ]
        tail = functools.reduce(operator.or_, tail_terms) if tail_terms else ibis.literal(False)
        e = e.mutate(week=e.ts.truncate("W"), tail=tail)
        return e.group_by(["connection_id", "week"]).aggregate(
            attempts=e.count(),
            errors=e.count(where=~e.ok),
            ok_events=e.count(where=e.ok),
            tail_attempts=e.count(where=e.tail),
            tail_errors=e.count(where=e.tail & ~e.ok),
        )

    def rollup_expr(self, start: Any, end: Any = None, *, fiscal_year_start_month: int = 1):
        """The single query behind :meth:`rollup`, unexecuted.

        Returns
        -------
        ibis Table
            One row per (week, integration) for known connections and per
            (week, unknown connection id) for orphans; see
            :class:`TelemetryRollup`.
        """
        lo, hi = _window(start, end)
        freq = _quarter_freq(fiscal_year_start_month)
        boundaries = tuple(q.start_time for q in _quarters(lo, hi, freq)[1:])
        cw = self.connection_weeks_expr(lo, hi, quarter_boundaries=boundaries)
        joined = cw.left_join(self._known, "connection_id")
        known = joined.known.notnull()
        joined = joined.mutate(
            known=known,
            orphan_id=ibis.ifelse(known, ibis.null(dt.string), joined.connection_id),
            active=joined.ok_events > 0,
        )
        return joined.group_by(["week", "integration_id", "partner_id", "known", "orphan_id"]).aggregate(
            connections=joined.count(),
            active_connections=joined.count(where=joined.active),
            attempts=joined.attempts.sum(),
            errors=joined.errors.sum(),
            ok_events=joined.ok_events.sum(),
            tail_attempts=joined.tail_attempts.sum(),
            tail_errors=joined.tail_errors.sum(),
        )

    # ------------------------------------------------------------------ execution

    def rollup(self, start: Any, end: Any = None, *, fiscal_year_start_month: int = 1) -> TelemetryRollup:
        """Run the rollup query for ``[start, end)`` (once; later calls reuse it).

        Parameters
        ----------
        start, end : timestamp-like or period
            The window. ``start`` may be a quarter object (anything with
            ``.start``/``.end_exclusive``); ``end`` may be a quarter too, in
            which case the window runs to its ``end_exclusive``.
        fiscal_year_start_month : int, default 1
            Month the fiscal year starts in; 1 gives calendar quarters.

        Returns
        -------
        TelemetryRollup
        """
        lo, hi = _window(start, end)
        key = (lo, hi, fiscal_year_start_month)
        if key not in self._rollups:
            freq = _quarter_freq(fiscal_year_start_month)
            cells = self.backend.execute(
                self.rollup_expr(lo, hi, fiscal_year_start_month=fiscal_year_start_month)
            )
            self._rollups[key] = TelemetryRollup(
                start=lo,
                end=hi,
                quarters=_quarters(lo, hi, freq),
                cells=_tidy_cells(cells),
                integrations=self.integrations,
            )
        return self._rollups[key]

    def connection_weeks(self, start: Any, end: Any = None) -> pd.DataFrame:
        """One row per (known connection, week) with events in ``[start, end)``.

        A drill-down: it returns one row per active connection-week, so use
        the rollups for company or partner totals.

        Returns
        -------
        DataFrame
            ``connection_id, integration_id, partner_id, week, attempts,
            errors, ok_events``, sorted by connection_id and week. Orphan
            events are excluded (see :meth:`orphan_events`).
        """
        lo, hi = _window(start, end)
        cw = self.connection_weeks_expr(lo, hi)
        joined = cw.join(self._known, "connection_id")
        expr = joined.select(
            "connection_id", "integration_id", "partner_id", "week",
            "attempts", "errors", "ok_events",
        ).order_by(["connection_id", "week"])
        out = self.backend.execute(expr)
        out["week"] = pd.to_datetime(out["week"]).astype("datetime64[ns]")
        for column in ("connection_id", "integration_id", "partner_id"):
            out[column] = out[column].astype("string")
        for column in ("attempts", "errors", "ok_events"):
            out[column] = out[column].astype("int64")
        return out.reset_index(drop=True)

    def weekly_active(self, start: Any, end: Any = None, *, by: str | None = None) -> pd.DataFrame:
        """Weekly active connections; see :meth:`TelemetryRollup.weekly_active`."""
        self._check_by(by)
        return self.rollup(start, end).weekly_active(by)

    def error_rates(
        self, start: Any, end: Any = None, *, by: str | None = None, fiscal_year_start_month: int = 1
    ) -> pd.DataFrame:
        """Error rate per quarter; see :meth:`TelemetryRollup.error_rates`."""
        self._check_by(by)
        return self.rollup(start, end, fiscal_year_start_month=fiscal_year_start_month).error_rates(by)

    def orphan_events(self, start: Any = None, end: Any = None) -> OrphanEvents:
        """Events whose connection_id is not in ``installs``.

        Parameters
        ----------
        start, end : optional
            A window ``[start, end)``; all events when both are omitted.

        Returns
        -------
        OrphanEvents
        """
        if start is None and end is None:
            e = self.events
        else:
            e = self._window_events(*_window(start, end))
        per_id = e.group_by("connection_id").aggregate(events=e.count())
        unknown = per_id.anti_join(self._known, "connection_id")
        found = self.backend.execute(unknown)
        ids = sorted(found["connection_id"].dropna().tolist())
        missing = int(found.loc[found["connection_id"].isna(), "events"].sum())
        return OrphanEvents(int(found["events"].sum()), tuple(ids), missing)

    def _check_by(self, by: str | None) -> None:
        if by not in _BY:
            raise ValueError(f"by must be None, 'integration' or 'partner', got {by!r}")
        if by == "partner" and not self._has_partners:
            raise ValueError("a per-partner rollup needs the integrations table (integration_id, partner_id)")


def _connection_map(installs: pd.DataFrame, integrations: pd.DataFrame | None) -> pd.DataFrame:
    missing = [c for c in ("connection_id", "integration_id") if c not in installs.columns]
    if missing:
        raise ValueError(f"installs: missing column(s) {', '.join(missing)}")
    mapping = installs[["connection_id", "integration_id"]].astype("string").drop_duplicates()
    clashes = mapping["connection_id"][mapping["connection_id"].duplicated()]
    if len(clashes):
        raise ValueError(
            "installs: connection_id maps to more than one integration_id: "
            + ", ".join(sorted(clashes.unique())[:10])
        )
    if integrations is not None:
        partners = integrations[["integration_id", "partner_id"]].astype("string").drop_duplicates("integration_id")
        mapping = mapping.merge(partners, on="integration_id", how="left")
    else:
        mapping = mapping.assign(partner_id=pd.Series(pd.NA, index=mapping.index, dtype="string"))
    return mapping.reset_index(drop=True)


def _integration_scopes(connections: pd.DataFrame, integrations: pd.DataFrame | None) -> pd.DataFrame:
    scopes = [connections[["integration_id", "partner_id"]]]
    if integrations is not None:
        scopes.append(integrations[["integration_id", "partner_id"]].astype("string"))
    return pd.concat(scopes, ignore_index=True).drop_duplicates("integration_id").reset_index(drop=True)


def _tidy_cells(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.copy()
    cells["week"] = pd.to_datetime(cells["week"]).astype("datetime64[ns]")
    for column in ("integration_id", "partner_id", "orphan_id"):
        cells[column] = cells[column].astype("string")
    cells["known"] = cells["known"].astype(bool)
    counts = ["connections", "active_connections", "attempts", "errors",
              "ok_events", "tail_attempts", "tail_errors"]
    cells[counts] = cells[counts].fillna(0).astype("int64")
    return cells


# --------------------------------------------------------------------------- functions


def connection_weeks(events, installs, start, end=None, *, integrations=None, backend=None) -> pd.DataFrame:
    """One row per (connection, week) for events in ``[start, end)``.

    Functional form of :meth:`TelemetryEngine.connection_weeks`.

    Examples
    --------
    >>> import pandas as pd, ibis
    >>> events = ibis.memtable(pd.DataFrame({
    ...     "connection_id": ["c1", "c1", "c1"],
    ...     "ts": pd.to_datetime(["2026-01-04 23:59:59", "2026-01-05 00:00:00",
    ...                           "2026-01-06 12:00:00"]),
    ...     "ok": [True, False, True],
    ... }))
    >>> installs = pd.DataFrame({"connection_id": ["c1"], "integration_id": ["i1"]})
    >>> connection_weeks(events, installs, "2026-01-01", "2026-02-01")[
    ...     ["connection_id", "week", "attempts", "errors", "ok_events"]]
      connection_id       week  attempts  errors  ok_events
    0            c1 2025-12-29         1       0          1
    1            c1 2026-01-05         2       1          1
    """
    return TelemetryEngine(events, installs, integrations, backend=backend).connection_weeks(start, end)


def weekly_active(events, installs, start, end=None, *, integrations=None, by=None, backend=None) -> pd.DataFrame:
    """Weekly active connections for ``[start, end)``.

    Functional form of :meth:`TelemetryEngine.weekly_active`; see
    :meth:`TelemetryRollup.weekly_active` for the columns.

    Examples
    --------
    ``c1`` fails on Sunday and succeeds at Monday 00:00, which opens the
    next week; ``c2`` only fails:

    >>> import pandas as pd, ibis
    >>> events = ibis.memtable(pd.DataFrame({
    ...     "connection_id": ["c1", "c1", "c2"],
    ...     "ts": pd.to_datetime(["2026-01-11 23:59:59", "2026-01-12 00:00:00",
    ...                           "2026-01-13 08:00:00"]),
    ...     "ok": [False, True, False],
    ... }))
    >>> installs = pd.DataFrame({"connection_id": ["c1", "c2"],
    ...                          "integration_id": ["i1", "i2"]})
    >>> weekly_active(events, installs, "2026-01-05", "2026-01-19")[
    ...     ["week", "quarter", "active_connections", "connections_with_events"]]
            week quarter  active_connections  connections_with_events
    0 2026-01-05  2026Q1                   0                        1
    1 2026-01-12  2026Q1                   1                        2
    """
    return TelemetryEngine(events, installs, integrations, backend=backend).weekly_active(start, end, by=by)


def error_rates(
    events, installs, start, end=None, *, integrations=None, by=None, fiscal_year_start_month=1, backend=None
) -> pd.DataFrame:
    """Sync error rate per quarter for ``[start, end)``.

    Functional form of :meth:`TelemetryEngine.error_rates`; see
    :meth:`TelemetryRollup.error_rates` for the columns.

    Examples
    --------
    The first instant of a quarter belongs to it, not to the one before:

    >>> import pandas as pd, ibis
    >>> events = ibis.memtable(pd.DataFrame({
    ...     "connection_id": ["c1", "c1", "c1"],
    ...     "ts": pd.to_datetime(["2026-03-31 23:59:59", "2026-04-01 00:00:00",
    ...                           "2026-04-01 00:00:01"]),
    ...     "ok": [True, False, True],
    ... }))
    >>> installs = pd.DataFrame({"connection_id": ["c1"], "integration_id": ["i1"]})
    >>> error_rates(events, installs, "2026-01-01", "2026-07-01")[
    ...     ["quarter", "attempts", "errors", "error_rate"]]
      quarter  attempts  errors  error_rate
    0  2026Q1         1       0         0.0
    1  2026Q2         2       1         0.5
    """
    engine = TelemetryEngine(events, installs, integrations, backend=backend)
    return engine.error_rates(start, end, by=by, fiscal_year_start_month=fiscal_year_start_month)


def orphan_events(events, installs, start=None, end=None, *, backend=None) -> OrphanEvents:
    """Events whose connection_id is unknown to ``installs``.

    Functional form of :meth:`TelemetryEngine.orphan_events`.

    Examples
    --------
    >>> import pandas as pd, ibis
    >>> events = ibis.memtable(pd.DataFrame({
    ...     "connection_id": ["c1", "x9", "x9", "a0"],
    ...     "ts": pd.to_datetime(["2026-01-05"] * 4),
    ...     "ok": [True, True, False, True],
    ... }))
    >>> installs = pd.DataFrame({"connection_id": ["c1"], "integration_id": ["i1"]})
    >>> orphan_events(events, installs)
    OrphanEvents(events=3, connection_ids=('a0', 'x9'), missing_id_events=0)
    """
    return TelemetryEngine(events, installs, backend=backend).orphan_events(start, end)
