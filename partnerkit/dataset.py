"""The loaded data directory: one typed object holding every canonical table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from partnerkit.quarantine import Notice, QuarantineEntry

#: Tables a data directory may hold, in load order (parents before children).
TABLES = (
    "partners",
    "activities",
    "integrations",
    "installs",
    "sync_events",
    "opportunities",
    "attributions",
    "renewals",
)
#: Tables without which nothing can be computed.
REQUIRED_TABLES = ("partners", "opportunities")


def is_known(values: pd.Series, known) -> pd.Series:
    """Whether each value occurs among ``known`` (a key lookup, as for foreign keys).

    ``Series.isin`` on pandas' string dtype is slow at 10^5 ids; an index lookup
    gives the same answer many times faster.

    Examples
    --------
    >>> s = pd.Series(["O1", "O2", None], dtype="string")
    >>> is_known(s, ["O2", "O3"]).tolist()
    [False, True, False]
    """
    index = pd.Index(pd.Series(known, dtype=object).dropna().astype(str).unique())
    keys = pd.Series(values, dtype=object).where(pd.notna(values), None)
    found = index.get_indexer(keys.astype(str).where(keys.notna(), "\x00missing"))
    return pd.Series(found >= 0, index=values.index)


@dataclass(frozen=True)
class EventSource:
    """Where ``sync_events`` lives. The loader never reads it into pandas.

    Attributes
    ----------
    path : Path
        The Parquet or CSV file (or a directory / glob of Parquet files).
    format : str
        ``"parquet"`` or ``"csv"``.
    """

    path: Path
    format: str


@dataclass(frozen=True)
class OrphanEvents:
    """Sync events whose connection_id is unknown to ``installs``.

    They are left out of every rollup; this is the audit finding
    ``orphan_events``.

    Attributes
    ----------
    events : int
        Number of orphan events (including events with no connection_id).
    connection_ids : tuple of str
        The distinct unknown connection ids, sorted.
    missing_id_events : int
        Of ``events``, those whose connection_id is null.
    """

    events: int
    connection_ids: tuple[str, ...] = ()
    missing_id_events: int = 0

    def __bool__(self) -> bool:
        return self.events > 0


@dataclass
class Dataset:
    """Every table of a data directory, typed and validated.

    Tables that were absent are None. IDs are strings, dates are
    ``datetime64[ns]`` at midnight, timestamps are naive UTC ``datetime64[ns]``,
    money is float. Quarantined rows are not in the tables; they are listed in
    :attr:`quarantine`.
    """

    data_dir: Path
    partners: pd.DataFrame
    opportunities: pd.DataFrame
    activities: pd.DataFrame | None = None
    integrations: pd.DataFrame | None = None
    installs: pd.DataFrame | None = None
    attributions: pd.DataFrame | None = None
    renewals: pd.DataFrame | None = None
    sync_events: EventSource | None = None
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    #: table name -> the file it was read from
    files: dict[str, Path] = field(default_factory=dict)
    #: table name -> number of data rows read (before quarantine)
    rows_read: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        """Return a table by name (None when the data directory lacks it)."""
        if name not in TABLES or name == "sync_events":
            raise KeyError(f"not a tabular table: {name!r}")
        return getattr(self, name)

    def quarantined(self, table: str | None = None) -> list[QuarantineEntry]:
        """Quarantine entries, optionally of one table."""
        return [q for q in self.quarantine if table is None or q.table == table]
