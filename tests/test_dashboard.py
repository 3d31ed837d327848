"""The exec dashboard: the spec, the numbers of each tile, and the vanity lint.

Expected numbers for tests/fixtures/tiny_company are worked out from its CSVs; the comments show
the arithmetic. 2026Q2 is the prior quarter of 2026Q3.
"""

import json
from pathlib import Path

import pytest
import yaml

from partnerkit.catalogue import CATALOGUE, vanity_metrics
from partnerkit.dashboard import (
    DashboardSpec,
    DashboardSpecError,
    archived_specs,
    dashboard_model,
    lint_dashboard,
    lint_report,
    lint_text,
    load_dashboard_spec,
    parse_dashboard_spec,
    period_change,
    previous_archived_spec,
    time_to_live_frame,
)
from partnerkit.kpis import Kpis
from partnerkit.load import load_dataset

TESTS = Path(__file__).parent
TINY = TESTS / "fixtures" / "tiny_company"
DASHBOARDS = TESTS / "fixtures" / "dashboards"
SAMPLE = TESTS.parent / "data" / "sample"


@pytest.fixture(scope="module")
def tiny():
    return Kpis(load_dataset(TINY))


@pytest.fixture(scope="module")
def tiny_model(tiny):
    return dashboard_model(tiny, "2026Q3")


@pytest.fixture(scope="module")
def sample():
    return Kpis(load_dataset(SAMPLE))


@pytest.fixture(scope="module")
def sample_model(sample):
    return dashboard_model(sample, "2026Q3")


def tiles_by_metric(tiles):
    return {t.metric: t for t in tiles}


# ------------------------------------------------------------------ the spec


def test_default_spec_is_the_locked_view_of_spec_section_8():
    spec = load_dashboard_spec()
    assert [t.metric for t in spec.tiles] == ["sourced_pipeline", "influenced_pipeline",
                                              "weekly_active_connections", "time_to_live_days"]
    assert spec.tiles[2].companion == "active_to_install_ratio"
    assert [t.metric for t in spec.health] == ["installs_active", "weekly_active_connections",
                                               "active_to_install_ratio", "sync_error_rate"]
    assert spec.quarters >= 4
    for entry in (*spec.tiles, *spec.health):
        assert entry.compare == "prior_quarter" and entry.sparkline is True


def test_default_spec_lints_clean_even_against_itself():
    spec = load_dashboard_spec()
    assert lint_dashboard(spec) == []
    assert lint_dashboard(spec, previous=load_dashboard_spec()) == []
    assert lint_report([]) == {"clean": True, "findings": []}


def test_spec_round_trips_through_its_yaml(tmp_path):
    spec = load_dashboard_spec()
    path = tmp_path / "dashboard.yml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    again = load_dashboard_spec(path)
    assert (again.title, again.quarters, again.tiles, again.health) == (
        spec.title, spec.quarters, spec.tiles, spec.health)


@pytest.mark.parametrize("name, expected", [
    # the file and the tile (its index and key) are named, and the bad id
    ("unknown_metric.yml", ["unknown_metric.yml", "tiles[1].metric", "'logos_on_page'"]),
    ("unknown_key.yml", ["unknown_key.yml", "tiles[1]", "'trend'"]),
    ("short_trend.yml", ["short_trend.yml", "quarters", ">= 4"]),
    # the YAML error names the file and the line of the broken flow sequence
    ("not_yaml.yml", ["not_yaml.yml", "not valid YAML", "line 5"]),
])
def test_bad_specs_name_the_file_and_the_key(name, expected):
    with pytest.raises(DashboardSpecError) as err:
        load_dashboard_spec(DASHBOARDS / name)
    for text in expected:
        assert text in str(err.value)


def test_bad_values_are_refused_with_the_key_named():
    tile = {"metric": "sourced_pipeline"}
    cases = [
        ({"tiles": [{**tile, "compare": "prior_year"}]}, "tiles[0].compare"),
        ({"tiles": [{**tile, "sparkline": "yes"}]}, "tiles[0].sparkline"),
        ({"tiles": [{**tile, "companion": "sourced_pipeline"}]}, "tiles[0].companion"),
        ({"tiles": [tile], "health": [{"metric": "nope"}]}, "health[0].metric"),
        ({"tiles": [tile, tile]}, "tiles[1].metric"),
        ({"tiles": []}, "tiles"),
        ({"title": "x"}, "tiles"),
        ({"tiles": [tile], "colour": "red"}, "'colour'"),
        ({"tiles": [tile], "quarters": True}, "quarters"),
        ([1, 2], "expected a mapping"),
    ]
    for data, key in cases:
        with pytest.raises(DashboardSpecError, match="my.yml") as err:
            parse_dashboard_spec(data, source="my.yml")
        assert key in str(err.value), (data, str(err.value))


def test_a_missing_spec_file_is_named(tmp_path):
    with pytest.raises(DashboardSpecError, match="nothere.yml: no such file"):
        load_dashboard_spec(tmp_path / "nothere.yml")


# ------------------------------------------------------------------ the model on tiny_company


def test_outcome_tiles_on_tiny_company(tiny_model):
    assert tiny_model.quarter == "2026Q3"
    assert tiny_model.quarters == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    tiles = tiles_by_metric(tiny_model.tiles)

    sourced = tiles["sourced_pipeline"]
    # Q3: O1 100 + O3 300 + O8 800; no sourced deal was created in Q2 (O2 is influenced)
    assert (sourced.value, sourced.prior, sourced.change) == (1200.0, 0.0, 1200.0)
    assert sourced.change_relative is None  # a change from zero has no ratio
    assert sourced.unit == "money"
    assert sourced.series == {"2025Q4": 0.0, "2026Q1": 0.0, "2026Q2": 0.0, "2026Q3": 1200.0}
    assert sourced.records == ["O1", "O3", "O8"]

    influenced = tiles["influenced_pipeline"]
    # Q2: O2's first credited influence is P1's tag of 06-25 (200); Q3: O4 400 + O7 700
    assert (influenced.value, influenced.prior, influenced.change) == (1100.0, 200.0, 900.0)
    assert influenced.change_relative == pytest.approx(900 / 200)
    assert influenced.series == {"2025Q4": 0.0, "2026Q1": 0.0, "2026Q2": 200.0, "2026Q3": 1100.0}


def test_adoption_tile_carries_the_ratio(tiny_model):
    adoption = tiles_by_metric(tiny_model.tiles)["weekly_active_connections"]
    assert adoption.label == "Integration adoption"
    # Q3: C1 and C5 in the week of 09-21; Q2's last full week (06-22..06-28) has no event at all
    assert (adoption.value, adoption.prior, adoption.change) == (2, 0, 2)
    assert adoption.change_relative is None
    ratio = adoption.companion
    assert ratio.metric == "active_to_install_ratio" and ratio.unit == "fraction"
    assert ratio.value == pytest.approx(2 / 3)
    # nothing was installed at the end of 2026-06-28 (C2 came on 06-30): undefined, not zero
    assert ratio.prior is None and ratio.change is None
    assert ratio.series["2026Q2"] is None


def test_time_to_live_tile(tiny_model):
    ttl = tiles_by_metric(tiny_model.tiles)["time_to_live_days"]
    # Q3: I1 61 and I2 107 days, median 84; nothing went live in Q2; I3 went live in Q1 after
    # 50 days (01-10 -> 03-01)
    assert (ttl.value, ttl.n, ttl.unit) == (84.0, 2, "days")
    assert ttl.prior is None and ttl.change is None
    assert ttl.series == {"2025Q4": None, "2026Q1": 50.0, "2026Q2": None, "2026Q3": 84.0}
    # still open at 09-30: I4 (60 days old) and I5 (29 days, live only in Q4)
    assert ttl.details == {"open": 2, "open_median_age_days": 44.5, "open_records": ["I4", "I5"]}


def test_health_panel_on_tiny_company(tiny_model):
    health = tiles_by_metric(tiny_model.health)
    assert list(health) == ["installs_active", "weekly_active_connections",
                            "active_to_install_ratio", "sync_error_rate"]
    installs = health["installs_active"]
    # end of Q3: C1, C2, C3; end of Q2 (07-01 00:00): C2, installed a second before midnight
    assert (installs.value, installs.prior, installs.change, installs.change_relative) == (
        3, 1, 2, 2.0)
    assert installs.series == {"2025Q4": 0, "2026Q1": 0, "2026Q2": 1, "2026Q3": 3}
    errors = health["sync_error_rate"]
    # Q3: 2 failures of 6 events; Q2: C1's single event at 06-30 23:59:59 failed
    assert errors.value == pytest.approx(2 / 6) and errors.prior == 1.0
    assert errors.change == pytest.approx(2 / 6 - 1)
    assert errors.change_relative == pytest.approx(2 / 6 - 1)
    # no sync event at all before Q2: the rate is undefined, not zero
    assert errors.series["2025Q4"] is None and errors.series["2026Q1"] is None


def test_the_model_uses_one_panel_call(tiny, monkeypatch):
    calls = []
    original = Kpis.panel

    def counting(self, *args, **kwargs):
        calls.append((args, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Kpis, "panel", counting)
    dashboard_model(tiny, "2026Q3")
    assert len(calls) == 1


def test_model_json_is_plain_and_complete(tiny_model):
    # strict JSON: no NaN, no numpy scalars
    payload = json.loads(json.dumps(tiny_model.to_dict(), allow_nan=False))
    assert payload["quarter"] == "2026Q3" and payload["scope"] == "all"
    assert [t["metric"] for t in payload["tiles"]] == [
        "sourced_pipeline", "influenced_pipeline", "weekly_active_connections",
        "time_to_live_days"]
    ttl = payload["tiles"][3]
    assert ttl["series"][0] == {"quarter": "2025Q4", "value": None}
    assert payload["tiles"][2]["companion"]["metric"] == "active_to_install_ratio"
    assert payload["tiles"][0]["tier"] == "outcome"
    frame = tiny_model.to_frame()
    assert frame.loc[frame["metric"] == "influenced_pipeline", "change"].item() == 900.0


def test_a_spec_without_comparisons_shows_no_prior(tiny):
    spec = parse_dashboard_spec({"tiles": [{"metric": "influenced_pipeline"}]})
    tile = dashboard_model(tiny, "2026Q3", spec).tiles[0]
    assert (tile.value, tile.prior, tile.change, tile.series) == (1100.0, None, None, {})


def test_partner_scope(tiny):
    model = dashboard_model(tiny, "2026Q3", scope="P1")
    tiles = tiles_by_metric(model.tiles)
    # P1 sources O8 (tie with P2 on the same day, smaller id wins)
    assert tiles["sourced_pipeline"].value == 800.0
    # P1's own influence tags: O2 on 06-25 (Q2, 200), O4 and O7 in Q3
    assert (tiles["influenced_pipeline"].value, tiles["influenced_pipeline"].prior) == (
        1100.0, 200.0)
    # P1 owns I1 only among Q3's live integrations (61 days); P1 has nothing open
    assert tiles["time_to_live_days"].value == 61.0
    assert tiles["time_to_live_days"].details["open"] == 0


# ------------------------------------------------------------------ the model on the sample


def test_sample_tiles_match_the_kpis_of_each_quarter(sample, sample_model):
    now, before = sample.company("2026Q3"), sample.company("2026Q2")
    for tile in [*sample_model.tiles, *sample_model.health]:
        for t in (tile, tile.companion):
            if t is None:
                continue
            assert t.value == pytest.approx(now[t.metric].value, nan_ok=True), t.metric
            assert t.prior == pytest.approx(before[t.metric].value, nan_ok=True), t.metric
            assert list(t.series) == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    influenced = tiles_by_metric(sample_model.tiles)["influenced_pipeline"]
    series = sample.series("influenced_pipeline", ["2025Q4", "2026Q1", "2026Q2", "2026Q3"])
    assert list(influenced.series.values()) == pytest.approx(series["value"].tolist())
    assert influenced.change == pytest.approx(now["influenced_pipeline"].value
                                              - before["influenced_pipeline"].value)


def test_sample_time_to_live_reports_the_open_integrations(sample_model):
    ttl = tiles_by_metric(sample_model.tiles)["time_to_live_days"]
    # the sample README: no integration went live in 2026Q3; I003, I004, I010 are still scoped
    assert ttl.value is None and "no integration went live" in ttl.reason
    assert ttl.details["open_records"] == ["I003", "I004", "I010"]


def test_time_to_live_frame_on_tiny_company():
    integrations = load_dataset(TINY).integrations
    frame = time_to_live_frame(integrations, "2026Q3")
    rows = {r.integration_id: (r.status, r.days, r.live_in_quarter)
            for r in frame.itertuples()}
    assert rows == {
        "I3": ("live", 50, False),  # 01-10 -> 03-01
        "I1": ("live", 61, True),  # 05-01 -> 07-01
        "I2": ("live", 107, True),  # 06-15 -> 09-30
        "I5": ("open", 29, False),  # scoped 09-01, live only on 10-05
        "I4": ("open", 60, False),  # scoped 08-01, never live
    }
    assert frame["status"].tolist() == ["live", "live", "live", "open", "open"]
    # at the end of Q2, I1 and I2 were still open (60 and 15 days), I4/I5 not yet scoped
    q2 = time_to_live_frame(integrations, "2026Q2")
    assert q2.set_index("integration_id")["days"].to_dict() == {"I3": 50, "I2": 15, "I1": 60}


def test_period_change():
    assert period_change(3, 1) == (2.0, 2.0)
    assert period_change(0.25, 0.5) == (-0.25, -0.5)
    assert period_change(5.0, 0) == (5.0, None)
    assert period_change(float("nan"), 1.0) == (None, None)
    assert period_change(1.0, None) == (None, None)


# ------------------------------------------------------------------ the lint


def test_vanity_metric_and_installs_without_ratio():
    findings = lint_dashboard(DASHBOARDS / "vanity_and_installs.yml")
    by_id = {f.id: f for f in findings}
    assert sorted(by_id) == ["installs_without_ratio", "vanity_metric"]
    assert len(findings) == 2
    vanity = by_id["vanity_metric"]
    assert (vanity.metric, vanity.replacement, vanity.location) == (
        "partners_signed", "integrations_live", "tiles[4]")
    assert "integrations_live" in vanity.message
    assert vanity.file.endswith("vanity_and_installs.yml")
    installs = by_id["installs_without_ratio"]
    # the tile shows installs alone; the health panel has the ratio beside them
    assert (installs.metric, installs.location) == ("installs_active", "tiles[5]")
    assert installs.replacement == "active_to_install_ratio"
    report = lint_report(findings)
    assert report["clean"] is False
    assert {f["id"] for f in report["findings"]} == {"vanity_metric", "installs_without_ratio"}
    assert report["findings"][0]["replacement"] == "integrations_live"
    text = lint_text(findings)
    assert text.startswith("2 findings") and "integrations_live" in text


def test_every_catalogue_vanity_metric_is_flagged_with_its_replacement():
    for metric_id, replacement in vanity_metrics().items():
        spec = parse_dashboard_spec({"tiles": [
            {"metric": metric_id, "compare": "prior_quarter", "sparkline": True}]})
        ids = {(f.id, f.replacement) for f in lint_dashboard(spec)}
        if metric_id == "installs_active":  # vanity only alone: its own, more precise finding
            assert ids == {("installs_without_ratio", replacement)}
        else:
            assert ids == {("vanity_metric", replacement)}


def test_installs_beside_the_ratio_are_fine_and_health_counts_as_one_panel():
    ok = parse_dashboard_spec({"tiles": [
        {"metric": "installs_new", "companion": "active_to_install_ratio",
         "compare": "prior_quarter", "sparkline": True}]})
    assert lint_dashboard(ok) == []
    health_without_ratio = parse_dashboard_spec({
        "tiles": [{"metric": "sourced_pipeline", "compare": "prior_quarter", "sparkline": True}],
        "health": [{"metric": m, "compare": "prior_quarter", "sparkline": True}
                   for m in ("installs_active", "installs_new", "sync_error_rate")]})
    findings = lint_dashboard(health_without_ratio)
    assert [(f.id, f.metric, f.location) for f in findings] == [
        ("installs_without_ratio", "installs_active", "health"),
        ("installs_without_ratio", "installs_new", "health")]


def test_tile_without_prior():
    findings = lint_dashboard(DASHBOARDS / "tile_without_compare.yml")
    assert [(f.id, f.location, f.metric) for f in findings] == [
        ("tile_without_prior", "tiles[1]", "influenced_pipeline"),
        ("tile_without_prior", "health[2]", "active_to_install_ratio")]


def test_tile_without_sparkline():
    spec = parse_dashboard_spec({"tiles": [
        {"metric": "sourced_pipeline", "compare": "prior_quarter"}]})
    assert [(f.id, f.location) for f in lint_dashboard(spec)] == [
        ("tile_without_sparkline", "tiles[0]")]


def _archive(reports, folder, spec_data):
    (reports / folder).mkdir(parents=True)
    (reports / folder / "dashboard.yml").write_text(yaml.safe_dump(spec_data), encoding="utf-8")


def test_metric_set_changed_against_the_last_archived_quarter(tmp_path):
    default = load_dashboard_spec()
    reports = tmp_path / "reports"
    # 2026Q1 archived the default; 2026Q2 swapped time to live for partners signed, then its
    # revision r2 swapped it back for integrations live
    _archive(reports, "2026Q1", default.to_dict())
    swapped = default.to_dict()
    swapped["tiles"][3] = {"metric": "partners_signed", "compare": "prior_quarter",
                           "sparkline": True}
    _archive(reports, "2026Q2", swapped)
    revised = default.to_dict()
    revised["tiles"][3] = {"metric": "integrations_live", "compare": "prior_quarter",
                           "sparkline": True}
    _archive(reports, "2026Q2-r2", revised)
    (reports / "failed-runs").mkdir()  # not an archive
    (reports / "2026Q3").mkdir()  # an archive without a spec is skipped

    assert [(q, r) for q, r, _ in archived_specs(reports)] == [
        ("2026Q1", 1), ("2026Q2", 1), ("2026Q2", 2)]
    previous = previous_archived_spec(reports, "2026Q3")
    assert previous.source.endswith(str(Path("2026Q2-r2") / "dashboard.yml"))
    findings = lint_dashboard(default, previous=previous)
    assert [f.id for f in findings] == ["metric_set_changed"]
    changed = findings[0]
    assert changed.details["added"] == ["time_to_live_days"]
    assert changed.details["removed"] == ["integrations_live"]
    assert "added time_to_live_days" in changed.message
    assert "removed integrations_live" in changed.message
    # reporting 2026Q2 again compares with 2026Q1, which showed the same metrics
    assert lint_dashboard(default, previous=previous_archived_spec(reports, "2026Q2")) == []
    assert previous_archived_spec(reports, "2026Q1") is None
    # without a quarter the latest archive counts
    assert previous_archived_spec(reports).source == previous.source


def test_previous_archived_spec_without_archives(tmp_path):
    assert previous_archived_spec(tmp_path) is None
    assert previous_archived_spec(tmp_path / "missing") is None


def test_a_broken_archived_spec_is_named(tmp_path):
    _archive(tmp_path, "2026Q2", {"tiles": [{"metric": "logos"}]})
    with pytest.raises(DashboardSpecError, match=r"2026Q2.*dashboard.yml: tiles\[0\].metric"):
        previous_archived_spec(tmp_path, "2026Q3")


def test_the_lint_reads_vanity_from_the_catalogue(monkeypatch):
    # the lint has no list of its own: whatever the catalogue calls vanity is flagged
    import partnerkit.dashboard as dashboard

    monkeypatch.setattr(dashboard, "vanity_metrics",
                        lambda: {"integrations_live": "sourced_pipeline"})
    spec = parse_dashboard_spec({"tiles": [
        {"metric": "integrations_live", "compare": "prior_quarter", "sparkline": True},
        {"metric": "partners_signed", "compare": "prior_quarter", "sparkline": True}]})
    assert [(f.id, f.metric, f.replacement) for f in lint_dashboard(spec)] == [
        ("vanity_metric", "integrations_live", "sourced_pipeline")]


def test_spec_metric_ids_are_catalogue_ids():
    spec = load_dashboard_spec()
    assert set(spec.metric_ids()) <= set(CATALOGUE)
    assert isinstance(spec, DashboardSpec)
