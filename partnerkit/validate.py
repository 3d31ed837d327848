"""Summaries of a loaded data directory: what was read, what was rejected."""

from __future__ import annotations

from partnerkit.dataset import TABLES, Dataset


def validation_report(dataset: Dataset) -> dict:
    """The ``partnerkit validate --json`` payload (SPEC §11).

    Parameters
    ----------
    dataset : Dataset

    Returns
    -------
    dict
        ``{"tables": {table: {"rows": n, "quarantined": k}}, "quarantined": [...],
        "notices": [...]}`` where ``rows`` counts the data rows read from the file
        and ``quarantined`` the rows rejected (a row with two problems counts once).

    Examples
    --------
    >>> import pandas as pd
    >>> from partnerkit.quarantine import QuarantineEntry
    >>> ds = Dataset(data_dir=".", partners=pd.DataFrame(), opportunities=pd.DataFrame(),
    ...              rows_read={"partners": 3, "opportunities": 0},
    ...              quarantine=[QuarantineEntry("partners", 2, "name", "required value is empty")])
    >>> validation_report(ds)["tables"]["partners"]
    {'rows': 3, 'quarantined': 1}
    """
    tables = {}
    for table in TABLES:
        if table == "sync_events":
            if dataset.sync_events is not None:
                tables[table] = {"file": str(dataset.sync_events.path),
                                 "format": dataset.sync_events.format}
            continue
        if table not in dataset.rows_read:
            continue
        bad_rows = {q.row for q in dataset.quarantined(table)}
        tables[table] = {"rows": dataset.rows_read[table], "quarantined": len(bad_rows)}
    return {
        "tables": tables,
        "quarantined": [q.to_dict() for q in dataset.quarantine],
        "notices": [vars(n) for n in dataset.notices],
    }


def validation_text(dataset: Dataset) -> str:
    """A readable validation summary: one line per table, then every rejected row."""
    report = validation_report(dataset)
    lines = [f"Data directory: {dataset.data_dir}", "",
             f"{'table':<15}{'rows':>8}{'kept':>8}{'quarantined':>13}"]
    for table, info in report["tables"].items():
        if "rows" in info:
            kept = info["rows"] - info["quarantined"]
            lines.append(f"{table:<15}{info['rows']:>8}{kept:>8}{info['quarantined']:>13}")
        else:
            lines.append(f"{table:<15}{'(' + info['format'] + ', read in place)':>29}")
    lines.append("")
    if dataset.quarantine:
        lines.append(f"Quarantined rows ({len(dataset.quarantine)} problems):")
        for q in dataset.quarantine:
            column = q.column or "-"
            lines.append(f"  {q.table:<14} row {q.row:<6} {column:<15} {q.reason}")
    else:
        lines.append("No quarantined rows.")
    if dataset.notices:
        lines.append("")
        lines.append(f"Notices ({len(dataset.notices)} rows kept):")
        for n in dataset.notices:
            lines.append(f"  {n.table:<14} row {n.row:<6} {n.column or '-':<15} {n.message}")
    return "\n".join(lines)
