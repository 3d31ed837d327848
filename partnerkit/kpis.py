"""Every metric of the catalogue for a quarter, for the company and per partner.

:class:`Kpis` prepares the expensive parts once (attribution of every deal,
the telemetry rollups, quarter labels) and then answers any quarter, scope or
series of quarters from them. Each answer is a :class:`MetricValue` carrying
the ids of the records behind it, so every number can be traced.

Each ``_m_<metric id>`` method below is the definition of that metric: a
newcomer looking for how ``sourced_pipeline`` is computed reads
``Kpis._m_sourced_pipeline``.

Scopes: ``"all"`` is the company, counting every deal once; a partner id is
that partner's credit. For per-partner win-rate and retention lifts the
baseline (unassisted deals, accounts without any integration) is the
company's, since a baseline cannot belong to one partner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from partnerkit.attribution import DEFAULT_GRACE_DAYS, Attribution, attribute, partner_credits
from partnerkit.catalogue import ACTIVITY_KIND_TIERS, CATALOGUE, metric
from partnerkit.dataset import Dataset
from partnerkit.periods import Quarter
from partnerkit.stats import newcombe_difference, wilson_interval

ALL = "all"
DEFAULT_MIN_SAMPLE = 10


@dataclass
class MetricValue:
    """One metric for one scope and quarter.

    Attributes
    ----------
    id : str
        Catalogue id.
    value : float, int or None
        None when the metric cannot be measured (``reason`` says why).
    n : int or None
        Sample size behind a rate, or the number of records summed.
    ci_low, ci_high : float or None
        95% interval for rates (Wilson) and differences (Newcombe).
    records : list of str
        Ids of the records behind the value.
    reason : str or None
        Why the value is None.
    flags : list of str
        E.g. ``insufficient_sample`` when n < min_sample.
    details : dict
        Extra figures some metrics carry (e.g. open integrations for time to live).
    """

    id: str
    value: float | int | None
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    records: list[str] = field(default_factory=list)
    reason: str | None = None
    flags: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The metric in the JSON contract of SPEC §11.

        Examples
        --------
        >>> MetricValue("sourced_pipeline", 100.0, n=1, records=["O1"]).to_dict()["tier"]
        'outcome'
        """
        entry = metric(self.id)
        out: dict[str, Any] = {"value": _plain(self.value), "tier": entry.tier,
                               "unit": entry.unit}
        if self.n is not None:
            out["n"] = int(self.n)
        if self.ci_low is not None and not _isnan(self.ci_low):
            out["ci_low"] = float(self.ci_low)
            out["ci_high"] = float(self.ci_high)
        out["records"] = [str(r) for r in self.records]
        if self.reason is not None:
            out["reason"] = self.reason
        if self.flags:
            out["flags"] = list(self.flags)
        if self.details:
            out["details"] = {k: _plain(v) for k, v in self.details.items()}
        return out


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _plain(value):
    """numpy scalars to plain Python for JSON; NaN to None."""
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value


def _missing(metric_id: str, table: str) -> MetricValue:
    return MetricValue(metric_id, None, reason=f"table {table!r} is missing: not measured")


def _ids(values) -> list[str]:
    return sorted(str(v) for v in pd.unique(pd.Series(values, dtype="object").dropna()))


class Kpis:
    """Metrics of a loaded data set.

    Parameters
    ----------
    dataset : Dataset
    min_sample : int
        Rates with fewer observations are flagged ``insufficient_sample``.
    grace_days : int
        ``sourced_grace_days`` of the attribution rules.
    fiscal_year_start_month : int
        1 for calendar quarters.
    backend : ibis backend, optional
        Where the telemetry rollups run (DuckDB in process by default).

    Examples
    --------
    >>> from partnerkit.load import load_dataset
    >>> kpis = Kpis(load_dataset("data/sample"))  # doctest: +SKIP
    >>> kpis.company("2026Q3")["sourced_pipeline"].value  # doctest: +SKIP
    """

    def __init__(self, dataset: Dataset, min_sample: int = DEFAULT_MIN_SAMPLE,
                 grace_days: int = DEFAULT_GRACE_DAYS, fiscal_year_start_month: int = 1,
                 backend=None):
        self.dataset = dataset
        self.min_sample = min_sample
        self.grace_days = grace_days
        self.fiscal_year_start_month = fiscal_year_start_month
        self.backend = backend

    # ------------------------------------------------------------------ shared preparation

    def quarter(self, q) -> Quarter:
        """Parse a quarter in this data set's fiscal convention."""
        return Quarter.parse(q, fiscal_year_start_month=self.fiscal_year_start_month)

    @cached_property
    def attribution(self) -> Attribution:
        """The attribution rules applied once to every deal."""
        orphans = pd.DataFrame(
            [q.record for q in self.dataset.quarantined("attributions")
             if q.rule == "orphan_attribution"],
            columns=["opportunity_id", "partner_id"])
        return attribute(self.dataset.opportunities, self.dataset.attributions,
                         grace_days=self.grace_days, orphans=orphans)

    @cached_property
    def partner_ids(self) -> list[str]:
        """Every partner id of the data set, sorted."""
        return sorted(self.dataset.partners["partner_id"].astype(str))

    @cached_property
    def _integration_partner(self) -> pd.Series:
        integrations = self.dataset.integrations
        if integrations is None:
            return pd.Series(dtype="string")
        return integrations.set_index("integration_id")["partner_id"]

    @cached_property
    def _installs(self) -> pd.DataFrame | None:
        installs = self.dataset.installs
        if installs is None:
            return None
        return installs.assign(partner_id=installs["integration_id"].map(self._integration_partner))

    @cached_property
    def telemetry(self):
        """The telemetry engine over ``sync_events`` (None without events or installs)."""
        from partnerkit.telemetry import TelemetryEngine

        if self.dataset.sync_events is None or self._installs is None:
            return None
        return TelemetryEngine(self.dataset.sync_events, self.dataset.installs,
                               self.dataset.integrations, backend=self.backend)

    @cached_property
    def _telemetry_span(self) -> tuple[Quarter, Quarter]:
        """Quarters from the first install to the last install or removal."""
        installs = self._installs
        first = installs["installed_at"].min()
        last = max(installs["installed_at"].max(),
                   installs["uninstalled_at"].max() if installs["uninstalled_at"].notna().any()
                   else installs["installed_at"].max())
        if pd.isna(first):
            first = last = pd.Timestamp.now()
        return (Quarter.of(first, self.fiscal_year_start_month),
                Quarter.of(last, self.fiscal_year_start_month))

    def _rollup(self, q: Quarter):
        """One engine query covering the whole span (or q alone when outside it)."""
        first, last = self._telemetry_span
        if not first <= q <= last:
            first = last = q
        return self.telemetry.rollup(first.start, last.end_exclusive,
                                     fiscal_year_start_month=self.fiscal_year_start_month)

    def _active_in_week(self, monday: pd.Timestamp) -> pd.DataFrame:
        """Connections with >= 1 ok event in the week starting ``monday`` (a small query)."""
        cache = self.__dict__.setdefault("_active_weeks", {})
        if monday not in cache:
            weeks = self.telemetry.connection_weeks(monday, monday + pd.Timedelta(days=7))
            cache[monday] = weeks.loc[weeks["ok_events"] > 0,
                                      ["connection_id", "integration_id", "partner_id"]]
        return cache[monday]

    @cached_property
    def orphan_events(self):
        """Sync events whose connection is unknown to installs (None without telemetry)."""
        return None if self.telemetry is None else self.telemetry.orphan_events()

    # ------------------------------------------------------------------ public answers

    def compute(self, q, scope: str = ALL, metrics: list[str] | None = None) -> dict[str, MetricValue]:
        """Every (or the named) metric for one quarter and one scope."""
        q = self.quarter(q)
        if scope != ALL and scope not in self.partner_ids:
            raise KeyError(f"unknown partner id {scope!r}")
        ids = metrics or list(CATALOGUE)
        return {m: getattr(self, f"_m_{m}")(q, scope) for m in ids}

    def company(self, q, metrics: list[str] | None = None) -> dict[str, MetricValue]:
        """Every metric for the company."""
        return self.compute(q, ALL, metrics)

    def by_partner(self, q, metrics: list[str] | None = None) -> dict[str, dict[str, MetricValue]]:
        """Every metric for every partner."""
        return {p: self.compute(q, p, metrics) for p in self.partner_ids}

    def series(self, metric_id: str, quarters, scope: str = ALL) -> pd.DataFrame:
        """One metric over several quarters (the preparation is shared, not redone).

        Returns
        -------
        DataFrame
            Index ``quarter`` (labels), columns ``value, n, ci_low, ci_high, reason``.
        """
        metric(metric_id)
        rows = []
        for q in quarters:
            q = self.quarter(q)
            v = getattr(self, f"_m_{metric_id}")(q, scope)
            rows.append({"quarter": str(q), "value": v.value, "n": v.n, "ci_low": v.ci_low,
                         "ci_high": v.ci_high, "reason": v.reason})
        return pd.DataFrame(rows).set_index("quarter")

    def to_json(self, q, by_partner: bool = False) -> dict:
        """The ``partnerkit kpis --json`` payload (SPEC §11)."""
        q = self.quarter(q)
        if by_partner:
            return {"quarter": str(q), "partners": {
                p: {"metrics": {k: v.to_dict() for k, v in values.items()}}
                for p, values in self.by_partner(q).items()}}
        return {"quarter": str(q), "scope": ALL,
                "metrics": {k: v.to_dict() for k, v in self.company(q).items()}}

    # ------------------------------------------------------------------ building blocks

    def _count(self, metric_id, frame, date_column, id_column, q, scope, mask=None):
        if frame is None:
            return None
        rows = frame
        if mask is not None:
            rows = rows.loc[mask]
        rows = rows.loc[q.contains_date(rows[date_column])]
        if scope != ALL:
            rows = rows.loc[rows["partner_id"] == scope]
        return MetricValue(metric_id, int(len(rows)), n=int(len(rows)),
                           records=_ids(rows[id_column]))

    def _rate(self, metric_id, successes: int, n: int, records, what: str) -> MetricValue:
        if n == 0:
            return MetricValue(metric_id, None, n=0, records=records,
                               reason=f"no {what} in the quarter: the rate is undefined")
        low, high = wilson_interval(successes, n)
        flags = ["insufficient_sample"] if n < self.min_sample else []
        return MetricValue(metric_id, successes / n, n=n, ci_low=low, ci_high=high,
                           records=records, flags=flags, details={"successes": successes})

    def _lift(self, metric_id, first: MetricValue, second: MetricValue, names) -> MetricValue:
        records = sorted(set(first.records) | set(second.records))
        if first.value is None or second.value is None:
            missing = names[0] if first.value is None else names[1]
            return MetricValue(metric_id, None, records=records,
                               reason=f"{missing} is not measured: {(first.reason if first.value is None else second.reason)}")
        diff, low, high = newcombe_difference(first.details["successes"], first.n,
                                              second.details["successes"], second.n)
        flags = ["insufficient_sample"] if min(first.n, second.n) < self.min_sample else []
        return MetricValue(metric_id, diff, n=first.n + second.n, ci_low=low, ci_high=high,
                           records=records, flags=flags,
                           details={f"n_{names[0]}": first.n, f"n_{names[1]}": second.n})

    def _activities(self, kinds):
        activities = self.dataset.activities
        if activities is None:
            return None, None
        return activities, activities["kind"].isin(list(kinds))

    def _active_at(self, t: pd.Timestamp, scope: str) -> pd.DataFrame:
        """Installs active at the end of the period whose exclusive end is ``t`` (SPEC §3)."""
        installs = self._installs
        active = (installs["installed_at"] < t) & (
            installs["uninstalled_at"].isna() | (installs["uninstalled_at"] >= t))
        rows = installs.loc[active]
        if scope != ALL:
            rows = rows.loc[rows["partner_id"] == scope]
        return rows

    # ------------------------------------------------------------------ activity tier

    def _m_partners_signed(self, q, scope):
        """Partners with signed_date in q."""
        return self._count("partners_signed", self.dataset.partners, "signed_date",
                           "partner_id", q, scope)

    def _activity_kind(self, metric_id, kinds, q, scope):
        activities, mask = self._activities(kinds)
        if activities is None:
            return _missing(metric_id, "activities")
        return self._count(metric_id, activities, "date", "activity_id", q, scope, mask)

    def _m_meetings_held(self, q, scope):
        """Activities of kind meeting in q."""
        return self._activity_kind("meetings_held", ["meeting"], q, scope)

    def _m_mous_signed(self, q, scope):
        """Activities of kind mou in q."""
        return self._activity_kind("mous_signed", ["mou"], q, scope)

    def _m_activity_events(self, q, scope):
        """Every activity-tier activity in q."""
        kinds = [k for k, tier in ACTIVITY_KIND_TIERS.items() if tier == "activity"]
        return self._activity_kind("activity_events", kinds, q, scope)

    # ------------------------------------------------------------------ output tier

    def _m_integrations_live(self, q, scope):
        """Integrations with live_date in q."""
        if self.dataset.integrations is None:
            return _missing("integrations_live", "integrations")
        return self._count("integrations_live", self.dataset.integrations, "live_date",
                           "integration_id", q, scope)

    def _m_listings_published(self, q, scope):
        """Activities of kind listing_published in q."""
        return self._activity_kind("listings_published", ["listing_published"], q, scope)

    def _m_sellers_enabled(self, q, scope):
        """Activities of kind seller_enabled in q."""
        return self._activity_kind("sellers_enabled", ["seller_enabled"], q, scope)

    def _m_installs_new(self, q, scope):
        """Installs with installed_at in q (timestamps: start <= ts < next start)."""
        installs = self._installs
        if installs is None:
            return _missing("installs_new", "installs")
        rows = installs.loc[q.contains_ts(installs["installed_at"])]
        if scope != ALL:
            rows = rows.loc[rows["partner_id"] == scope]
        return MetricValue("installs_new", int(len(rows)), n=int(len(rows)),
                           records=_ids(rows["connection_id"]))

    def _m_installs_active(self, q, scope):
        """Installs active at the end of q."""
        if self._installs is None:
            return _missing("installs_active", "installs")
        rows = self._active_at(q.end_exclusive, scope)
        return MetricValue("installs_active", int(len(rows)), n=int(len(rows)),
                           records=_ids(rows["connection_id"]))

    def _m_time_to_live_days(self, q, scope):
        """Median days from scoped to live over integrations live in q; open ones beside."""
        integrations = self.dataset.integrations
        if integrations is None:
            return _missing("time_to_live_days", "integrations")
        if scope != ALL:
            integrations = integrations.loc[integrations["partner_id"] == scope]
        live = integrations.loc[q.contains_date(integrations["live_date"])]
        still_open = integrations.loc[(integrations["scoped_date"] <= q.end) & (
            integrations["live_date"].isna() | (integrations["live_date"] > q.end))]
        open_age = (q.end - still_open["scoped_date"]).dt.days
        details = {"open": int(len(still_open)),
                   "open_median_age_days": float(open_age.median()) if len(open_age) else None,
                   "open_records": _ids(still_open["integration_id"])}
        if live.empty:
            return MetricValue("time_to_live_days", None, n=0, details=details,
                               reason="no integration went live in the quarter")
        days = (live["live_date"] - live["scoped_date"]).dt.days
        return MetricValue("time_to_live_days", float(days.median()), n=int(len(live)),
                           records=_ids(live["integration_id"]), details=details)

    def _no_telemetry(self, metric_id):
        return _missing(metric_id, "sync_events" if self.dataset.sync_events is None
                        else "installs")

    def _m_sync_error_rate(self, q, scope):
        """Failed sync events in q over all sync events in q."""
        if self.telemetry is None:
            return self._no_telemetry("sync_error_rate")
        rates = self._rollup(q).error_rates(None if scope == ALL else "partner")
        rows = rates.loc[rates["quarter"] == str(q)]
        if scope != ALL:
            rows = rows.loc[rows["partner_id"] == scope]
        attempts, errors = int(rows["attempts"].sum()), int(rows["errors"].sum())
        # the records are the connections behind the quarter's events
        installs = self._installs
        active = installs.loc[(installs["installed_at"] < q.end_exclusive) & (
            installs["uninstalled_at"].isna() | (installs["uninstalled_at"] >= q.start))]
        if scope != ALL:
            active = active.loc[active["partner_id"] == scope]
        records = _ids(active["connection_id"])
        if attempts == 0:
            return MetricValue("sync_error_rate", None, n=0, records=records,
                               reason="no sync events in the quarter: the rate is undefined")
        low, high = wilson_interval(errors, attempts)
        return MetricValue("sync_error_rate", errors / attempts, n=attempts, ci_low=low,
                           ci_high=high, records=records, details={"errors": errors})

    # ------------------------------------------------------------------ outcome tier: usage

    def _m_weekly_active_connections(self, q, scope):
        """Connections with >= 1 ok event in the last full week of q; weekly series beside."""
        if self.telemetry is None:
            return self._no_telemetry("weekly_active_connections")
        weekly = self._rollup(q).weekly_active(None if scope == ALL else "partner")
        weekly = weekly.loc[weekly["quarter"] == str(q)]
        if scope != ALL:
            weekly = weekly.loc[weekly["partner_id"] == scope]
        series = weekly.groupby("week")["active_connections"].sum()
        last = q.last_full_week()
        active = self._active_in_week(last)
        if scope != ALL:
            active = active.loc[active["partner_id"] == scope]
        return MetricValue("weekly_active_connections", int(len(active)), n=int(len(active)),
                           records=_ids(active["connection_id"]), details={
                               "week": last.strftime("%Y-%m-%d"),
                               "weekly": {w.strftime("%Y-%m-%d"): int(c)
                                          for w, c in series.items()},
                               "weekly_mean": float(series.mean()) if len(series) else None})

    def _m_active_to_install_ratio(self, q, scope):
        """Weekly active connections over installs active at the end of that same week."""
        wac = self._m_weekly_active_connections(q, scope)
        if wac.value is None:
            return MetricValue("active_to_install_ratio", None, reason=wac.reason)
        last = q.last_full_week()
        installed = self._active_at(last + pd.Timedelta(days=7), scope)
        n = int(len(installed))
        records = sorted(set(wac.records) | set(_ids(installed["connection_id"])))
        if n == 0:
            return MetricValue("active_to_install_ratio", None, n=0, records=records,
                               reason="no install active at the end of the last full week")
        # an event from a connection removed during the week could push the ratio past 1;
        # only connections still installed at the end of the week count as active here
        active = len(set(wac.records) & set(installed["connection_id"].astype(str)))
        low, high = wilson_interval(active, n)
        return MetricValue("active_to_install_ratio", active / n, n=n, ci_low=low, ci_high=high,
                           records=records, details={"active": active, "installed": n})

    # ------------------------------------------------------------------ outcome tier: pipeline

    def _deals_for(self, scope, credit):
        """Deals of one bucket: company (each once) or credited to a partner."""
        if scope == ALL:
            deals = self.attribution.deals
            rows = deals.loc[deals["bucket"] == credit]
            if credit == "sourced":
                return rows.assign(credit_date=rows["created_date"])
            return rows.assign(credit_date=rows["first_influence_date"])
        rows = partner_credits(self.attribution, credit)
        rows = rows.loc[(rows["partner_id"] == scope) & (rows["bucket"] == credit)]
        if credit == "sourced":
            return rows.assign(credit_date=rows["created_date"])
        return rows.assign(credit_date=rows["tagged_date"])

    def _pipeline(self, metric_id, q, scope, credit):
        rows = self._deals_for(scope, credit)
        rows = rows.loc[q.contains_date(rows["credit_date"])]
        return MetricValue(metric_id, float(rows["amount"].sum()), n=int(len(rows)),
                           records=_ids(rows["opportunity_id"]),
                           details={"count": int(len(rows))})

    def _m_sourced_pipeline(self, q, scope):
        """Amount of sourced deals created in q (the sourcing partner's credit)."""
        return self._pipeline("sourced_pipeline", q, scope, "sourced")

    def _m_influenced_pipeline(self, q, scope):
        """Amount of influenced deals whose first credited influence tag is in q.

        Per partner, the partner's own earliest credited tag on the deal is used.
        """
        return self._pipeline("influenced_pipeline", q, scope, "influenced")

    def _won_in(self, q, rows):
        return rows.loc[rows["is_won"] & q.contains_date(rows["close_date"])]

    def _revenue(self, metric_id, q, scope, credit):
        rows = self._won_in(q, self._deals_for(scope, credit))
        return MetricValue(metric_id, float(rows["amount"].sum()), n=int(len(rows)),
                           records=_ids(rows["opportunity_id"]))

    def _m_sourced_revenue(self, q, scope):
        """Amount of won sourced deals closed in q."""
        return self._revenue("sourced_revenue", q, scope, "sourced")

    def _m_influenced_revenue(self, q, scope):
        """Amount of won influenced deals closed in q."""
        return self._revenue("influenced_revenue", q, scope, "influenced")

    def _m_partner_revenue_share(self, q, scope):
        """(sourced + influenced revenue) / all won amount closed in q."""
        won = self._won_in(q, self.attribution.deals)
        total = float(won["amount"].sum())
        sourced = self._m_sourced_revenue(q, scope)
        influenced = self._m_influenced_revenue(q, scope)
        records = sorted(set(sourced.records) | set(influenced.records))
        if total == 0:
            return MetricValue("partner_revenue_share", None, n=int(len(won)), records=records,
                               reason="no revenue won in the quarter: the share is undefined")
        return MetricValue("partner_revenue_share", (sourced.value + influenced.value) / total,
                           n=int(len(won)), records=records,
                           details={"partner_revenue": sourced.value + influenced.value,
                                    "total_revenue": total})

    def _win_rate(self, metric_id, q, scope, bucket):
        if bucket == "unassisted":
            deals = self.attribution.deals
            rows = deals.loc[deals["bucket"] == "unassisted"]
        else:
            rows = self._deals_for(scope, bucket)
        closed = rows.loc[rows["is_closed"] & q.contains_date(rows["close_date"])]
        won = int(closed["is_won"].sum())
        return self._rate(metric_id, won, int(len(closed)), _ids(closed["opportunity_id"]),
                          f"closed {bucket} deals")

    def _m_win_rate_sourced(self, q, scope):
        """Won / closed among sourced deals closed in q."""
        return self._win_rate("win_rate_sourced", q, scope, "sourced")

    def _m_win_rate_influenced(self, q, scope):
        """Won / closed among influenced deals closed in q."""
        return self._win_rate("win_rate_influenced", q, scope, "influenced")

    def _m_win_rate_unassisted(self, q, scope):
        """Won / closed among unassisted deals closed in q (the company's, for every scope)."""
        return self._win_rate("win_rate_unassisted", q, ALL, "unassisted")

    def _m_win_rate_lift(self, q, scope):
        """Influenced win rate minus unassisted win rate, Newcombe interval."""
        return self._lift("win_rate_lift", self._m_win_rate_influenced(q, scope),
                          self._m_win_rate_unassisted(q, scope),
                          ("win_rate_influenced", "win_rate_unassisted"))

    # ------------------------------------------------------------------ outcome tier: retention

    def _renewals_split(self, q, scope):
        renewals = self.dataset.renewals
        rows = renewals.loc[q.contains_date(renewals["renewal_date"])].reset_index(drop=True)
        installs = self._installs
        pairs = rows[["account_id", "renewal_date"]].astype({"account_id": "string"}).reset_index(
            names="_pos").merge(
            installs[["account_id", "installed_at", "uninstalled_at", "partner_id"]].astype(
                {"account_id": "string"}), on="account_id", how="inner")
        # active at the end of the renewal day: installed before the next midnight
        # and not removed before it
        t = pairs["renewal_date"] + pd.Timedelta(days=1)
        active = pairs.loc[(pairs["installed_at"] < t)
                           & (pairs["uninstalled_at"].isna() | (pairs["uninstalled_at"] >= t))]
        any_install = rows.index.isin(active["_pos"])
        if scope == ALL:
            integrated = any_install
        else:
            integrated = rows.index.isin(active.loc[active["partner_id"] == scope, "_pos"])
        return rows.loc[integrated], rows.loc[~any_install]

    def _renewal_rate(self, metric_id, q, scope, integrated: bool):
        if self.dataset.renewals is None:
            return _missing(metric_id, "renewals")
        if self._installs is None:
            return _missing(metric_id, "installs")
        with_install, without = self._renewals_split(q, scope)
        rows = with_install if integrated else without
        return self._rate(metric_id, int(rows["renewed"].sum()), int(len(rows)),
                          _ids(rows["account_id"]),
                          "renewals due" + (" of integrated accounts" if integrated
                                            else " of accounts without an integration"))

    def _m_renewal_rate_integrated(self, q, scope):
        """Renewed / due among renewals in q of accounts with an install active that day."""
        return self._renewal_rate("renewal_rate_integrated", q, scope, True)

    def _m_renewal_rate_not_integrated(self, q, scope):
        """Renewed / due among renewals in q of accounts without any install active that day."""
        return self._renewal_rate("renewal_rate_not_integrated", q, scope, False)

    def _m_retention_lift(self, q, scope):
        """Integrated minus not-integrated renewal rate, Newcombe interval."""
        return self._lift("retention_lift", self._m_renewal_rate_integrated(q, scope),
                          self._m_renewal_rate_not_integrated(q, scope),
                          ("renewal_rate_integrated", "renewal_rate_not_integrated"))


def _format_value(value: MetricValue) -> str:
    if value.value is None:
        return "n/a"
    unit = metric(value.id).unit
    if unit == "money":
        return f"{value.value:,.0f}"
    if unit in ("fraction", "difference"):
        return f"{value.value:.1%}" if unit == "fraction" else f"{value.value:+.1%}"
    if unit == "days":
        return f"{value.value:.0f} d"
    return f"{value.value:,}"


def kpis_text(kpis: Kpis, q, by_partner: bool = False) -> str:
    """A readable table of every metric (one column per partner with ``by_partner``)."""
    q = kpis.quarter(q)
    if by_partner:
        columns = {p: kpis.compute(q, p) for p in kpis.partner_ids}
        frame = pd.DataFrame({p: {m: _format_value(v) for m, v in values.items()}
                              for p, values in columns.items()})
        frame.insert(0, "tier", [metric(m).tier for m in frame.index])
        return f"Quarter {q}, per partner\n\n" + frame.to_string()
    rows = []
    for m, v in kpis.company(q).items():
        interval = ("" if v.ci_low is None or _isnan(v.ci_low)
                    else f"[{v.ci_low:.2f}, {v.ci_high:.2f}]")
        note = v.reason or ", ".join(v.flags)
        rows.append({"metric": m, "tier": metric(m).tier, "value": _format_value(v),
                     "n": "" if v.n is None else v.n, "95% interval": interval, "note": note})
    frame = pd.DataFrame(rows).set_index("metric")
    return f"Quarter {q}, company\n\n" + frame.to_string()
