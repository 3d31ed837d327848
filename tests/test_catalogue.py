"""The metric catalogue is complete, consistent and the single list of metric ids."""

from partnerkit.catalogue import (
    ACTIVITY_KIND_TIERS,
    CATALOGUE,
    TIERS,
    catalogue_frame,
    metric,
    metric_ids,
    vanity_metrics,
)

SPEC_IDS = [
    "partners_signed", "meetings_held", "mous_signed", "activity_events", "integrations_live",
    "listings_published", "sellers_enabled", "installs_new", "installs_active",
    "time_to_live_days", "weekly_active_connections", "active_to_install_ratio",
    "sync_error_rate", "sourced_pipeline", "influenced_pipeline", "sourced_revenue",
    "influenced_revenue", "partner_revenue_share", "win_rate_sourced", "win_rate_influenced",
    "win_rate_unassisted", "win_rate_lift", "renewal_rate_integrated",
    "renewal_rate_not_integrated", "retention_lift",
]


def test_every_spec_metric_is_in_the_catalogue_once():
    assert sorted(CATALOGUE) == sorted(SPEC_IDS)
    assert len(metric_ids()) == len(set(metric_ids())) == 25


def test_tiers_units_and_replacements_are_valid():
    for m in CATALOGUE.values():
        assert m.tier in TIERS
        assert m.unit in {"count", "money", "fraction", "days", "difference"}
        assert m.definition and m.source
        if m.replacement is not None:
            assert m.replacement in CATALOGUE
            # a vanity metric is replaced by something higher up or by the ratio beside it
            assert CATALOGUE[m.replacement].tier != "activity"


def test_vanity_replacements_follow_the_spec():
    assert vanity_metrics() == {
        "partners_signed": "integrations_live",
        "meetings_held": "time_to_live_days",
        "mous_signed": "partner_revenue_share",
        "installs_active": "active_to_install_ratio",
    }
    assert metric("sync_error_rate").tier == "output"
    assert metric("weekly_active_connections").tier == "outcome"


def test_activity_kinds_map_to_tiers():
    assert {k for k, t in ACTIVITY_KIND_TIERS.items() if t == "activity"} == {
        "meeting", "call", "email", "mou", "qbr"}
    assert {k for k, t in ACTIVITY_KIND_TIERS.items() if t == "output"} == {
        "listing_published", "seller_enabled"}


def test_unknown_metric_names_the_known_ones():
    try:
        metric("logos")
    except KeyError as exc:
        assert "sourced_pipeline" in str(exc)
    else:
        raise AssertionError("an unknown metric id must raise")


def test_frame_has_one_row_per_metric():
    frame = catalogue_frame()
    assert list(frame.index) == metric_ids()
    assert frame["vanity"].sum() == 4


def test_every_catalogue_metric_has_exactly_one_definition():
    from partnerkit.kpis import Kpis

    defined = sorted(name[3:] for name in vars(Kpis) if name.startswith("_m_"))
    assert defined == sorted(CATALOGUE)
