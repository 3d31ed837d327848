"""Display tables of the notebooks, and restatements of archived quarters."""

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from partnerkit import archive, report
from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset
from partnerkit.periods import QuarterError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "tiny_company"
QUICK = ROOT / "tests" / "fixtures" / "notebooks" / "quick"


@pytest.fixture(scope="module")
def tiny():
    return Kpis(load_dataset(TINY))


def test_prepare_checks_quarter_and_partner():
    kpis, q = report.prepare(TINY, "2026q3", partner_id="P2")
    assert str(q) == "2026Q3" and kpis.partner_ids == ["P1", "P2", "P3"]
    with pytest.raises(QuarterError):
        report.prepare(TINY, "2026Q7")
    with pytest.raises(KeyError, match="P9"):
        report.prepare(TINY, "2026Q3", partner_id="P9")


def test_validation_summary_counts_the_rows_of_each_file(tiny):
    summary = report.validation_summary(tiny.dataset)
    for table in ("partners", "opportunities", "attributions", "renewals"):
        with (TINY / f"{table}.csv").open() as fh:
            lines = sum(1 for _ in fh) - 1
        assert summary.loc[table, "rows"] == lines
    # the tag naming partner P99 is the one rejected row
    assert summary.loc["attributions", ["rows", "kept", "quarantined"]].tolist() == [10, 9, 1]
    assert summary.loc["sync_events", "file"] == "sync_events.csv"
    assert report.quarantine_table(tiny.dataset)["row"].tolist() == [10]


def test_bucket_summary_puts_every_deal_of_the_quarter_in_one_bucket(tiny):
    summary = report.bucket_summary(tiny, "2026Q3")
    # created in 2026Q3: O1, O3, O8 sourced; O4 (sourced a day late) and O7 influenced;
    # O5, O6 and O9 (tagged after close) unassisted; O2 was created in June
    assert summary["deals"].tolist() == [3, 2, 3]
    assert summary["amount"].tolist() == ["1.2k", "1.1k", "2.0k"]
    assert summary["share of deals"].tolist() == ["37.5%", "25.0%", "37.5%"]


def test_headline_table_sets_the_quarter_beside_the_prior(tiny):
    table = report.headline_table(tiny, "2026Q3", metrics=["sourced_pipeline", "meetings_held",
                                                           "time_to_live_days"])
    assert table.loc["sourced_pipeline", ["value", "prior", "change"]].tolist() == \
        ["1.2k", "0", "+1.2k"]
    # meetings A1 (07-01) and A2 (09-30); A3 is dated 10-01
    assert table.loc["meetings_held", "value"] == "2"
    # I1: 2026-05-01 -> 07-01 is 61 days, I2: 06-15 -> 09-30 is 107; median 84
    assert table.loc["time_to_live_days", "value"] == "84 d"


def test_partner_headline_uses_the_partner_credit(tiny):
    table = report.headline_table(tiny, "2026Q3", scope="P2", metrics=["sourced_pipeline"])
    assert table.loc["sourced_pipeline", "value"] == "400"  # O1 100 + O3 300


def test_stack_table_reads_tier_by_tier_over_four_quarters(tiny):
    table = report.stack_table(tiny, "2026Q3")
    assert list(table.columns) == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert table.index.get_level_values("tier").unique().tolist() == [
        "activity", "output", "outcome"]
    assert table.loc[("output", "integrations_live")].tolist() == ["0", "1", "0", "2"]


def test_partner_deals_lists_the_credit_of_the_quarter(tiny):
    deals = report.partner_deals(tiny, "2026Q3", "P2")
    assert deals["opportunity_id"].tolist() == ["O3", "O1"]
    assert deals["credit_date"].tolist() == ["2026-07-10", "2026-07-01"]
    influenced = report.partner_deals(tiny, "2026Q3", "P1")
    # P1 sourced O8 (the tie with P2 goes to the smaller id) and influenced O4 and O7
    assert sorted(zip(influenced["credit"], influenced["opportunity_id"])) == [
        ("influenced", "O4"), ("influenced", "O7"), ("sourced", "O8")]


def test_integration_health_per_partner(tiny):
    health = report.integration_health(tiny, "2026Q3")
    assert health.index.tolist() == ["P1", "P2", "P3"]
    # end of 2026Q3: C1 and C2 (removed at the very end) on P1's I1; C3 on P2's I2
    # (end of 2026Q2: C2 only, installed 06-30 23:59:59)
    assert health["installs_active"].tolist() == ["2 (1)", "1 (0)", "0 (0)"]
    assert health.loc["P1", "integrations"] == "Northwind sync, Northwind legacy"


def test_integrations_table_names_status_and_days(tiny):
    table = report.integrations_table(tiny, "2026Q3").set_index("integration_id")
    assert table.loc["I4", ["name", "status", "days"]].tolist() == ["Fabrikam widget", "open", 60]
    assert table.loc["I2", "partner"] == "Contoso Resale"


def test_findings_summary_counts_each_rule(tiny):
    summary = report.findings_summary(tiny)
    assert summary.loc["orphan_attribution", "findings"] == 1
    assert summary.loc["tagged_after_close", "deals"] == 1  # O9
    assert summary.loc["late_sourced", "partners"] == 1  # O4 by P1
    assert report.findings_table(tiny, rule="multiple_sourcers")["opportunity_id"].unique().tolist() \
        == ["O8"]


def test_dashboard_table_formats_each_tile(tiny):
    from partnerkit.dashboard import dashboard_model

    table = report.dashboard_table(dashboard_model(tiny, "2026Q3")).set_index("metric")
    assert table.index.tolist()[:2] == ["sourced_pipeline", "influenced_pipeline"]
    row = table.loc["sourced_pipeline"]
    assert row["value"] == "1.2k" and row["prior"] == "0" and row["2026Q3"] == "1.2k"


# ---------------------------------------------------------------------------- restatements


def set_amount(path: Path, opportunity_id: str, amount: str) -> None:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["opportunity_id"] == opportunity_id:
            row["amount"] = amount
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def archived_tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("restate")
    data = root / "data"
    shutil.copytree(TINY, data)
    out = root / "reports"
    archive.run_report(archive.ReportRequest(quarter="2026Q3", data_dir=str(data), out=str(out),
                                             notebooks_dir=str(QUICK), progress=False))
    return data, out


def test_nothing_is_restated_on_unchanged_data(archived_tiny):
    data, out = archived_tiny
    moved = report.restatements(Kpis(load_dataset(data)), out)
    assert moved.empty and list(moved.columns) == report.RESTATEMENT_COLUMNS


def test_a_changed_input_row_is_restated(archived_tiny, tmp_path):
    data, out = archived_tiny
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    set_amount(changed / "opportunities.csv", "O3", "1300")  # open deal sourced by P2
    moved = report.restatements(Kpis(load_dataset(changed)), out)
    assert moved[["quarter", "metric", "scope", "archived", "current", "archive"]].values.tolist() \
        == [["2026Q3", "sourced_pipeline", "all", 1200.0, 2200.0, "2026Q3"],
            ["2026Q3", "sourced_pipeline", "P2", 400.0, 1400.0, "2026Q3"]]
    # quarters after `through` are not compared
    assert report.restatements(Kpis(load_dataset(changed)), out, through="2026Q2").empty
    table = report.restatements_table(Kpis(load_dataset(changed)), out)
    assert table[["partner", "archived", "current", "change"]].values.tolist() == [
        ["company", "1.2k", "2.2k", "+1.0k (+83%)"],
        ["Contoso Resale", "400", "1.4k", "+1.0k (+250%)"]]


def test_a_number_that_can_no_longer_be_measured_is_restated(archived_tiny, tmp_path):
    data, out = archived_tiny
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    (changed / "renewals.csv").unlink()
    moved = report.restatements(Kpis(load_dataset(changed)), out)
    company = moved.loc[moved["scope"] == "all"].set_index("metric")
    assert company.loc["renewal_rate_integrated", "archived"] == 1.0  # X1 and X2 renewed
    assert pd.isna(company.loc["renewal_rate_integrated", "current"])
    assert set(moved["metric"]) == {"renewal_rate_integrated", "renewal_rate_not_integrated",
                                    "retention_lift"}
