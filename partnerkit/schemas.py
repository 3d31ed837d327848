"""One pandera schema per canonical table (SPEC §2).

Each table is described twice over: :data:`COLUMNS` says how every column is
read from text (its *kind*) and whether it may be empty, and :func:`schema`
builds the pandera schema that checks the typed frame. Cross-column rules are
DataFrame-level checks; :data:`ROW_CHECK_COLUMNS` names the column each of
them is reported against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandera.pandas as pa

# pandera is imported where a schema is built: the column lists below are read by
# modules (drill-downs, mappings) whose processes never validate anything

PARTNER_TYPES = ("technology", "reseller", "referral", "agency", "marketplace")
ATTRIBUTION_ROLES = ("sourced", "influenced")


@dataclass(frozen=True)
class ColumnSpec:
    """How a canonical column is read and checked.

    Attributes
    ----------
    name : str
        Canonical column name.
    kind : str
        ``"id"`` and ``"label"`` (strings, trimmed of surrounding spaces),
        ``"text"`` (kept verbatim), ``"date"``
        (``YYYY-MM-DD``), ``"timestamp"`` (ISO 8601, UTC when no offset),
        ``"bool"`` or ``"number"``.
    nullable : bool
        Whether an empty cell is allowed.
    """

    name: str
    kind: str
    nullable: bool = False


def _cols(*specs: tuple) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec(*s) for s in specs)


#: Canonical columns per table, in file order.
COLUMNS: dict[str, tuple[ColumnSpec, ...]] = {
    "partners": _cols(("partner_id", "id"), ("name", "text"), ("partner_type", "label"),
                      ("signed_date", "date")),
    "activities": _cols(("activity_id", "id"), ("partner_id", "id"), ("date", "date"),
                        ("kind", "label")),
    "integrations": _cols(("integration_id", "id"), ("partner_id", "id"), ("name", "text"),
                          ("scoped_date", "date"), ("live_date", "date", True)),
    "installs": _cols(("connection_id", "id"), ("integration_id", "id"), ("account_id", "id"),
                      ("installed_at", "timestamp"), ("uninstalled_at", "timestamp", True)),
    "sync_events": _cols(("connection_id", "id"), ("ts", "timestamp"), ("ok", "bool")),
    "opportunities": _cols(("opportunity_id", "id"), ("account_id", "id"), ("name", "text", True),
                           ("created_date", "date"), ("close_date", "date", True),
                           ("stage", "label"), ("is_closed", "bool"), ("is_won", "bool"),
                           ("amount", "number")),
    "attributions": _cols(("opportunity_id", "id"), ("partner_id", "id"), ("role", "label"),
                          ("tagged_date", "date")),
    "renewals": _cols(("account_id", "id"), ("renewal_date", "date"), ("arr", "number"),
                      ("renewed", "bool")),
}

#: The column whose values must be unique, per table. The loader checks it after
#: every other rule, so that a rejected row never "keeps" an id from a valid one.
PRIMARY_KEYS = {
    "partners": "partner_id",
    "activities": "activity_id",
    "integrations": "integration_id",
    "installs": "connection_id",
    "opportunities": "opportunity_id",
}

#: Foreign keys: (child table, column) -> (parent table, column).
FOREIGN_KEYS = {
    ("activities", "partner_id"): ("partners", "partner_id"),
    ("integrations", "partner_id"): ("partners", "partner_id"),
    ("installs", "integration_id"): ("integrations", "integration_id"),
    ("attributions", "opportunity_id"): ("opportunities", "opportunity_id"),
    ("attributions", "partner_id"): ("partners", "partner_id"),
}

#: DataFrame-level check name -> the column a failure is reported against.
ROW_CHECK_COLUMNS = {
    "won_implies_closed": "is_won",
    "closed_has_close_date": "close_date",
    "live_after_scoped": "live_date",
    "uninstalled_after_installed": "uninstalled_at",
}

_DTYPES = {"id": "string", "text": "string", "label": "string", "date": "datetime64[ns]",
           "timestamp": "datetime64[ns]", "bool": bool, "number": float}


def _column_checks(table: str, column: str) -> list[pa.Check]:
    import pandera.pandas as pa

    if (table, column) == ("partners", "partner_type"):
        return [pa.Check.isin(PARTNER_TYPES,
                              error=f"partner_type must be one of {', '.join(PARTNER_TYPES)}")]
    if (table, column) == ("attributions", "role"):
        return [pa.Check.isin(ATTRIBUTION_ROLES, error="role must be sourced or influenced")]
    if column in ("amount", "arr"):
        return [pa.Check.ge(0, error=f"{column} must be >= 0")]
    return []


def _row_checks(table: str) -> list[pa.Check]:
    import pandera.pandas as pa

    if table == "opportunities":
        return [
            pa.Check(lambda d: ~d["is_won"] | d["is_closed"], name="won_implies_closed",
                     error="is_won is true but is_closed is false (a won deal must be closed)"),
            pa.Check(lambda d: ~d["is_closed"] | d["close_date"].notna(),
                     name="closed_has_close_date",
                     error="closed deal has no close_date"),
        ]
    if table == "integrations":
        return [pa.Check(lambda d: d["live_date"].isna() | (d["live_date"] >= d["scoped_date"]),
                         name="live_after_scoped", error="live_date is before scoped_date")]
    if table == "installs":
        return [pa.Check(lambda d: d["uninstalled_at"].isna()
                         | (d["uninstalled_at"] >= d["installed_at"]),
                         name="uninstalled_after_installed",
                         error="uninstalled_at is before installed_at")]
    return []


def schema(table: str) -> pa.DataFrameSchema:
    """Build the pandera schema of a canonical table.

    Parameters
    ----------
    table : str
        One of the canonical table names.

    Returns
    -------
    pandera.DataFrameSchema

    Examples
    --------
    >>> import pandas as pd
    >>> s = schema("renewals")
    >>> sorted(s.columns)
    ['account_id', 'arr', 'renewal_date', 'renewed']
    >>> frame = pd.DataFrame({"account_id": pd.array(["A1"], dtype="string"),
    ...                       "renewal_date": pd.to_datetime(["2026-07-01"]),
    ...                       "arr": [1200.0], "renewed": [True]})
    >>> len(s.validate(frame))
    1
    """
    import pandera.pandas as pa

    if table not in COLUMNS:
        raise KeyError(f"unknown table {table!r}; known tables: {', '.join(COLUMNS)}")
    columns = {
        c.name: pa.Column(
            _DTYPES[c.kind],
            checks=_column_checks(table, c.name),
            nullable=c.nullable,
        )
        for c in COLUMNS[table]
    }
    return pa.DataFrameSchema(columns, checks=_row_checks(table), name=table, strict=False)


def column_names(table: str) -> list[str]:
    """Canonical column names of a table, in file order.

    Examples
    --------
    >>> column_names("attributions")
    ['opportunity_id', 'partner_id', 'role', 'tagged_date']
    """
    return [c.name for c in COLUMNS[table]]
