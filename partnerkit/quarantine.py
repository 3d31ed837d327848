"""Rejected rows and structural data errors.

Loading never drops a row silently: a row that breaks a rule of its table is
moved to the quarantine with the table, its 1-based data row (the header is
row 0), the column at fault and a reason. Problems that make a whole file
unusable (a missing file or column, an unreadable encoding) raise
:class:`DataError` instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class DataError(Exception):
    """A structural problem with an input file: the run cannot go on.

    Parameters
    ----------
    message : str
        What is wrong, in words the analyst can act on.
    file : str, optional
        The file at fault.
    column : str, optional
        The column at fault, when there is one.
    rows : list of int, optional
        1-based data rows involved, when the error is about rows
        (for example under ``--strict``).

    Examples
    --------
    >>> err = DataError("required column is missing", file="partners.csv", column="name")
    >>> print(err)
    partners.csv: column 'name': required column is missing
    """

    def __init__(self, message: str, file: str | None = None, column: str | None = None,
                 rows: list[int] | None = None):
        self.message = message
        self.file = file
        self.column = column
        self.rows = list(rows or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.column:
            parts.append(f"column {self.column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" and {len(self.rows) - 10} more" if len(self.rows) > 10 else ""
            parts.append(f"rows {shown}{more}")
        parts.append(self.message)
        return ": ".join(parts)


@dataclass(frozen=True)
class QuarantineEntry:
    """One rejected row (a row with several problems gives several entries).

    Attributes
    ----------
    table : str
        Canonical table name, e.g. ``"opportunities"``.
    row : int
        1-based data row in the file (the first row under the header is 1).
    column : str or None
        The column at fault; None for a problem of the whole row.
    reason : str
        Why the row was rejected.
    file : str or None
        The file the row came from.
    rule : str or None
        A machine-readable rule id when one applies (e.g. ``"orphan_attribution"``).
    record : dict
        The row as read (strings), so nothing is lost.

    Examples
    --------
    >>> e = QuarantineEntry("opportunities", 3, "amount", "amount must be >= 0")
    >>> e.to_dict()["row"]
    3
    """

    table: str
    row: int
    column: str | None
    reason: str
    file: str | None = None
    rule: str | None = None
    record: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as the JSON contract writes it (SPEC §11)."""
        d = asdict(self)
        d.pop("record")
        return {k: v for k, v in d.items() if v is not None or k == "column"}


@dataclass(frozen=True)
class Notice:
    """A row that was kept but deserves attention (e.g. an unknown activity kind)."""

    table: str
    row: int
    column: str | None
    message: str
