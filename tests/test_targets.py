"""Stage scorecards (SPEC §7): hand-built panels, tiny_company, targets files, the sample.

The window for q = 2026Q3 is 2025Q4, 2026Q1, 2026Q2, 2026Q3 (positions 0..3 for trends).
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset
from partnerkit.stats import newcombe_difference
from partnerkit.targets import (STAGES, TargetsError, default_targets, evaluate_scorecard,
                                integration_adoption, load_targets, quarterly_slope, scorecard,
                                scorecard_report, scorecard_text)

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "fixtures" / "tiny_company"
SAMPLE = TESTS.parent / "data" / "sample"
Q = "2026Q3"
QUARTERS = ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
NAN = math.nan


def rows(metric, values, ns=None, scope="all"):
    ns = ns if ns is not None else [0 if v is None or v != v else 1 for v in values]
    return pd.DataFrame({"quarter": QUARTERS, "scope": scope, "metric": metric,
                         "value": [NAN if v is None else v for v in values], "n": ns})


def card(panel, stage, targets=None, adoption=None):
    out = evaluate_scorecard(panel, Q, stage, targets, adoption)
    return out.set_index("check")


def status(panel, stage, check, targets=None, adoption=None):
    c = card(panel, stage, targets, adoption)
    return c.loc[check, "status"], c.loc[check, "actual"]


def adoption_frame(*rows_):
    return pd.DataFrame(rows_, columns=["integration_id", "active_connections",
                                        "installs_active", "ratio"])


# --------------------------------------------------------------------------- trends


def test_quarterly_slope_by_hand():
    # positions 0, 2, 3: mean x 5/3, mean y 17/3; sum dx*dy = 78/9, sum dx^2 = 42/9
    assert quarterly_slope([3, NAN, 5, 9]) == pytest.approx(78 / 42)
    assert quarterly_slope([2, 2, 2, 2]) == 0.0
    assert math.isnan(quarterly_slope([NAN, 80, 70, NAN], min_quarters=3))
    assert math.isnan(quarterly_slope([]))


# --------------------------------------------------------------------------- seed


def test_seed_counts_over_the_window():
    panel = pd.concat([
        rows("sourced_pipeline", [0.0, 0.0, 0.0, 500.0], ns=[0, 0, 0, 1]),
        rows("influenced_pipeline", [0.0] * 4, ns=[0] * 4),
        rows("integrations_live", [1, 0, 0, 0], ns=[1, 0, 0, 0]),
    ])
    seen = adoption_frame(("I1", 0, 4, 0.0), ("I2", 1, 1, 1.0))
    c = card(panel, "seed", adoption=seen)
    assert c["status"].to_dict() == {"sourced_deal": "met", "integration_in_weekly_use": "met",
                                     "credited_influence": "not met", "integration_live": "met"}
    assert c["actual"].to_dict() == {"sourced_deal": 1, "integration_in_weekly_use": 1,
                                     "credited_influence": 0, "integration_live": 1}
    # two active connections needed per integration: I2 has one
    tuned = {"seed": {"integration_in_weekly_use": {"min_active_connections": 2}}}
    assert status(panel, "seed", "integration_in_weekly_use", tuned, seen) == ("not met", 0)
    # a deal sourced before the window does not count
    before = rows("sourced_pipeline", [0.0] * 4, ns=[0] * 4)
    assert status(before, "seed", "sourced_deal") == ("not met", 0)


def test_seed_missing_data_is_not_measured():
    assert status(rows("integrations_live", [None] * 4), "seed", "integration_live") == (
        "not measured", None)
    # one quarter missing and the others short of the target: cannot say "not met"
    assert status(rows("integrations_live", [None, 0, 0, 0]), "seed",
                  "integration_live")[0] == "not measured"
    # ...but a target already reached in the measured quarters is met
    assert status(rows("integrations_live", [None, 1, 0, 0]), "seed",
                  "integration_live") == ("met", 1)
    # no telemetry
    assert status(rows("integrations_live", [0] * 4), "seed", "integration_in_weekly_use") == (
        "not measured", None)


# --------------------------------------------------------------------------- series A


def test_sourced_pipeline_each_quarter():
    # the last three quarters are 2026Q1..Q3: 100, 0, 100
    panel = rows("sourced_pipeline", [0.0, 100.0, 0.0, 100.0])
    assert status(panel, "series_a", "sourced_pipeline_each_quarter") == ("not met", 2)
    panel = rows("sourced_pipeline", [0.0, 1.0, 1.0, 1.0])
    assert status(panel, "series_a", "sourced_pipeline_each_quarter") == ("met", 3)
    tuned = {"series_a": {"sourced_pipeline_each_quarter": {"quarters": 4}}}
    assert status(panel, "series_a", "sourced_pipeline_each_quarter", tuned) == ("not met", 3)


def test_influence_from_partners():
    panel = pd.concat([
        rows("influenced_pipeline", [0.0, 10.0, 0, 0], ns=[0, 1, 0, 0], scope="P1"),
        rows("influenced_pipeline", [0.0] * 4, ns=[0] * 4, scope="P2"),
        rows("influenced_pipeline", [30.0, 0, 0, 0], ns=[2, 0, 0, 0], scope="P3"),
        # the company's own row is not a partner
        rows("influenced_pipeline", [30.0, 10.0, 0, 0], ns=[2, 1, 0, 0]),
    ])
    assert status(panel, "series_a", "influence_from_partners") == ("met", 2)
    assert card(panel, "series_a").loc["influence_from_partners", "note"] == "P1, P3"
    tuned = {"series_a": {"influence_from_partners": {"min_partners": 3}}}
    assert status(panel, "series_a", "influence_from_partners", tuned) == ("not met", 2)


def test_adoption_on_integrations():
    frame = adoption_frame(("I1", 5, 10, 0.5), ("I2", 4, 10, 0.4), ("I3", 1, 1, 1.0),
                           ("I4", 0, 0, NAN))
    panel = rows("sourced_pipeline", [0.0] * 4)
    # I1 (exactly 0.5) and I3
    assert status(panel, "series_a", "adoption_on_integrations", adoption=frame) == ("met", 2)
    # counting only integrations with at least 2 installs leaves I1
    tuned = {"series_a": {"adoption_on_integrations": {"min_installs": 2}}}
    assert status(panel, "series_a", "adoption_on_integrations", tuned, frame) == ("not met", 1)
    tuned = {"series_a": {"adoption_on_integrations": {"min_ratio": 0.4}}}
    assert status(panel, "series_a", "adoption_on_integrations", tuned, frame) == ("met", 3)


def test_time_to_live_trending_down():
    # points (1, 90), (2, 80), (3, 64): slope (-12 - 14) / 2 = -13 days per quarter
    assert status(rows("time_to_live_days", [None, 90, 80, 64]), "series_a",
                  "time_to_live_trending_down") == ("met", -13.0)
    assert status(rows("time_to_live_days", [60, None, None, 61]), "series_a",
                  "time_to_live_trending_down") == ("not met", pytest.approx(1 / 3))
    # one quarter with an integration going live: no trend
    assert status(rows("time_to_live_days", [None, None, 80, None]), "series_a",
                  "time_to_live_trending_down") == ("not measured", None)
    tuned = {"series_a": {"time_to_live_trending_down": {"min_quarters": 4}}}
    assert status(rows("time_to_live_days", [None, 90, 80, 64]), "series_a",
                  "time_to_live_trending_down", tuned)[0] == "not measured"


# --------------------------------------------------------------------------- series B


def rate_rows(metric, successes, trials):
    return rows(metric, [s / n if n else None for s, n in zip(successes, trials)], ns=trials)


def test_partner_revenue_share_rising():
    falling = rows("partner_revenue_share", [0.30, 0.28, 0.26, 0.25])
    assert status(falling, "series_b", "partner_revenue_share_rising") == (
        "not met", pytest.approx(-0.017))
    rising = rows("partner_revenue_share", [0.20, None, 0.25, None])
    assert status(rising, "series_b", "partner_revenue_share_rising") == (
        "met", pytest.approx(0.025))


def test_win_rate_lift_pools_the_window():
    # influenced 5/10 each quarter (20/40), unassisted 5/20 (20/80): lift 0.25
    panel = pd.concat([rate_rows("win_rate_influenced", [5] * 4, [10] * 4),
                       rate_rows("win_rate_unassisted", [5] * 4, [20] * 4)])
    diff, low, _ = newcombe_difference(20, 40, 20, 80)
    assert low > 0
    assert status(panel, "series_b", "win_rate_lift_positive") == ("met", pytest.approx(0.25))
    # 3/10 against 2/10 in one quarter, nothing closed in the others: lift 0.1, interval
    # reaching below 0
    panel = pd.concat([rate_rows("win_rate_influenced", [0, 0, 0, 3], [0, 0, 0, 10]),
                       rate_rows("win_rate_unassisted", [0, 0, 0, 2], [0, 0, 0, 10])])
    assert newcombe_difference(3, 10, 2, 10)[1] < 0
    assert status(panel, "series_b", "win_rate_lift_positive") == ("not met",
                                                                    pytest.approx(0.1))
    loose = {"series_b": {"win_rate_lift_positive": {"interval_above": False}}}
    assert status(panel, "series_b", "win_rate_lift_positive", loose)[0] == "met"
    # nothing closed at all in the window
    empty = pd.concat([rate_rows("win_rate_influenced", [0] * 4, [0] * 4),
                       rate_rows("win_rate_unassisted", [0, 0, 1, 1], [0, 0, 2, 2])])
    assert status(empty, "series_b", "win_rate_lift_positive") == ("not measured", None)


def test_retention_lift_without_renewals_is_not_measured():
    missing = pd.concat([rows("renewal_rate_integrated", [None] * 4, ns=[None] * 4),
                         rows("renewal_rate_not_integrated", [None] * 4, ns=[None] * 4)])
    c = card(missing, "series_b")
    assert c.loc["retention_lift_positive", "status"] == "not measured"
    assert "renewal_rate_integrated is not measured" in c.loc["retention_lift_positive", "note"]
    # 9/10 integrated against 7/10: lift 0.2 > 0 (no interval asked by default)
    panel = pd.concat([rate_rows("renewal_rate_integrated", [0, 0, 0, 9], [0, 0, 0, 10]),
                       rate_rows("renewal_rate_not_integrated", [0, 0, 0, 7], [0, 0, 0, 10])])
    assert status(panel, "series_b", "retention_lift_positive") == ("met", pytest.approx(0.2))


def test_every_stage_has_its_checks_in_order():
    empty = pd.DataFrame(columns=["quarter", "scope", "metric", "value", "n"])
    assert list(card(empty, "seed").index) == ["sourced_deal", "integration_in_weekly_use",
                                               "credited_influence", "integration_live"]
    assert list(card(empty, "series_a").index) == [
        "sourced_pipeline_each_quarter", "influence_from_partners", "adoption_on_integrations",
        "time_to_live_trending_down"]
    assert list(card(empty, "series_b").index) == [
        "partner_revenue_share_rising", "win_rate_lift_positive", "retention_lift_positive"]
    # an empty panel measures nothing; it never claims "not met"
    for stage in STAGES:
        assert set(card(empty, stage)["status"]) <= {"not measured", "not met"}
    assert set(card(empty, "series_b")["status"]) == {"not measured"}
    with pytest.raises(ValueError, match="unknown stage 'series_c'"):
        evaluate_scorecard(empty, Q, "series_c")


# --------------------------------------------------------------------------- targets files


def test_default_targets():
    t = default_targets()
    assert list(t) == list(STAGES)
    assert t["seed"]["sourced_deal"] == {"min_deals": 1}
    assert t["series_a"]["influence_from_partners"] == {"min_partners": 2}
    assert t["series_a"]["sourced_pipeline_each_quarter"] == {"quarters": 3}
    assert t["series_b"]["win_rate_lift_positive"] == {"min_lift": 0.0, "interval_above": True}


def test_a_targets_file_overrides_key_by_key(tmp_path):
    path = tmp_path / "targets.yml"
    path.write_text("series_a:\n  adoption_on_integrations:\n    min_integrations: 3\n")
    t = load_targets(path)
    assert t["series_a"]["adoption_on_integrations"] == {"min_ratio": 0.5,
                                                         "min_integrations": 3,
                                                         "min_installs": 1}
    assert t["seed"] == default_targets()["seed"]
    frame = adoption_frame(("I1", 5, 10, 0.5), ("I2", 6, 10, 0.6))
    empty = pd.DataFrame(columns=["quarter", "scope", "metric", "value", "n"])
    assert status(empty, "series_a", "adoption_on_integrations", None, frame)[0] == "met"
    assert status(empty, "series_a", "adoption_on_integrations", path, frame)[0] == "not met"


@pytest.mark.parametrize("text, message", [
    ("series_c: {}", r"<text>: series_c: unknown stage"),
    ("seed: {sourced_deals: {min_deals: 1}}", r"seed\.sourced_deals: unknown check for seed"),
    ("seed: {sourced_deal: {min_deal: 1}}", r"seed\.sourced_deal\.min_deal: unknown target"),
    ("seed: {sourced_deal: {min_deals: 1.5}}", r"min_deals: expected a whole number >= 0"),
    ("seed: {sourced_deal: {min_deals: true}}", r"min_deals: expected a number, got True"),
    ("series_a: {adoption_on_integrations: {min_ratio: 50}}", r"min_ratio: is a fraction"),
    ("series_a: {time_to_live_trending_down: {min_quarters: 1}}",
     r"min_quarters: a trend needs a whole number of quarters within 2\.\.4"),
    ("series_a: {sourced_pipeline_each_quarter: {quarters: 5}}", r"quarters: expected a whole"),
    ("series_b: {win_rate_lift_positive: {interval_above: 'yes'}}",
     r"interval_above: expected true or false"),
    ("seed: [sourced_deal]", r"seed: expected a mapping of check -> targets"),
    ("seed: {sourced_deal: {min_deals: [1}", r"<text>: not valid YAML"),
])
def test_invalid_targets_name_the_file_and_the_key(text, message):
    with pytest.raises(TargetsError, match=message):
        load_targets(text=text)


def test_a_bad_targets_file_is_named(tmp_path):
    path = tmp_path / "board.yml"
    path.write_text("series_b:\n  retention_lift_positive:\n    min_lift: high\n")
    with pytest.raises(TargetsError, match=r"board\.yml: series_b\.retention_lift_positive"
                                           r"\.min_lift: expected a number, got 'high'"):
        load_targets(path)


# --------------------------------------------------------------------------- tiny_company


@pytest.fixture(scope="module")
def tiny():
    return Kpis(load_dataset(TINY))


def test_integration_adoption_on_tiny_company(tiny):
    # last full week of 2026Q3: Monday 09-21; C1 (ok 09-21 00:00) and C5 (ok 09-22) synced,
    # C2 only failed. Installed at the end of the week (09-28 00:00): C1, C2, C5 of I1;
    # C3 (I2) came on 09-30, C4 in Q4
    week = pd.Timestamp("2026-09-21")
    weeks = tiny.telemetry.connection_weeks(week, week + pd.Timedelta(days=7))
    frame = integration_adoption(weeks.loc[weeks["ok_events"] > 0], tiny.dataset.installs, week)
    assert frame["integration_id"].tolist() == ["I1", "I2"]
    assert frame["active_connections"].tolist() == [2, 0]
    assert frame["installs_active"].tolist() == [3, 0]
    assert frame.loc[0, "ratio"] == pytest.approx(2 / 3)
    assert math.isnan(frame.loc[1, "ratio"])
    # the same as the company ratio of the KPI engine
    assert tiny.company(Q)["active_to_install_ratio"].value == pytest.approx(2 / 3)


def test_removed_during_the_week_is_not_active():
    installs = pd.DataFrame({
        "connection_id": ["c1", "c2"], "integration_id": ["i1", "i1"],
        "installed_at": pd.to_datetime(["2026-01-01", "2026-01-01"]),
        # c2 synced on Tuesday and was removed on Wednesday; c1 leaves exactly at the end
        "uninstalled_at": pd.to_datetime(["2026-09-28", "2026-09-23"])})
    active = pd.DataFrame({"connection_id": ["c1", "c2"], "integration_id": ["i1", "i1"]})
    frame = integration_adoption(active, installs, pd.Timestamp("2026-09-21"))
    assert frame[["active_connections", "installs_active"]].values.tolist() == [[1, 1]]


def test_tiny_company_scorecards(tiny):
    seed = scorecard(tiny, Q, "seed").set_index("check")
    # sourced: O1, O3, O8 created in Q3; influenced: O2 (first credited tag 06-25, Q2),
    # O4 and O7 in Q3; live: I3 (03-01), I1, I2; I1 has 2 connections active
    assert seed["actual"].to_dict() == {"sourced_deal": 3, "integration_in_weekly_use": 1,
                                        "credited_influence": 3, "integration_live": 3}
    assert set(seed["status"]) == {"met"}
    a = scorecard(tiny, Q, "series_a").set_index("check")
    # sourced pipeline 2026Q1 0, Q2 0, Q3 1200
    assert (a.loc["sourced_pipeline_each_quarter", "actual"],
            a.loc["sourced_pipeline_each_quarter", "status"]) == (1, "not met")
    # P1 (O2 in Q2, O4 and O7 in Q3) and P3 (O2 in Q3); P2 is only listed on O8
    assert a.loc["influence_from_partners", ["actual", "status", "note"]].tolist() == [
        2, "met", "P1, P3"]
    # I1 at 2/3; I2 has nothing installed at the end of the week
    assert a.loc["adoption_on_integrations", ["actual", "status"]].tolist() == [1, "not met"]
    # I3 took 50 days (2026Q1, position 1), Q3's median is 84 (position 3): slope 17
    assert a.loc["time_to_live_trending_down", ["actual", "status"]].tolist() == [17.0,
                                                                                "not met"]
    b = scorecard(tiny, Q, "series_b").set_index("check")
    # revenue only in 2026Q3: no trend
    assert b.loc["partner_revenue_share_rising", "status"] == "not measured"
    # influenced 2/2 against unassisted 2/3, all closed in Q3: lift 1/3, interval below 0
    diff, low, _ = newcombe_difference(2, 2, 2, 3)
    assert low < 0
    assert b.loc["win_rate_lift_positive", ["status"]].tolist() == ["not met"]
    assert b.loc["win_rate_lift_positive", "actual"] == pytest.approx(1 / 3)
    # renewals in Q3: integrated 2/2, the others 1/4: lift 0.75
    assert b.loc["retention_lift_positive", "actual"] == pytest.approx(0.75)
    assert b.loc["retention_lift_positive", "status"] == "met"


def test_without_renewals_or_telemetry_the_checks_are_not_measured(tmp_path):
    for name in ("partners.csv", "opportunities.csv", "attributions.csv", "integrations.csv",
                 "installs.csv", "activities.csv"):
        (tmp_path / name).write_bytes((TINY / name).read_bytes())
    kpis = Kpis(load_dataset(tmp_path))
    b = scorecard(kpis, Q, "series_b").set_index("check")
    assert b.loc["retention_lift_positive", "status"] == "not measured"
    assert b.loc["retention_lift_positive", "actual"] is None
    a = scorecard(kpis, Q, "series_a").set_index("check")
    assert a.loc["adoption_on_integrations", "status"] == "not measured"
    seed = scorecard(kpis, Q, "seed").set_index("check")
    assert seed.loc["integration_in_weekly_use", "status"] == "not measured"
    assert seed.loc["integration_live", "status"] == "met"


# --------------------------------------------------------------------------- the sample company


@pytest.fixture(scope="module")
def sample():
    return Kpis(load_dataset(SAMPLE))


def test_sample_seed(sample):
    c = scorecard(sample, Q, "seed").set_index("check")
    # sourced deals 39 + 41 + 43 + 47; integrations in use I001, I002, I005-I009;
    # influenced deals 68 + 72 + 64 + 105; live I002 (2026Q1) and I006 (2026Q2)
    assert c["actual"].to_dict() == {"sourced_deal": 170, "integration_in_weekly_use": 7,
                                     "credited_influence": 309, "integration_live": 2}
    assert set(c["status"]) == {"met"}


def test_sample_series_a(sample):
    c = scorecard(sample, Q, "series_a").set_index("check")
    assert c.loc["sourced_pipeline_each_quarter", ["actual", "status"]].tolist() == [3, "met"]
    # every partner but P004 (live without pipeline) and P012 (new) influenced a deal
    assert c.loc["influence_from_partners", "actual"] == 10
    assert "P004" not in c.loc["influence_from_partners", "note"]
    # I001 203/262, I002 39/44, I007 51/73, I008 62/87, I009 112/166 reach 0.5;
    # I005 13/114 and I006 3/7 do not
    assert c.loc["adoption_on_integrations", ["actual", "status"]].tolist() == [5, "met"]
    assert "I005 13/114" in c.loc["adoption_on_integrations", "note"]
    # time to live: 70 days in 2026Q1, 77 in 2026Q2: slope +7, not trending down
    assert c.loc["time_to_live_trending_down", ["actual", "status"]].tolist() == [7.0,
                                                                                "not met"]


def test_sample_series_b(sample):
    c = scorecard(sample, Q, "series_b").set_index("check")
    # shares 0.2968, 0.3086, 0.2592, 0.3283: slope (-1.5a - .5b + .5c + 1.5d) / 5 = 0.0045
    a, b, c_, d = (sample.company(q, ["partner_revenue_share"])["partner_revenue_share"].value
                   for q in QUARTERS)
    assert [round(x, 4) for x in (a, b, c_, d)] == [0.2968, 0.3086, 0.2592, 0.3283]
    slope = (-1.5 * a - 0.5 * b + 0.5 * c_ + 1.5 * d) / 5
    assert c.loc["partner_revenue_share_rising", "actual"] == pytest.approx(slope)
    assert slope == pytest.approx(0.004517, abs=1e-6)
    assert c.loc["partner_revenue_share_rising", "status"] == "met"
    # won/closed pooled over the window: influenced 20 + 29 + 18 + 27 of 68 + 71 + 67 + 76,
    # unassisted 67 + 91 + 95 + 88 of 331 + 390 + 385 + 420
    assert c.loc["win_rate_lift_positive", "actual"] == pytest.approx(94 / 282 - 341 / 1526)
    assert c.loc["win_rate_lift_positive", "status"] == "met"
    # renewed/due: integrated 38 + 55 + 85 + 104 of 42 + 65 + 96 + 116, the others
    # 88 + 87 + 91 + 86 of 121 + 117 + 117 + 115
    assert c.loc["retention_lift_positive", "actual"] == pytest.approx(282 / 319 - 352 / 470)
    assert c.loc["retention_lift_positive", "status"] == "met"


def test_sample_report_and_text(sample):
    report = scorecard_report(sample, Q, "series_a")
    assert (report["quarter"], report["stage"]) == (Q, "series_a")
    assert [c["check"] for c in report["checks"]][0] == "sourced_pipeline_each_quarter"
    assert set(report["checks"][0]) == {"check", "target", "actual", "status", "note"}
    assert isinstance(report["checks"][0]["actual"], int)
    json.dumps(report, allow_nan=False)
    text = scorecard_text(sample, Q, "series_a")
    assert "series_a, 2026Q3" in text and "3 of 4 met" in text
    assert "time_to_live_trending_down" in text
