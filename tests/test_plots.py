"""The figures, read back from their artists and checked against numbers worked out by hand.

Expected values for tests/fixtures/tiny_company come from its CSVs (see tests/test_kpis.py and
tests/test_dashboard.py for the arithmetic); the Wilson bounds are recomputed with
partnerkit.stats, independently of the plotting code.
"""

import matplotlib

matplotlib.use("Agg")  # the test process only; the package never picks a backend

import math
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from partnerkit.dashboard import dashboard_model
from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset
from partnerkit.plots import (
    FIGURE_METRICS,
    HEALTH_METRICS,
    STACK_TIERS,
    figure_name,
    integration_health_frame,
    leak_quarter,
    leak_tier,
    plot_dashboard,
    plot_integration_health,
    plot_stack_walk,
    plot_time_to_live,
    plot_win_rates,
    stack_walk_frame,
    win_rate_frame,
    write_figures,
)
from partnerkit.catalogue import CATALOGUE
from partnerkit.stats import wilson_interval

TESTS = Path(__file__).parent
TINY = TESTS / "fixtures" / "tiny_company"
SAMPLE = TESTS.parent / "data" / "sample"
QUARTERS = ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]


@pytest.fixture(scope="module")
def tiny():
    return Kpis(load_dataset(TINY))


@pytest.fixture(scope="module")
def tiny_panel(tiny):
    return tiny.panel(QUARTERS, metrics=list(FIGURE_METRICS), scopes=["all", "P1"])


@pytest.fixture(scope="module")
def sample():
    return Kpis(load_dataset(SAMPLE))


@pytest.fixture
def ax():
    return Figure(figsize=(10, 6)).add_subplot()


def child(ax, label):
    [found] = [a for a in ax.child_axes if a.get_label() == label]
    return found


def gid_lines(ax, gid):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def nan_list(values):
    return [None if (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]


# ------------------------------------------------------------------ data shaping


def test_stack_walk_frame_on_tiny_company(tiny_panel):
    frame = stack_walk_frame(tiny_panel, "all")
    assert frame.index.tolist() == QUARTERS
    # activity: A8 (email, 06-30) in Q2; A1, A2 (meetings), A4 (mou), A5 (call) in Q3
    assert frame["activity"].tolist() == [0, 0, 1, 4]
    # output: I3 live in Q1; C2 installed in Q2; Q3: I1, I2 live + A6 listing + A7 seller
    # + C1, C3, C5 installed = 7
    assert frame["output"].tolist() == [0, 1, 1, 7]
    # outcome: Q2 influenced O2 200; Q3 sourced 1200 + influenced 1100
    assert frame["outcome"].tolist() == [0, 0, 200, 2300]
    p1 = stack_walk_frame(tiny_panel, "P1")
    # P1: meetings A1, A2 in Q3; output I3 (Q1), C2 on P1's I1 (Q2), I1 + A6 + C1 + C5 (Q3);
    # sourced O8 800 + influence O2 200 (Q2), O4 400 + O7 700 (Q3)
    assert p1["activity"].tolist() == [0, 0, 0, 2]
    assert p1["output"].tolist() == [0, 1, 1, 4]
    assert p1["outcome"].tolist() == [0, 0, 200, 1900]


def test_stack_tiers_are_catalogue_metrics_of_their_tier():
    for tier, ids in STACK_TIERS.items():
        for metric_id in ids:
            assert CATALOGUE[metric_id].tier == tier
    assert HEALTH_METRICS == ("installs_active", "weekly_active_connections",
                              "active_to_install_ratio", "sync_error_rate")


def test_a_tier_not_measured_is_missing_not_zero():
    panel = pd.DataFrame({"quarter": ["2026Q3"] * 2, "scope": ["all"] * 2,
                          "metric": ["activity_events", "sourced_pipeline"],
                          "value": [np.nan, 5.0]})
    frame = stack_walk_frame(panel)
    assert math.isnan(frame.at["2026Q3", "activity"]) and math.isnan(frame.at["2026Q3", "output"])
    assert frame.at["2026Q3", "outcome"] == 5.0
    with pytest.raises(KeyError, match="P9"):
        stack_walk_frame(panel, "P9")


def test_win_rate_frame_on_tiny_company(tiny_panel):
    frame = win_rate_frame(tiny_panel, "2026Q3")
    # sourced O1 won, O8 lost; influenced O2, O7 won; unassisted O5 lost, O6, O9 won
    assert frame.index.tolist() == ["sourced", "influenced", "unassisted"]
    assert frame["rate"].tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert frame["n"].tolist() == [2, 2, 3]
    assert frame["ci_low"].tolist() == pytest.approx(
        [wilson_interval(1, 2)[0], wilson_interval(2, 2)[0], wilson_interval(2, 3)[0]])
    # the latest quarter by default; nothing closed in 2025Q4: undefined, n = 0
    assert win_rate_frame(tiny_panel)["n"].tolist() == [2, 2, 3]
    early = win_rate_frame(tiny_panel, "2025Q4")
    assert early["n"].tolist() == [0, 0, 0] and early["rate"].isna().all()


def test_integration_health_frame_on_tiny_company(tiny_panel):
    frame = integration_health_frame(tiny_panel)
    assert list(frame.columns) == list(HEALTH_METRICS)
    assert frame["installs_active"].tolist() == [0, 0, 1, 3]
    assert frame["weekly_active_connections"].tolist() == [0, 0, 0, 2]
    assert nan_list(frame["sync_error_rate"]) == [None, None, 1.0, pytest.approx(2 / 6)]


def test_leak_quarter_and_tier():
    leak = {"pattern": "installs_without_usage", "lower": "installs_new",
            "evidence": {"quarters": QUARTERS}}
    assert leak_quarter(leak) == "2026Q3" and leak_tier(leak) == "output"
    assert leak_quarter({**leak, "quarter": "2026Q2"}) == "2026Q2"
    assert leak_tier({"lower": "activity_events"}) == "activity"


# ------------------------------------------------------------------ the dashboard


def test_dashboard_sparklines_carry_the_series(tiny, ax):
    model = dashboard_model(tiny, "2026Q3")
    assert plot_dashboard(model, ax=ax) is ax
    labels = {a.get_label() for a in ax.child_axes}
    for metric_id in ("sourced_pipeline", "influenced_pipeline", "weekly_active_connections",
                      "time_to_live_days"):
        assert {f"tile:{metric_id}", f"sparkline:{metric_id}"} <= labels
    for metric_id in HEALTH_METRICS:
        assert {f"health:{metric_id}", f"health-sparkline:{metric_id}"} <= labels

    def spark(label, gid):
        [line] = gid_lines(child(ax, label), gid)
        return line.get_xdata().tolist(), nan_list(line.get_ydata())

    assert spark("sparkline:sourced_pipeline", "sparkline:sourced_pipeline") == (
        [0, 1, 2, 3], [0.0, 0.0, 0.0, 1200.0])
    assert spark("sparkline:influenced_pipeline", "sparkline:influenced_pipeline")[1] == [
        0.0, 0.0, 200.0, 1100.0]
    # I3 went live in Q1 after 50 days; nothing in Q4 2025 or Q2: gaps, not zeros
    assert spark("sparkline:time_to_live_days", "sparkline:time_to_live_days")[1] == [
        None, 50.0, None, 84.0]
    # the adoption tile draws the ratio too (undefined before Q3: nothing installed)
    [twin] = [a for a in ax.figure.axes if a.get_label() == "sparkline:active_to_install_ratio"]
    [ratio] = gid_lines(twin, "sparkline:active_to_install_ratio")
    assert nan_list(ratio.get_ydata()) == [None, None, None, pytest.approx(2 / 3)]
    assert spark("health-sparkline:installs_active", "sparkline:installs_active")[1] == [
        0.0, 0.0, 1.0, 3.0]


def test_dashboard_cards_show_value_change_and_quarter(tiny, ax):
    plot_dashboard(dashboard_model(tiny, "2026Q3"), ax=ax)
    assert "2026Q3" in ax.get_title(loc="left") and "company" in ax.get_title(loc="left")

    def texts(label):
        return [t.get_text() for t in child(ax, label).texts]

    influenced = texts("tile:influenced_pipeline")
    assert influenced[:2] == ["Influenced pipeline", "1.1k"]
    assert "\u25b2 +900 (+450%) vs 2026Q2 (200)" in influenced
    # the prior was zero: an absolute change only
    assert "\u25b2 +1.2k vs 2026Q2 (0)" in texts("tile:sourced_pipeline")
    ttl = texts("tile:time_to_live_days")
    assert "84 d" in ttl and "2 still open, median age 44 d" in ttl
    assert "no change: 2026Q2 not measured" in ttl
    assert any("66.7%" in t for t in texts("tile:weekly_active_connections"))
    # sync errors fell from 1 of 1 to 2 of 6: -66.7 points
    assert "\u25bc -66.7 pp vs 2026Q2 (100.0%)" in texts("health:sync_error_rate")


def test_dashboard_on_a_new_figure_when_no_axes():
    from partnerkit.dashboard import Dashboard, Tile

    tile = Tile("sourced_pipeline", "Sourced pipeline", "money", 2.0, 1.0, 1.0, 1.0, 1, None,
                {"2026Q1": 0.0, "2026Q2": 1.0, "2026Q3": 2.0, "2026Q4": 3.0})
    ax = plot_dashboard(Dashboard("T", "2026Q4", "all", list(tile.series), [tile], []))
    try:
        assert ax.figure is plt.gcf()
        assert [a.get_label() for a in ax.child_axes] == ["tile:sourced_pipeline",
                                                         "sparkline:sourced_pipeline"]
    finally:
        plt.close(ax.figure)


# ------------------------------------------------------------------ the stack walk


def test_stack_walk_bars_labels_and_no_leak(tiny_panel, ax):
    assert plot_stack_walk(tiny_panel, "all", ax=ax) is ax
    assert ax.get_title(loc="left") == "Stack walk: company, 2025Q4-2026Q3"
    heights = {tier: [p.get_height() for p in child(ax, f"tier:{tier}").patches
                      if p.get_gid() == f"tier:{tier}"] for tier in STACK_TIERS}
    assert heights == {"activity": [0, 0, 1, 4], "output": [0, 1, 1, 7],
                       "outcome": [0, 0, 200, 2300]}
    activity = child(ax, "tier:activity")
    assert [t.get_text() for t in activity.get_xticklabels()] == QUARTERS
    assert "pipeline" in child(ax, "tier:outcome").get_ylabel()
    assert "no leak for this scope" in [t.get_text() for t in ax.texts]


def test_stack_walk_marks_the_leaks_of_its_scope_only(tiny_panel, ax):
    leaks = [
        {"pattern": "activity_without_output", "scope": "P1", "lower": "activity_events",
         "upper": "integrations_live + listings_published + sellers_enabled",
         "evidence": {"quarters": QUARTERS}},
        {"pattern": "output_without_outcome", "scope": "P1",
         "lower": "integrations_live + installs_new", "evidence": {"quarters": QUARTERS[:3]}},
        {"pattern": "error_rate_creep", "scope": "P1", "lower": "sync_error_rate",
         "evidence": {"quarters": QUARTERS}},
        {"pattern": "installs_without_usage", "scope": "P2", "lower": "installs_new",
         "evidence": {"quarters": QUARTERS}},
    ]
    plot_stack_walk(tiny_panel, "P1", leaks=leaks, ax=ax)
    assert "partner P1" in ax.get_title(loc="left")
    activity, output = child(ax, "tier:activity"), child(ax, "tier:output")
    [note] = [t for t in activity.texts if t.get_gid() == "leak:activity_without_output"]
    # at its quarter (2026Q3 is the 4th bar), pointing at that bar
    assert note.xy[0] == 3
    [note] = [t for t in output.texts if t.get_gid() == "leak:output_without_outcome"]
    assert note.xy[0] == 2  # its evidence ends in 2026Q2
    # a leak outside the stack is named above the tiers
    [outside] = [t for t in ax.texts if t.get_gid() == "leak:error_rate_creep"]
    assert "error_rate_creep (2026Q3" in outside.get_text()
    everything = [t.get_gid() for a in (ax, *ax.child_axes) for t in a.texts]
    assert "leak:installs_without_usage" not in everything  # P2's leak is not P1's


def test_stack_walk_on_the_sample_marks_the_planted_stories(sample):
    from partnerkit.leaks import detect_leaks

    leaks = [leak.to_dict() for leak in detect_leaks(sample, "2026Q3")]
    panel = sample.panel(QUARTERS, metrics=[m for ids in STACK_TIERS.values() for m in ids],
                         scopes=["all", "P002", "P003"])
    ax = plot_stack_walk(panel, "P002", leaks=leaks, ax=Figure().add_subplot())
    activity = child(ax, "tier:activity")
    # the sample README: P002's activity events 4 / 5 / 9 / 12, nothing shipped
    assert [p.get_height() for p in activity.patches if p.get_gid() == "tier:activity"] == [
        4, 5, 9, 12]
    assert [p.get_height() for p in child(ax, "tier:output").patches
            if p.get_gid() == "tier:output"] == [0, 0, 0, 0]
    assert [t.xy[0] for t in activity.texts
            if t.get_gid() == "leak:activity_without_output"] == [3]
    ax = plot_stack_walk(panel, "P003", leaks=leaks, ax=Figure().add_subplot())
    output = child(ax, "tier:output")
    # P003's new installs 20 / 25 / 45 / 65 (nothing else of the output tier)
    assert [p.get_height() for p in output.patches if p.get_gid() == "tier:output"] == [
        20, 25, 45, 65]
    assert [t.get_gid() for t in output.texts if t.get_gid()] == ["leak:installs_without_usage"]
    ax = plot_stack_walk(panel, "all", leaks=leaks, ax=Figure().add_subplot())
    assert not [t for a in ax.child_axes for t in a.texts if (t.get_gid() or "").startswith(
        "leak:")]


# ------------------------------------------------------------------ integration health


def test_integration_health(tiny_panel, ax):
    assert plot_integration_health(tiny_panel, ax=ax) is ax
    installs = [p.get_height() for p in ax.patches if p.get_gid() == "installs_active"]
    active = [p.get_height() for p in ax.patches if p.get_gid() == "weekly_active_connections"]
    assert installs == [0, 0, 1, 3] and active == [0, 0, 0, 2]
    ratios = [t.get_text() for t in ax.texts if t.get_gid() == "active_to_install_ratio"]
    assert ratios == ["ratio n/a", "ratio n/a", "ratio n/a", "ratio 66.7%"]
    [twin] = [a for a in ax.figure.axes if a is not ax]
    [errors] = gid_lines(twin, "sync_error_rate")
    assert nan_list(errors.get_ydata()) == [None, None, 1.0, pytest.approx(1 / 3)]
    assert ax.get_title(loc="left") == "Integration health: company, 2025Q4-2026Q3"


# ------------------------------------------------------------------ win rates


def test_win_rate_bars_and_wilson_error_bars(tiny_panel, ax):
    assert plot_win_rates(tiny_panel, "2026Q3", ax=ax) is ax
    bars = [p for p in ax.patches if p.get_gid() == "win_rate"]
    assert [b.get_height() for b in bars] == pytest.approx([0.5, 1.0, 2 / 3])
    [interval] = [c for c in ax.collections if c.get_gid() == "wilson_interval"]
    extents = [(seg[0][1], seg[1][1]) for seg in interval.get_segments()]
    expected = [wilson_interval(1, 2), wilson_interval(2, 2), wilson_interval(2, 3)]
    for (low, high), (want_low, want_high) in zip(extents, expected):
        assert (low, high) == (pytest.approx(want_low), pytest.approx(want_high))
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "sourced\nn=2", "influenced\nn=2", "unassisted\nn=3"]
    # every bucket has fewer than 10 closed deals: hatched and said so
    assert all(b.get_hatch() == "//" for b in bars)
    title = ax.get_title(loc="left")
    assert "2026Q3" in title and "company" in title and "fewer than 10" in title


def test_win_rates_skip_undefined_buckets(tiny_panel, ax):
    plot_win_rates(tiny_panel, "2025Q4", ax=ax)
    bars = [p for p in ax.patches if p.get_gid() == "win_rate"]
    assert all(math.isnan(b.get_height()) for b in bars)
    assert [c for c in ax.collections if c.get_gid() == "wilson_interval"] == []
    assert [t.get_text() for t in ax.texts] == ["undefined:\nnothing closed"] * 3
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "sourced\nn=0", "influenced\nn=0", "unassisted\nn=0"]


# ------------------------------------------------------------------ time to live


@pytest.mark.parametrize("max_rows", [30, 2])  # one row per integration, and the strip view
def test_time_to_live_markers(tiny, ax, max_rows):
    integrations = tiny.dataset.integrations
    assert plot_time_to_live(integrations, "2026Q3", ax=ax, max_rows=max_rows) is ax
    [open_] = [c for c in ax.collections if c.get_gid() == "open"]
    [live] = [c for c in ax.collections if c.get_gid() == "live"]
    # open at 09-30: I5 (29 days), I4 (60); live by then: I3 50, I1 61, I2 107 days
    assert sorted(open_.get_offsets()[:, 0].tolist()) == [29, 60]
    assert sorted(live.get_offsets()[:, 0].tolist()) == [50, 61, 107]
    assert "2026Q3" in ax.get_title(loc="left")
    # the KPI median over I1 and I2 (went live in Q3): 84 days
    [median] = gid_lines(ax, "median")
    assert median.get_xdata()[0] == 84


def test_time_to_live_rows_name_the_integrations(tiny, ax):
    plot_time_to_live(tiny.dataset.integrations, "2026Q2", ax=ax)
    rows = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]),
                  reverse=True)
    # end of Q2: I3 live (50 days) on top; below it I2 (15 days) and I1 (60 days), still open
    assert [label for _, label in rows] == ["I3 (P1)", "I2 (P2)", "I1 (P1)"]
    [open_] = [c for c in ax.collections if c.get_gid() == "open"]
    assert len(open_.get_offsets()) == 2


# ------------------------------------------------------------------ files


def test_write_figures(tiny, tmp_path):
    leaks = [{"pattern": "activity_without_output", "scope": "P1", "lower": "activity_events",
              "evidence": {"quarters": QUARTERS}}]
    paths = write_figures(tiny, "2026Q3", tmp_path / "figs", leaks=leaks)
    assert [p.name for p in paths] == ["dashboard.png", "stack_walk.png", "stack_walk_P1.png",
                                       "integration_health.png", "win_rates.png",
                                       "time_to_live.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000


def test_figure_names_are_safe_paths():
    assert figure_name("stack_walk", "../../etc/P1") == "stack_walk_etc_P1.png"
    assert figure_name("stack_walk", "all") == "stack_walk.png"


def test_the_package_imports_no_pyplot_and_sets_no_backend():
    code = ("import sys, partnerkit.plots, partnerkit.dashboard; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for module in ("plots.py", "dashboard.py"):
        source = (TESTS.parent / "partnerkit" / module).read_text(encoding="utf-8")
        assert "matplotlib.use(" not in source and "rcParams" not in source
