"""Drill-downs: the rows behind a number, and CSV cells a spreadsheet cannot run."""

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from partnerkit.catalogue import CATALOGUE
from partnerkit.drilldown import (
    drilldown_frame,
    neutralise_cell,
    neutralise_frame,
    record_table,
    write_drilldowns,
)
from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_company"


@pytest.fixture(scope="module")
def tiny():
    return Kpis(load_dataset(TINY))


@pytest.mark.parametrize("cell, expected", [
    ("=1+1", "'=1+1"),
    ("+44 20 7946 0000", "'+44 20 7946 0000"),
    ("-x", "'-x"),
    ("-5", "'-5"),  # text that looks like a number is still text
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=cmd", "'\t=cmd"),
    ("\rnext", "'\rnext"),
    ("Acme = good", "Acme = good"),
    ("", ""),
    (-3.5, -3.5),
    (-7, -7),
    (None, None),
])
def test_neutralise_cell(cell, expected):
    assert neutralise_cell(cell) == expected


def test_neutralise_frame_keeps_numbers_numbers():
    frame = pd.DataFrame({"amount": [-5.0, 2.5],
                          "name": pd.array(["=cmd|' /C calc'!A0", "ok"], dtype="string"),
                          "id": pd.array(["-1", None], dtype="string"),
                          "=evil": [1, 2]})
    safe = neutralise_frame(frame)
    assert safe["amount"].dtype == "float64" and safe["amount"].tolist() == [-5.0, 2.5]
    assert safe["name"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert safe["id"].iloc[0] == "'-1" and pd.isna(safe["id"].iloc[1])
    assert list(safe.columns) == ["amount", "name", "id", "'=evil"]
    assert frame["name"].iloc[0].startswith("=")  # the input is left alone


def test_sourced_pipeline_rows_are_the_sourced_deals(tiny):
    # O1 (P2, tagged the day it was created), O3 (P2, 14 days: inside the grace period),
    # O8 (P1 and P2 the same day: the smaller id sources); O4 is a day late, so influenced
    frame = drilldown_frame(tiny, "2026Q3", "sourced_pipeline")
    assert frame["opportunity_id"].tolist() == ["O1", "O3", "O8"]
    assert frame["row"].tolist() == [1, 3, 8]
    assert frame["sourcing_partner"].tolist() == ["P2", "P2", "P1"]
    assert frame["amount"].sum() == 1200.0
    assert list(frame.columns[:2]) == ["row", "opportunity_id"]
    assert {"bucket", "first_influence_date", "close_date"} <= set(frame.columns)


def test_renewal_rows_are_those_of_the_quarter(tmp_path):
    data = tmp_path / "tiny"
    shutil.copytree(TINY, data)
    with (data / "renewals.csv").open("a") as fh:
        fh.write("X3,2025-07-15,800,false\n")  # the same account a year earlier
    kpis = Kpis(load_dataset(data))
    frame = drilldown_frame(kpis, "2026Q3", "renewal_rate_not_integrated")
    # X5 removed its install during the renewal day, X4 and X3 installed later, X8 never
    assert sorted(frame["account_id"]) == ["X3", "X4", "X5", "X8"]
    assert frame["renewal_date"].min() == pd.Timestamp("2026-07-01")
    assert 8 not in frame["row"].tolist()


def test_record_table_follows_the_ids_and_falls_back_on_the_source(tiny):
    assert record_table(tiny.dataset, "time_to_live_days", ["I1", "I2"]) == "integrations"
    assert record_table(tiny.dataset, "weekly_active_connections", ["C1"]) == "installs"
    assert record_table(tiny.dataset, "renewal_rate_integrated", ["X1", "X2"]) == "renewals"
    assert record_table(tiny.dataset, "partners_signed", []) == "partners"
    assert record_table(tiny.dataset, "sourced_pipeline", ["NOT-AN-ID"]) is None


def test_empty_metric_gives_the_table_header(tiny):
    frame = drilldown_frame(tiny, "2025Q1", "partners_signed")
    assert frame.empty
    assert list(frame.columns) == ["row", "partner_id", "name", "partner_type", "signed_date"]


def test_write_drilldowns_writes_one_safe_csv_per_metric(tmp_path):
    data = tmp_path / "tiny"
    shutil.copytree(TINY, data)
    opportunities = (data / "opportunities.csv").read_text()
    (data / "opportunities.csv").write_text(
        opportunities.replace("O1,X1,Sourced and won", 'O1,X1,"=HYPERLINK(""http://x"",""y"")"'))
    kpis = Kpis(load_dataset(data))
    written = write_drilldowns(kpis, "2026Q3", tmp_path / "out")
    assert [p.stem for p in written] == list(CATALOGUE)
    with (tmp_path / "out" / "sourced_pipeline.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]
    assert first["name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert first["amount"] == "100.0" and first["is_won"] == "true"
    assert first["created_date"] == "2026-07-01" and first["row"] == "1"
    with (tmp_path / "out" / "installs_active.csv").open(newline="") as fh:
        installs = {r["connection_id"]: r for r in csv.DictReader(fh)}
    # active at the end of 2026Q3: C1, C2 (removed exactly at the end) and C3 (last second)
    assert sorted(installs) == ["C1", "C2", "C3"]
    assert installs["C2"]["uninstalled_at"] == "2026-10-01T00:00:00Z"
    assert installs["C1"]["uninstalled_at"] == ""
