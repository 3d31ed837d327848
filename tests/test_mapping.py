"""Column mappings on small hand-made raw frames (every cell a string)."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from partnerkit.mapping import EXCLUDED_RULE, ColumnMapping, load_mapping
from partnerkit.quarantine import DataError


def raw(**columns) -> pd.DataFrame:
    """A frame as the loader reads it: strings only, RangeIndex."""
    return pd.DataFrame({k: pd.Series(v, dtype=str) for k, v in columns.items()})


def mapping(tables: dict, name: str = "test") -> ColumnMapping:
    return ColumnMapping.from_dict({"name": name, "tables": tables})


def write(tmp_path, text: str, name: str = "m.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- columns


def test_columns_are_renamed_and_other_columns_kept():
    m = mapping({"opportunities": {"columns": {"opportunity_id": "Deal", "stage": "Phase"}}})
    frame = raw(Deal=["007", "A-1"], Phase=["Won", "Open"], Owner=["ann", "bo"])
    out = m.apply("opportunities", frame, file="deals.csv")
    assert list(out.columns) == ["opportunity_id", "stage", "Deal", "Phase", "Owner"]
    assert out["opportunity_id"].tolist() == ["007", "A-1"]   # "007" not a number
    assert out["stage"].tolist() == ["Won", "Open"]
    assert out["Owner"].tolist() == ["ann", "bo"]
    assert frame.columns.tolist() == ["Deal", "Phase", "Owner"]  # input untouched


def test_canonical_columns_come_in_table_order():
    m = mapping({"renewals": {"columns": {"renewed": "r", "account_id": "a",
                                          "arr": "x", "renewal_date": "d"}}})
    out = m.apply("renewals", raw(d=["2024-01-01"], a=["A"], r=["true"], x=["5"]))
    assert list(out.columns)[:4] == ["account_id", "renewal_date", "arr", "renewed"]


def test_first_present_alternative_wins():
    m = mapping({"opportunities": {"columns": {"opportunity_id": ["Id", "id", "deal_id"]}}})
    only_second = m.apply("opportunities", raw(id=["x1"], deal_id=["d1"]))
    assert only_second["opportunity_id"].tolist() == ["x1"]
    both = m.apply("opportunities", raw(deal_id=["d1"], Id=["X1"], id=["x1"]))
    # the order of the mapping's list decides, not the order of the file
    assert both["opportunity_id"].tolist() == ["X1"]


def test_same_source_may_feed_several_columns():
    m = mapping({"opportunities": {
        "columns": {"stage": "deal_stage"},
        "derive": {"is_won": {"from": "deal_stage", "true": ["Won"]}}}})
    out = m.apply("opportunities", raw(deal_stage=["Won", "Lost"]))
    assert out["stage"].tolist() == ["Won", "Lost"]
    assert out["is_won"].tolist() == ["true", "false"]


def test_table_not_covered_is_returned_unchanged():
    m = mapping({"opportunities": {"columns": {"opportunity_id": "Id"}}})
    frame = raw(partner_id=["P1"])
    assert m.apply("partners", frame) is frame


# ---------------------------------------------------------------------- derive


def test_derive_true_list_makes_every_other_value_false_and_keeps_empty():
    m = mapping({"opportunities": {"derive": {
        "is_won": {"from": "stage", "true": ["Won"]},
        "is_closed": {"from": "stage", "true": ["Won", "Lost"]}}}})
    out = m.apply("opportunities", raw(stage=["Won", "Lost", "Engaging", "", " won "]))
    assert out["is_won"].tolist() == ["true", "false", "false", "", "true"]
    assert out["is_closed"].tolist() == ["true", "true", "false", "", "true"]


def test_derive_with_both_lists_passes_unknown_values_through():
    m = mapping({"renewals": {"derive": {
        "renewed": {"from": "churn_flag", "true": ["False"], "false": ["True"]}}}})
    out = m.apply("renewals", raw(churn_flag=["False", "True", "TRUE", "maybe", ""]))
    # "maybe" reaches the loader as it is and is rejected there, never read as false
    assert out["renewed"].tolist() == ["true", "false", "false", "maybe", ""]


def test_derive_values_from_yaml_booleans_and_numbers(tmp_path):
    # YAML reads `true:` as a boolean key and `[1, true]` as Python values
    path = write(tmp_path, """
        tables:
          renewals:
            derive:
              renewed: {from: flag, true: [1, true], false: [0, false]}
        """)
    out = load_mapping(path).apply("renewals", raw(flag=["1", "True", "0", "false", "x"]))
    assert out["renewed"].tolist() == ["true", "true", "false", "false", "x"]


# ---------------------------------------------------------------------- dates and fill


@pytest.mark.parametrize("written, expected", [
    ("2018-12-19 19:51:13", "2018-12-19"),             # Fivetran
    ("2018-12-19T19:51:13.000+0000", "2018-12-19"),    # Salesforce API
    ("2024-03-31T23:59:59.999Z", "2024-03-31"),        # HubSpot API
    ("2024-03-01 10:15", "2024-03-01"),                # minutes only
    ("2018-12-19", "2018-12-19"),                      # already a date
    ("", ""),
    ("12/19/2018 7:51 PM", "12/19/2018 7:51 PM"),      # left for the loader to reject
    ("2018-12-19x", "2018-12-19x"),
])
def test_timestamps_to_dates(written, expected):
    m = mapping({"opportunities": {"columns": {"created_date": "CreatedDate"},
                                   "timestamps_to_dates": ["created_date"]}})
    out = m.apply("opportunities", raw(CreatedDate=[written]))
    assert out["created_date"].tolist() == [expected]
    assert out["CreatedDate"].tolist() == [written]   # the source column is kept as read


def test_fill_only_touches_empty_cells():
    m = mapping({"opportunities": {"columns": {"amount": "value"}, "fill": {"amount": "0"}}})
    out = m.apply("opportunities", raw(value=["120.5", "", "  ", "-3"]))
    assert out["amount"].tolist() == ["120.5", "0", "0", "-3"]


def test_fill_applies_after_timestamps_to_dates_and_to_a_column_read_as_is():
    m = mapping({"opportunities": {"timestamps_to_dates": ["close_date"],
                                   "fill": {"close_date": "2020-01-01"}}})
    out = m.apply("opportunities", raw(close_date=["2019-05-01 00:00:00", ""]))
    assert out["close_date"].tolist() == ["2019-05-01", "2020-01-01"]


def test_fill_on_a_column_nobody_gives_is_an_error():
    m = mapping({"opportunities": {"fill": {"amount": "0"}}})
    with pytest.raises(DataError) as err:
        m.apply("opportunities", raw(value=["1"]), file="deals.csv")
    assert err.value.column == "amount" and err.value.file == "deals.csv"


# ---------------------------------------------------------------------- missing columns


def test_missing_source_column_names_column_and_file():
    m = mapping({"opportunities": {"columns": {"opportunity_id": "Id",
                                               "amount": ["Amount", "amount"]}}},
                name="crm")
    with pytest.raises(DataError) as err:
        m.apply("opportunities", raw(Id=["1"], Value=["3"]), file="exports/deals.csv")
    e = err.value
    assert e.file == "exports/deals.csv"
    assert e.column == "Amount"
    # both spellings looked for, and what the file has instead
    assert "'Amount' or 'amount'" in e.message and "opportunities.amount" in e.message
    assert "found: Id, Value" in e.message


def test_missing_derive_source_is_an_error():
    m = mapping({"opportunities": {"derive": {"is_won": {"from": "Stage", "true": ["Won"]}}}})
    with pytest.raises(DataError) as err:
        m.apply("opportunities", raw(stage=["Won"]), file="d.csv")
    assert err.value.column == "Stage"


def test_optional_column_may_be_absent():
    m = mapping({"opportunities": {"columns": {"opportunity_id": "Id", "name": "Name"},
                                   "optional": ["name"]}})
    out = m.apply("opportunities", raw(Id=["1", "2"]))
    assert out["name"].tolist() == ["", ""]
    present = m.apply("opportunities", raw(Id=["1"], Name=["Big deal"]))
    assert present["name"].tolist() == ["Big deal"]


# ---------------------------------------------------------------------- rows


def test_rows_keep_their_index_and_order():
    m = mapping({"opportunities": {
        "columns": {"opportunity_id": "Id", "amount": "Amount"},
        "derive": {"is_won": {"from": "Stage", "true": ["Won"]}},
        "fill": {"amount": "0"}}})
    frame = raw(Id=["c", "a", "b"], Amount=["", "2", ""], Stage=["Won", "", "Lost"])
    frame.index = pd.Index([7, 2, 4])
    out = m.apply("opportunities", frame)
    assert out.index.tolist() == [7, 2, 4]
    assert out["opportunity_id"].tolist() == ["c", "a", "b"]
    assert out["amount"].tolist() == ["0", "2", "0"]
    assert out["is_won"].tolist() == ["true", "", "false"]


def test_duplicate_index_labels_are_not_realigned():
    m = mapping({"opportunities": {"columns": {"opportunity_id": "Id"}}})
    frame = raw(Id=["x", "y"])
    frame.index = pd.Index([0, 0])
    assert m.apply("opportunities", frame)["opportunity_id"].tolist() == ["x", "y"]


def test_exclusions_report_rows_with_reason_first_rule_wins():
    m = mapping({"renewals": {
        "columns": {"renewal_date": "end_date"},
        "exclude": [
            {"column": "end_date", "empty": True, "reason": "not due"},
            {"column": "is_trial", "equals": ["True"], "reason": "trial"},
            {"column": "_gone", "equals": [True], "reason": "deleted", "optional": True},
        ]}}, name="subs")
    frame = raw(end_date=["2024-01-02", "", "2024-03-04", "", "2024-05-06"],
                is_trial=["False", "True", "true", "False", "False"])
    out = m.apply("renewals", frame)
    assert len(out) == 5  # apply itself never drops a row
    entries = m.exclusions("renewals", frame, file="subs.csv")
    # 1-based data rows: index + 1; row 2 is empty *and* a trial: reported once
    assert [(e.row, e.column) for e in entries] == [(2, "end_date"), (3, "is_trial"),
                                                    (4, "end_date")]
    assert entries[0].reason.startswith("not due (end_date is empty; excluded by mapping 'subs'")
    assert entries[1].reason.startswith("trial (is_trial = 'true'")
    assert {e.rule for e in entries} == {EXCLUDED_RULE}
    assert {e.file for e in entries} == {"subs.csv"}
    assert entries[1].record == {"end_date": "2024-03-04", "is_trial": "true"}


def test_exclusion_on_missing_column_is_an_error_unless_optional():
    m = mapping({"opportunities": {"exclude": [
        {"column": ["IsDeleted", "is_deleted"], "equals": ["true"], "reason": "deleted"}]}})
    with pytest.raises(DataError) as err:
        m.exclusions("opportunities", raw(Id=["1"]), file="o.csv")
    assert err.value.column == "IsDeleted" and err.value.file == "o.csv"
    assert m.exclusions("partners", raw(Id=["1"])) == []


# ---------------------------------------------------------------------- YAML


def test_yaml_file_round_trip(tmp_path):
    path = write(tmp_path, """
        name: my_crm
        tables:
          opportunities:
            file: deals_export.csv
            columns:
              opportunity_id: Deal ID
        """)
    m = load_mapping(path)
    assert m.name == "my_crm"
    assert m.tables() == {"opportunities"}
    assert m.file_for("opportunities") == "deals_export.csv"
    assert m.file_for("partners") is None
    assert load_mapping(m) is m
    assert load_mapping(None) is None


def test_name_defaults_to_file_stem(tmp_path):
    path = write(tmp_path, "tables: {renewals: {columns: {arr: ARR}}}\n", name="billing.yml")
    assert load_mapping(path).name == "billing"


@pytest.mark.parametrize("text, key", [
    ("nme: x\ntables: {renewals: {}}\n", "nme"),
    ("tables: {renewals: {colums: {arr: ARR}}}\n", "colums"),
    ("tables: {renewals: {derive: {renewed: {from: f, true: [x], when: y}}}}\n", "when"),
    ("tables: {renewals: {exclude: [{column: c, empty: true, reason: r, why: w}]}}\n", "why"),
])
def test_unknown_key_names_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_mapping(path)
    assert err.value.file == str(path)
    assert f"unknown key {key!r}" in err.value.message


@pytest.mark.parametrize("text, words", [
    ("tables: {deals: {}}\n", "unknown table 'deals'"),
    ("tables: {renewals: {columns: {ARR: arr_amount}}}\n", "unknown column 'ARR'"),
    ("tables: {renewals: {fill: {amount: '0'}}}\n", "unknown column 'amount'"),
    ("tables: {renewals: {columns: {renewed: r}, derive: {renewed: {from: r, true: [x]}}}}\n",
     "both"),
    ("tables: {renewals: {derive: {renewed: {from: r}}}}\n", "needs 'from'"),
    ("tables: {renewals: {exclude: [{column: c, reason: r}]}}\n", "exactly one of"),
    ("tables: {renewals: {exclude: [{column: c, empty: true}]}}\n", "a 'reason'"),
    ("tables: {renewals: {columns: {arr: [ ]}}}\n", "column name"),
    ("tables: []\n", "'tables' must map"),
    ("- just a list\n", "YAML dictionary"),
])
def test_invalid_mapping_is_rejected_with_its_file(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_mapping(path)
    assert err.value.file == str(path)
    assert words in err.value.message


def test_invalid_yaml_names_file(tmp_path):
    path = write(tmp_path, "tables: {renewals: [unclosed\n")
    with pytest.raises(DataError) as err:
        load_mapping(path)
    assert err.value.file == str(path) and "not valid YAML" in err.value.message


def test_missing_mapping_file(tmp_path):
    with pytest.raises(DataError) as err:
        load_mapping(tmp_path / "nope.yml")
    assert err.value.file == str(tmp_path / "nope.yml")
    assert "salesforce, hubspot" in err.value.message


# ---------------------------------------------------------------------- presets


SF_API = raw(Id=["0065g00000AbcdEAAR", "0065g00000AbcdFAAR"], AccountId=["0015g0000", "0015g0001"],
             Name=["Acme", "Globex"], StageName=["Closed Won", "Prospecting"],
             Amount=["1200.50", ""], CloseDate=["2024-03-31", "2024-06-30"],
             CreatedDate=["2024-01-15T09:30:00.000+0000", "2024-02-01T23:10:00.000+0000"],
             IsClosed=["true", "false"], IsWon=["true", "false"], IsDeleted=["false", "false"])
SF_FIVETRAN = raw(id=["0065g00000AbcdEAAR", "0065g00000AbcdFAAR"],
                  account_id=["0015g0000", "0015g0001"],
                  name=["Acme", "Globex"], stage_name=["Closed Won", "Prospecting"],
                  amount=["1200.50", ""],
                  close_date=["2024-03-31 00:00:00", "2024-06-30 00:00:00"],
                  created_date=["2024-01-15 09:30:00", "2024-02-01 23:10:00"],
                  is_closed=["true", "false"], is_won=["true", "false"],
                  is_deleted=["false", "true"], _fivetran_active=["true", "true"])

CANONICAL = ["opportunity_id", "account_id", "name", "created_date", "close_date", "stage",
             "is_closed", "is_won", "amount"]


def test_salesforce_preset_reads_api_names_and_fivetran_names_alike():
    sf = load_mapping("salesforce")
    assert sf.name == "salesforce" and sf.tables() == {"opportunities"}
    api = sf.apply("opportunities", SF_API)[CANONICAL]
    fivetran = sf.apply("opportunities", SF_FIVETRAN)[CANONICAL]
    assert api.values.tolist() == fivetran.values.tolist()
    assert api.iloc[0].tolist() == ["0065g00000AbcdEAAR", "0015g0000", "Acme", "2024-01-15",
                                    "2024-03-31", "Closed Won", "true", "true", "1200.50"]
    assert api["amount"].tolist() == ["1200.50", "0"]   # blank Amount counts as 0


def test_salesforce_preset_excludes_deleted_and_superseded_rows():
    sf = load_mapping("salesforce")
    assert sf.exclusions("opportunities", SF_API) == []
    frame = SF_FIVETRAN.assign(_fivetran_active=["false", "true"])
    entries = sf.exclusions("opportunities", frame, file="sf.csv")
    assert [(e.row, e.column) for e in entries] == [(1, "_fivetran_active"), (2, "is_deleted")]
    # without the optional columns the rules do not apply
    assert sf.exclusions("opportunities", SF_FIVETRAN.drop(
        columns=["is_deleted", "_fivetran_active"])) == []


def test_salesforce_preset_without_name_column():
    out = load_mapping("salesforce").apply("opportunities", SF_API.drop(columns=["Name"]))
    assert out["name"].tolist() == ["", ""]


def test_hubspot_preset_reads_api_ui_and_fivetran_spellings():
    hs = load_mapping("hubspot")
    api = raw(hs_object_id=["101", "102", "103", "104"], company_id=["9", "9", "8", "7"],
              dealname=["A", "B", "C", "D"],
              dealstage=["closedwon", "closedlost", "appointmentscheduled", "contractsent"],
              amount=["5000", "", "300", "10"],
              closedate=["2024-03-31T12:00:00.000Z", "2024-04-02T00:00:00Z",
                         "2024-05-31T23:59:59.999Z", ""],
              createdate=["2024-01-02T08:00:00Z", "2024-01-03T08:00:00Z",
                          "2024-02-01T08:00:00Z", "2024-02-02T08:00:00Z"])
    ui = raw(**{"Record ID": api["hs_object_id"],
                "Associated Company IDs (Primary)": api["company_id"],
                "Deal Name": api["dealname"],
                "Deal Stage": ["Closed Won", "closed lost", "Appointment Scheduled",
                               "Contract Sent"],
                "Amount": api["amount"], "Close Date": ["2024-03-31 12:00", "2024-04-02 00:00",
                                                        "2024-05-31 23:59", ""],
                "Create Date": ["2024-01-02 08:00", "2024-01-03 08:00", "2024-02-01 08:00",
                                "2024-02-02 08:00"]})
    fivetran = raw(deal_id=api["hs_object_id"], company_id=api["company_id"],
                   property_dealname=api["dealname"], deal_pipeline_stage_id=api["dealstage"],
                   property_amount=api["amount"], property_closedate=api["closedate"],
                   property_createdate=api["createdate"], is_deleted=["false"] * 4)
    cols = ["opportunity_id", "account_id", "created_date", "close_date", "is_closed",
            "is_won", "amount"]
    expected = [["101", "9", "2024-01-02", "2024-03-31", "true", "true", "5000"],
                ["102", "9", "2024-01-03", "2024-04-02", "true", "false", "0"],
                ["103", "8", "2024-02-01", "2024-05-31", "false", "false", "300"],
                ["104", "7", "2024-02-02", "", "false", "false", "10"]]
    for frame in (api, ui, fivetran):
        assert hs.apply("opportunities", frame)[cols].values.tolist() == expected
    assert hs.exclusions("opportunities", fivetran.assign(
        is_deleted=["false", "true", "false", "false"]))[0].row == 2


def test_hubspot_without_a_company_column_says_what_to_add():
    frame = raw(hs_object_id=["1"], dealstage=["closedwon"], amount=["1"],
                closedate=["2024-01-01"], createdate=["2024-01-01"])
    with pytest.raises(DataError) as err:
        load_mapping("hubspot").apply("opportunities", frame, file="deals.csv")
    assert err.value.column == "Associated Company IDs (Primary)"
    assert "company_id" in err.value.message
