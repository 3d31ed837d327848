"""Sourced, influenced or unassisted: the attribution rules of SPEC §4.

Every opportunity lands in exactly one bucket. The rules run in order, and
every rule that fires leaves an audit finding (rule id, opportunity, partner)
so that finance can trace why a tag was or was not credited:

1. ``orphan_attribution``: the tag names an unknown deal or partner; not credited
   (the loader already quarantines such rows; they are reported here as findings).
2. ``tagged_after_close``: the partner was tagged after the deal closed; not credited.
3. ``late_sourced``: a sourced tag added more than ``grace_days`` after the deal was
   created; the deal existed before the partner, so it counts as influence.
4. ``multiple_sourcers``: several partners still claim to have sourced the deal; the
   earliest tag (ties: smallest partner id) keeps it, the others count as influence.
5. bucket: ``sourced`` if a sourced tag remains, else ``influenced`` if an influence
   tag remains, else ``unassisted``.
6. ``sourced_and_influenced`` (informational): a sourced deal that also carries
   influence tags; the influencers are listed, not credited.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from partnerkit.dataset import is_known

RULES = ("orphan_attribution", "tagged_after_close", "late_sourced", "multiple_sourcers",
         "sourced_and_influenced")
BUCKETS = ("sourced", "influenced", "unassisted")
DEFAULT_GRACE_DAYS = 14


@dataclass
class Attribution:
    """The outcome of the rules for a set of opportunities.

    Attributes
    ----------
    deals : DataFrame
        One row per opportunity (index ``opportunity_id``) with the opportunity's
        columns plus ``bucket``, ``sourcing_partner`` (NA unless sourced),
        ``sourced_date`` (tag date of the sourcing partner) and
        ``first_influence_date`` (earliest credited influence tag; NA unless
        influenced).
    credits : DataFrame
        Credited partner tags: ``opportunity_id, partner_id, credit, tagged_date``,
        where ``credit`` is ``sourced`` or ``influenced``. One row per partner and
        deal (a partner's earliest credited tag).
    findings : DataFrame
        ``rule, opportunity_id, partner_id, detail``, in rule order.
    """

    deals: pd.DataFrame
    credits: pd.DataFrame
    findings: pd.DataFrame


def attribute(opportunities: pd.DataFrame, attributions: pd.DataFrame | None,
              grace_days: int = DEFAULT_GRACE_DAYS, partners: pd.DataFrame | None = None,
              orphans: pd.DataFrame | None = None) -> Attribution:
    """Apply the attribution rules.

    Parameters
    ----------
    opportunities : DataFrame
        Canonical opportunities.
    attributions : DataFrame or None
        Canonical partner tags (None: every deal is unassisted).
    grace_days : int
        How long after a deal's creation a sourced tag is still believed (default 14).
    partners : DataFrame, optional
        When given, tags naming an unknown partner are orphans.
    orphans : DataFrame, optional
        Tags the loader already rejected as orphans (``opportunity_id, partner_id``);
        they become ``orphan_attribution`` findings.

    Returns
    -------
    Attribution

    Examples
    --------
    >>> opps = pd.DataFrame({
    ...     "opportunity_id": ["O1", "O2", "O3"], "amount": [100.0, 50.0, 10.0],
    ...     "created_date": pd.to_datetime(["2026-07-01"] * 3),
    ...     "close_date": pd.to_datetime([None, None, None]),
    ...     "is_closed": [False] * 3, "is_won": [False] * 3})
    >>> tags = pd.DataFrame({
    ...     "opportunity_id": ["O1", "O2"], "partner_id": ["P1", "P2"],
    ...     "role": ["sourced", "sourced"],
    ...     "tagged_date": pd.to_datetime(["2026-07-15", "2026-07-16"])})
    >>> result = attribute(opps, tags)
    >>> result.deals["bucket"].tolist()
    ['sourced', 'influenced', 'unassisted']
    >>> result.findings[["rule", "opportunity_id", "partner_id"]].values.tolist()
    [['late_sourced', 'O2', 'P2']]
    """
    deals = opportunities.set_index("opportunity_id", drop=False).copy()
    deals.index.name = "opportunity_id"
    findings = []
    if orphans is not None and len(orphans):
        findings.append(_findings(orphans, "orphan_attribution",
                                  "tag names an unknown opportunity or partner"))
    if attributions is None or attributions.empty:
        tags = _empty_tags()
    else:
        tags = attributions[["opportunity_id", "partner_id", "role", "tagged_date"]].copy()

    # 1. orphans the caller did not already remove
    known = is_known(tags["opportunity_id"], deals.index)
    if partners is not None:
        known &= is_known(tags["partner_id"], partners["partner_id"])
    findings.append(_findings(tags.loc[~known], "orphan_attribution",
                              "tag names an unknown opportunity or partner"))
    tags = tags.loc[known]
    tags = tags.join(deals[["created_date", "close_date", "is_closed"]], on="opportunity_id")

    # 2. a tag added after the deal closed cannot have shaped it
    after_close = tags["is_closed"].astype(bool) & (tags["tagged_date"] > tags["close_date"])
    findings.append(_findings(tags.loc[after_close], "tagged_after_close",
                              "tagged after the deal closed; not credited"))
    tags = tags.loc[~after_close].copy()

    # 3. sourced claims on deals that already existed are influence
    late = (tags["role"] == "sourced") & (
        tags["tagged_date"] > tags["created_date"] + pd.Timedelta(days=grace_days))
    findings.append(_findings(tags.loc[late], "late_sourced",
                              f"sourced tag more than {grace_days} days after the deal was "
                              "created; counted as influenced"))
    tags.loc[late, "role"] = "influenced"

    # one tag per partner, role and deal: the earliest
    tags = (tags.sort_values(["opportunity_id", "partner_id", "role", "tagged_date"])
                .drop_duplicates(["opportunity_id", "partner_id", "role"]))

    # 4. several sourcers: the earliest keeps it (ties: smallest partner id)
    sourced = tags.loc[tags["role"] == "sourced"].sort_values(
        ["opportunity_id", "tagged_date", "partner_id"])
    winners = sourced.drop_duplicates("opportunity_id")
    losers = sourced.loc[~sourced.index.isin(winners.index)]
    contested = sourced["opportunity_id"].duplicated(keep=False)
    findings.append(_findings(losers, "multiple_sourcers",
                              "another partner tagged the deal as sourced earlier "
                              "(or on the same day with a smaller partner id); counted as "
                              "influenced"))
    findings.append(_findings(sourced.loc[contested & sourced.index.isin(winners.index)],
                              "multiple_sourcers", "kept as the sourcing partner"))
    tags.loc[losers.index, "role"] = "influenced"

    # a partner that sourced the deal is not also its influencer
    tags = tags.loc[~((tags["role"] == "influenced")
                      & tags.set_index(["opportunity_id", "partner_id"]).index.isin(
                          winners.set_index(["opportunity_id", "partner_id"]).index))]
    tags = (tags.sort_values(["opportunity_id", "partner_id", "tagged_date"])
                .drop_duplicates(["opportunity_id", "partner_id", "role"]))

    # 5. buckets
    influence = tags.loc[tags["role"] == "influenced"]
    deals["sourcing_partner"] = winners.set_index("opportunity_id")["partner_id"].reindex(
        deals.index).astype("string")
    deals["sourced_date"] = winners.set_index("opportunity_id")["tagged_date"].reindex(deals.index)
    has_influence = is_known(deals.index.to_series(), influence["opportunity_id"]).to_numpy()
    deals["bucket"] = "unassisted"
    deals.loc[has_influence, "bucket"] = "influenced"
    deals.loc[deals["sourcing_partner"].notna(), "bucket"] = "sourced"
    first_influence = influence.groupby("opportunity_id")["tagged_date"].min()
    deals["first_influence_date"] = first_influence.reindex(deals.index).where(
        deals["bucket"] == "influenced")

    # 6. influencers of a sourced deal are listed, not credited
    listed = influence.loc[is_known(influence["opportunity_id"], winners["opportunity_id"])]
    findings.append(_findings(listed, "sourced_and_influenced",
                              "deal is partner-sourced; this influencer is listed, not credited"))
    credited_influence = influence.loc[~influence.index.isin(listed.index)]

    credits = pd.concat([
        winners.assign(credit="sourced"),
        credited_influence.assign(credit="influenced"),
    ])[["opportunity_id", "partner_id", "credit", "tagged_date"]]
    credits = credits.sort_values(["opportunity_id", "credit", "partner_id"]).reset_index(drop=True)
    findings = pd.concat([f for f in findings if len(f)] or [_empty_findings()],
                         ignore_index=True)
    findings["_order"] = findings["rule"].map({r: i for i, r in enumerate(RULES)})
    findings = (findings.sort_values(["_order", "opportunity_id", "partner_id"], kind="stable")
                        .drop(columns="_order").reset_index(drop=True))
    return Attribution(deals=deals, credits=credits, findings=findings)


def _findings(tags: pd.DataFrame, rule: str, detail: str) -> pd.DataFrame:
    return pd.DataFrame({
        "rule": rule,
        "opportunity_id": tags["opportunity_id"].astype("string").to_numpy(),
        "partner_id": tags["partner_id"].astype("string").to_numpy(),
        "detail": detail,
    })


def _empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string")
                         for c in ("rule", "opportunity_id", "partner_id", "detail")})


def _empty_tags() -> pd.DataFrame:
    return pd.DataFrame({"opportunity_id": pd.Series(dtype="string"),
                         "partner_id": pd.Series(dtype="string"),
                         "role": pd.Series(dtype="string"),
                         "tagged_date": pd.Series(dtype="datetime64[ns]")})


def partner_credits(result: Attribution, credit: str) -> pd.DataFrame:
    """Credited deals of one kind joined to the deal columns, one row per partner and deal.

    Parameters
    ----------
    result : Attribution
    credit : {"sourced", "influenced"}

    Returns
    -------
    DataFrame
        The deal columns plus ``partner_id`` and ``tagged_date``.

    Examples
    --------
    >>> opps = pd.DataFrame({"opportunity_id": ["O1"], "amount": [100.0],
    ...     "created_date": pd.to_datetime(["2026-07-01"]), "close_date": pd.to_datetime([None]),
    ...     "is_closed": [False], "is_won": [False]})
    >>> tags = pd.DataFrame({"opportunity_id": ["O1", "O1"], "partner_id": ["P1", "P2"],
    ...     "role": ["influenced", "influenced"],
    ...     "tagged_date": pd.to_datetime(["2026-07-03", "2026-07-02"])})
    >>> partner_credits(attribute(opps, tags), "influenced")[["partner_id", "amount"]].values.tolist()
    [['P1', 100.0], ['P2', 100.0]]
    """
    if credit not in ("sourced", "influenced"):
        raise ValueError("credit must be 'sourced' or 'influenced'")
    rows = result.credits.loc[result.credits["credit"] == credit, ["opportunity_id", "partner_id",
                                                                    "tagged_date"]]
    deal_columns = result.deals.drop(columns=["opportunity_id"], errors="ignore")
    return rows.join(deal_columns, on="opportunity_id")


def bucket_counts(result: Attribution) -> pd.Series:
    """Number of deals per bucket (all three buckets, zero when empty).

    Examples
    --------
    >>> opps = pd.DataFrame({"opportunity_id": ["O1", "O2"], "amount": [1.0, 2.0],
    ...     "created_date": pd.to_datetime(["2026-07-01"] * 2),
    ...     "close_date": pd.to_datetime([None, None]), "is_closed": [False] * 2,
    ...     "is_won": [False] * 2})
    >>> bucket_counts(attribute(opps, None)).to_dict()
    {'sourced': 0, 'influenced': 0, 'unassisted': 2}
    """
    return result.deals["bucket"].value_counts().reindex(list(BUCKETS), fill_value=0)
