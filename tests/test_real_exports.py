"""Real public exports read through column mappings (../shared/datasets).

Expected values are computed from the files with the csv module, never with
the code under test; the headline counts are the ones documented in the
datasets' PROVENANCE.md.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml

from partnerkit.load import load_table
from partnerkit.mapping import EXCLUDED_RULE, ColumnMapping, load_mapping

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MAVEN = DATA / "maven_crm_sales_opportunities" / "sales_pipeline.csv"
FIVETRAN = DATA / "fivetran_salesforce_seeds" / "sf_opportunity_data.csv"
RAVEN = DATA / "ravenstack_saas" / "ravenstack_subscriptions.csv"
MAVEN_MAPPING = ROOT / "examples" / "mappings" / "maven_crm.yml"
RAVEN_MAPPING = ROOT / "examples" / "mappings" / "ravenstack_renewals.yml"

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real datasets folder {DATA} is absent (it sits beside the repo)")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def raw_text(path: Path) -> pd.DataFrame:
    """The file as the loader hands it to a mapping: strings only, '' when empty."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                       encoding="utf-8-sig")


def load(path: Path, table: str, mapping):
    result = load_table(path, table, mapping)
    return result[0], result[1]


@pytest.fixture(scope="module")
def loader_applies_exclusions(tmp_path_factory) -> bool:
    """Whether load_table leaves out the rows a mapping's exclude rules name."""
    folder = tmp_path_factory.mktemp("probe")
    path = folder / "renewals.csv"
    path.write_text("account_id,renewal_date,arr,renewed,gone\n"
                    "A,2024-01-01,1,true,yes\nB,2024-01-02,1,true,no\n", encoding="utf-8")
    probe = ColumnMapping.from_dict({"name": "probe", "tables": {"renewals": {"exclude": [
        {"column": "gone", "equals": ["yes"], "reason": "probe"}]}}})
    frame, _ = load(path, "renewals", probe)
    return 1 not in frame.index


def needs_loader_exclusions(applies: bool) -> None:
    if not applies:
        pytest.skip("partnerkit.load.load_table does not apply ColumnMapping.exclusions yet")


# ---------------------------------------------------------------------- Maven CRM


@pytest.fixture(scope="module")
def maven_rows():
    return csv_rows(MAVEN)


@pytest.fixture(scope="module")
def maven_mapped():
    mapping = load_mapping(MAVEN_MAPPING)
    assert mapping.file_for("opportunities") == MAVEN.name
    return mapping.apply("opportunities", raw_text(MAVEN), file=str(MAVEN))


def test_maven_stage_decides_won_and_closed(maven_rows, maven_mapped):
    assert len(maven_rows) == len(maven_mapped) == 8800
    pairs = list(zip(maven_mapped["is_won"], maven_mapped["is_closed"]))
    assert pairs.count(("true", "true")) == 4238      # Won
    assert pairs.count(("false", "true")) == 2473     # Lost
    assert pairs.count(("false", "false")) == 2089    # Prospecting + Engaging
    assert len(pairs) == 4238 + 2473 + 2089
    for row, won, closed in zip(maven_rows, maven_mapped["is_won"], maven_mapped["is_closed"]):
        assert (won == "true") == (row["deal_stage"] == "Won")
        assert (closed == "true") == (row["deal_stage"] in ("Won", "Lost"))


def test_maven_columns_follow_the_file_row_for_row(maven_rows, maven_mapped):
    assert maven_mapped.index.tolist() == list(range(8800))
    assert maven_mapped["opportunity_id"].tolist() == [r["opportunity_id"] for r in maven_rows]
    assert maven_mapped["account_id"].tolist() == [r["account"] for r in maven_rows]
    assert maven_mapped["created_date"].tolist() == [r["engage_date"] for r in maven_rows]
    assert maven_mapped["stage"].tolist() == [r["deal_stage"] for r in maven_rows]


def test_maven_open_deals_have_no_close_date_and_amount_zero(maven_rows, maven_mapped):
    open_rows = [i for i, r in enumerate(maven_rows) if r["deal_stage"] not in ("Won", "Lost")]
    assert len(open_rows) == 2089
    assert all(maven_rows[i]["close_date"] == "" and maven_rows[i]["close_value"] == ""
               for i in open_rows)
    opened = maven_mapped.loc[open_rows]
    assert set(opened["close_date"]) == {""}
    assert set(opened["amount"]) == {"0"}
    closed = maven_mapped.drop(index=open_rows)
    assert closed["amount"].tolist() == [r["close_value"] for r in maven_rows
                                         if r["deal_stage"] in ("Won", "Lost")]


@pytest.fixture(scope="module")
def maven_loaded():
    return load(MAVEN, "opportunities", MAVEN_MAPPING)


def test_maven_end_to_end_accounts_for_every_row(maven_rows, maven_loaded):
    frame, quarantine = maven_loaded
    no_engage = {i + 1 for i, r in enumerate(maven_rows) if r["engage_date"] == ""}
    no_account = {i + 1 for i, r in enumerate(maven_rows) if r["account"] == ""}
    assert len(no_engage) == 500 and len(no_account) == 1425
    assert {q.row for q in quarantine if q.column == "created_date"} == no_engage
    assert {q.row for q in quarantine if q.column == "account_id"} == no_account
    quarantined = {q.row for q in quarantine}
    assert quarantined == no_engage | no_account
    assert len(quarantined) == 1588

    loaded = set(frame.index)
    assert not loaded & quarantined
    assert loaded | quarantined == set(range(1, 8801))
    won = int((frame["is_won"] & frame["is_closed"]).sum())
    lost = int((~frame["is_won"] & frame["is_closed"]).sum())
    still_open = int((~frame["is_closed"]).sum())
    assert (won, lost, still_open) == (4238, 2473, 501)
    assert won + lost + still_open + len(quarantined) == 8800


def test_maven_end_to_end_types_and_values(maven_rows, maven_loaded):
    frame, _ = maven_loaded
    assert str(frame["created_date"].dtype) == "datetime64[ns]"
    assert str(frame["close_date"].dtype) == "datetime64[ns]"
    assert frame["amount"].dtype == "float64" and frame["is_won"].dtype == bool
    won_total = sum(int(r["close_value"]) for r in maven_rows if r["deal_stage"] == "Won")
    assert frame.loc[frame["is_won"], "amount"].sum() == won_total
    first = maven_rows[0]
    assert frame.loc[1, "opportunity_id"] == first["opportunity_id"]
    assert frame.loc[1, "created_date"] == pd.Timestamp(first["engage_date"])
    assert frame.loc[1, "close_date"] == pd.Timestamp(first["close_date"])
    assert frame.loc[1, "amount"] == float(first["close_value"])
    assert frame.loc[~frame["is_closed"], "close_date"].isna().all()


# ---------------------------------------------------------------------- Fivetran Salesforce


@pytest.fixture(scope="module")
def fivetran_rows():
    return csv_rows(FIVETRAN)


def test_fivetran_seeds_through_salesforce_preset(fivetran_rows):
    out = load_mapping("salesforce").apply("opportunities", raw_text(FIVETRAN), file=str(FIVETRAN))
    assert len(fivetran_rows) == len(out) == 10
    assert out["opportunity_id"].tolist() == [r["id"] for r in fivetran_rows]
    assert out["account_id"].tolist() == [r["account_id"] for r in fivetran_rows]
    assert out["name"].tolist() == [r["name"] for r in fivetran_rows]
    assert out["amount"].tolist() == [r["amount"] or "0" for r in fivetran_rows]
    assert out["is_won"].tolist() == [r["is_won"] for r in fivetran_rows]
    assert out["is_closed"].tolist() == [r["is_closed"] for r in fivetran_rows]
    # both dates are written with a time of day in these seeds
    assert out["created_date"].tolist() == [r["created_date"][:10] for r in fivetran_rows]
    assert out["close_date"].tolist() == [r["close_date"][:10] for r in fivetran_rows]
    assert out["created_date"][0] == "2018-12-19"
    assert sum(r["is_won"] == "true" for r in fivetran_rows) == 5
    assert sum(r["is_closed"] == "true" for r in fivetran_rows) == 9


def test_fivetran_seeds_are_all_marked_deleted(fivetran_rows):
    entries = load_mapping("salesforce").exclusions("opportunities", raw_text(FIVETRAN),
                                                    file=str(FIVETRAN))
    deleted = [i + 1 for i, r in enumerate(fivetran_rows) if r["is_deleted"] == "true"]
    assert len(deleted) == 10   # a quirk of the test seeds
    assert [e.row for e in entries] == deleted
    assert {e.column for e in entries} == {"is_deleted"}
    assert {e.rule for e in entries} == {EXCLUDED_RULE}


def test_fivetran_seeds_load_typed_when_deleted_rows_are_kept(fivetran_rows):
    # The seeds mark every row deleted; to check typing end to end the
    # preset is used without its exclude rules.
    text = (resources.files("partnerkit") / "presets" / "salesforce.yml").read_text("utf-8")
    spec = yaml.safe_load(text)
    del spec["tables"]["opportunities"]["exclude"]
    frame, quarantine = load(FIVETRAN, "opportunities", ColumnMapping.from_dict(spec))
    assert quarantine == []
    assert frame.index.tolist() == list(range(1, 11))
    assert frame["amount"].tolist() == [float(r["amount"] or 0) for r in fivetran_rows]
    assert frame["is_won"].tolist() == [r["is_won"] == "true" for r in fivetran_rows]
    assert frame["created_date"].tolist() == [pd.Timestamp(r["created_date"][:10])
                                              for r in fivetran_rows]
    assert frame["is_closed"].tolist() == [r["is_closed"] == "true" for r in fivetran_rows]
    assert frame["opportunity_id"].tolist() == [r["id"] for r in fivetran_rows]


def test_fivetran_seeds_end_to_end_with_exclusions(loader_applies_exclusions):
    needs_loader_exclusions(loader_applies_exclusions)
    frame, quarantine = load(FIVETRAN, "opportunities", "salesforce")
    assert len(frame) == 0
    assert sorted(q.row for q in quarantine) == list(range(1, 11))
    assert {q.rule for q in quarantine} == {EXCLUDED_RULE}


# ---------------------------------------------------------------------- RavenStack


@pytest.fixture(scope="module")
def raven_rows():
    return csv_rows(RAVEN)


@pytest.fixture(scope="module")
def raven_mapping():
    return load_mapping(RAVEN_MAPPING)


def test_ravenstack_subscriptions_map_to_renewals(raven_rows, raven_mapping):
    assert raven_mapping.file_for("renewals") == RAVEN.name
    out = raven_mapping.apply("renewals", raw_text(RAVEN), file=str(RAVEN))
    assert len(out) == len(raven_rows) == 5000
    assert out["account_id"].tolist() == [r["account_id"] for r in raven_rows]
    assert out["renewal_date"].tolist() == [r["end_date"] for r in raven_rows]
    assert out["arr"].tolist() == [r["arr_amount"] for r in raven_rows]
    expected = [{"True": "false", "False": "true"}[r["churn_flag"]] for r in raven_rows]
    assert out["renewed"].tolist() == expected


def test_ravenstack_exclusions(raven_rows, raven_mapping):
    entries = raven_mapping.exclusions("renewals", raw_text(RAVEN), file=str(RAVEN))
    not_due = [i + 1 for i, r in enumerate(raven_rows) if r["end_date"] == ""]
    ended_trials = [i + 1 for i, r in enumerate(raven_rows)
                    if r["end_date"] != "" and r["is_trial"] == "True"]
    assert (len(not_due), len(ended_trials)) == (4514, 78)
    assert [e.row for e in entries if e.column == "end_date"] == not_due
    assert [e.row for e in entries if e.column == "is_trial"] == ended_trials
    assert len(entries) == 4514 + 78
    assert all("no renewal has fallen due" in e.reason for e in entries if e.column == "end_date")
    assert all("not a renewal" in e.reason for e in entries if e.column == "is_trial")
    kept = set(range(1, 5001)) - {e.row for e in entries}
    assert len(kept) == 408
    # the quirk README.md warns about: every subscription that ended churned
    assert {raven_rows[r - 1]["churn_flag"] for r in kept} == {"True"}


def test_ravenstack_end_to_end_every_row_accounted(raven_rows):
    frame, quarantine = load(RAVEN, "renewals", RAVEN_MAPPING)
    loaded, quarantined = set(frame.index), {q.row for q in quarantine}
    assert not loaded & quarantined
    assert loaded | quarantined == set(range(1, 5001))
    ended = {i + 1 for i, r in enumerate(raven_rows) if r["end_date"] != ""}
    assert len(ended) == 486
    assert loaded <= ended                       # nothing that has not fallen due loads
    assert set(range(1, 5001)) - ended <= quarantined
    for row in sorted(loaded)[:50]:
        source = raven_rows[row - 1]
        assert frame.loc[row, "account_id"] == source["account_id"]
        assert frame.loc[row, "renewal_date"] == pd.Timestamp(source["end_date"])
        assert frame.loc[row, "arr"] == float(source["arr_amount"])
        assert bool(frame.loc[row, "renewed"]) is (source["churn_flag"] == "False")
    assert str(frame["renewal_date"].dtype) == "datetime64[ns]"
    assert frame["renewed"].dtype == bool and not frame["renewed"].any()


def test_ravenstack_end_to_end_with_exclusions(raven_rows, loader_applies_exclusions):
    needs_loader_exclusions(loader_applies_exclusions)
    frame, quarantine = load(RAVEN, "renewals", RAVEN_MAPPING)
    paid_and_ended = {i + 1 for i, r in enumerate(raven_rows)
                      if r["end_date"] != "" and r["is_trial"] == "False"}
    assert set(frame.index) == paid_and_ended and len(frame) == 408
    # each excluded row is reported once, by the mapping, not also as "empty renewal_date"
    assert len(quarantine) == 4514 + 78
    assert {q.rule for q in quarantine} == {EXCLUDED_RULE}
    assert frame["arr"].sum() == sum(float(raven_rows[r - 1]["arr_amount"])
                                     for r in paid_and_ended)
