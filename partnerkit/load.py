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
from partnerkit.dataset import REQUIRED_TABLES, TABLES, Dataset, EventSource, is_known
from partnerkit.quarantine import DataError, Notice, QuarantineEntry
from partnerkit.schemas import (
    COLUMNS,
    FOREIGN_KEYS,
    PRIMARY_KEYS,
    ROW_CHECK_COLUMNS,
    ColumnSpec,
    schema,
)


#: Rule of rows a column mapping leaves out on purpose (not errors, so --strict ignores them).
EXCLUDED_BY_MAPPING = "excluded_by_mapping"

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

    The index counts data rows from 0, so the 1-based data row of a cell is its
    index plus one; blank lines are left out but keep their numbers. Column
    names are stripped of surrounding white space; unnamed columns are dropped.

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
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def _read_csv_as_text(path: Path) -> pd.DataFrame:
    import csv

    try:
        # utf-8-sig drops a byte-order mark; newline="" lets csv handle CRLF.
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        if not any(h.strip() for h in header):
            raise DataError("file has no header row", file=str(path))
        _check_header(header, path)
        # blank lines are read as empty rows (then dropped) so that row numbers
        # stay those an editor shows
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                          encoding="utf-8-sig", skip_blank_lines=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "re-export the file as UTF-8", file=str(path)) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        message = " ".join(str(exc).split())
        raise DataError(f"cannot be read as CSV: {message}", file=str(path)) from exc
    # columns without a name are spreadsheet leftovers, not data
    raw = raw.loc[:, [bool(h.strip()) for h in header]] if len(header) == raw.shape[1] else raw
    blank = (raw == "").all(axis=1)
    return raw.loc[~blank]


def _check_header(names, path: Path) -> None:
    names = [str(n).strip() for n in names if str(n).strip()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError("column name appears more than once", file=str(path), column=dupes[0])


def _read_parquet_as_text(path: Path) -> pd.DataFrame:
    import pyarrow as pa_arrow
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several unrelated types here
        message = " ".join(str(exc).split())
        raise DataError(f"cannot be read as Parquet: {message}", file=str(path)) from exc
    _check_header(names, path)
    table = pq.read_table(path)
    out = {}
    for name, column in zip(table.column_names, table.columns):
        if pa_arrow.types.is_integer(column.type) or pa_arrow.types.is_string(column.type) \
                or pa_arrow.types.is_large_string(column.type):
            # cast in Arrow: going through pandas would turn nullable ints into floats
            text = pc.fill_null(pc.cast(column, pa_arrow.string()), "")
            out[name] = text.to_pylist()
        else:
            out[name] = _as_text(column.to_pandas())
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows))


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
    if spec.kind == "label":
        # categories compare exactly, so stray spaces would make 'sourced ' unknown
        return pd.Series(text.where(~empty), dtype="string"), pd.Series(False, index=raw.index), ""
    if spec.kind == "text":
        # Free text is kept verbatim (HTML included); escaping is the job of outputs.
        return pd.Series(raw.where(~empty), dtype="string"), pd.Series(False, index=raw.index), ""
    if spec.kind == "date":
        iso = text.str.match(_ISO_DATE)
        values = pd.to_datetime(text.where(iso & ~empty), format="%Y-%m-%d", errors="coerce")
        values, out_of_range = _to_ns(values)
        bad = ~empty & values.isna()
        reason = pd.Series("unparseable date: expected YYYY-MM-DD", index=raw.index)
        reason[text.str.match(_SPREADSHEET_DATE)] = (
            "unparseable date: expected YYYY-MM-DD (this looks like a date re-saved by a "
            "spreadsheet)")
        reason[out_of_range] = f"date out of the supported range {_RANGE}"
        return values, bad, reason
    if spec.kind == "timestamp":
        values, out_of_range = _parse_timestamps(text.where(~empty))
        bad = ~empty & values.isna()
        reason = pd.Series("unparseable timestamp: expected ISO 8601, e.g. 2026-07-01T09:30:00Z",
                           index=raw.index)
        reason[out_of_range] = f"timestamp out of the supported range {_RANGE}"
        return values, bad, reason
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


_RANGE = f"{pd.Timestamp.min:%Y-%m-%d} to {pd.Timestamp.max:%Y-%m-%d}"


def _to_ns(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Nanosecond datetimes; values outside their range become NaT and are flagged."""
    lo, hi = pd.Timestamp.min.as_unit("us"), pd.Timestamp.max.as_unit("us")
    if values.dtype == "datetime64[ns]":
        return values, pd.Series(False, index=values.index)
    values = values.astype("datetime64[us]") if str(values.dtype) != "datetime64[us]" else values
    out_of_range = values.notna() & ((values < lo) | (values > hi))
    return values.where(~out_of_range).astype("datetime64[ns]"), out_of_range


def _parse_timestamps(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 strings to naive UTC timestamps (NaT where unparseable)."""
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    present = text.notna()
    if present.any():
        try:
            values = pd.to_datetime(text[present], format="ISO8601", utc=True, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            values = pd.Series([_one_timestamp(v) for v in text[present]],
                               index=text[present].index, dtype="datetime64[us, UTC]")
        parsed[present] = values.dt.tz_localize(None).astype("datetime64[us]")
    return _to_ns(parsed)


def _one_timestamp(value: str):
    try:
        return pd.Timestamp(value).tz_localize("UTC") if pd.Timestamp(value).tzinfo is None \
            else pd.Timestamp(value).tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


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
    excluded: list[QuarantineEntry] = []
    if mapping is not None:
        # rows the mapping says are not records of this table (deleted, not yet due)
        excluded = mapping.exclusions(table, raw, file=str(path))
        raw = mapping.apply(table, raw, file=str(path))
        raw = raw.loc[~(raw.index + 1).isin([e.row for e in excluded])]
    # row numbers are 1-based data rows from here on
    raw = raw.set_axis(pd.Index(raw.index + 1, name="row"))
    frame, quarantine = _typed_frame(raw, table, path)
    quarantine = _merge(quarantine, _validate(frame, table, path, raw))
    quarantine += _duplicates(frame, table, path, raw, {q.row for q in quarantine})
    bad_rows = {q.row for q in quarantine}
    frame = frame.loc[~frame.index.isin(bad_rows)]
    quarantine = sorted(quarantine + excluded, key=lambda q: (q.row, q.column or ""))
    return frame, quarantine, _notices(frame, table)


def _typed_frame(raw: pd.DataFrame, table: str, path: Path):
    specs = COLUMNS[table]
    missing = [c.name for c in specs if c.name not in raw.columns and not c.nullable]
    if missing:
        raise DataError(
            f"required column is missing (found: {', '.join(map(str, raw.columns)) or 'none'})",
            file=str(path), column=missing[0])
    typed, quarantine = {}, []
    for spec in specs:
        column = raw[spec.name] if spec.name in raw.columns else pd.Series("", index=raw.index)
        values, bad, reasons = _parse_column(column, spec)
        typed[spec.name] = values
        for row in bad.index[bad.to_numpy()]:
            got = str(column.loc[row])
            reason = reasons if isinstance(reasons, str) else reasons.loc[row]
            why = f"{reason} (got {got!r})" if got.strip() else "required value is empty"
            quarantine.append(QuarantineEntry(table, int(row), spec.name, why, file=str(path),
                                              record=_record(raw, row)))
    return pd.DataFrame(typed, index=raw.index), quarantine


def _record(raw: pd.DataFrame, row: int) -> dict:
    return {str(k): v for k, v in raw.loc[row].items()}


def _duplicates(frame, table, path, raw, already_bad: set[int]) -> list[QuarantineEntry]:
    """Later rows repeating the id of a kept row (rows rejected for other reasons don't count)."""
    key = PRIMARY_KEYS.get(table)
    if key is None:
        return []
    candidates = frame.loc[~frame.index.isin(already_bad) & frame[key].notna(), key]
    first_row = candidates.reset_index().drop_duplicates(key).set_index(key)["row"]
    repeated = candidates[candidates.duplicated(keep="first")]
    return [QuarantineEntry(table, int(row), key,
                            f"duplicate {key} {value!r}: row {int(first_row[value])} already has it "
                            "(the first is kept)", file=str(path), record=_record(raw, row))
            for row, value in repeated.items()]


def _validate(frame: pd.DataFrame, table: str, path: Path, raw: pd.DataFrame):
    try:
        schema(table).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _failures_to_quarantine(exc.failure_cases, table, path, raw)
    return []


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
                                   file=str(path), record=_record(raw, row)))
    return out


def _row_check_error(table: str, name: str) -> str | None:
    for check in schema(table).checks:
        if check.name == name:
            return check.error
    return None


def _reason(check: str, value, column, table: str) -> str:
    if check == "not_nullable":
        return "required value is empty"
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
    problems = [q for q in quarantine if q.rule != EXCLUDED_BY_MAPPING]
    if strict and problems:
        first = problems[0]
        same_table = [q for q in problems if q.table == first.table]
        columns = sorted({q.column or "-" for q in same_table})
        raise DataError(f"{len(problems)} row problem(s) and --strict is set; "
                        f"first: {first.reason}"
                        + (f" (columns involved: {', '.join(columns)})" if len(columns) > 1 else ""),
                        file=first.file, column=first.column,
                        rows=sorted({q.row for q in same_table}))
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
            orphan = ~is_known(frame[column], known)
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
