"""Telemetry rollups: hand-worked boundary cases, and an independent pandas
computation of the same numbers on a randomised fixture."""

from types import SimpleNamespace

import ibis
import numpy as np
import pandas as pd
import pytest

from partnerkit.dataset import EventSource
from partnerkit.telemetry import (
    OrphanEvents,
    TelemetryEngine,
    connection_weeks,
    error_rates,
    open_events,
    orphan_events,
    weekly_active,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

T = pd.Timestamp

# 2026-03-30 is a Monday; its week runs to Sunday 2026-04-05 and so straddles
# the end of 2026Q1 (2026Q2 starts Wednesday 2026-04-01 00:00:00).
INSTALLS = pd.DataFrame({
    "connection_id": ["c1", "c2", "c3", "007"],
    "integration_id": ["i1", "i1", "i2", "i3"],
    "account_id": ["a1", "a2", "a3", "a4"],
    "installed_at": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-02-01", "2026-03-01"]),
    "uninstalled_at": pd.to_datetime([None, None, None, None]),
})
INTEGRATIONS = pd.DataFrame({
    "integration_id": ["i1", "i2", "i3", "i4"],
    "partner_id": ["p1", "p2", "p2", "p3"],
    "name": ["One", "Two", "Three", "Four"],
})
EVENTS = [
    # (connection_id, ts, ok)                         week      quarter
    ("c1", "2026-03-22 23:59:59.999999", True),   # 03-16     Q1 (last instant of the week)
    ("c1", "2026-03-23 00:00:00", False),         # 03-23     Q1 (Monday 00:00 opens a week)
    ("c2", "2026-03-23 10:00:00", True),          # 03-23     Q1
    ("c1", "2026-03-31 23:59:59.999999", False),  # 03-30     Q1 (last instant of Q1)
    ("c1", "2026-04-01 00:00:00", True),          # 03-30     Q2 (Q1's end_exclusive)
    ("c2", "2026-04-02 12:00:00", False),         # 03-30     Q2
    ("c3", "2026-03-30 00:00:00", True),          # 03-30     Q1
    ("007", "2026-04-06 00:00:00", True),         # 04-06     Q2
    ("007", "2026-04-12 23:59:59", False),        # 04-06     Q2
    ("c3", "2026-04-13 00:00:00", True),          # at the window end: outside
    ("c2", "2026-03-15 23:59:59", True),          # before the window start: outside
    ("x9", "2026-03-24 08:00:00", True),          # orphan
    ("x9", "2026-04-01 08:00:00", False),         # orphan
    ("7", "2026-04-07 08:00:00", True),           # orphan: "7" is not "007"
    ("x9", "2026-05-01 08:00:00", True),          # orphan outside the window
]
START, END = T("2026-03-16"), T("2026-04-13")


def events_frame(rows=EVENTS):
    return pd.DataFrame({
        "connection_id": pd.array([r[0] for r in rows], dtype="string"),
        "ts": pd.to_datetime([r[1] for r in rows], format="ISO8601").astype("datetime64[us]"),
        "ok": [r[2] for r in rows],
    })


def write_csv(frame, path):
    """CSV as the spec writes it: ISO timestamps, true/false."""
    lines = ["connection_id,ts,ok"]
    for cid, ts, ok in frame.itertuples(index=False):
        lines.append(f"{cid},{ts.isoformat()},{'true' if ok else 'false'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_events(frame, tmp_path, fmt):
    if fmt == "parquet":
        path = tmp_path / "sync_events.parquet"
        frame.to_parquet(path, index=False)
        return path
    return write_csv(frame, tmp_path / "sync_events.csv")


@pytest.fixture(params=["parquet", "csv"])
def engine(request, tmp_path):
    path = write_events(events_frame(), tmp_path, request.param)
    return TelemetryEngine(path, INSTALLS, INTEGRATIONS)


# --------------------------------------------------------------------------- hand-worked


def test_connection_weeks_by_hand(engine):
    cw = engine.connection_weeks(START, END)
    expected = pd.DataFrame({
        "connection_id": ["007", "c1", "c1", "c1", "c2", "c2", "c3"],
        "integration_id": ["i3", "i1", "i1", "i1", "i1", "i1", "i2"],
        "partner_id": ["p2", "p1", "p1", "p1", "p1", "p1", "p2"],
        "week": pd.to_datetime(["2026-04-06", "2026-03-16", "2026-03-23", "2026-03-30",
                                "2026-03-23", "2026-03-30", "2026-03-30"]),
        "attempts": [2, 1, 1, 2, 1, 1, 1],
        "errors": [1, 0, 1, 1, 0, 1, 0],
        "ok_events": [1, 1, 0, 1, 1, 0, 1],
    })
    assert cw["connection_id"].tolist() == expected["connection_id"].tolist()
    for column in expected.columns:
        assert cw[column].tolist() == expected[column].tolist(), column
    assert str(cw["week"].dtype) == "datetime64[ns]"


def test_weekly_active_company_by_hand(engine):
    weekly = engine.weekly_active(START, END)
    assert weekly["week"].tolist() == list(pd.to_datetime(
        ["2026-03-16", "2026-03-23", "2026-03-30", "2026-04-06"]))
    assert weekly["active_connections"].tolist() == [1, 1, 2, 1]
    assert weekly["connections_with_events"].tolist() == [1, 2, 3, 1]
    assert weekly["attempts"].tolist() == [1, 2, 4, 2]
    assert weekly["errors"].tolist() == [0, 1, 2, 1]
    # The straddling week is a full week of neither quarter.
    assert weekly["quarter"].tolist()[:2] == ["2026Q1", "2026Q1"]
    assert weekly["quarter"].isna().tolist() == [False, False, True, False]
    assert weekly["quarter"].iloc[3] == "2026Q2"


def test_weekly_active_per_integration_and_partner_by_hand(engine):
    per_integration = engine.weekly_active(START, END, by="integration")
    table = per_integration.pivot(index="week", columns="integration_id", values="active_connections")
    assert table["i1"].tolist() == [1, 1, 1, 0]
    assert table["i2"].tolist() == [0, 0, 1, 0]
    assert table["i3"].tolist() == [0, 0, 0, 1]
    assert table["i4"].tolist() == [0, 0, 0, 0]  # an integration without installs is listed
    assert dict(zip(per_integration.integration_id, per_integration.partner_id)) == {
        "i1": "p1", "i2": "p2", "i3": "p2", "i4": "p3"}

    per_partner = engine.weekly_active(START, END, by="partner")
    table = per_partner.pivot(index="week", columns="partner_id", values="active_connections")
    assert table["p1"].tolist() == [1, 1, 1, 0]
    assert table["p2"].tolist() == [0, 0, 1, 1]
    assert table["p3"].tolist() == [0, 0, 0, 0]


def test_error_rates_split_the_straddling_week_at_the_quarter_boundary(engine):
    rates = engine.error_rates(START, END)
    assert rates["quarter"].tolist() == ["2026Q1", "2026Q2"]
    assert rates["start"].tolist() == [T("2026-03-16"), T("2026-04-01")]
    assert rates["end_exclusive"].tolist() == [T("2026-04-01"), T("2026-04-13")]
    assert rates["attempts"].tolist() == [5, 4]
    assert rates["errors"].tolist() == [2, 2]
    assert rates["error_rate"].tolist() == [0.4, 0.5]


def test_error_rates_per_partner_by_hand(engine):
    rates = engine.error_rates(START, END, by="partner").set_index(["quarter", "partner_id"])
    assert rates.loc[("2026Q1", "p1"), ["attempts", "errors"]].tolist() == [4, 2]
    assert rates.loc[("2026Q2", "p1"), ["attempts", "errors"]].tolist() == [2, 1]
    assert rates.loc[("2026Q1", "p2"), ["attempts", "errors"]].tolist() == [1, 0]
    assert rates.loc[("2026Q2", "p2"), ["attempts", "errors"]].tolist() == [2, 1]
    assert rates.loc[("2026Q1", "p2"), "error_rate"] == 0.0
    # No attempts: no rate, rather than a rate of 0.
    assert rates.loc[("2026Q1", "p3"), "attempts"] == 0
    assert np.isnan(rates.loc[("2026Q1", "p3"), "error_rate"])


def test_fiscal_quarters_follow_the_year_they_end_in(engine):
    # With the fiscal year starting in February, 2026-02-01..2026-04-30 is the
    # first quarter of the fiscal year ending January 2027.
    rates = engine.error_rates(START, END, fiscal_year_start_month=2)
    assert rates["quarter"].tolist() == ["2027Q1"]
    assert rates[["attempts", "errors"]].values.tolist() == [[9, 4]]
    weekly = engine.rollup(START, END, fiscal_year_start_month=2).weekly_active()
    assert weekly["quarter"].tolist() == ["2027Q1"] * 4


def test_orphans_are_excluded_and_reported(engine):
    # x9 and "7" never reach a rollup: totals above are those of known
    # connections only. They are reported instead.
    orphans = engine.rollup(START, END).orphans
    assert orphans == OrphanEvents(events=3, connection_ids=("7", "x9"), missing_id_events=0)
    assert engine.orphan_events(START, END) == orphans
    assert engine.orphan_events() == OrphanEvents(4, ("7", "x9"), 0)


def test_a_quarter_object_is_a_window(engine):
    q2 = SimpleNamespace(start=T("2026-04-01"), end_exclusive=T("2026-07-01"))
    rates = engine.error_rates(q2)
    assert rates[["quarter", "attempts", "errors"]].values.tolist() == [["2026Q2", 5, 2]]
    q1 = SimpleNamespace(start=T("2026-01-01"), end_exclusive=T("2026-04-01"))
    both = engine.error_rates(q1, q2)
    # Q1 now also holds the event of 2026-03-15 that the narrower window cut off.
    assert both[["quarter", "attempts", "errors"]].values.tolist() == [
        ["2026Q1", 6, 2], ["2026Q2", 5, 2]]


def test_window_bounds_may_be_timezone_aware(engine):
    weekly = engine.weekly_active(T("2026-03-16 02:00", tz="Europe/Berlin"), "2026-03-23")
    # 02:00 in Berlin is 01:00 UTC: the Sunday event of 03-22 is still inside.
    assert weekly["attempts"].tolist() == [1]
    # The window cuts the week at its start, so it is no full week of Q1.
    assert weekly["quarter"].isna().tolist() == [True]


def test_offsets_in_csv_timestamps_are_converted_to_utc(tmp_path):
    path = tmp_path / "sync_events.csv"
    path.write_text(
        "connection_id,ts,ok\n"
        "c1,2026-03-23T01:00:00+02:00,true\n"  # 2026-03-22 23:00 UTC: the earlier week
        "c1,2026-03-23T00:00:00Z,false\n"
        "007,2026-03-23T00:00:00,true\n"
    )
    cw = connection_weeks(path, INSTALLS, "2026-03-01", "2026-04-01")
    assert cw[["connection_id", "week", "attempts", "errors"]].values.tolist() == [
        ["007", T("2026-03-23"), 1, 0],
        ["c1", T("2026-03-16"), 1, 0],
        ["c1", T("2026-03-23"), 1, 1],
    ]


def test_timezone_aware_parquet_is_read_as_utc(tmp_path):
    frame = events_frame([("c1", "2026-03-23 00:30:00", True)])
    frame["ts"] = frame["ts"].dt.tz_localize("Asia/Kolkata")  # 2026-03-22 19:00 UTC
    path = tmp_path / "sync_events.parquet"
    frame.to_parquet(path)
    cw = connection_weeks(path, INSTALLS, "2026-03-01", "2026-04-01")
    assert cw["week"].tolist() == [T("2026-03-16")]


def test_every_source_kind_gives_the_same_rollup(tmp_path):
    frame = events_frame()
    parquet = write_events(frame, tmp_path, "parquet")
    csv = write_events(frame, tmp_path, "csv")
    folder = tmp_path / "events_dir"
    folder.mkdir()
    frame.iloc[:7].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[7:].to_parquet(folder / "part-1.parquet", index=False)
    con = ibis.duckdb.connect()
    sources = [
        parquet,
        str(csv),
        EventSource(parquet, "parquet"),
        EventSource(csv, "csv"),
        folder,
        con.read_parquet(parquet),
        ibis.memtable(frame),
    ]
    results = [weekly_active(s, INSTALLS, START, END, integrations=INTEGRATIONS, by="partner")
               for s in sources]
    for other in results[1:]:
        pd.testing.assert_frame_equal(results[0], other)
    assert results[0]["active_connections"].sum() == 5


def test_missing_id_events_are_orphans(tmp_path):
    frame = events_frame([("c1", "2026-03-23", True), ("zz", "2026-03-23", True)])
    frame.loc[1, "connection_id"] = pd.NA
    found = orphan_events(ibis.memtable(frame), INSTALLS)
    assert found == OrphanEvents(events=1, connection_ids=(), missing_id_events=1)
    engine = TelemetryEngine(ibis.memtable(frame), INSTALLS)
    assert engine.rollup("2026-03-01", "2026-04-01").orphans == found
    assert engine.weekly_active("2026-03-01", "2026-04-01")["attempts"].sum() == 1


# --------------------------------------------------------------------------- pandas never sees events


def test_only_aggregated_rows_leave_the_engine(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    n = 50_000
    frame = pd.DataFrame({
        "connection_id": pd.array(rng.choice(["c1", "c2", "c3", "007", "x9"], n), dtype="string"),
        "ts": T("2026-01-01") + pd.to_timedelta(rng.integers(0, 181 * 86400, n), unit="s"),
        "ok": rng.random(n) < 0.9,
    })
    path = tmp_path / "sync_events.parquet"
    frame.to_parquet(path, index=False)

    def refuse(*args, **kwargs):
        raise AssertionError("sync_events must not be read by pandas")

    monkeypatch.setattr(pd, "read_parquet", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)
    con = ibis.duckdb.connect()
    fetched = []
    execute = con.execute

    def spy(expr, *args, **kwargs):
        result = execute(expr, *args, **kwargs)
        fetched.append(len(result))
        return result

    monkeypatch.setattr(con, "execute", spy)
    engine = TelemetryEngine(path, INSTALLS, INTEGRATIONS, backend=con)
    weekly = engine.weekly_active("2026-01-01", "2026-07-01", by="integration")
    rates = engine.error_rates("2026-01-01", "2026-07-01", by="partner")
    orphans = engine.rollup("2026-01-01", "2026-07-01").orphans

    # One query served all three: at most one row per week and integration
    # plus one per week and orphan id (27 weeks x (3 + 1)).
    assert len(fetched) == 1
    assert fetched[0] <= 27 * 4
    assert weekly["attempts"].sum() + orphans.events == n
    assert rates["attempts"].sum() == (frame["connection_id"] != "x9").sum()
    assert orphans.connection_ids == ("x9",)


# --------------------------------------------------------------------------- randomised, independent pandas


def random_fixture(seed=11, n=20_000):
    rng = np.random.default_rng(seed)
    known = [f"k{i:03d}" for i in range(50)]
    unknown = [f"u{i:02d}" for i in range(8)]
    integration_ids = [f"int{i}" for i in range(6)]
    installs = pd.DataFrame({
        "connection_id": known,
        "integration_id": rng.choice(integration_ids, len(known)),
        "account_id": [f"a{i}" for i in range(len(known))],
        "installed_at": T("2025-06-01"),
        "uninstalled_at": pd.NaT,
    })
    integrations = pd.DataFrame({
        "integration_id": integration_ids + ["int_unused"],
        "partner_id": ["pA", "pA", "pB", "pC", "pC", "pD", "pE"],
    })
    lo, hi = T("2025-09-01"), T("2026-08-01")
    span_us = int((hi - lo) / pd.Timedelta(microseconds=1))
    ts = lo + pd.to_timedelta(rng.integers(0, span_us, n), unit="us")
    # A share of events sits exactly on week and quarter boundaries.
    boundaries = pd.to_datetime(
        ["2025-10-01", "2026-01-01", "2026-04-01", "2026-07-01", "2025-10-06", "2026-03-30",
         "2026-06-29", "2025-12-29"])
    on_edge = rng.random(n) < 0.05
    ts = pd.Series(ts).where(~on_edge, pd.Series(boundaries[rng.integers(0, len(boundaries), n)]))
    ids = np.where(rng.random(n) < 0.03, rng.choice(unknown, n), rng.choice(known, n))
    events = pd.DataFrame({
        "connection_id": pd.array(ids, dtype="string"),
        "ts": ts.astype("datetime64[us]"),
        "ok": rng.random(n) < 0.8,
    })
    return events, installs, integrations


def monday_of(ts):
    day = ts.dt.normalize()
    return day - pd.to_timedelta(day.dt.day_of_week, unit="D")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize(
    "start, end, fiscal",
    [
        (T("2025-10-01"), T("2026-07-01"), 1),
        (T("2025-10-08 13:00"), T("2026-06-20 06:30"), 1),
        (T("2025-09-01"), T("2026-08-01"), 7),
    ],
)
def test_rollups_match_an_independent_pandas_computation(tmp_path, fmt, start, end, fiscal):
    events, installs, integrations = random_fixture()
    path = write_events(events, tmp_path, fmt)
    engine = TelemetryEngine(path, installs, integrations)

    inside = events[(events.ts >= start) & (events.ts < end)].copy()
    mapping = installs.merge(integrations, on="integration_id")[
        ["connection_id", "integration_id", "partner_id"]]
    known = inside.merge(mapping, on="connection_id", how="inner")
    orphans = inside[~inside.connection_id.isin(installs.connection_id)]
    known["week"] = monday_of(known.ts)
    month = {1: "DEC", 7: "JUN"}[fiscal]
    known["quarter"] = known.ts.dt.to_period(f"Q-{month}").astype(str)

    # connection-weeks
    expected_cw = (
        known.groupby(["connection_id", "week"])
        .agg(attempts=("ok", "size"), errors=("ok", lambda s: int((~s).sum())),
             ok_events=("ok", "sum"))
        .reset_index()
    )
    cw = engine.connection_weeks(start, end)
    assert cw[["connection_id", "week", "attempts", "errors", "ok_events"]].values.tolist() == \
        expected_cw.values.tolist()

    # weekly active, company and per partner
    active = known[known.ok]
    roll = engine.rollup(start, end, fiscal_year_start_month=fiscal)
    weekly = roll.weekly_active().set_index("week")
    expected_weekly = active.groupby("week").connection_id.nunique()
    assert weekly["active_connections"][weekly["active_connections"] > 0].to_dict() == \
        expected_weekly.to_dict()
    assert weekly["attempts"].sum() == len(known)
    per_partner = roll.weekly_active(by="partner")
    expected_pp = active.groupby(["week", "partner_id"]).connection_id.nunique()
    got_pp = per_partner.set_index(["week", "partner_id"])["active_connections"]
    assert got_pp[got_pp > 0].to_dict() == expected_pp.to_dict()
    assert set(per_partner.partner_id) == {"pA", "pB", "pC", "pD", "pE"}

    # error rates per quarter, company and per integration
    rates = roll.error_rates().set_index("quarter")
    expected_rates = known.groupby("quarter").ok.agg(attempts="size", ok_events="sum")
    assert rates["attempts"].to_dict() == expected_rates["attempts"].to_dict()
    assert (rates["attempts"] - rates["errors"]).to_dict() == expected_rates["ok_events"].to_dict()
    assert rates["error_rate"].tolist() == pytest.approx(
        (1 - expected_rates["ok_events"] / expected_rates["attempts"]).tolist(), abs=1e-15)
    per_int = roll.error_rates(by="integration").set_index(["quarter", "integration_id"])
    expected_int = known.groupby(["quarter", "integration_id"]).ok.agg(
        attempts="size", errors=lambda s: int((~s).sum()))
    got_int = per_int[per_int.attempts > 0][["attempts", "errors"]]
    assert got_int.to_dict("index") == expected_int.to_dict("index")

    # orphans
    assert roll.orphans == OrphanEvents(
        len(orphans), tuple(sorted(orphans.connection_id.unique())), 0)


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_a_reason(tmp_path):
    path = write_events(events_frame(), tmp_path, "parquet")
    with pytest.raises(ValueError, match="missing column"):
        TelemetryEngine(ibis.memtable(pd.DataFrame({"connection_id": ["c1"]})), INSTALLS)
    with pytest.raises(ValueError, match="more than one integration_id"):
        TelemetryEngine(path, pd.concat([INSTALLS, INSTALLS.assign(integration_id="i9")]))
    with pytest.raises(ValueError, match="format"):
        open_events(tmp_path / "sync_events.json")
    engine = TelemetryEngine(path, INSTALLS)  # no integrations table
    with pytest.raises(ValueError, match="integrations"):
        engine.weekly_active(START, END, by="partner")
    with pytest.raises(ValueError, match="by must be"):
        engine.weekly_active(START, END, by="account")
    with pytest.raises(ValueError, match="empty window"):
        engine.weekly_active(END, START)
    with pytest.raises(ValueError, match="fiscal_year_start_month"):
        engine.error_rates(START, END, fiscal_year_start_month=13)


def test_duplicate_install_rows_for_one_connection_are_fine(tmp_path):
    path = write_events(events_frame(), tmp_path, "parquet")
    doubled = pd.concat([INSTALLS, INSTALLS])
    rates = error_rates(path, doubled, START, END)
    assert rates["attempts"].tolist() == [5, 4]


# --------------------------------------------------------------------------- the sample company


def test_sample_rollup_matches_an_independent_pandas_computation():
    """Weekly active connections and quarterly error rates of data/sample, two ways."""
    from pathlib import Path

    from partnerkit.kpis import Kpis
    from partnerkit.load import load_dataset

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    dataset = load_dataset(sample)
    kpis = Kpis(dataset)

    events = pd.read_parquet(sample / "sync_events.parquet")
    events["ts"] = pd.to_datetime(events["ts"]).dt.tz_localize(None)
    installs = dataset.installs
    partner_of = installs.set_index("connection_id")["integration_id"].map(
        dataset.integrations.set_index("integration_id")["partner_id"])
    events = events.loc[events["connection_id"].isin(installs["connection_id"])]
    events = events.assign(partner_id=events["connection_id"].map(partner_of).to_numpy())

    for label, start, end, last_monday in [
        ("2025Q4", "2025-10-01", "2026-01-01", "2025-12-22"),
        ("2026Q2", "2026-04-01", "2026-07-01", "2026-06-22"),
        ("2026Q3", "2026-07-01", "2026-10-01", "2026-09-21"),
    ]:
        in_q = events.loc[(events["ts"] >= start) & (events["ts"] < end)]
        week = events.loc[(events["ts"] >= last_monday)
                          & (events["ts"] < pd.Timestamp(last_monday) + pd.Timedelta(days=7))]
        active = week.loc[week["ok"]]
        company = kpis.company(label, ["weekly_active_connections", "sync_error_rate"])
        assert company["weekly_active_connections"].value == active["connection_id"].nunique()
        assert company["weekly_active_connections"].records == sorted(
            active["connection_id"].unique())
        assert company["sync_error_rate"].n == len(in_q)
        assert company["sync_error_rate"].details["errors"] == int((~in_q["ok"]).sum())
        for partner in ("P001", "P003", "P005"):
            mine = kpis.compute(label, partner, ["weekly_active_connections", "sync_error_rate"])
            theirs = in_q.loc[in_q["partner_id"] == partner]
            assert mine["sync_error_rate"].n == len(theirs)
            assert mine["sync_error_rate"].details["errors"] == int((~theirs["ok"]).sum())
            assert mine["weekly_active_connections"].value == active.loc[
                active["partner_id"] == partner, "connection_id"].nunique()
