"""Every metric id on tests/fixtures/tiny_company, against numbers worked out by hand.

The fixture README explains the rows; the comments here show the arithmetic.
"""

import math
from pathlib import Path

import pandas as pd
import pytest

from partnerkit.catalogue import CATALOGUE
from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset
from partnerkit.stats import newcombe_difference, wilson_interval

TINY = Path(__file__).parent / "fixtures" / "tiny_company"


@pytest.fixture(scope="module")
def kpis():
    return Kpis(load_dataset(TINY))


@pytest.fixture(scope="module")
def q3(kpis):
    return kpis.company("2026Q3")


def test_activity_tier(q3):
    # P1 signed on the first day, P3 on the last day of the quarter; P2 the day before
    assert (q3["partners_signed"].value, q3["partners_signed"].records) == (2, ["P1", "P3"])
    # A1 (first day) and A2 (last day); A3 is 2026-10-01
    assert q3["meetings_held"].records == ["A1", "A2"]
    assert q3["mous_signed"].records == ["A4"]
    # meetings, mou and call; the email A8 is in Q2, listing/seller are output kinds
    assert q3["activity_events"].value == 4
    assert q3["activity_events"].records == ["A1", "A2", "A4", "A5"]


def test_output_tier(q3):
    assert q3["integrations_live"].records == ["I1", "I2"]
    assert q3["listings_published"].records == ["A6"]
    assert q3["sellers_enabled"].records == ["A7"]
    # C1 at the first instant, C3 a second before the end, C5 mid-quarter; C4 at the end instant
    assert q3["installs_new"].records == ["C1", "C3", "C5"]
    # C2 was removed exactly at the quarter's end instant: still counted; C5 left on 09-30
    assert q3["installs_active"].records == ["C1", "C2", "C3"]


def test_time_to_live(q3):
    ttl = q3["time_to_live_days"]
    # I1: 05-01 -> 07-01 = 61 days; I2: 06-15 -> 09-30 = 107 days; median 84
    assert ttl.value == 84.0 and ttl.n == 2
    # I4 (scoped 08-01, never live) is 60 days old on 09-30, I5 (scoped 09-01, live in Q4) 29
    assert ttl.details["open"] == 2
    assert ttl.details["open_median_age_days"] == 44.5
    assert ttl.details["open_records"] == ["I4", "I5"]


def test_pipeline_company(q3):
    # sourced deals created in Q3: O1 100 + O3 300 (tag at exactly 14 days) + O8 800
    assert (q3["sourced_pipeline"].value, q3["sourced_pipeline"].records) == (
        1200.0, ["O1", "O3", "O8"])
    # influenced: O4 (late sourced tag 07-25) 400 + O7 700; O2's first influence is in June
    assert (q3["influenced_pipeline"].value, q3["influenced_pipeline"].records) == (
        1100.0, ["O4", "O7"])


def test_revenue_company(q3):
    assert q3["sourced_revenue"].value == 100.0  # O1; O8 was lost
    assert q3["influenced_revenue"].value == 900.0  # O2 200 + O7 700 (tagged on close day)
    # all won in Q3: O1 100, O2 200, O6 600, O7 700, O9 900 (its tag came after close)
    share = q3["partner_revenue_share"]
    assert share.value == pytest.approx(1000 / 2500)
    assert share.details["total_revenue"] == 2500.0


def test_win_rates_and_lift(q3):
    sourced, influenced, unassisted = (q3["win_rate_sourced"], q3["win_rate_influenced"],
                                       q3["win_rate_unassisted"])
    assert (sourced.value, sourced.n, sourced.records) == (0.5, 2, ["O1", "O8"])
    assert (influenced.value, influenced.n) == (1.0, 2)
    assert (unassisted.value, unassisted.n, unassisted.records) == (
        pytest.approx(2 / 3), 3, ["O5", "O6", "O9"])
    low, high = wilson_interval(1, 2)
    assert (sourced.ci_low, sourced.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert "insufficient_sample" in sourced.flags
    lift = q3["win_rate_lift"]
    assert lift.value == pytest.approx(1 / 3)
    _, low, high = newcombe_difference(2, 2, 2, 3)
    assert (lift.ci_low, lift.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert lift.ci_low <= lift.value <= lift.ci_high


def test_renewals_and_retention_lift(q3):
    integrated, not_integrated = q3["renewal_rate_integrated"], q3["renewal_rate_not_integrated"]
    # X1 (C1 live since 07-01) and X2 (C2 removed exactly at the end of the renewal day)
    assert (integrated.value, integrated.n, integrated.records) == (1.0, 2, ["X1", "X2"])
    # X5 (C5 removed during its renewal day), X4 (installed later), X3 (installed later), X8
    assert (not_integrated.value, not_integrated.n) == (0.25, 4)
    assert not_integrated.records == ["X3", "X4", "X5", "X8"]
    assert q3["retention_lift"].value == pytest.approx(0.75)


def test_per_partner_credit(kpis):
    p1 = kpis.compute("2026Q3", "P1")
    p2 = kpis.compute("2026Q3", "P2")
    p3 = kpis.compute("2026Q3", "P3")
    # O8: P1 and P2 tagged the same day; P1 (smaller id) sources it
    assert p1["sourced_pipeline"].records == ["O8"]
    assert p2["sourced_pipeline"].records == ["O1", "O3"]
    # P1's own influence tags in Q3: O4 (07-25) and O7 (09-30); its O2 tag is from June
    assert p1["influenced_pipeline"].value == 1100.0
    assert p3["influenced_pipeline"].records == ["O2"]
    # per-partner influence (1100 + 0 + 200) exceeds the company total (1100)
    total = sum(kpis.compute("2026Q3", p)["influenced_pipeline"].value for p in kpis.partner_ids)
    assert total == 1300.0 > kpis.company("2026Q3")["influenced_pipeline"].value
    assert p2["influenced_pipeline"].value == 0.0  # listed on O8, never credited
    assert p1["partner_revenue_share"].value == pytest.approx(900 / 2500)
    assert p1["activity_events"].records == ["A1", "A2"]
    assert p1["installs_new"].records == ["C1", "C5"]
    # P2's integration has no account renewing while installed: undefined, not zero
    assert p2["renewal_rate_integrated"].value is None
    assert "undefined" in p2["renewal_rate_integrated"].reason


def test_a_missing_table_is_not_measured_never_zero(tmp_path):
    for name in ("partners.csv", "opportunities.csv"):
        (tmp_path / name).write_bytes((TINY / name).read_bytes())
    q3 = Kpis(load_dataset(tmp_path)).company("2026Q3")
    for metric_id in ("meetings_held", "integrations_live", "installs_new",
                      "weekly_active_connections", "sync_error_rate", "renewal_rate_integrated",
                      "retention_lift", "sourced_pipeline", "influenced_revenue",
                      "partner_revenue_share", "win_rate_unassisted", "win_rate_lift"):
        assert q3[metric_id].value is None, metric_id
        assert q3[metric_id].reason, metric_id
    # without partner tags no deal can be called unassisted either
    assert "attributions" in q3["win_rate_unassisted"].reason
    assert q3["partners_signed"].value == 2


def test_an_empty_quarter_gives_reasons_not_exceptions(kpis):
    q = kpis.company("2025Q1")
    assert q["win_rate_sourced"].value is None
    assert "undefined" in q["win_rate_sourced"].reason
    assert q["partner_revenue_share"].value is None
    assert q["sourced_pipeline"].value == 0.0


def test_series_matches_single_quarters(kpis):
    series = kpis.series("sourced_pipeline", ["2026Q2", "2026Q3"])
    assert series["value"].tolist() == [0.0, 1200.0]
    assert series.index.tolist() == ["2026Q2", "2026Q3"]


def test_json_has_every_catalogue_id_in_the_contract_shape(kpis):
    payload = kpis.to_json("2026Q3")
    assert payload["quarter"] == "2026Q3" and payload["scope"] == "all"
    assert list(payload["metrics"]) == list(CATALOGUE)
    for metric_id, entry in payload["metrics"].items():
        assert entry["tier"] == CATALOGUE[metric_id].tier
        assert entry["unit"] == CATALOGUE[metric_id].unit
        assert isinstance(entry["records"], list)
        assert entry["value"] is None or isinstance(entry["value"], (int, float))
        if entry["value"] is None:
            assert entry["reason"]
        if isinstance(entry["value"], float):
            assert not math.isnan(entry["value"])
    by_partner = kpis.to_json("2026Q3", by_partner=True)
    assert sorted(by_partner["partners"]) == ["P1", "P2", "P3"]
    assert list(by_partner["partners"]["P1"]["metrics"]) == list(CATALOGUE)


def test_weekly_active_connections_and_ratio(q3):
    wac = q3["weekly_active_connections"]
    # last full week of 2026Q3: Monday 09-21 to Sunday 09-27. C1 (ok at Monday 00:00) and
    # C5 (ok on 09-22) are active; C2 only failed that week (its ok event is Monday 09-28)
    assert wac.details["week"] == "2026-09-21"
    assert (wac.value, wac.records) == (2, ["C1", "C5"])
    # 12 full weeks; only the last one has ok events, C1's 07-01 event is in a partial week
    assert len(wac.details["weekly"]) == 12
    assert wac.details["weekly_mean"] == pytest.approx(2 / 12)
    ratio = q3["active_to_install_ratio"]
    # installed at the end of that week (09-28 00:00): C1, C2, C5 (C5 left on 09-30)
    assert (ratio.value, ratio.n) == (pytest.approx(2 / 3), 3)


def test_sync_error_rate_uses_exact_quarter_bounds(q3):
    # in [07-01, 10-01): C1 07-01 ok, C1 09-21 ok, C2 09-27 fail, C2 09-28 ok, C5 09-22 ok,
    # C1 09-30 23:59:59 fail. C1's 06-30 and 10-01 events fall outside; CX is an orphan
    rate = q3["sync_error_rate"]
    assert (rate.value, rate.n, rate.details["errors"]) == (pytest.approx(2 / 6), 6, 2)


def test_telemetry_per_partner(kpis):
    p1, p2 = kpis.compute("2026Q3", "P1"), kpis.compute("2026Q3", "P2")
    assert p1["weekly_active_connections"].records == ["C1", "C5"]
    assert p1["sync_error_rate"].value == pytest.approx(2 / 6)
    assert p2["weekly_active_connections"].value == 0
    assert p2["active_to_install_ratio"].value is None
    assert p2["sync_error_rate"].value is None


def test_orphan_events_are_counted_not_dropped(kpis):
    assert kpis.orphan_events.events == 1
    assert kpis.orphan_events.connection_ids == ("CX",)


# --------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from partnerkit.dataset import Dataset  # noqa: E402

Q = "2026Q3"
BASE = pd.Timestamp("2026-05-01")


@st.composite
def companies(draw):
    n_opps = draw(st.integers(1, 15))
    opp = {"opportunity_id": [], "account_id": [], "created_date": [], "close_date": [],
           "is_closed": [], "is_won": [], "amount": [], "stage": [], "name": []}
    for i in range(n_opps):
        created = BASE + pd.Timedelta(days=draw(st.integers(0, 150)))
        closed = draw(st.booleans())
        opp["opportunity_id"].append(f"O{i}")
        opp["account_id"].append(f"X{draw(st.integers(0, 5))}")
        opp["created_date"].append(created)
        opp["close_date"].append(created + pd.Timedelta(days=draw(st.integers(0, 90)))
                                 if closed else pd.NaT)
        opp["is_closed"].append(closed)
        opp["is_won"].append(closed and draw(st.booleans()))
        opp["amount"].append(float(draw(st.integers(0, 10_000))))
        opp["stage"].append("s")
        opp["name"].append(None)
    tags = draw(st.lists(st.tuples(st.integers(0, n_opps - 1), st.sampled_from(["P1", "P2"]),
                                   st.sampled_from(["sourced", "influenced"]),
                                   st.integers(0, 200)), max_size=20))
    renewals = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 150), st.booleans()),
                             max_size=15))
    installs = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 150),
                                       st.one_of(st.none(), st.integers(0, 100))), max_size=8))
    partners = pd.DataFrame({"partner_id": ["P1", "P2"], "name": ["a", "b"],
                             "partner_type": ["technology", "referral"],
                             "signed_date": pd.to_datetime(["2026-01-01", "2026-08-01"])})
    attributions = pd.DataFrame({
        "opportunity_id": [f"O{o}" for o, _, _, _ in tags],
        "partner_id": [p for _, p, _, _ in tags], "role": [r for _, _, r, _ in tags],
        "tagged_date": pd.to_datetime([BASE + pd.Timedelta(days=d) for *_, d in tags])})
    installed = [BASE + pd.Timedelta(days=d) for _, d, _ in installs]
    install_frame = pd.DataFrame({
        "connection_id": [f"C{i}" for i in range(len(installs))],
        "integration_id": "I1", "account_id": [f"X{a}" for a, _, _ in installs],
        "installed_at": pd.to_datetime(installed),
        "uninstalled_at": pd.to_datetime([None if u is None else t + pd.Timedelta(days=u)
                                          for (_, _, u), t in zip(installs, installed)])})
    integrations = pd.DataFrame({"integration_id": ["I1"], "partner_id": ["P1"], "name": ["i"],
                                 "scoped_date": pd.to_datetime(["2026-01-01"]),
                                 "live_date": pd.to_datetime(["2026-07-15"])})
    renewal_frame = pd.DataFrame({
        "account_id": [f"X{a}" for a, _, _ in renewals],
        "renewal_date": pd.to_datetime([BASE + pd.Timedelta(days=d) for _, d, _ in renewals]),
        "arr": 1.0, "renewed": [r for *_, r in renewals]})
    return Dataset(data_dir=Path("."), partners=partners, opportunities=pd.DataFrame(opp),
                   attributions=attributions, installs=install_frame,
                   integrations=integrations, renewals=renewal_frame)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(companies())
def test_every_value_is_traceable_and_every_rate_is_bounded(dataset):
    kpis = Kpis(dataset)
    known = set()
    for table in ("partners", "opportunities", "attributions", "installs", "integrations",
                  "renewals"):
        frame = dataset.table(table)
        for column in frame.columns:
            if column.endswith("_id"):
                known |= set(frame[column].astype(str))
    for scope in ("all", "P1", "P2"):
        for metric_id, value in kpis.compute(Q, scope).items():
            assert set(value.records) <= known, (metric_id, scope)
            unit = CATALOGUE[metric_id].unit
            if value.value is None:
                assert value.reason
                continue
            if unit == "fraction":
                assert 0.0 <= value.value <= 1.0
            if value.ci_low is not None and not math.isnan(value.ci_low):
                assert value.ci_low - 1e-12 <= value.value <= value.ci_high + 1e-12
                bounds = (-1.0, 1.0) if unit == "difference" else (0.0, 1.0)
                assert bounds[0] - 1e-12 <= value.ci_low and value.ci_high <= bounds[1] + 1e-12


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(companies())
def test_company_buckets_partition_pipeline_and_never_double_count(dataset):
    kpis = Kpis(dataset)
    q3 = kpis.company(Q)
    deals = kpis.attribution.deals
    # a deal is in at most one of the two pipelines
    assert not set(q3["sourced_pipeline"].records) & set(q3["influenced_pipeline"].records)
    in_q = deals.loc[deals["opportunity_id"].isin(q3["influenced_pipeline"].records), "amount"]
    assert q3["influenced_pipeline"].value == pytest.approx(in_q.sum())
    per_partner = sum(kpis.compute(Q, p)["influenced_pipeline"].value for p in ("P1", "P2"))
    assert per_partner >= q3["influenced_pipeline"].value - 1e-9 or \
        q3["influenced_pipeline"].value == 0


# ---------------------------------------------------------------------------- rollup ahead


def test_the_rollup_runs_on_its_own_thread_while_the_other_metrics_are_computed(monkeypatch):
    import threading

    from partnerkit.telemetry import TelemetryEngine

    calls = []
    real = TelemetryEngine.rollup

    def recorded(self, *args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TelemetryEngine, "rollup", recorded)
    ahead = Kpis(load_dataset(TINY)).company("2026Q3")
    assert calls and calls[0].startswith("rollup")
    # the same numbers as metric by metric on this thread, where nothing runs ahead
    one_by_one = Kpis(load_dataset(TINY))
    for metric_id in ("weekly_active_connections", "sync_error_rate", "active_to_install_ratio"):
        alone = one_by_one.scoped("2026Q3", metric_id)["all"]
        assert (ahead[metric_id].value, ahead[metric_id].records, ahead[metric_id].details) \
            == (alone.value, alone.records, alone.details)
    assert calls[-1] == threading.current_thread().name


def test_a_rollup_that_fails_ahead_raises_where_the_metrics_need_it(monkeypatch):
    from partnerkit.telemetry import TelemetryEngine

    def broken(self, *args, **kwargs):
        raise OSError("sync_events.parquet: truncated file")

    monkeypatch.setattr(TelemetryEngine, "rollup", broken)
    kpis = Kpis(load_dataset(TINY))
    with pytest.raises(OSError, match="truncated file"):
        kpis.company("2026Q3")
    # the metrics that do not read telemetry still answer
    assert kpis.compute("2026Q3", metrics=["meetings_held"])["meetings_held"].records == ["A1", "A2"]
