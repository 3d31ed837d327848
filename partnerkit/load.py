"""Read a data directory into a validated :class:`~partnerkit.dataset.Dataset`.

Reading happens in three steps, so that every problem of a file is reported at
once rather than one per run:

1. the file is read as text (every cell a string, nothing guessed: ``"007"``
   stays ``"007"``), and an optional column mapping renames a real export's
   columns to the canonical ones;
2. each column is parsed by its kind (date, timestamp, bool, number); a cell
   that does not parse puts its row in quarantine;
3. the typed frame is checked by the table's pandera schema with lazy
   validation, then foreign keys are checked across tables.

Rows with problems go to the quarantine (table, 1-based data row, column,
reason) and are left out of the tables. A structural problem raises
:class:`~partnerkit.quarantine.DataError` naming the file and column. Input
files are only ever opened for reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from partnerkit.catalogue import ACTIVITY_KIND_TIERS
from partnerkit.dataset import REQUIRED_TABLES, TABLES, Dataset, EventSource
from partnerkit.quarantine import DataError, Notice, QuarantineEntry
from partnerkit.schemas import (
    COLUMNS,
    FOREIGN_KEYS,
    PRIMARY_KEYS,
    ROW_CHECK_COLUMNS,
    ColumnSpec,
    schema,
)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPREADSHEET_DATE = re.compile(r"^(\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{5}(\.\d+)?)$")
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


# --------------------------------------------------------------------------- reading


def find_table_file(data_dir: Path, table: str, mapping=None) -> Path | None:
    """Locate the file holding ``table`` in ``data_dir`` (None when absent).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "partners.csv").write_text("partner_id\\n")
    >>> find_table_file(d, "partners").name
    'partners.csv'
    >>> find_table_file(d, "renewals") is None
    True
    """
    data_dir = Path(data_dir)
    if mapping is not None:
        name = mapping.file_for(table)
        if name:
            path = data_dir / name
            return path if path.exists() else None
    found = [data_dir / f"{table}.{ext}" for ext in ("csv", "parquet")]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise DataError(f"both {found[0].name} and {found[1].name} exist; keep one",
                        file=str(data_dir))
    return found[0] if found else None


def read_raw(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with every cell as a string ('' when empty).

    The index is a RangeIndex, so the 1-based data row of a cell is its index
    plus one. Column names are stripped of surrounding white space.

    Raises
    ------
    DataError
        The file is empty, not UTF-8, not parseable, or repeats a column name.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError("file is empty (expected a header row)", file=str(path))
    if path.suffix.lower() == ".parquet":
        raw = _read_parquet_as_text(path)
    else:
        raw = _read_csv_as_text(path)
    names = [str(c).strip() for c in raw.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError("column name appears more than once", file=str(path), column=dupes[0])
    raw.columns = names
    return raw.reset_index(drop=True)


def _read_csv_as_text(path: Path) -> pd.DataFrame:
    import csv

    try:
        # utf-8-sig drops a byte-order mark; newline="" lets csv handle CRLF.
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        if not any(h.strip() for h in header):
            raise DataError("file has no header row", file=str(path))
        names = [h.strip() for h in header]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError("column name appears more than once", file=str(path),
                            column=dupes[0])
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                           encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "re-export the file as UTF-8", file=str(path)) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise DataError(f"cannot be read as CSV: {exc}", file=str(path)) from exc


def _read_parquet_as_text(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types here
        raise DataError(f"cannot be read as Parquet: {exc}", file=str(path)) from exc
    frame = table.to_pandas()
    out = {}
    for name in frame.columns:
        out[name] = _as_text(frame[name])
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _as_text(values: pd.Series) -> list[str]:
    """Turn a typed Parquet column into the strings a CSV would have held."""
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        is_date = bool((values.dropna() == values.dropna().dt.normalize()).all())
        fmt = "%Y-%m-%d" if is_date else "%Y-%m-%dT%H:%M:%S.%f"
        return ["" if pd.isna(v) else v.strftime(fmt) for v in values]
    if pd.api.types.is_bool_dtype(values):
        return ["" if pd.isna(v) else ("true" if v else "false") for v in values]
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
            out.append("")
        elif hasattr(v, "isoformat"):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return out


# --------------------------------------------------------------------------- parsing


def _parse_column(raw: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series, str]:
    """Parse one text column.

    Returns the typed values, a mask of cells that failed to parse, and the
    reason to give for them.
    """
    text = raw.astype(str).str.strip()
    empty = text == ""
    if spec.kind == "id":
        # IDs keep their exact spelling (leading zeros, case) but not stray spaces.
        return pd.Series(text.where(~empty), dtype="string"), pd.Series(False, index=raw.index), ""
    if spec.kind == "text":
        # Free text is kept verbatim (HTML included); escaping is the job of outputs.
        return pd.Series(raw.where(~empty), dtype="string"), pd.Series(False, index=raw.index), ""
    if spec.kind == "date":
        iso = text.str.match(_ISO_DATE)
        values = pd.to_datetime(text.where(iso & ~empty), format="%Y-%m-%d", errors="coerce")
        bad = ~empty & values.isna()
        spreadsheet = bad & text.str.match(_SPREADSHEET_DATE)
        reason = "unparseable date: expected YYYY-MM-DD"
        if spreadsheet.any():
            reason += " (this looks like a date re-saved by a spreadsheet)"
        return values.astype("datetime64[ns]"), bad, reason
    if spec.kind == "timestamp":
        values = _parse_timestamps(text.where(~empty))
        bad = ~empty & values.isna()
        return values, bad, "unparseable timestamp: expected ISO 8601, e.g. 2026-07-01T09:30:00Z"
    if spec.kind == "bool":
        low = text.str.lower()
        values = pd.Series(low.isin(_TRUE).to_numpy(), index=raw.index)
        bad = ~low.isin(_TRUE | _FALSE)
        # booleans are never optional here, so an empty cell is a parse failure
        return values, bad, "not a boolean: expected true or false"
    if spec.kind == "number":
        values = pd.to_numeric(text.where(~empty), errors="coerce").astype(float)
        bad = ~empty & (values.isna() | ~np.isfinite(values.fillna(0.0)))
        return values.where(~bad), bad, "not a number"
    raise ValueError(f"unknown column kind {spec.kind!r}")


def _parse_timestamps(text: pd.Series) -> pd.Series:
    """ISO 8601 strings to naive UTC timestamps (NaT where unparseable)."""
    try:
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    except (ValueError, TypeError):
        parsed = pd.Series(
            [pd.to_datetime(v, format="ISO8601", utc=True, errors="coerce") for v in text],
            index=text.index,
        )
        parsed = pd.to_datetime(parsed, utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


# --------------------------------------------------------------------------- one table


def _resolve_mapping(mapping):
    if mapping is None:
        return None
    from partnerkit.mapping import load_mapping

    return load_mapping(mapping)


def load_table(path, table: str, mapping=None) -> tuple[pd.DataFrame, list[QuarantineEntry],
                                                         list[Notice]]:
    """Read, parse and validate one canonical table.

    Parameters
    ----------
    path : str or Path
        The CSV or Parquet file.
    table : str
        Canonical table name (``"opportunities"``, ...).
    mapping : ColumnMapping, str or Path, optional
        A column mapping (preset name or YAML file) for real exports.

    Returns
    -------
    frame : pandas.DataFrame
        The valid rows, typed, with a ``row`` attribute-free RangeIndex
        replaced by the 1-based data row numbers (index name ``row``).
    quarantine : list of QuarantineEntry
        One entry per problem found.
    notices : list of Notice
        Rows kept but worth a look (e.g. an unknown activity kind).

    Raises
    ------
    DataError
        A structural problem: empty or unreadable file, missing column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "renewals.csv").write_text(
    ...     "account_id,renewal_date,arr,renewed\\n007,2026-07-01,1200,true\\n008,2026-07-02,-5,false\\n")
    >>> frame, bad, _ = load_table(d / "renewals.csv", "renewals")
    >>> frame["account_id"].tolist(), [(q.row, q.column, q.reason) for q in bad]
    (['007'], [(2, 'arr', 'arr must be >= 0 (got -5.0)')])
    """
    path = Path(path)
    mapping = _resolve_mapping(mapping)
    raw = read_raw(path)
    if mapping is not None:
        raw = mapping.apply(table, raw, file=str(path))
    frame, quarantine = _typed_frame(raw, table, path)
    frame, schema_quarantine = _validate(frame, table, path, raw)
    quarantine = _merge(quarantine, schema_quarantine)
    bad_rows = {q.row for q in quarantine}
    frame = frame.loc[~frame.index.isin(bad_rows)]
    notices = _notices(frame, table)
    return frame, quarantine, notices


def _typed_frame(raw: pd.DataFrame, table: str, path: Path):
    specs = COLUMNS[table]
    missing = [c.name for c in specs if c.name not in raw.columns and not c.nullable]
    if missing:
        raise DataError(
            f"required column is missing (found: {', '.join(map(str, raw.columns)) or 'none'})",
            file=str(path), column=missing[0])
    index = pd.RangeIndex(1, len(raw) + 1, name="row")
    typed, quarantine = {}, []
    for spec in specs:
        column = raw[spec.name] if spec.name in raw.columns else pd.Series("", index=raw.index)
        values, bad, reason = _parse_column(column, spec)
        typed[spec.name] = values.set_axis(index) if hasattr(values, "set_axis") else values
        for pos in np.flatnonzero(bad.to_numpy()):
            got = str(column.iloc[pos])
            why = f"{reason} (got {got!r})" if got.strip() else "required value is empty"
            quarantine.append(QuarantineEntry(
                table, int(pos) + 1, spec.name, why,
                file=str(path), record=_record(raw, pos)))
    frame = pd.DataFrame(typed, index=index)
    return frame, quarantine


def _record(raw: pd.DataFrame, pos: int) -> dict:
    return {str(k): v for k, v in raw.iloc[pos].items()}


def _validate(frame: pd.DataFrame, table: str, path: Path, raw: pd.DataFrame):
    try:
        schema(table).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return frame, _failures_to_quarantine(exc.failure_cases, table, path, raw)
    return frame, []


def _failures_to_quarantine(cases: pd.DataFrame, table: str, path: Path, raw: pd.DataFrame):
    out, seen = [], set()
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            # a failure of the whole column (e.g. a dtype problem) is structural
            raise DataError(f"column failed validation: {case.check}", file=str(path),
                            column=None if pd.isna(case.column) else str(case.column))
        row = int(case.index)
        check = str(case.check)
        column = case.column
        if case.schema_context == "DataFrameSchema":
            column = next((c for name, c in ROW_CHECK_COLUMNS.items()
                           if _row_check_error(table, name) == check), column)
        key = (row, column, check)
        if key in seen:
            continue
        seen.add(key)
        out.append(QuarantineEntry(table, row, None if pd.isna(column) else str(column),
                                   _reason(check, case.failure_case, column, table),
                                   file=str(path), record=_record(raw, row - 1)))
    return out


def _row_check_error(table: str, name: str) -> str | None:
    for check in schema(table).checks:
        if check.name == name:
            return check.error
    return None


def _reason(check: str, value, column, table: str) -> str:
    if check == "not_nullable":
        return "required value is empty"
    if check == "field_uniqueness":
        return f"duplicate {column} {value!r} (first occurrence kept)"
    if check.endswith(">= 0"):
        return f"{check} (got {value!r})"
    if "must be one of" in check or "role must be" in check:
        return f"{check} (got {value!r})"
    return check


def _merge(first: list[QuarantineEntry], second: list[QuarantineEntry]):
    """Parse failures win over schema failures of the same cell (the cell was emptied)."""
    parsed_cells = {(q.row, q.column) for q in first}
    merged = list(first) + [q for q in second if (q.row, q.column) not in parsed_cells]
    return sorted(merged, key=lambda q: (q.row, q.column or ""))


def _notices(frame: pd.DataFrame, table: str) -> list[Notice]:
    if table != "activities" or frame.empty:
        return []
    unknown = frame.loc[~frame["kind"].isin(list(ACTIVITY_KIND_TIERS))]
    return [Notice(table, int(row), "kind",
                   f"unknown activity kind {kind!r}: kept, but counted in no metric")
            for row, kind in unknown["kind"].items()]


# --------------------------------------------------------------------------- a directory


def load_dataset(data_dir, mapping=None, strict: bool = False,
                 tables: Iterable[str] | None = None) -> Dataset:
    """Load and validate every table of a data directory.

    Parameters
    ----------
    data_dir : str or Path
        Folder holding ``<table>.csv`` or ``<table>.parquet`` files.
    mapping : str, Path or ColumnMapping, optional
        Column mapping for real exports (``"salesforce"``, ``"hubspot"`` or a
        YAML file).
    strict : bool
        When True, any quarantined row is fatal (raises DataError).
    tables : iterable of str, optional
        Load only these tables (the required ones are always loaded).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        A missing directory, a missing required table, or a structural problem.

    Examples
    --------
    >>> ds = load_dataset("data/sample")  # doctest: +SKIP
    >>> ds.opportunities.shape  # doctest: +SKIP
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("data directory does not exist", file=str(data_dir))
    mapping = _resolve_mapping(mapping)
    wanted = set(TABLES if tables is None else tables) | set(REQUIRED_TABLES)
    loaded: dict[str, pd.DataFrame] = {}
    quarantine: list[QuarantineEntry] = []
    notices: list[Notice] = []
    files: dict[str, Path] = {}
    rows_read: dict[str, int] = {}
    events = None
    for table in TABLES:
        if table not in wanted:
            continue
        path = find_table_file(data_dir, table, mapping)
        if path is None:
            if table in REQUIRED_TABLES:
                raise DataError(f"required table {table!r} is missing "
                                f"(expected {table}.csv or {table}.parquet)", file=str(data_dir))
            continue
        files[table] = path
        if table == "sync_events":
            events = EventSource(path, "parquet" if path.suffix == ".parquet" else "csv")
            continue
        frame, bad, notes = load_table(path, table, mapping)
        rows_read[table] = len(frame) + len({q.row for q in bad})
        loaded[table] = frame
        quarantine.extend(bad)
        notices.extend(notes)
    loaded, orphans = _check_foreign_keys(loaded, files)
    quarantine.extend(orphans)
    quarantine.sort(key=lambda q: (TABLES.index(q.table), q.row, q.column or ""))
    if strict and quarantine:
        first = quarantine[0]
        raise DataError(f"{len(quarantine)} row problem(s) and --strict is set; "
                        f"first: {first.reason}", file=first.file, column=first.column,
                        rows=sorted({q.row for q in quarantine if q.table == first.table}))
    return Dataset(data_dir=data_dir, sync_events=events, quarantine=quarantine,
                   notices=notices, files=files, rows_read=rows_read,
                   **{t: loaded.get(t) for t in TABLES if t != "sync_events"})


def _check_foreign_keys(loaded: dict[str, pd.DataFrame], files: dict[str, Path]):
    """Quarantine child rows whose key has no valid parent row.

    Tables are visited parents first, so a row whose parent was itself
    quarantined is reported too (its reason says the parent is unknown).
    """
    quarantine = []
    for table in TABLES:
        frame = loaded.get(table)
        if frame is None:
            continue
        bad = pd.Series(False, index=frame.index)
        for (child, column), (parent, parent_column) in FOREIGN_KEYS.items():
            if child != table or parent not in loaded:
                continue
            known = loaded[parent][parent_column]
            orphan = ~frame[column].isin(known)
            rule = "orphan_attribution" if table == "attributions" else "orphan_key"
            for row, value in frame.loc[orphan & ~bad, column].items():
                quarantine.append(QuarantineEntry(
                    table, int(row), column, f"unknown {column} {value!r}: not in {parent}",
                    file=str(files[table]), rule=rule,
                    record={k: (None if pd.isna(v) else str(v))
                            for k, v in frame.loc[row].items()}))
            bad |= orphan
        loaded[table] = frame.loc[~bad]
    return loaded, quarantine


def primary_key(table: str) -> str | None:
    """The unique id column of a table, if it has one.

    Examples
    --------
    >>> primary_key("opportunities")
    'opportunity_id'
    >>> primary_key("attributions") is None
    True
    """
    return PRIMARY_KEYS.get(table)
