"""Display-ready tables for the notebooks, and the restatement check.

The notebooks in ``notebooks/`` hold no metric logic: every cell is one call
to a function here (or in :mod:`partnerkit.leaks`, :mod:`partnerkit.dashboard`,
...) followed by a display. Tables come back as DataFrames whose text is
plain data: pandas escapes it when a notebook renders it as HTML, so a
partner called ``<script>`` is shown, never run.

:func:`restatements` compares the numbers archived for earlier quarters with
what the current data and code compute for them, so a board never sees a past
number change silently.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from partnerkit.catalogue import CATALOGUE, TIERS, metric
from partnerkit.dashboard import format_change, format_value, period_change
from partnerkit.kpis import ALL, Kpis
from partnerkit.periods import Quarter

#: Columns of :func:`restatements`.
RESTATEMENT_COLUMNS = ["quarter", "metric", "scope", "archived", "current", "archive"]


def prepare(data_dir, quarter, mapping=None, grace_days: int = 14, min_sample: int = 10,
            fiscal_year_start_month: int = 1, partner_id: str | None = None,
            state: str | None = None) -> tuple[Kpis, Quarter]:
    """Load a data directory and check the notebook's parameters.

    Parameters
    ----------
    data_dir : str or Path
    quarter : str
        E.g. ``"2026Q3"``.
    mapping : str, optional
        Column mapping for real exports (preset name or YAML file).
    grace_days, min_sample, fiscal_year_start_month
        Metric options, as on the command line.
    partner_id : str, optional
        Checked against the data when given.
    state : str, optional
        Metrics a report run already computed (:meth:`Kpis.save_state`); when
        the file exists it is used instead of reading ``data_dir`` again.

    Returns
    -------
    (Kpis, Quarter)

    Raises
    ------
    partnerkit.periods.QuarterError
        The quarter is not a quarter.
    KeyError
        The partner id is not in the data.

    Examples
    --------
    >>> kpis, q = prepare("data/sample", "2026Q3", partner_id="P004")  # doctest: +SKIP
    >>> str(q)  # doctest: +SKIP
    '2026Q3'
    """
    q = Quarter.parse(quarter, fiscal_year_start_month)
    if state is not None and Path(state).is_file():
        kpis = Kpis.load_state(state, min_sample=min_sample, grace_days=grace_days,
                               fiscal_year_start_month=fiscal_year_start_month)
    else:
        # imported here: the loader brings pandera, which a kernel given the state never needs
        from partnerkit.load import load_dataset

        kpis = Kpis(load_dataset(data_dir, mapping=mapping), min_sample=min_sample,
                    grace_days=grace_days, fiscal_year_start_month=fiscal_year_start_month)
    if partner_id is not None and str(partner_id) not in kpis.partner_ids:
        raise KeyError(f"unknown partner id {partner_id!r}; known: {', '.join(kpis.partner_ids)}")
    return kpis, q


def set_display_options(max_rows: int = 500) -> None:
    """Show report tables whole: full texts (diagnoses, notes), every row and column.

    pandas cuts text cells at 50 characters by default, which would cut a
    leak's diagnosis mid-sentence. Changes the pandas display options of the
    running session only; the notebooks call it once, after the parameters.

    Examples
    --------
    >>> with pd.option_context("display.max_colwidth", 50, "display.max_rows", 60,
    ...                        "display.min_rows", 10, "display.max_columns", 20):
    ...     set_display_options()
    ...     pd.get_option("display.max_colwidth") is None
    True
    """
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", max_rows)
    pd.set_option("display.min_rows", max_rows)
    pd.set_option("display.max_columns", None)


# ---------------------------------------------------------------------------- data quality


def validation_summary(dataset) -> pd.DataFrame:
    """One row per table: file, rows read, kept and quarantined.

    Examples
    --------
    >>> from partnerkit.dataset import Dataset
    >>> from partnerkit.quarantine import QuarantineEntry
    >>> ds = Dataset(data_dir=".", partners=pd.DataFrame(), opportunities=pd.DataFrame(),
    ...              rows_read={"partners": 3, "opportunities": 5},
    ...              quarantine=[QuarantineEntry("partners", 2, "name", "empty"),
    ...                          QuarantineEntry("partners", 2, "signed_date", "not a date")])
    >>> validation_summary(ds).loc["partners", ["rows", "kept", "quarantined"]].tolist()
    [3, 2, 1]
    """
    from partnerkit.validate import validation_report

    report = validation_report(dataset)
    rows = []
    for table, info in report["tables"].items():
        path = dataset.files.get(table)
        if "rows" in info:
            rows.append({"table": table, "file": "" if path is None else Path(path).name,
                         "rows": info["rows"], "kept": info["rows"] - info["quarantined"],
                         "quarantined": info["quarantined"]})
        else:
            rows.append({"table": table, "file": Path(info["file"]).name, "rows": None,
                         "kept": None, "quarantined": None})
    frame = pd.DataFrame(rows, columns=["table", "file", "rows", "kept", "quarantined"])
    for column in ("rows", "kept", "quarantined"):
        frame[column] = frame[column].astype("Int64")
    return frame.set_index("table")


def quarantine_table(dataset) -> pd.DataFrame:
    """Every rejected row: table, 1-based data row, column, reason, rule.

    Examples
    --------
    >>> from partnerkit.dataset import Dataset
    >>> from partnerkit.quarantine import QuarantineEntry
    >>> ds = Dataset(data_dir=".", partners=pd.DataFrame(), opportunities=pd.DataFrame(),
    ...              quarantine=[QuarantineEntry("opportunities", 7, "amount", "amount must be >= 0")])
    >>> quarantine_table(ds).to_dict("records")
    [{'table': 'opportunities', 'row': 7, 'column': 'amount', 'reason': 'amount must be >= 0', 'rule': ''}]
    """
    rows = [{"table": q.table, "row": q.row, "column": q.column or "", "reason": q.reason,
             "rule": q.rule or ""} for q in dataset.quarantine]
    return pd.DataFrame(rows, columns=["table", "row", "column", "reason", "rule"])


def notices_table(dataset) -> pd.DataFrame:
    """Rows kept but worth a look (e.g. an activity kind the catalogue does not know)."""
    rows = [{"table": n.table, "row": n.row, "column": n.column or "", "message": n.message}
            for n in dataset.notices]
    return pd.DataFrame(rows, columns=["table", "row", "column", "message"])


def findings_summary(kpis: Kpis) -> pd.DataFrame:
    """Audit findings per rule: how many fired and what the rule did.

    Returns
    -------
    DataFrame
        Index ``rule`` (in rule order); columns ``findings`` (count),
        ``deals`` (distinct opportunities), ``partners`` and ``what happened``
        (the detail of the first finding).
    """
    from partnerkit.audit import audit_findings

    findings = audit_findings(kpis)
    columns = ["findings", "deals", "partners", "what happened"]
    if findings.empty:
        return pd.DataFrame(columns=columns).rename_axis("rule")
    grouped = findings.groupby("rule", sort=False)
    frame = pd.DataFrame({
        "findings": grouped.size(),
        "deals": grouped["opportunity_id"].nunique(),
        "partners": grouped["partner_id"].nunique(),
        "what happened": grouped["detail"].first(),
    })
    return frame[columns]


def findings_table(kpis: Kpis, rule: str | None = None, partner_id: str | None = None
                   ) -> pd.DataFrame:
    """The audit findings, optionally of one rule and/or one partner.

    Columns ``rule, opportunity_id, partner_id, partner, detail``.
    """
    from partnerkit.audit import audit_findings

    findings = audit_findings(kpis)
    if rule is not None:
        findings = findings.loc[findings["rule"] == rule]
    if partner_id is not None:
        findings = findings.loc[findings["partner_id"] == partner_id]
    names = partner_names(kpis)
    out = findings[["rule", "opportunity_id", "partner_id", "detail"]].copy()
    out.insert(3, "partner", out["partner_id"].map(names))
    return out.reset_index(drop=True)


def partner_names(kpis: Kpis) -> dict[str, str]:
    """Partner id -> name."""
    partners = kpis.dataset.partners
    return dict(zip(partners["partner_id"].astype(str), partners["name"].astype(str)))


def bucket_summary(kpis: Kpis, q) -> pd.DataFrame:
    """Deals created in the quarter per attribution bucket: count and amount.

    Every deal is in exactly one bucket, so the rows add up to all deals
    created in the quarter.
    """
    from partnerkit.attribution import BUCKETS

    q = kpis.quarter(q)
    deals = kpis.attribution.deals
    created = deals.loc[q.contains_date(deals["created_date"])]
    frame = created.groupby("bucket")["amount"].agg(["size", "sum"]).reindex(
        list(BUCKETS), fill_value=0)
    frame.columns = ["deals", "amount"]
    frame["share of deals"] = (frame["deals"] / max(int(frame["deals"].sum()), 1)).map(
        lambda x: format_value(x, "fraction"))
    frame["amount"] = frame["amount"].map(lambda x: format_value(x, "money"))
    return frame.rename_axis("bucket")


# ---------------------------------------------------------------------------- metrics


def headline_table(kpis: Kpis, q, scope: str = ALL, metrics=None) -> pd.DataFrame:
    """Metrics of a quarter beside the prior quarter, formatted for reading.

    Parameters
    ----------
    kpis : Kpis
    q : str or Quarter
    scope : str
        ``"all"`` or a partner id.
    metrics : list of str, optional
        Catalogue ids (default: every metric, in catalogue order).

    Returns
    -------
    DataFrame
        Index ``metric``; columns ``tier, value, prior, change, n,
        95% interval, note`` (note: why a value is missing, or a flag such as
        ``insufficient_sample``).
    """
    q = kpis.quarter(q)
    ids = list(metrics or CATALOGUE)
    now = kpis.compute(q, scope, ids)
    before = kpis.compute(q.previous(), scope, ids)
    rows = []
    for metric_id in ids:
        v, p = now[metric_id], before[metric_id]
        unit = metric(metric_id).unit
        change, relative = period_change(v.value, p.value)
        interval = ("" if v.ci_low is None or _nan(v.ci_low) else
                    f"{format_value(v.ci_low, unit)} to {format_value(v.ci_high, unit)}")
        rows.append({"metric": metric_id, "tier": metric(metric_id).tier,
                     "value": format_value(v.value, unit), "prior": format_value(p.value, unit),
                     "change": format_change(change, relative, unit),
                     "n": "" if v.n is None else f"{v.n:,}", "95% interval": interval,
                     "note": v.reason or ", ".join(v.flags)})
    return pd.DataFrame(rows).set_index("metric")


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _quarters(q: Quarter, n: int) -> list[Quarter]:
    return [q.previous(k) for k in range(n - 1, -1, -1)]


def stack_table(kpis: Kpis, q, scope: str = ALL, quarters: int = 4) -> pd.DataFrame:
    """Every metric of the stack over the last quarters, tier by tier.

    Read it from the top (activity) down to the outcome: a leak is a tier
    that grows while the tier below it stays flat.

    Returns
    -------
    DataFrame
        Index ``(tier, metric)`` in tier then catalogue order; one column per
        quarter (oldest first), formatted.
    """
    q = kpis.quarter(q)
    labels = [str(x) for x in _quarters(q, quarters)]
    panel = kpis.panel(_quarters(q, quarters), scopes=[scope])
    wide = panel.pivot(index="metric", columns="quarter", values="value")[labels]
    rows = []
    for tier in TIERS:
        for metric_id, entry in CATALOGUE.items():
            if entry.tier != tier:
                continue
            values = wide.loc[metric_id]
            rows.append({"tier": tier, "metric": metric_id,
                         **{lab: format_value(values[lab], entry.unit) for lab in labels}})
    return pd.DataFrame(rows).set_index(["tier", "metric"])


def leaks_table(kpis: Kpis, q, scope: str | None = None, patterns=None) -> pd.DataFrame:
    """Leaks of the quarter (all scopes, or one) with their evidence and diagnosis.

    Parameters
    ----------
    kpis : Kpis
    q : str or Quarter
    scope : str, optional
        ``"all"`` or a partner id (default: the company and every partner).
    patterns : list of str, optional
        Only these leak patterns (e.g. ``["error_rate_creep"]``).
    """
    from partnerkit.leaks import detect_leaks, leaks_frame

    scopes = None if scope is None else [scope]
    leaks = detect_leaks(kpis, q, scopes=scopes)
    if patterns is not None:
        leaks = [leak for leak in leaks if leak.pattern in patterns]
    return leaks_frame(leaks, partner_names(kpis))


def figure_panel(kpis: Kpis, q, scopes=None, quarters: int = 4) -> pd.DataFrame:
    """The long panel the figures of :mod:`partnerkit.plots` read, for the last quarters.

    Parameters
    ----------
    kpis : Kpis
    q : str or Quarter
    scopes : list of str, optional
        Default: the company only.
    quarters : int
        How many quarters, ending at ``q``.
    """
    from partnerkit.plots import FIGURE_METRICS

    q = kpis.quarter(q)
    return kpis.panel(_quarters(q, quarters), metrics=list(FIGURE_METRICS),
                      scopes=list(scopes or [ALL]))


def detected_leaks(kpis: Kpis, q, scope: str | None = None) -> list:
    """The leaks of the quarter as :class:`~partnerkit.leaks.Leak` objects (for the figures)."""
    from partnerkit.leaks import detect_leaks

    return detect_leaks(kpis, q, scopes=None if scope is None else [scope])


def leak_scopes(kpis: Kpis, q) -> list[str]:
    """Partners with at least one leak in the quarter, in id order (the company is left out)."""
    return sorted({leak.scope for leak in detected_leaks(kpis, q) if leak.scope != ALL})


# ---------------------------------------------------------------------------- exec view


def dashboard_table(model) -> pd.DataFrame:
    """A :class:`~partnerkit.dashboard.Dashboard` as a readable table.

    One row per tile, companion and health entry: value, prior quarter,
    change and the sparkline quarters, each in the metric's unit.
    """
    rows = []
    for section, tiles in (("outcome", model.tiles), ("health", model.health)):
        for tile in tiles:
            for t in (tile, tile.companion):
                if t is None:
                    continue
                rows.append({"section": section, "tile": t.label, "metric": t.metric,
                             "value": format_value(t.value, t.unit),
                             "prior": format_value(t.prior, t.unit),
                             "change": format_change(t.change, t.change_relative, t.unit),
                             **{lab: format_value(v, t.unit) for lab, v in t.series.items()},
                             "note": t.reason or ""})
    return pd.DataFrame(rows).set_index(["section", "tile"])


def dashboard_lint_table(reports_dir, q, spec=None) -> pd.DataFrame:
    """Lint findings of the exec view against the last archived quarter's spec.

    Empty when the view is clean (no vanity metric, every tile with its
    prior, and the same metrics as last quarter).
    """
    from partnerkit.dashboard import lint_dashboard, load_dashboard_spec, previous_archived_spec

    spec = spec if spec is not None else load_dashboard_spec()
    findings = lint_dashboard(spec, previous_archived_spec(reports_dir, q))
    return pd.DataFrame([{"finding": f.id, "where": f.location, "message": f.message}
                         for f in findings], columns=["finding", "where", "message"])


# ---------------------------------------------------------------------------- integrations


def integration_health(kpis: Kpis, q) -> pd.DataFrame:
    """The health panel per partner that has integrations: this quarter (prior quarter).

    The numbers are the catalogue's health metrics for the partner's scope
    (its integrations together), plus time to live.

    Returns
    -------
    DataFrame
        Index ``partner_id``; columns ``partner, integrations`` (names) and one
        column per health metric holding ``"<quarter> (<prior quarter>)"``,
        e.g. ``"64.1% (69.4%)"``; ``time_to_live_days`` of the quarter alone.
    """
    q = kpis.quarter(q)
    integrations = kpis.dataset.integrations
    columns = ["partner", "integrations"]
    if integrations is None or integrations.empty:
        return pd.DataFrame(columns=columns).rename_axis("partner_id")
    health = [m for m, entry in CATALOGUE.items() if entry.health]
    scopes = sorted(integrations["partner_id"].astype(str).unique())
    scopes = [s for s in scopes if s in kpis.partner_ids]
    panel = kpis.panel([q.previous(), q], metrics=[*health, "time_to_live_days"], scopes=scopes)
    names = partner_names(kpis)
    rows = []
    for scope in scopes:
        own = integrations.loc[integrations["partner_id"] == scope]
        row = {"partner_id": scope, "partner": names.get(scope, ""),
               "integrations": ", ".join(own["name"].astype(str))}
        cells = panel.loc[panel["scope"] == scope].set_index(["metric", "quarter"])["value"]
        for metric_id in health:
            unit = metric(metric_id).unit
            now = format_value(cells.get((metric_id, str(q)), np.nan), unit)
            before = format_value(cells.get((metric_id, str(q.previous())), np.nan), unit)
            row[metric_id] = f"{now} ({before})"
        row["time_to_live_days"] = format_value(
            cells.get(("time_to_live_days", str(q)), np.nan), "days")
        rows.append(row)
    return pd.DataFrame(rows).set_index("partner_id")


def integrations_table(kpis: Kpis, q, partner_id: str | None = None) -> pd.DataFrame:
    """Every integration with its status at the end of the quarter and its days to live."""
    from partnerkit.dashboard import time_to_live_frame

    q = kpis.quarter(q)
    integrations = kpis.dataset.integrations
    if integrations is None:
        return pd.DataFrame()
    if partner_id is not None:
        integrations = integrations.loc[integrations["partner_id"] == partner_id]
    frame = time_to_live_frame(integrations, q)
    names = dict(zip(integrations["integration_id"].astype(str), integrations["name"].astype(str)))
    frame.insert(1, "name", frame["integration_id"].map(names))
    frame.insert(3, "partner", frame["partner_id"].map(partner_names(kpis)))
    return frame


def health_trend(kpis: Kpis, q, scope: str = ALL, quarters: int = 4) -> pd.DataFrame:
    """The catalogue's health metrics over the last quarters (one column per quarter)."""
    table = stack_table(kpis, q, scope, quarters)
    health = [m for m, entry in CATALOGUE.items() if entry.health]
    return table.loc[table.index.get_level_values("metric").isin(health)].droplevel("tier")


# ---------------------------------------------------------------------------- one partner


def partner_profile(kpis: Kpis, partner_id: str) -> pd.DataFrame:
    """The partner's row of the partners table, as a one-column table."""
    partners = kpis.dataset.partners
    row = partners.loc[partners["partner_id"] == partner_id]
    if row.empty:
        raise KeyError(f"unknown partner id {partner_id!r}")
    record = row.iloc[0]
    return pd.DataFrame({"value": [str(record["partner_id"]), str(record["name"]),
                                   str(record["partner_type"]),
                                   record["signed_date"].strftime("%Y-%m-%d")
                                   if pd.notna(record["signed_date"]) else ""]},
                        index=pd.Index(["partner_id", "name", "partner_type", "signed_date"],
                                       name="field"))


def partner_deals(kpis: Kpis, q, partner_id: str) -> pd.DataFrame:
    """Deals credited to the partner whose credit falls in the quarter.

    A sourced deal counts in the quarter it was created; an influenced deal in
    the quarter of the partner's first credited touch (the pipeline rules).

    Returns
    -------
    DataFrame
        ``opportunity_id, name, credit, credit_date, stage, amount, is_won``,
        sourced first, then by amount.
    """
    from partnerkit.attribution import partner_credits

    q = kpis.quarter(q)
    parts = []
    for credit in ("sourced", "influenced"):
        rows = partner_credits(kpis.attribution, credit)
        rows = rows.loc[(rows["partner_id"] == partner_id) & (rows["bucket"] == credit)]
        date = rows["created_date"] if credit == "sourced" else rows["tagged_date"]
        rows = rows.assign(credit=credit, credit_date=date)
        parts.append(rows.loc[q.contains_date(rows["credit_date"])])
    deals = pd.concat(parts, ignore_index=True)
    deals = deals.sort_values(["credit", "amount"], ascending=[False, False])
    out = deals[["opportunity_id", "name", "credit", "credit_date", "stage", "amount", "is_won"]]
    return out.assign(credit_date=out["credit_date"].dt.strftime("%Y-%m-%d")).reset_index(drop=True)


# ---------------------------------------------------------------------------- restatements


def _archived_values(folder: Path) -> list[tuple[str, str, object]]:
    """(scope, metric, value) of an archive's kpis.json and kpis_by_partner.json."""
    values = []
    company = folder / "kpis.json"
    if company.is_file():
        payload = json.loads(company.read_text(encoding="utf-8"))
        for metric_id, entry in payload.get("metrics", {}).items():
            values.append((ALL, metric_id, entry.get("value")))
    by_partner = folder / "kpis_by_partner.json"
    if by_partner.is_file():
        payload = json.loads(by_partner.read_text(encoding="utf-8"))
        for scope, body in payload.get("partners", {}).items():
            for metric_id, entry in body.get("metrics", {}).items():
                values.append((scope, metric_id, entry.get("value")))
    return values


def _same(archived, current) -> bool:
    if archived is None or current is None:
        return archived is None and current is None
    return math.isclose(float(archived), float(current), rel_tol=1e-9, abs_tol=1e-9)


def restatements(kpis: Kpis, reports_dir, through=None) -> pd.DataFrame:
    """Numbers archived for earlier quarters that now compute differently.

    For every archived quarter (its latest revision), the company and
    per-partner metrics of its ``kpis.json`` and ``kpis_by_partner.json``
    are recomputed on the current data; every value that moved is listed.
    A value that became (or stopped being) not measured counts as moved.

    Parameters
    ----------
    kpis : Kpis
        The current data.
    reports_dir : str or Path
        The reports folder.
    through : str or Quarter, optional
        Only quarters up to this one (the quarter being reported: its own
        earlier archive counts, later ones do not).

    Returns
    -------
    DataFrame
        ``quarter, metric, scope, archived, current, archive`` (the archive
        folder name), by quarter, scope and catalogue order; empty when
        nothing moved.
    """
    from partnerkit.archive import archives

    last = None if through is None else kpis.quarter(through)
    wanted = []
    for label, folders in archives(reports_dir).items():
        quarter = kpis.quarter(label)
        if last is not None and quarter > last:
            continue
        archived = [v for v in _archived_values(folders[-1]) if v[1] in CATALOGUE]
        if archived:
            wanted.append((quarter, folders[-1], archived))
    rows = []
    if wanted:
        known = set(kpis.partner_ids)
        scopes = sorted({s for _, _, values in wanted for s, _, _ in values
                         if s == ALL or s in known}, key=lambda s: (s != ALL, s))
        metrics = [m for m in CATALOGUE if any(m == v[1] for _, _, vs in wanted for v in vs)]
        panel = kpis.panel([q for q, _, _ in wanted], metrics=metrics, scopes=scopes)
        current = {(r.quarter, r.scope, r.metric): (None if pd.isna(r.value) else float(r.value))
                   for r in panel.itertuples(index=False)}
        order = {m: i for i, m in enumerate(CATALOGUE)}
        for quarter, folder, values in wanted:
            for scope, metric_id, value in sorted(values, key=lambda v: (v[0] != ALL, v[0],
                                                                         order[v[1]])):
                now = current.get((str(quarter), scope, metric_id))
                if not _same(value, now):
                    rows.append({"quarter": str(quarter), "metric": metric_id, "scope": scope,
                                 "archived": value, "current": now, "archive": folder.name})
    frame = pd.DataFrame(rows, columns=RESTATEMENT_COLUMNS)
    frame["archived"] = frame["archived"].astype("float64")
    frame["current"] = frame["current"].astype("float64")
    return frame


def restatements_table(kpis: Kpis, reports_dir, through=None) -> pd.DataFrame:
    """:func:`restatements` formatted for reading (values in their units, the change)."""
    moved = restatements(kpis, reports_dir, through)
    names = partner_names(kpis)
    out = moved.copy()
    units = out["metric"].map(lambda m: metric(m).unit)
    out.insert(3, "partner", out["scope"].map(lambda s: "company" if s == ALL
                                              else names.get(s, "(no longer in the data)")))
    out["change"] = [format_change(*period_change(now, then), unit)
                     for then, now, unit in zip(moved["archived"], moved["current"], units)]
    out["archived"] = [format_value(v, u) for v, u in zip(moved["archived"], units)]
    out["current"] = [format_value(v, u) for v, u in zip(moved["current"], units)]
    return out
