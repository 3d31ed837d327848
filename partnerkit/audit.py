"""The data-quality and attribution audit: every rule that fired, every row rejected."""

from __future__ import annotations

import pandas as pd

from partnerkit.kpis import Kpis


def audit_findings(kpis: Kpis) -> pd.DataFrame:
    """Every audit finding: the attribution rules plus events of unknown connections.

    Parameters
    ----------
    kpis : Kpis
        The prepared metrics of a data set (its attribution and telemetry are reused).

    Returns
    -------
    DataFrame
        ``rule, opportunity_id, partner_id, detail`` (plus ``connection_ids`` and
        ``count`` for ``orphan_events``), in rule order.
    """
    findings = kpis.attribution.findings.copy()
    orphans = kpis.orphan_events
    if orphans:
            findings = pd.concat([findings, pd.DataFrame([{
                "rule": "orphan_events", "opportunity_id": None, "partner_id": None,
                "detail": (f"{orphans.events} sync events from {len(orphans.connection_ids)} "
                           "connection ids unknown to installs; excluded from every metric"),
                "count": int(orphans.events),
                "connection_ids": list(orphans.connection_ids),
            }])], ignore_index=True)
    return findings


def audit_report(kpis: Kpis) -> dict:
    """The ``partnerkit audit --json`` payload (SPEC §11)."""
    findings = []
    for row in audit_findings(kpis).to_dict("records"):
        entry = {"rule": row["rule"], "opportunity_id": _none(row.get("opportunity_id")),
                 "partner_id": _none(row.get("partner_id")), "detail": row["detail"]}
        if row["rule"] == "orphan_events":
            entry["count"] = int(row["count"])
            entry["connection_ids"] = list(row["connection_ids"])
        findings.append(entry)
    quarantined = [{"table": q.table, "row": q.row, "column": q.column, "reason": q.reason,
                    **({"rule": q.rule} if q.rule else {})}
                   for q in kpis.dataset.quarantine]
    return {"findings": findings, "quarantined": quarantined}


def _none(value):
    return None if value is None or (not isinstance(value, list) and pd.isna(value)) else str(value)


def audit_text(kpis: Kpis) -> str:
    """A readable audit: findings per rule, then the rejected rows."""
    report = audit_report(kpis)
    lines = []
    counts = pd.Series([f["rule"] for f in report["findings"]], dtype="object").value_counts()
    lines.append(f"Attribution and telemetry findings ({len(report['findings'])}):")
    for f in report["findings"]:
        who = (f"{f['opportunity_id']} / {f['partner_id']}" if f["opportunity_id"]
               else f"{f.get('count', '')} events")
        lines.append(f"  {f['rule']:<24} {who:<24} {f['detail']}")
    if not report["findings"]:
        lines.append("  none")
    lines.append("")
    lines.append("By rule: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    lines.append("")
    lines.append(f"Quarantined rows ({len(report['quarantined'])}):")
    for q in report["quarantined"]:
        lines.append(f"  {q['table']:<14} row {q['row']:<6} {q['column'] or '-':<15} {q['reason']}")
    if not report["quarantined"]:
        lines.append("  none")
    return "\n".join(lines)
