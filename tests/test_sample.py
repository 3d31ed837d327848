"""The bundled sample company: reproducible, in range, and planted where it says.

The planted facts are checked with plain pandas on the committed files in
``data/sample``; the expected numbers come from the plans written into the
sample (quarterly counts) and from the cases listed in its README, not from
running the metric code.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from partnerkit.sample import (
    PLANTED_QUALITY_CASES,
    SAMPLE_FILES,
    STORIES,
    STORY_QUARTER,
    generate_sample,
    write_sample,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FIRST_DAY = pd.Timestamp("2024-10-01")
END = pd.Timestamp("2026-10-01")  # exclusive end of 2026Q3


def read(table: str) -> pd.DataFrame:
    """A committed CSV as strings, exactly as written."""
    return pd.read_csv(SAMPLE / f"{table}.csv", dtype=str, keep_default_na=False)


def dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="%Y-%m-%d")


def stamps(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="%Y-%m-%dT%H:%M:%SZ")


def quarter(s: pd.Series) -> pd.Series:
    return s.dt.to_period("Q").astype(str)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    write_sample(out, seed=7)
    return out


@pytest.fixture(scope="module")
def seven() -> dict[str, pd.DataFrame]:
    return generate_sample(7)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE / "sync_events.parquet")


# ------------------------------------------------------------ reproducibility


@pytest.mark.parametrize("name", [n for n in SAMPLE_FILES if n.endswith(".csv")])
def test_regenerated_csv_is_byte_identical_to_committed(regenerated, name):
    assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes()


def test_regenerated_parquet_matches_committed(regenerated):
    committed = SAMPLE / "sync_events.parquet"
    fresh = regenerated / "sync_events.parquet"
    if committed.read_bytes() == fresh.read_bytes():
        return
    # Parquet bytes are only stable for one writer: another pyarrow version may
    # encode or pad pages differently. The footer's created_by names the writer;
    # only when it differs do we accept different bytes, and then the decoded
    # table and its schema must still be exactly the same.
    old = pq.ParquetFile(committed).metadata.created_by
    new = pq.ParquetFile(fresh).metadata.created_by
    assert old != new, f"the same writer ({new}) produced different bytes"
    a, b = pq.read_table(committed), pq.read_table(fresh)
    assert a.schema.equals(b.schema)
    assert a.equals(b)


def test_parquet_is_written_without_pandas_metadata():
    meta = pq.ParquetFile(SAMPLE / "sync_events.parquet").metadata
    assert b"pandas" not in (meta.metadata or {})
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert [meta.schema.column(i).name for i in range(3)] == ["connection_id", "ts", "ok"]


def test_same_seed_gives_identical_frames(seven):
    again = generate_sample(7)
    assert list(again) == list(seven)
    for name, frame in seven.items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)


def test_different_seed_gives_different_data(seven):
    other = generate_sample(8)
    assert not other["opportunities"]["amount"].equals(seven["opportunities"]["amount"])
    assert not other["installs"]["installed_at"].equals(seven["installs"]["installed_at"])
    assert len(other["sync_events"]) != len(seven["sync_events"])
    # The planned skeleton does not move with the seed.
    pd.testing.assert_frame_equal(other["partners"], seven["partners"])
    assert len(other["opportunities"]) == len(seven["opportunities"]) == 3760


def test_generated_frames_have_canonical_types(seven):
    opps = seven["opportunities"]
    assert opps["created_date"].dtype == "datetime64[ns]"
    assert opps["is_won"].dtype == bool and opps["amount"].dtype == float
    assert seven["installs"]["installed_at"].dtype == "datetime64[ns]"
    assert seven["sync_events"]["ok"].dtype == bool
    assert pd.api.types.is_string_dtype(seven["partners"]["partner_id"])


# ------------------------------------------------------------ writing


def test_write_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "partners.csv").write_text("mine\n")
    with pytest.raises(FileExistsError):
        write_sample(tmp_path, seed=7)
    assert (tmp_path / "partners.csv").read_text() == "mine\n"


def test_overwrite_replaces_only_the_generated_files(tmp_path):
    (tmp_path / "README.md").write_text("keep me\n")
    (tmp_path / "partners.csv").write_text("stale\n")
    seen = []
    written = write_sample(tmp_path, seed=7, progress=seen.append, overwrite=True)
    assert [p.name for p in written] == list(SAMPLE_FILES) == seen
    assert (tmp_path / "README.md").read_text() == "keep me\n"
    assert (tmp_path / "partners.csv").read_bytes() == (SAMPLE / "partners.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*SAMPLE_FILES, "README.md"])


def test_committed_directory_holds_the_generated_files_and_readme():
    assert sorted(p.name for p in SAMPLE.iterdir()) == sorted([*SAMPLE_FILES, "README.md"])


# ------------------------------------------------------------ formats


@pytest.mark.parametrize("name", [n for n in SAMPLE_FILES if n.endswith(".csv")])
def test_csv_encoding_and_line_endings(name):
    raw = (SAMPLE / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw and raw.endswith(b"\n")
    raw.decode("utf-8")


def test_csv_cell_formats():
    date = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    money = re.compile(r"^-?\d+\.\d{2}$")
    opps = read("opportunities")
    assert opps["created_date"].str.match(date).all()
    assert (opps["close_date"].str.match(date) | (opps["close_date"] == "")).all()
    assert opps["amount"].str.match(money).all()
    assert set(opps["is_closed"]) | set(opps["is_won"]) == {"true", "false"}
    inst = read("installs")
    assert inst["installed_at"].str.match(stamp).all()
    assert (inst["uninstalled_at"].str.match(stamp) | (inst["uninstalled_at"] == "")).all()
    ren = read("renewals")
    assert ren["arr"].str.match(money).all() and set(ren["renewed"]) == {"true", "false"}


def test_rows_are_sorted_by_their_keys():
    for table, key in [("partners", "partner_id"), ("activities", "activity_id"),
                       ("integrations", "integration_id"), ("installs", "connection_id"),
                       ("opportunities", "opportunity_id")]:
        ids = read(table)[key]
        assert ids.is_unique and ids.is_monotonic_increasing, table
    att = read("attributions")
    keys = list(zip(att["opportunity_id"], att["partner_id"], att["role"]))
    assert keys == sorted(keys)


# ------------------------------------------------------------ volumes and span


def test_volumes_are_in_the_stated_ranges(events):
    partners = read("partners")
    assert len(partners) == 12
    assert set(partners["partner_type"]) == {"technology", "reseller", "referral", "agency",
                                              "marketplace"}
    assert 3000 <= len(read("opportunities")) <= 5000
    assert 800 <= len(read("installs")) <= 1200
    assert 500 <= len(read("renewals")) <= 3000
    assert len(events) > 100_000


def test_time_span_is_2024q4_to_2026q3(events):
    all_days = pd.concat([
        dates(read("partners")["signed_date"]), dates(read("activities")["date"]),
        dates(read("integrations")["scoped_date"]), dates(read("integrations")["live_date"]),
        dates(read("opportunities")["created_date"]), dates(read("opportunities")["close_date"]),
        dates(read("attributions")["tagged_date"]), dates(read("renewals")["renewal_date"]),
        stamps(read("installs")["installed_at"]), stamps(read("installs")["uninstalled_at"]),
        events["ts"],
    ]).dropna()
    assert all_days.min() >= FIRST_DAY and all_days.max() < END
    created = quarter(dates(read("opportunities")["created_date"]))
    assert created.min() == "2024Q4" and created.max() == "2026Q3" == STORY_QUARTER
    assert created.nunique() == 8


def test_sample_stays_under_ten_megabytes():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024


# ------------------------------------------------------------ planted quality cases


def tags_with_deals() -> pd.DataFrame:
    att = read("attributions")
    opps = read("opportunities")[["opportunity_id", "created_date", "close_date", "is_closed"]]
    t = att.merge(opps, on="opportunity_id")
    for c in ["tagged_date", "created_date", "close_date"]:
        t[c] = dates(t[c])
    return t


def test_late_sourced_cases_sit_on_and_past_the_grace_limit():
    t = tags_with_deals()
    lag = (t["tagged_date"] - t["created_date"]).dt.days
    on_limit = t[(t["opportunity_id"] == "O01342") & (t["partner_id"] == "P006")]
    past = t[(t["opportunity_id"] == "O01377") & (t["partner_id"] == "P006")]
    assert on_limit["role"].tolist() == ["sourced"] and lag[on_limit.index].tolist() == [14]
    assert past["role"].tolist() == ["sourced"] and lag[past.index].tolist() == [15]
    late = t[(t["role"] == "sourced") & (lag > 14)]
    assert list(zip(late["opportunity_id"], late["partner_id"])) == [("O01377", "P006")]


def test_multiple_sourcers_including_a_tie():
    att = read("attributions")
    src = att[att["role"] == "sourced"]
    counts = src.groupby("opportunity_id").size()
    assert sorted(counts[counts > 1].index) == ["O01456", "O01533"]
    tie = src[src["opportunity_id"] == "O01456"]
    assert sorted(tie["partner_id"]) == ["P006", "P011"]
    assert tie["tagged_date"].nunique() == 1 and tie["tagged_date"].iloc[0] == "2025-08-09"
    later = src[src["opportunity_id"] == "O01533"].set_index("partner_id")["tagged_date"]
    assert later["P011"] == "2025-08-23" and later["P006"] == "2025-08-26"


def test_tagged_after_close_is_the_only_tag_after_a_close():
    t = tags_with_deals()
    after = t[(t["is_closed"] == "true") & (t["tagged_date"] > t["close_date"])]
    assert list(zip(after["opportunity_id"], after["partner_id"])) == [("O01288", "P009")]
    row = after.iloc[0]
    assert (row["tagged_date"] - row["close_date"]).days == 6
    assert read("opportunities").set_index("opportunity_id").loc["O01288", "stage"] == "Closed Won"


def test_sourced_and_influenced_only_on_the_planted_deal():
    att = read("attributions")
    roles = att.groupby("opportunity_id")["role"].agg(set)
    both = roles[roles.map(lambda r: r == {"sourced", "influenced"})]
    assert both.index.tolist() == ["O01602"]
    o = att[att["opportunity_id"] == "O01602"].set_index("partner_id")["role"].to_dict()
    assert o == {"P006": "sourced", "P007": "influenced"}


def test_orphan_attributions_and_their_rows():
    att = read("attributions")
    unknown_partner = att[~att["partner_id"].isin(read("partners")["partner_id"])]
    unknown_deal = att[~att["opportunity_id"].isin(read("opportunities")["opportunity_id"])]
    # 1-based data rows: index 0 is data row 1.
    assert [(i + 1, o, p) for i, o, p in unknown_partner[["opportunity_id", "partner_id"]]
            .itertuples()] == [(172, "O01013", "P099")]
    assert [(i + 1, o, p) for i, o, p in unknown_deal[["opportunity_id", "partner_id"]]
            .itertuples()] == [(790, "O99999", "P007")]
    assert len(att) == 790


def test_invalid_opportunities_are_the_planted_ones():
    opps = read("opportunities")
    negative = opps[opps["amount"].str.startswith("-")]
    assert [(i + 1, o, a) for i, o, a in negative[["opportunity_id", "amount"]].itertuples()] == [
        (1874, "O01874", "-4200.00")]
    won_open = opps[(opps["is_won"] == "true") & (opps["is_closed"] == "false")]
    assert [(i + 1, o) for i, o in won_open[["opportunity_id"]].itertuples()] == [(2031, "O02031")]
    closed = opps[opps["is_closed"] == "true"]
    assert (closed["close_date"] != "").all()
    # No tag sits on a deal the loader will quarantine.
    assert not read("attributions")["opportunity_id"].isin(["O01874", "O02031"]).any()


def test_orphan_events_are_few_and_named(events):
    unknown = events[~events["connection_id"].isin(read("installs")["connection_id"])]
    assert unknown["connection_id"].value_counts().sort_index().to_dict() == {
        "C99901": 4, "C99902": 3}


def test_every_listed_quality_case_is_in_the_committed_files(events):
    att = read("attributions")
    pairs = set(zip(att["opportunity_id"], att["partner_id"]))
    opps = read("opportunities")
    for case in PLANTED_QUALITY_CASES:
        if case["table"] == "attributions":
            assert (case["opportunity_id"], case["partner_id"]) in pairs, case
        elif case["table"] == "opportunities":
            assert opps.loc[case["row"] - 1, "opportunity_id"] == case["opportunity_id"], case
        else:
            n = (events["connection_id"] == case["connection_id"]).sum()
            assert n == case["events"], case
    quarantined = {(c["table"], c.get("opportunity_id"), c.get("partner_id"))
                   for c in PLANTED_QUALITY_CASES if c["quarantined"]}
    assert quarantined == {("attributions", "O01013", "P099"), ("attributions", "O99999", "P007"),
                           ("opportunities", "O01874", None), ("opportunities", "O02031", None)}


def test_no_markup_in_partner_names():
    assert not read("partners")["name"].str.contains("[<>&]").any()


# ------------------------------------------------------------ planted stories


def test_story_partners_have_the_right_types():
    types = read("partners").set_index("partner_id")["partner_type"]
    assert types[STORIES["healthy_technology"]] == "technology"
    assert types[STORIES["sourcing_reseller"]] == "reseller"
    assert types[STORIES["influencing_referral"]] == "referral"
    integ = read("integrations").set_index("integration_id")["partner_id"]
    for story in ("installs_without_usage", "live_without_pipeline", "error_rate_creep"):
        assert integ[STORIES[story]["integration_id"]] == STORIES[story]["partner_id"]


def test_meetings_climb_while_nothing_ships():
    pid = STORIES["meetings_without_shipping"]
    act = read("activities")
    act = act[act["partner_id"] == pid]
    q = quarter(dates(act["date"]))
    meetings = q[act["kind"] == "meeting"].value_counts()
    assert [meetings.get(x, 0) for x in ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]] == [3, 4, 7, 10]
    assert not act["kind"].isin(["listing_published", "seller_enabled"]).any()
    integ = read("integrations")
    assert (integ.loc[integ["partner_id"] == pid, "live_date"] == "").all()


def test_installs_climb_on_the_unused_integration():
    inst = read("installs")
    story = STORIES["installs_without_usage"]["integration_id"]
    q = quarter(stamps(inst.loc[inst["integration_id"] == story, "installed_at"]))
    per_q = q.value_counts()
    assert [per_q[x] for x in ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]] == [20, 25, 45, 65]


def test_live_integration_has_no_partner_tags():
    story = STORIES["live_without_pipeline"]
    integ = read("integrations").set_index("integration_id")
    assert integ.loc[story["integration_id"], "live_date"] == "2026-04-20"
    assert not (read("attributions")["partner_id"] == story["partner_id"]).any()
    inst = read("installs")
    assert (inst["integration_id"] == story["integration_id"]).sum() == 8


def test_error_rate_creeps_on_one_integration_only(events):
    inst = read("installs")[["connection_id", "integration_id"]]
    ev = events.merge(inst, on="connection_id")
    ev = ev[ev["ts"] >= pd.Timestamp("2026-01-01")]
    rate = (~ev["ok"]).groupby([ev["integration_id"], quarter(ev["ts"])]).mean().unstack()
    creep = rate.loc[STORIES["error_rate_creep"]["integration_id"]]
    assert creep["2026Q1"] < creep["2026Q2"] < creep["2026Q3"]
    assert creep["2026Q3"] >= 0.05
    others = rate.drop(STORIES["error_rate_creep"]["integration_id"])
    assert (others["2026Q3"].dropna() < 0.05).all()


def test_reseller_sources_and_referral_influences():
    att = read("attributions")
    share = att.groupby("partner_id")["role"].apply(lambda r: (r == "sourced").mean())
    assert share[STORIES["sourcing_reseller"]] > 0.9
    assert share[STORIES["influencing_referral"]] < 0.1


def test_some_integrations_are_still_scoped_at_the_end():
    integ = read("integrations")
    not_live = integ.loc[integ["live_date"] == "", "integration_id"].tolist()
    assert not_live == ["I003", "I004", "I010"]


# ------------------------------------------------------------ realism


def test_unassisted_majority_and_influence_wins_more_often():
    opps = read("opportunities")
    opps = opps[~opps["opportunity_id"].isin(["O01874", "O02031"])]
    att = read("attributions")
    sourced = set(att.loc[att["role"] == "sourced", "opportunity_id"])
    influenced = set(att.loc[att["role"] == "influenced", "opportunity_id"]) - sourced
    bucket = np.where(opps["opportunity_id"].isin(sourced), "sourced",
                      np.where(opps["opportunity_id"].isin(influenced), "influenced", "unassisted"))
    assert (bucket == "unassisted").mean() > 0.5
    closed = opps["is_closed"] == "true"
    won = (opps["is_won"] == "true")[closed].groupby(bucket[closed.to_numpy()]).mean()
    assert 0.1 < won["unassisted"] < won["influenced"] < 0.6


def test_integrated_accounts_renew_more_often():
    inst = read("installs")
    start, stop = stamps(inst["installed_at"]), stamps(inst["uninstalled_at"])
    ren = read("renewals")
    due_end = dates(ren["renewal_date"]) + pd.Timedelta(days=1)
    by_account: dict[str, list] = {}
    for a, s, e in zip(inst["account_id"], start, stop):
        by_account.setdefault(a, []).append((s, e))
    integrated = [any(s < t and (pd.isna(e) or e >= t) for s, e in by_account.get(a, []))
                  for a, t in zip(ren["account_id"], due_end)]
    renewed = ren["renewed"] == "true"
    rate = renewed.groupby(np.array(integrated)).mean()
    assert sum(integrated) >= 100
    assert rate[True] > rate[False] + 0.05


def test_accounts_are_shared_across_deals_installs_and_renewals():
    opps = set(read("opportunities")["account_id"])
    inst = set(read("installs")["account_id"])
    ren = set(read("renewals")["account_id"])
    assert len(inst & opps) > 100 and len(inst & ren) > 100 and len(opps & ren) > 100
