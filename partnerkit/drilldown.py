"""Drill-downs: the records behind every headline number, as safe CSV files.

Every :class:`~partnerkit.kpis.MetricValue` carries the ids of the records
behind it. A drill-down turns those ids back into the rows of the input table
they came from (with the 1-based data row of the file), so that finance can
open one CSV per number and check it line by line.

Which table a metric's records come from is read from the data: the ids are
looked up in the id column of each table, and the table of the metric's
source system (catalogue ``source``) breaks ties and covers empty record
lists. Deals also get their attribution bucket and sourcing partner.

CSV files are opened in spreadsheets, which run a cell starting with ``=``,
``+``, ``-`` or ``@`` as a formula. Text cells starting like that (or with a
tab or carriage return) are prefixed with a single quote; numbers, negative
ones included, stay numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from partnerkit.catalogue import CATALOGUE, metric
from partnerkit.periods import Quarter
from partnerkit.schemas import COLUMNS

#: Table -> the column holding the id a metric's records name.
RECORD_COLUMNS = {
    "partners": "partner_id",
    "activities": "activity_id",
    "integrations": "integration_id",
    "installs": "connection_id",
    "opportunities": "opportunity_id",
    "renewals": "account_id",
}
#: Tables whose record id is not unique: only the rows dated in the quarter are meant.
QUARTER_COLUMNS = {"renewals": "renewal_date"}
#: Source system of the catalogue -> the table its records live in.
SOURCE_TABLES = {
    "partner agreements": "partners",
    "CRM activities": "activities",
    "integration project tracker": "integrations",
    "product analytics": "installs",
    "sync telemetry": "installs",
    "sync telemetry and product analytics": "installs",
    "CRM partner-source field": "opportunities",
    "CRM": "opportunities",
    "billing and product analytics": "renewals",
}
#: Attribution columns added to deals.
DEAL_COLUMNS = ["bucket", "sourcing_partner", "first_influence_date"]

#: Columns holding instants (written back with their time and a ``Z``), not days.
TIMESTAMP_COLUMNS = {c.name for specs in COLUMNS.values() for c in specs if c.kind == "timestamp"}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """Make one cell safe to open in a spreadsheet.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading single quote, so that it is shown, not run as a formula.
    Anything that is not text (numbers, dates, missing values) is returned
    unchanged.

    Examples
    --------
    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("-2+3")
    "'-2+3"
    >>> neutralise_cell(-2.5)
    -2.5
    >>> neutralise_cell("Acme")
    'Acme'
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise every text cell of a frame (numbers are left as they are).

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    DataFrame
        A copy; text and object columns pass through :func:`neutralise_cell`,
        as do the column names.

    Examples
    --------
    >>> frame = pd.DataFrame({"name": ["@SUM(A1)", "ok"], "amount": [-5.0, 3.0]})
    >>> neutralise_frame(frame).values.tolist()
    [["'@SUM(A1)", -5.0], ['ok', 3.0]]
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object:
            # text mixed with other values: cell by cell, the others left as they are
            out[column] = values.map(neutralise_cell, na_action="ignore")
        elif pd.api.types.is_string_dtype(values):
            risky = values.str.startswith(_FORMULA_START).fillna(False).astype(bool)
            if risky.any():
                out[column] = values.where(~risky, "'" + values)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def table_ids(dataset) -> dict[str, tuple[pd.Series, set]]:
    """Each table's id column as text, and the set of its ids.

    What :func:`record_table` and :func:`drilldown_frame` look ids up in:
    built once for a set of drill-downs rather than once per metric.

    Examples
    --------
    >>> from partnerkit.dataset import Dataset
    >>> ds = Dataset(data_dir=".", partners=pd.DataFrame({"partner_id": ["P1", "P2"]}),
    ...              opportunities=pd.DataFrame({"opportunity_id": ["O1"]}))
    >>> sorted(table_ids(ds)["partners"][1])
    ['P1', 'P2']
    """
    out = {}
    for table, column in RECORD_COLUMNS.items():
        frame = dataset.table(table)
        if frame is not None and column in frame.columns:
            text = frame[column].astype(str)
            out[table] = (text, set(text))
    return out


def record_table(dataset, metric_id: str, records, ids_of=None) -> str | None:
    """The table a metric's records come from.

    Parameters
    ----------
    dataset : Dataset
    metric_id : str
        Catalogue id.
    records : list of str
        The ids behind the metric's value.
    ids_of : dict, optional
        :func:`table_ids` of ``dataset``, when already built.

    Returns
    -------
    str or None
        A table name of :data:`RECORD_COLUMNS`; None when no loaded table
        holds every id (and the source system names no loaded table).

    Examples
    --------
    >>> from partnerkit.dataset import Dataset
    >>> ds = Dataset(data_dir=".", partners=pd.DataFrame({"partner_id": ["P1"]}),
    ...              opportunities=pd.DataFrame({"opportunity_id": ["O1", "O2"]}))
    >>> record_table(ds, "win_rate_sourced", ["O2"])
    'opportunities'
    >>> record_table(ds, "sourced_pipeline", [])
    'opportunities'
    """
    preferred = SOURCE_TABLES.get(metric(metric_id).source)
    ids = set(map(str, records))
    candidates = []
    if ids:
        ids_of = table_ids(dataset) if ids_of is None else ids_of
        candidates = [table for table, (_, known) in ids_of.items() if ids <= known]
    if candidates:
        return preferred if preferred in candidates else candidates[0]
    if not ids and preferred is not None and dataset.table(preferred) is not None:
        return preferred
    return None


def drilldown_frame(kpis, q, metric_id: str, scope: str = "all", value=None,
                    ids_of=None) -> pd.DataFrame:
    """The rows behind one metric, with every column of their input table.

    Parameters
    ----------
    kpis : Kpis
    q : str or Quarter
    metric_id : str
        Catalogue id.
    scope : str
        ``"all"`` or a partner id.
    value : MetricValue, optional
        An already computed value (saves recomputing it).
    ids_of : dict, optional
        :func:`table_ids` of the data set, when already built.

    Returns
    -------
    DataFrame
        ``row`` (1-based data row of the input file) followed by the table's
        columns; deals also carry ``bucket, sourcing_partner,
        first_influence_date``. When the ids match no table, a single
        ``record_id`` column.
    """
    q = kpis.quarter(q)
    if value is None:
        value = kpis.compute(q, scope, [metric_id])[metric_id]
    records = [str(r) for r in value.records]
    if ids_of is None:
        ids_of = table_ids(kpis.dataset)
    table = record_table(kpis.dataset, metric_id, records, ids_of)
    if table is None:
        return pd.DataFrame({"record_id": pd.Series(records, dtype="string")})
    frame = kpis.dataset.table(table)
    column = RECORD_COLUMNS[table]
    rows = frame.loc[ids_of[table][0].isin(records)]
    if table in QUARTER_COLUMNS:
        rows = rows.loc[q.contains_date(rows[QUARTER_COLUMNS[table]])]
    rows = rows.reset_index()
    if table == "opportunities":
        deals = kpis.attribution.deals
        extra = deals.set_index(deals["opportunity_id"].astype(str))[DEAL_COLUMNS]
        rows = rows.join(extra, on=column)
    return rows.sort_values(["row"]).reset_index(drop=True)


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Formula-safe cells, then dates as ISO text and booleans as true/false.

    Neutralised first: the dates and booleans written as text never start like
    a formula, so only the input's own text is looked at.
    """
    out = neutralise_frame(frame)
    # positions, not names: neutralising may have renamed a column
    for i, original in enumerate(frame.columns):
        values = out.iloc[:, i]
        if pd.api.types.is_bool_dtype(values):
            # the canonical CSV spelling, so a drill-down reads like the input it came from
            out.isetitem(i, values.map({True: "true", False: "false"}))
        elif pd.api.types.is_datetime64_any_dtype(values):
            fmt = "%Y-%m-%dT%H:%M:%SZ" if original in TIMESTAMP_COLUMNS else "%Y-%m-%d"
            out.isetitem(i, values.dt.strftime(fmt).astype("object").where(values.notna(), None))
    return out


def write_drilldowns(kpis, q, out_dir, scope: str = "all", metrics=None) -> list[Path]:
    """Write ``<metric_id>.csv`` for every (or the named) metric of the catalogue.

    Parameters
    ----------
    kpis : Kpis
    q : str or Quarter
    out_dir : path
        Created if missing.
    scope : str
        ``"all"`` or a partner id.
    metrics : list of str, optional
        Default: every catalogue metric.

    Returns
    -------
    list of Path
        The files written, in catalogue order.
    """
    q = kpis.quarter(q) if not isinstance(q, Quarter) else q
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = list(metrics or CATALOGUE)
    values = kpis.compute(q, scope, ids)
    ids_of = table_ids(kpis.dataset)
    written = []
    for metric_id in ids:
        frame = drilldown_frame(kpis, q, metric_id, scope, value=values[metric_id],
                                ids_of=ids_of)
        path = out_dir / f"{metric_id}.csv"
        _csv_ready(frame).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written
