"""Column mappings: read a real CRM or billing export as a canonical table.

A mapping works on the raw text of a file (every cell a string, ``''`` when
empty), before the loader parses and validates it. Per canonical table it
can

- take a canonical column from a source column (``columns``), with a list of
  alternative spellings of which the first one present in the file is used;
- derive a boolean from the values of a source column (``derive``);
- turn timestamps into their calendar date (``timestamps_to_dates``);
- put a stated value in empty cells (``fill``);
- exclude rows that are not records of the table (``exclude``): such rows
  are never dropped silently, :meth:`ColumnMapping.exclusions` returns them
  as quarantine entries with the rule's reason.

It never drops, reorders or re-indexes rows, so row numbers stay those of
the file. Two presets ship with the package (``salesforce`` and
``hubspot``); any other export is described by a small YAML file, documented
in ``examples/mappings/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partnerkit.configfile import YamlSyntaxError, parse_yaml
from partnerkit.quarantine import DataError, QuarantineEntry
from partnerkit.schemas import COLUMNS

#: Mappings shipped in ``partnerkit/presets``.
PRESETS = ("salesforce", "hubspot")

#: Rule id of quarantine entries made by a mapping's ``exclude`` rules.
EXCLUDED_RULE = "excluded_by_mapping"

_TOP_KEYS = {"name", "description", "tables"}
_TABLE_KEYS = {"file", "columns", "optional", "derive", "timestamps_to_dates", "fill", "exclude"}
_DERIVE_KEYS = {"from", "true", "false"}
_EXCLUDE_KEYS = {"column", "equals", "empty", "reason", "optional"}

# A date, optionally followed by a time of day ("T" or a space) and anything
# after it (seconds, fractions, an offset): the date part is kept as written.
_TIMESTAMP = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ]\d{1,2}:\d{2}.*)?\s*$")


@dataclass(frozen=True)
class Derivation:
    """A boolean canonical column computed from a source column's values.

    Values are compared stripped and case-insensitively. With only ``true``
    given, every other non-empty value is false; with both lists given, a
    value in neither is passed through unchanged so that the loader rejects
    it as not a boolean. An empty source cell stays empty.
    """

    sources: tuple[str, ...]
    true: frozenset[str]
    false: frozenset[str] | None = None


@dataclass(frozen=True)
class Exclusion:
    """Rows whose source column is empty (``empty``) or holds one of ``equals``."""

    sources: tuple[str, ...]
    reason: str
    equals: frozenset[str] = frozenset()
    empty: bool = False
    optional: bool = False


@dataclass(frozen=True)
class TableMapping:
    """How one canonical table is read from an export."""

    table: str
    file: str | None = None
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    derive: dict[str, Derivation] = field(default_factory=dict)
    timestamps_to_dates: tuple[str, ...] = ()
    fill: dict[str, str] = field(default_factory=dict)
    exclude: tuple[Exclusion, ...] = ()


@dataclass(frozen=True)
class ColumnMapping:
    """A named set of per-table mappings from an export to canonical tables.

    Examples
    --------
    >>> m = ColumnMapping.from_dict({"name": "crm", "tables": {"opportunities": {
    ...     "columns": {"opportunity_id": "Deal ID", "stage": "Stage"},
    ...     "derive": {"is_won": {"from": "Stage", "true": ["Won"]}}}}})
    >>> raw = pd.DataFrame({"Deal ID": ["007", "008"], "Stage": ["Won", "Lost"]})
    >>> out = m.apply("opportunities", raw)
    >>> out[["opportunity_id", "stage", "is_won"]].values.tolist()
    [['007', 'Won', 'true'], ['008', 'Lost', 'false']]
    >>> m.apply("partners", raw) is raw  # a table the mapping does not cover
    True
    """

    name: str
    table_mappings: dict[str, TableMapping] = field(default_factory=dict)
    source: str | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> ColumnMapping:
        """Build a mapping from its parsed YAML form, checking every key.

        Parameters
        ----------
        data : dict
            The mapping as YAML would parse it.
        source : str, optional
            Where it came from (a file name), used in error messages.

        Raises
        ------
        DataError
            An unknown key, table or canonical column, or a value of the
            wrong shape; the message names the key.

        Examples
        --------
        >>> ColumnMapping.from_dict({"tables": {"opportunities": {"colums": {}}}},
        ...                         "m.yml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        partnerkit.quarantine.DataError: m.yml: unknown key 'colums' in tables.opportunities ...
        """
        where = source or "<mapping>"
        data = _keys_as_text(data)
        if not isinstance(data, Mapping):
            raise DataError("a mapping must be a YAML dictionary with 'name' and 'tables'",
                            file=where)
        _check_keys(data, _TOP_KEYS, "the top level", where)
        tables = data.get("tables")
        if not isinstance(tables, Mapping) or not tables:
            raise DataError("'tables' must map canonical table names to their mapping",
                            file=where)
        built = {}
        for table, spec in tables.items():
            if table not in COLUMNS:
                raise DataError(f"unknown table {table!r} under 'tables' "
                                f"(canonical tables: {', '.join(COLUMNS)})", file=where)
            built[table] = _table_mapping(table, spec, where)
        name = data.get("name")
        if name is None:
            name = Path(source).stem if source else "mapping"
        return cls(name=str(name), table_mappings=built, source=source)

    # ------------------------------------------------------------------ queries

    def tables(self) -> set[str]:
        """The canonical tables this mapping knows about.

        Examples
        --------
        >>> sorted(load_mapping("salesforce").tables())
        ['opportunities']
        """
        return set(self.table_mappings)

    def file_for(self, table: str) -> str | None:
        """The file to read for ``table`` when it is not ``<table>.csv`` (else None).

        Examples
        --------
        >>> m = ColumnMapping.from_dict({"tables": {"renewals": {"file": "subs.csv"}}})
        >>> m.file_for("renewals"), m.file_for("partners")
        ('subs.csv', None)
        """
        spec = self.table_mappings.get(table)
        return spec.file if spec is not None else None

    # ------------------------------------------------------------------ applying

    def apply(self, table: str, raw: pd.DataFrame, file: str | None = None) -> pd.DataFrame:
        """Give a raw text frame the canonical columns of ``table``.

        Parameters
        ----------
        table : str
            Canonical table name.
        raw : pandas.DataFrame
            The file as read: every cell a string, ``''`` when empty.
        file : str, optional
            The file it was read from, for error messages.

        Returns
        -------
        pandas.DataFrame
            Canonical columns first (strings), then the file's other columns
            untouched; same rows, same order, same index. ``raw`` itself when
            the mapping does not cover ``table``.

        Raises
        ------
        DataError
            A source column the mapping needs is absent; ``column`` is the
            first spelling looked for, the message lists them all and the
            columns the file has.

        Examples
        --------
        >>> m = ColumnMapping.from_dict({"tables": {"opportunities": {
        ...     "columns": {"created_date": ["CreatedDate", "created_date"], "amount": "Amount"},
        ...     "timestamps_to_dates": ["created_date"], "fill": {"amount": "0"}}}})
        >>> raw = pd.DataFrame({"created_date": ["2018-12-19 19:51:13"], "Amount": [""]},
        ...                    index=[4])
        >>> m.apply("opportunities", raw)[["created_date", "amount"]]
          created_date amount
        4   2018-12-19      0
        """
        spec = self.table_mappings.get(table)
        if spec is None:
            return raw
        out: dict[str, pd.Series] = {}
        for canonical, sources in spec.columns.items():
            found = self._source(spec, canonical, sources, raw, file)
            out[canonical] = (raw[found] if found is not None
                              else pd.Series("", index=raw.index, dtype=str))
        for canonical, rule in spec.derive.items():
            found = self._source(spec, canonical, rule.sources, raw, file)
            out[canonical] = (_derive(raw[found], rule) if found is not None
                              else pd.Series("", index=raw.index, dtype=str))
        for canonical in spec.timestamps_to_dates:
            values = self._produced(canonical, out, raw, file, "timestamps_to_dates")
            out[canonical] = values.str.replace(_TIMESTAMP, r"\1", regex=True)
        for canonical, value in spec.fill.items():
            values = self._produced(canonical, out, raw, file, "fill")
            out[canonical] = values.mask(values.str.strip() == "", value)
        order = [c.name for c in COLUMNS[table] if c.name in out]
        order += [c for c in out if c not in order]
        # Positional values: the index is carried over as it is, never realigned.
        columns = {c: out[c].astype(str).to_numpy() for c in order}
        columns.update({c: raw[c].to_numpy() for c in raw.columns if c not in out})
        return pd.DataFrame(columns, index=raw.index)

    def exclusions(self, table: str, raw: pd.DataFrame,
                   file: str | None = None) -> list[QuarantineEntry]:
        """Rows of ``raw`` that the mapping's ``exclude`` rules take out, with why.

        The rules are tried in order; a row is reported once, under the first
        rule it matches, with its 1-based data row (index + 1), the source
        column and the rule's reason. The loader leaves these rows out of the
        table and lists them with the quarantine (rule ``excluded_by_mapping``),
        so that every row of the file is accounted for.

        Raises
        ------
        DataError
            A rule's column is absent and the rule is not ``optional``.

        Examples
        --------
        >>> m = ColumnMapping.from_dict({"name": "subs", "tables": {"renewals": {
        ...     "exclude": [{"column": "end_date", "empty": True, "reason": "not due yet"}]}}})
        >>> raw = pd.DataFrame({"end_date": ["2024-04-12", ""]})
        >>> [(e.row, e.column, e.reason) for e in m.exclusions("renewals", raw)]
        [(2, 'end_date', "not due yet (end_date is empty; excluded by mapping 'subs')")]
        """
        spec = self.table_mappings.get(table)
        if spec is None or not spec.exclude:
            return []
        taken = pd.Series(False, index=raw.index)
        entries = []
        for rule in spec.exclude:
            found = _first_present(rule.sources, raw.columns)
            if found is None:
                if rule.optional:
                    continue
                raise self._missing(table, "exclude", rule.sources, raw, file)
            text = raw[found].astype(str).str.strip()
            hit = text == "" if rule.empty else text.str.casefold().isin(rule.equals)
            hit &= ~taken
            taken |= hit
            for label in raw.index[hit.to_numpy()]:
                value = raw.at[label, found]
                what = f"{found} is empty" if rule.empty else f"{found} = {value!r}"
                entries.append(QuarantineEntry(
                    table, int(label) + 1, found,
                    f"{rule.reason} ({what}; excluded by mapping {self.name!r})",
                    file=file, rule=EXCLUDED_RULE,
                    record={str(k): v for k, v in raw.loc[label].items()}))
        return sorted(entries, key=lambda e: e.row)

    # ------------------------------------------------------------------ internals

    def _source(self, spec: TableMapping, canonical: str, sources: tuple[str, ...],
                raw: pd.DataFrame, file: str | None) -> str | None:
        found = _first_present(sources, raw.columns)
        if found is None and canonical not in spec.optional:
            raise self._missing(spec.table, canonical, sources, raw, file)
        return found

    def _missing(self, table: str, target: str, sources: tuple[str, ...],
                 raw: pd.DataFrame, file: str | None) -> DataError:
        wanted = " or ".join(repr(s) for s in sources)
        have = ", ".join(map(str, raw.columns)) or "none"
        return DataError(f"mapping {self.name!r} needs column {wanted} for {table}.{target}, "
                         f"which the file lacks (found: {have})", file=file, column=sources[0])

    def _produced(self, canonical: str, out: dict[str, pd.Series], raw: pd.DataFrame,
                  file: str | None, key: str) -> pd.Series:
        if canonical in out:
            return out[canonical]
        if canonical in raw.columns:
            return raw[canonical]
        raise DataError(f"mapping {self.name!r} lists {canonical!r} under {key!r}, but neither "
                        "the mapping nor the file gives that column", file=file, column=canonical)


# ---------------------------------------------------------------------- loading


def load_mapping(spec: str | Path | ColumnMapping | None) -> ColumnMapping | None:
    """Resolve a mapping given by preset name, YAML file path or object.

    Parameters
    ----------
    spec : str, Path, ColumnMapping or None
        ``None`` (no mapping), ``"salesforce"`` or ``"hubspot"`` (presets
        shipped with partnerkit), a path to a YAML mapping, or a mapping.

    Raises
    ------
    DataError
        The file does not exist, is not valid YAML, or has an unknown key;
        the message names the file and the key.

    Examples
    --------
    >>> load_mapping(None) is None
    True
    >>> load_mapping("hubspot").name
    'hubspot'
    >>> load_mapping("no/such/mapping.yml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    partnerkit.quarantine.DataError: no/such/mapping.yml: mapping file not found ...
    """
    if spec is None or isinstance(spec, ColumnMapping):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        resource = resources.files("partnerkit") / "presets" / f"{spec}.yml"
        return _parse(resource.read_text(encoding="utf-8"), f"preset {spec} ({spec}.yml)")
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"mapping file not found (presets: {', '.join(PRESETS)})", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read mapping file: {exc}", file=str(path)) from exc
    return _parse(text, str(path))


def _parse(text: str, source: str) -> ColumnMapping:
    try:
        data = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise DataError(str(exc), file=source) from exc
    return ColumnMapping.from_dict(data, source=source)


def _table_mapping(table: str, spec: Any, where: str) -> TableMapping:
    at = f"tables.{table}"
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise DataError(f"{at} must be a dictionary of {', '.join(sorted(_TABLE_KEYS))}",
                        file=where)
    _check_keys(spec, _TABLE_KEYS, at, where)
    canonical = {c.name for c in COLUMNS[table]}

    def known(column: str, key: str) -> str:
        if column not in canonical:
            raise DataError(f"unknown column {column!r} in {at}.{key} (columns of {table}: "
                            f"{', '.join(c.name for c in COLUMNS[table])})", file=where)
        return column

    columns = {known(c, "columns"): _names(s, f"{at}.columns.{c}", where)
               for c, s in _dict(spec.get("columns"), f"{at}.columns", where).items()}
    derive = {}
    for c, rule in _dict(spec.get("derive"), f"{at}.derive", where).items():
        known(c, "derive")
        if c in columns:
            raise DataError(f"{c!r} is under both {at}.columns and {at}.derive; keep one",
                            file=where)
        derive[c] = _derivation(rule, f"{at}.derive.{c}", where)
    optional = frozenset(known(c, "optional")
                         for c in _names(spec.get("optional", []), f"{at}.optional", where,
                                         allow_empty=True))
    to_dates = tuple(known(c, "timestamps_to_dates")
                     for c in _names(spec.get("timestamps_to_dates", []),
                                     f"{at}.timestamps_to_dates", where, allow_empty=True))
    fill = {}
    for c, value in _dict(spec.get("fill"), f"{at}.fill", where).items():
        known(c, "fill")
        if isinstance(value, (Mapping, list)) or value is None:
            raise DataError(f"{at}.fill.{c} must be a single value", file=where)
        fill[c] = _text(value)
    rules = spec.get("exclude") or []
    if not isinstance(rules, list):
        raise DataError(f"{at}.exclude must be a list of rules", file=where)
    exclude = tuple(_exclusion(r, f"{at}.exclude[{i}]", where) for i, r in enumerate(rules))
    file = spec.get("file")
    if file is not None and not isinstance(file, str):
        raise DataError(f"{at}.file must be a file name", file=where)
    return TableMapping(table, file, columns, optional, derive, to_dates, fill, exclude)


def _derivation(rule: Any, at: str, where: str) -> Derivation:
    if not isinstance(rule, Mapping):
        raise DataError(f"{at} must be a dictionary with 'from' and 'true'", file=where)
    _check_keys(rule, _DERIVE_KEYS, at, where)
    if "from" not in rule or "true" not in rule:
        raise DataError(f"{at} needs 'from' (source column) and 'true' (values meaning true)",
                        file=where)
    false = rule.get("false")
    return Derivation(
        sources=_names(rule["from"], f"{at}.from", where),
        true=_values(rule["true"], f"{at}.true", where),
        false=None if false is None else _values(false, f"{at}.false", where))


def _exclusion(rule: Any, at: str, where: str) -> Exclusion:
    if not isinstance(rule, Mapping):
        raise DataError(f"{at} must be a dictionary with 'column', 'reason' and "
                        "'empty: true' or 'equals'", file=where)
    _check_keys(rule, _EXCLUDE_KEYS, at, where)
    if "column" not in rule or not str(rule.get("reason") or "").strip():
        raise DataError(f"{at} needs 'column' and a 'reason' (it is shown for every row "
                        "it excludes)", file=where)
    empty = rule.get("empty", False)
    if (empty is True) == ("equals" in rule) or empty not in (True, False):
        raise DataError(f"{at} needs exactly one of 'empty: true' or 'equals: [values]'",
                        file=where)
    optional = rule.get("optional", False)
    if optional not in (True, False):
        raise DataError(f"{at}.optional must be true or false", file=where)
    return Exclusion(
        sources=_names(rule["column"], f"{at}.column", where),
        reason=str(rule["reason"]).strip(),
        equals=frozenset() if empty else _values(rule["equals"], f"{at}.equals", where),
        empty=bool(empty), optional=bool(optional))


def _check_keys(data: Mapping, allowed: set[str], at: str, where: str) -> None:
    for key in data:
        if key not in allowed:
            raise DataError(f"unknown key {key!r} in {at} "
                            f"(known keys: {', '.join(sorted(allowed))})", file=where)


def _keys_as_text(data: Any) -> Any:
    # YAML 1.1 reads the keys true/false (as in `true: [Won]`) as booleans.
    if isinstance(data, Mapping):
        return {_text(k) if isinstance(k, bool) else k: _keys_as_text(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [_keys_as_text(v) for v in data]
    return data


def _dict(value: Any, at: str, where: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataError(f"{at} must be a dictionary", file=where)
    return value


def _names(value: Any, at: str, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    """A column name or a list of alternative names."""
    names = value if isinstance(value, list) else [value]
    if (not names and not allow_empty) or any(
            not isinstance(n, str) or not n.strip() for n in names):
        raise DataError(f"{at} must be a column name or a list of column names", file=where)
    return tuple(n.strip() for n in names)


def _values(value: Any, at: str, where: str) -> frozenset[str]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, (Mapping, list)) or v is None for v in values):
        raise DataError(f"{at} must be a value or a list of values", file=where)
    return frozenset(_text(v).strip().casefold() for v in values)


def _text(value: Any) -> str:
    # YAML turns true/1 into Python objects; cells in a file are text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first_present(sources: tuple[str, ...], columns: pd.Index) -> str | None:
    return next((s for s in sources if s in columns), None)


def _derive(values: pd.Series, rule: Derivation) -> pd.Series:
    text = values.astype(str).str.strip()
    key = text.str.casefold()
    is_true = key.isin(rule.true).to_numpy()
    if rule.false is None:
        is_false = ~is_true
    else:
        is_false = key.isin(rule.false).to_numpy()
    out = np.where(is_true, "true", np.where(is_false, "false", text.to_numpy()))
    out = np.where(text.to_numpy() == "", "", out)
    return pd.Series(out, index=values.index, dtype=str)
