"""The metric catalogue: the one list of metrics partnerkit knows (SPEC §5).

Every metric id used by the code, the notebooks, the dashboard and the JSON
output is an entry here; there is no second list. Metric ids are a contract
read by other tools: rename one and you break them.

Tiers read up a stack: *activity* is what the team did, *output* is what the
work produced, *outcome* is what changed for the business. A *vanity* metric
can rise while the business stays flat; its entry names the metric to report
instead.
"""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("activity", "output", "outcome")


@dataclass(frozen=True)
class Metric:
    """One catalogue entry.

    Attributes
    ----------
    id : str
        Stable identifier (the JSON key).
    tier : str
        ``activity``, ``output`` or ``outcome``.
    unit : str
        ``count``, ``money``, ``fraction`` (rates and shares, 0..1), ``days``
        or ``difference`` (a difference of two fractions).
    definition : str
        What is counted for a quarter, in plain words.
    source : str
        The system the data comes from.
    replacement : str or None
        For a vanity metric, the id of the metric to report instead.
    health : bool
        Part of the integration health panel.
    """

    id: str
    tier: str
    unit: str
    definition: str
    source: str
    replacement: str | None = None
    health: bool = False

    @property
    def vanity(self) -> bool:
        """True when the catalogue advises reporting another metric instead."""
        return self.replacement is not None


#: Activity kinds and the tier each belongs to. An unknown kind is kept and reported.
ACTIVITY_KIND_TIERS = {
    "meeting": "activity",
    "call": "activity",
    "email": "activity",
    "mou": "activity",
    "qbr": "activity",
    "listing_published": "output",
    "seller_enabled": "output",
}

_ENTRIES = (
    Metric("partners_signed", "activity", "count",
           "Partners whose agreement was signed during the quarter.",
           "partner agreements", replacement="integrations_live"),
    Metric("meetings_held", "activity", "count",
           "Partner meetings logged during the quarter.",
           "CRM activities", replacement="time_to_live_days"),
    Metric("mous_signed", "activity", "count",
           "Memoranda of understanding signed with partners during the quarter.",
           "CRM activities", replacement="partner_revenue_share"),
    Metric("activity_events", "activity", "count",
           "Every logged partner activity of an activity-tier kind (meetings, calls, emails, "
           "MOUs, QBRs) during the quarter.",
           "CRM activities"),
    Metric("integrations_live", "output", "count",
           "Integrations that went live during the quarter.",
           "integration project tracker"),
    Metric("listings_published", "output", "count",
           "Marketplace or directory listings published during the quarter.",
           "CRM activities"),
    Metric("sellers_enabled", "output", "count",
           "Partner sellers trained and enabled to sell during the quarter.",
           "CRM activities"),
    Metric("installs_new", "output", "count",
           "Integration connections installed during the quarter.",
           "product analytics"),
    Metric("installs_active", "output", "count",
           "Connections still installed at the end of the quarter. Shown alone it hides idle "
           "connections, so report it beside the active-to-install ratio.",
           "product analytics", replacement="active_to_install_ratio", health=True),
    Metric("time_to_live_days", "output", "days",
           "Median days from scoping an integration to its going live, over integrations that "
           "went live during the quarter; the integrations still waiting are reported beside it.",
           "integration project tracker"),
    Metric("weekly_active_connections", "outcome", "count",
           "Connections with at least one successful sync in the last full week of the quarter.",
           "sync telemetry", health=True),
    Metric("active_to_install_ratio", "outcome", "fraction",
           "Weekly active connections divided by the connections installed at the end of that "
           "same week: how many installs do real work.",
           "sync telemetry and product analytics", health=True),
    Metric("sync_error_rate", "output", "fraction",
           "Failed sync events as a share of all sync events during the quarter.",
           "sync telemetry", health=True),
    Metric("sourced_pipeline", "outcome", "money",
           "Amount of the deals a partner originated, counted in the quarter the deal was created.",
           "CRM partner-source field"),
    Metric("influenced_pipeline", "outcome", "money",
           "Amount of existing deals a partner helped, counted in the quarter of the first "
           "credited partner touch; each deal once for the company.",
           "CRM partner-source field"),
    Metric("sourced_revenue", "outcome", "money",
           "Amount of won partner-sourced deals that closed during the quarter.",
           "CRM"),
    Metric("influenced_revenue", "outcome", "money",
           "Amount of won partner-influenced deals that closed during the quarter.",
           "CRM"),
    Metric("partner_revenue_share", "outcome", "fraction",
           "Sourced plus influenced revenue as a share of all revenue won during the quarter.",
           "CRM"),
    Metric("win_rate_sourced", "outcome", "fraction",
           "Won over closed among partner-sourced deals that closed during the quarter.", "CRM"),
    Metric("win_rate_influenced", "outcome", "fraction",
           "Won over closed among partner-influenced deals that closed during the quarter.", "CRM"),
    Metric("win_rate_unassisted", "outcome", "fraction",
           "Won over closed among deals without partner credit that closed during the quarter.",
           "CRM"),
    Metric("win_rate_lift", "outcome", "difference",
           "Influenced win rate minus unassisted win rate, with an interval for the difference.",
           "CRM"),
    Metric("renewal_rate_integrated", "outcome", "fraction",
           "Renewed over due among renewals of the quarter whose account had an integration "
           "installed at the end of the renewal day.",
           "billing and product analytics"),
    Metric("renewal_rate_not_integrated", "outcome", "fraction",
           "Renewed over due among renewals of the quarter whose account had no integration "
           "installed at the end of the renewal day.",
           "billing and product analytics"),
    Metric("retention_lift", "outcome", "difference",
           "Integrated renewal rate minus not-integrated renewal rate, with an interval for the "
           "difference.",
           "billing and product analytics"),
)

#: Metric id -> entry, in catalogue order.
CATALOGUE: dict[str, Metric] = {m.id: m for m in _ENTRIES}


def metric(metric_id: str) -> Metric:
    """Look up a catalogue entry.

    Raises
    ------
    KeyError
        With the list of known ids, when the id is unknown.

    Examples
    --------
    >>> metric("partners_signed").replacement
    'integrations_live'
    >>> metric("sourced_pipeline").tier
    'outcome'
    """
    try:
        return CATALOGUE[metric_id]
    except KeyError:
        raise KeyError(f"unknown metric id {metric_id!r}; known: {', '.join(CATALOGUE)}") from None


def metric_ids(tier: str | None = None) -> list[str]:
    """Metric ids in catalogue order, optionally of one tier.

    Examples
    --------
    >>> metric_ids("activity")
    ['partners_signed', 'meetings_held', 'mous_signed', 'activity_events']
    """
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    return [m.id for m in _ENTRIES if tier is None or m.tier == tier]


def vanity_metrics() -> dict[str, str]:
    """Vanity metric id -> the id to report instead.

    Examples
    --------
    >>> vanity_metrics()["meetings_held"]
    'time_to_live_days'
    """
    return {m.id: m.replacement for m in _ENTRIES if m.vanity}


def catalogue_frame():
    """The catalogue as a DataFrame (one row per metric), for display.

    Examples
    --------
    >>> catalogue_frame().loc["installs_active", "replacement"]
    'active_to_install_ratio'
    """
    import pandas as pd

    return pd.DataFrame([vars(m) | {"vanity": m.vanity} for m in _ENTRIES]).set_index("id")
