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
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partnerkit.attribution import DEFAULT_GRACE_DAYS, Attribution, attribute, partner_credits
from partnerkit.catalogue import ACTIVITY_KIND_TIERS, CATALOGUE, metric
from partnerkit.dataset import Dataset, OrphanEvents
from partnerkit.periods import Quarter
from partnerkit.stats import newcombe_difference, wilson_interval

ALL = "all"
#: The metrics read from the telemetry rollup: computed after the others, while the rollup
#: runs (see :meth:`Kpis._rollup_ahead`).
ROLLUP_METRICS = ("sync_error_rate", "weekly_active_connections", "active_to_install_ratio")
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
        out["records"] = list(self.records)  # already strings (see _ids)
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

    @property
    def has_telemetry(self) -> bool:
        """Whether sync events and installs are there (without starting the engine)."""
        return self.dataset.sync_events is not None and self._installs is not None

    @property
    def telemetry(self):
        """The telemetry engine over ``sync_events`` (None without events or installs).

        Waits for a rollup started ahead (see :meth:`_rollup_ahead`) and raises
        what it raised: the engine is used by one thread at a time.
        """
        self._settle()
        return self._engine

    def _settle(self) -> None:
        """Wait for the queries started ahead; raise what they raised."""
        pending = self.__dict__.pop("_pending_rollup", None)
        if pending is not None:
            pending.result()

    @cached_property
    def _engine(self):
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

    def _rollup_window(self, q: Quarter) -> tuple[Quarter, Quarter]:
        first, last = self._telemetry_span
        if not first <= q <= last:
            first = last = q
        return first, last

    def _rollup(self, q: Quarter):
        """One engine query covering the whole span (or q alone when outside it)."""
        first, last = self._rollup_window(q)
        return self.telemetry.rollup(first.start, last.end_exclusive,
                                     fiscal_year_start_month=self.fiscal_year_start_month)

    def _rollup_ahead(self, quarters, metric_ids) -> list[str]:
        """Start the rollups ``quarters`` need on a thread of their own; the order to compute.

        A rollup is one engine query, which DuckDB runs on its own threads without
        holding the GIL: started before the metrics that do not read it, it runs
        while they are computed. Returns ``metric_ids`` with the ones reading the
        rollup last. The engine is built here, on the caller's thread; the next use
        of :attr:`telemetry` waits for the query.
        """
        order = sorted(metric_ids, key=lambda m: m in ROLLUP_METRICS)
        readers = [m for m in ROLLUP_METRICS if m in metric_ids]
        if not readers or not self.has_telemetry or "_pending_rollup" in self.__dict__:
            return order
        # only the quarters whose rollup readers are not cached yet: a kernel answering from
        # saved metrics never builds the engine (importing ibis alone takes most of a second)
        quarters = [q for q in map(self.quarter, quarters)
                    if any((str(q), m) not in self._cache for m in readers)]
        if not quarters:
            return order
        from concurrent.futures import ThreadPoolExecutor

        engine = self.telemetry
        started = self.__dict__.setdefault("_rollups_started", set())
        windows = sorted({self._rollup_window(q) for q in quarters} - started)
        weeks = self.__dict__.setdefault("_active_weeks", {})
        mondays = [m for m in dict.fromkeys(q.last_full_week() for q in quarters)
                   if m not in weeks]
        if not windows and not mondays:
            return order
        started.update(windows)
        fiscal = self.fiscal_year_start_month

        def run():
            for first, last in windows:
                engine.rollup(first.start, last.end_exclusive, fiscal_year_start_month=fiscal)
            for monday in mondays:  # what weekly_active_connections reads besides
                weeks[monday] = _active_connections(engine, monday)

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup")
        self.__dict__["_pending_rollup"] = pool.submit(run)
        pool.shutdown(wait=False)
        return order

    def _rolled(self, q: Quarter, view: str, by: str | None) -> pd.DataFrame:
        """A view of the rollup covering q (``weekly_active`` or ``error_rates``), built once
        per rollup rather than once per quarter."""
        rollup = self._rollup(q)
        cache = self.__dict__.setdefault("_rollup_views", {})
        key = (rollup.start, rollup.end, view, by)
        if key not in cache:
            cache[key] = getattr(rollup, view)(by)
        return cache[key]

    def active_in_week(self, monday: pd.Timestamp) -> pd.DataFrame:
        """Connections with >= 1 ok event in the week starting ``monday`` (a small query).

        Returns ``connection_id, integration_id, partner_id``; cached per week.
        """
        self._settle()  # first: a query started ahead may be filling the cache
        cache = self.__dict__.setdefault("_active_weeks", {})
        if monday not in cache:
            cache[monday] = _active_connections(self.telemetry, monday)
        return cache[monday]

    @cached_property
    def orphan_events(self):
        """Sync events whose connection is unknown to installs (None without telemetry).

        The rollup already counted the orphans of its window; only events outside
        it are looked up again (a time filter the engine answers from file statistics).
        """
        if not self.has_telemetry:
            return None

        first, last = self._telemetry_span
        parts = [self._rollup(first).orphans,
                 self.telemetry.orphan_events(pd.Timestamp("1900-01-01"), first.start),
                 self.telemetry.orphan_events(last.end_exclusive, pd.Timestamp("2200-01-01"))]
        return OrphanEvents(sum(p.events for p in parts),
                            tuple(sorted({i for p in parts for i in p.connection_ids})),
                            sum(p.missing_id_events for p in parts))

    # ------------------------------------------------------------------ saved state

    _STATE_VERSION = 1

    def save_state(self, path) -> Path:
        """Write the loaded data and every metric computed so far to ``path``.

        A quarterly report computes the metrics once and hands this file to each
        notebook, so that five kernels do not redo the same work. The file is a
        pickle: only ever load one this process (or a report run) wrote itself.
        """
        import pickle

        from dataclasses import replace as with_fields

        self._settle()  # nothing half-written by a query started ahead
        dataset = self.dataset
        # paths made absolute: the file is read by kernels whose working folder differs
        events = dataset.sync_events
        dataset = with_fields(
            dataset, data_dir=Path(dataset.data_dir).resolve(),
            files={k: Path(v).resolve() for k, v in dataset.files.items()},
            sync_events=None if events is None else with_fields(events,
                                                                path=Path(events.path).resolve()))
        state = {"version": self._STATE_VERSION, "dataset": dataset,
                 "settings": self._settings(), "attribution": self.attribution,
                 "cache": dict(self._cache),
                 "active_weeks": dict(self.__dict__.get("_active_weeks", {})),
                 "orphan_events": self.__dict__.get("orphan_events")}
        path = Path(path)
        with open(path, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load_state(cls, path, **settings) -> Kpis:
        """Rebuild a :class:`Kpis` written by :meth:`save_state`.

        Raises
        ------
        ValueError
            The file was written with other metric settings than ``settings``.
        """
        import pickle

        with open(path, "rb") as fh:
            state = pickle.load(fh)  # noqa: S301 - only files this package wrote
        if state.get("version") != cls._STATE_VERSION:
            raise ValueError(f"{path}: saved metrics of another partnerkit version")
        kpis = cls(state["dataset"], **state["settings"])
        wanted = {k: v for k, v in settings.items() if v is not None}
        if any(state["settings"].get(k) != v for k, v in wanted.items()):
            raise ValueError(f"{path}: saved with {state['settings']}, asked for {wanted}")
        kpis.__dict__["attribution"] = state["attribution"]
        kpis.__dict__["_cache"] = state["cache"]
        kpis.__dict__["_active_weeks"] = state["active_weeks"]
        if state.get("orphan_events") is not None:
            kpis.__dict__["orphan_events"] = state["orphan_events"]
        return kpis

    def _settings(self) -> dict:
        return {"min_sample": self.min_sample, "grace_days": self.grace_days,
                "fiscal_year_start_month": self.fiscal_year_start_month}

    # ------------------------------------------------------------------ public answers

    def compute(self, q, scope: str = ALL, metrics: list[str] | None = None) -> dict[str, MetricValue]:
        """Every (or the named) metric for one quarter and one scope."""
        q = self.quarter(q)
        if scope != ALL and scope not in self._partner_set:
            raise KeyError(f"unknown partner id {scope!r}")
        ids = metrics or list(CATALOGUE)
        columns = self._columns(q, ids)
        return {m: columns[m][scope] for m in ids}

    def scoped(self, q, metric_id: str) -> dict[str, MetricValue]:
        """One metric for one quarter, for the company and every partner at once.

        Results are cached, so asking for the same quarter again (or for a metric that
        another one is built from, like a lift from its two rates) costs nothing.
        """
        q = self.quarter(q)
        key = (str(q), metric_id)
        if key not in self._cache:
            metric(metric_id)
            self._cache[key] = getattr(self, f"_m_{metric_id}")(q)
        return self._cache[key]

    def company(self, q, metrics: list[str] | None = None) -> dict[str, MetricValue]:
        """Every metric for the company."""
        return self.compute(q, ALL, metrics)

    def by_partner(self, q, metrics: list[str] | None = None) -> dict[str, dict[str, MetricValue]]:
        """Every metric for every partner."""
        q = self.quarter(q)
        ids = metrics or list(CATALOGUE)
        columns = self._columns(q, ids)
        return {p: {m: columns[m][p] for m in ids} for p in self.partner_ids}

    def _columns(self, q: Quarter, ids: list[str]) -> dict[str, dict[str, MetricValue]]:
        """:meth:`scoped` for each metric of q, the rollup's readers computed last."""
        return {m: self.scoped(q, m) for m in self._rollup_ahead([q], ids)}

    def series(self, metric_id: str, quarters, scope: str = ALL) -> pd.DataFrame:
        """One metric over several quarters (the preparation is shared, not redone).

        Returns
        -------
        DataFrame
            Index ``quarter`` (labels), columns ``value, n, ci_low, ci_high, reason``.
        """
        rows = []
        for q in quarters:
            v = self.scoped(q, metric_id)[scope]
            rows.append({"quarter": str(self.quarter(q)), "value": v.value, "n": v.n,
                         "ci_low": v.ci_low, "ci_high": v.ci_high, "reason": v.reason})
        return pd.DataFrame(rows).set_index("quarter")

    def panel(self, quarters, metrics: list[str] | None = None,
              scopes: list[str] | None = None) -> pd.DataFrame:
        """Metrics for several quarters and scopes at once, in long form.

        Parameters
        ----------
        quarters : iterable of quarter labels or Quarter
        metrics : list of str, optional
            Catalogue ids (default: all).
        scopes : list of str, optional
            ``"all"`` and/or partner ids (default: the company and every partner).

        Returns
        -------
        DataFrame
            Columns ``quarter, scope, metric, value, n, ci_low, ci_high, records,
            reason`` (one row per quarter, scope and metric); ``value`` is NaN
            where the metric is not measured.
        """
        metrics = metrics or list(CATALOGUE)
        scopes = scopes or [ALL, *self.partner_ids]
        quarters = [self.quarter(q) for q in quarters]
        for metric_id in self._rollup_ahead(quarters, metrics):
            for q in quarters:
                self.scoped(q, metric_id)
        rows = []
        for q in quarters:
            label = str(q)
            for metric_id in metrics:
                values = self.scoped(q, metric_id)
                for scope in scopes:
                    v = values[scope]
                    rows.append((label, scope, metric_id,
                                 np.nan if v.value is None else float(v.value), v.n,
                                 v.ci_low, v.ci_high, v.records, v.reason))
        return pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value", "n", "ci_low",
                                           "ci_high", "records", "reason"])

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
    #
    # Every metric is computed for all scopes at once: the company from its own rows
    # (each deal once), the partners by one groupby over the credited rows.

    @cached_property
    def _cache(self) -> dict:
        return {}

    @cached_property
    def _partner_set(self) -> set[str]:
        return set(self.partner_ids)

    @cached_property
    def _scopes(self) -> list[str]:
        return [ALL, *self.partner_ids]

    def _all_missing(self, metric_id: str, table: str) -> dict[str, MetricValue]:
        return {s: _missing(metric_id, table) for s in self._scopes}

    def _each(self, company: MetricValue, make) -> dict[str, MetricValue]:
        """The company's value plus ``make(partner_id)`` for every partner."""
        out = {ALL: company}
        for p in self.partner_ids:
            out[p] = make(p)
        return out

    def _baseline(self, company: MetricValue) -> dict[str, MetricValue]:
        """A company baseline shown for every partner.

        Its records are listed once, under scope ``all``: copying 10^4 ids into
        each of hundreds of partners would say nothing more.
        """
        shared = replace(company, records=[],
                         details={**company.details, "records_scope": ALL})
        return self._each(company, lambda p: shared)

    def _counts(self, metric_id: str, rows: pd.DataFrame, id_column: str) -> dict[str, MetricValue]:
        """Count rows per scope; the records are their ids."""
        groups = _ids_by_partner(rows, id_column)
        company = MetricValue(metric_id, int(len(rows)), n=int(len(rows)),
                              records=_ids(rows[id_column]))
        return self._each(company, lambda p: MetricValue(
            metric_id, len(groups.get(p, ())), n=len(groups.get(p, ())),
            records=groups.get(p, [])))

    def _sums(self, metric_id: str, company_rows: pd.DataFrame, partner_rows: pd.DataFrame,
              id_column: str = "opportunity_id", details: bool = False) -> dict[str, MetricValue]:
        """Sum ``amount`` per scope: company rows once, partner rows per partner."""
        groups = _ids_by_partner(partner_rows, id_column)
        # plain dicts: one lookup per partner, hundreds of partners
        totals = partner_rows.groupby("partner_id")["amount"].sum().to_dict()
        counts = partner_rows.groupby("partner_id").size().to_dict()

        def value(total, n, records):
            extra = {"count": int(n)} if details else {}
            return MetricValue(metric_id, float(total), n=int(n), records=records, details=extra)

        company = value(company_rows["amount"].sum(), len(company_rows),
                        _ids(company_rows[id_column]))
        return self._each(company, lambda p: value(totals.get(p, 0.0), counts.get(p, 0),
                                                   groups.get(p, [])))

    def _rate(self, metric_id, successes: int, n: int, records, what: str) -> MetricValue:
        if n == 0:
            return MetricValue(metric_id, None, n=0, records=records,
                               reason=f"no {what} in the quarter: the rate is undefined")
        low, high = wilson_interval(successes, n)
        flags = ["insufficient_sample"] if n < self.min_sample else []
        return MetricValue(metric_id, successes / n, n=n, ci_low=low, ci_high=high,
                           records=records, flags=flags, details={"successes": successes})

    def _rates(self, metric_id, company_rows, partner_rows, success: str, id_column: str,
               what: str) -> dict[str, MetricValue]:
        """A rate per scope: share of rows whose ``success`` column is true."""
        groups = _ids_by_partner(partner_rows, id_column)
        wins = partner_rows.groupby("partner_id")[success].sum().to_dict()
        counts = partner_rows.groupby("partner_id").size().to_dict()
        company = self._rate(metric_id, int(company_rows[success].sum()), int(len(company_rows)),
                             _ids(company_rows[id_column]), what)
        return self._each(company, lambda p: self._rate(
            metric_id, int(wins.get(p, 0)), int(counts.get(p, 0)), groups.get(p, []), what))

    def _lift(self, metric_id, first: MetricValue, second: MetricValue, names) -> MetricValue:
        records = sorted(set(first.records) | set(second.records))
        if first.value is None or second.value is None:
            missing, why = ((names[0], first.reason) if first.value is None
                            else (names[1], second.reason))
            return MetricValue(metric_id, None, records=records,
                               reason=f"{missing} is not measured: {why}")
        diff, low, high = newcombe_difference(first.details["successes"], first.n,
                                              second.details["successes"], second.n)
        flags = ["insufficient_sample"] if min(first.n, second.n) < self.min_sample else []
        return MetricValue(metric_id, diff, n=first.n + second.n, ci_low=low, ci_high=high,
                           records=records, flags=flags,
                           details={f"n_{names[0]}": first.n, f"n_{names[1]}": second.n})

    def _lifts(self, metric_id, first_id, second_id, q) -> dict[str, MetricValue]:
        first, second = self.scoped(q, first_id), self.scoped(q, second_id)
        return {s: self._lift(metric_id, first[s], second[s], (first_id, second_id))
                for s in self._scopes}

    def _active_at(self, t: pd.Timestamp) -> pd.DataFrame:
        """Installs active at the end of the period whose exclusive end is ``t`` (SPEC §3)."""
        installs = self._installs
        active = (installs["installed_at"] < t) & (
            installs["uninstalled_at"].isna() | (installs["uninstalled_at"] >= t))
        return installs.loc[active]

    # ------------------------------------------------------------------ activity tier

    def _m_partners_signed(self, q):
        """Partners with signed_date in q."""
        partners = self.dataset.partners
        return self._counts("partners_signed", partners.loc[q.contains_date(partners["signed_date"])],
                            "partner_id")

    def _activity_kind(self, metric_id, kinds, q):
        activities = self.dataset.activities
        if activities is None:
            return self._all_missing(metric_id, "activities")
        rows = activities.loc[activities["kind"].isin(list(kinds))
                              & q.contains_date(activities["date"])]
        return self._counts(metric_id, rows, "activity_id")

    def _m_meetings_held(self, q):
        """Activities of kind meeting in q."""
        return self._activity_kind("meetings_held", ["meeting"], q)

    def _m_mous_signed(self, q):
        """Activities of kind mou in q."""
        return self._activity_kind("mous_signed", ["mou"], q)

    def _m_activity_events(self, q):
        """Every activity-tier activity in q."""
        kinds = [k for k, tier in ACTIVITY_KIND_TIERS.items() if tier == "activity"]
        return self._activity_kind("activity_events", kinds, q)

    # ------------------------------------------------------------------ output tier

    def _m_integrations_live(self, q):
        """Integrations with live_date in q."""
        integrations = self.dataset.integrations
        if integrations is None:
            return self._all_missing("integrations_live", "integrations")
        return self._counts("integrations_live",
                            integrations.loc[q.contains_date(integrations["live_date"])],
                            "integration_id")

    def _m_listings_published(self, q):
        """Activities of kind listing_published in q."""
        return self._activity_kind("listings_published", ["listing_published"], q)

    def _m_sellers_enabled(self, q):
        """Activities of kind seller_enabled in q."""
        return self._activity_kind("sellers_enabled", ["seller_enabled"], q)

    def _m_installs_new(self, q):
        """Installs with installed_at in q (timestamps: start <= ts < next start)."""
        installs = self._installs
        if installs is None:
            return self._all_missing("installs_new", "installs")
        return self._counts("installs_new", installs.loc[q.contains_ts(installs["installed_at"])],
                            "connection_id")

    def _m_installs_active(self, q):
        """Installs active at the end of q."""
        if self._installs is None:
            return self._all_missing("installs_active", "installs")
        return self._counts("installs_active", self._active_at(q.end_exclusive), "connection_id")

    def _m_time_to_live_days(self, q):
        """Median days from scoped to live over integrations live in q; open ones beside."""
        integrations = self.dataset.integrations
        if integrations is None:
            return self._all_missing("time_to_live_days", "integrations")
        live = integrations.loc[q.contains_date(integrations["live_date"])]
        live = live.assign(days=(live["live_date"] - live["scoped_date"]).dt.days)
        still_open = integrations.loc[(integrations["scoped_date"] <= q.end) & (
            integrations["live_date"].isna() | (integrations["live_date"] > q.end))]
        still_open = still_open.assign(age=(q.end - still_open["scoped_date"]).dt.days)

        def value(n_live, median_days, live_ids, n_open, median_age, open_ids):
            details = {"open": int(n_open),
                       "open_median_age_days": float(median_age) if n_open else None,
                       "open_records": open_ids}
            if not n_live:
                return MetricValue("time_to_live_days", None, n=0, details=details,
                                   reason="no integration went live in the quarter")
            return MetricValue("time_to_live_days", float(median_days), n=int(n_live),
                               records=live_ids, details=details)

        # per partner from one groupby each, not a frame per partner
        live_days = live.groupby("partner_id")["days"].agg(["size", "median"])
        open_ages = still_open.groupby("partner_id")["age"].agg(["size", "median"])
        live_n, live_median = live_days["size"].to_dict(), live_days["median"].to_dict()
        open_n, open_median = open_ages["size"].to_dict(), open_ages["median"].to_dict()
        live_ids = _ids_by_partner(live, "integration_id")
        open_ids = _ids_by_partner(still_open, "integration_id")
        return self._each(
            value(len(live), live["days"].median(), _ids(live["integration_id"]),
                  len(still_open), still_open["age"].median(), _ids(still_open["integration_id"])),
            lambda p: value(live_n.get(p, 0), live_median.get(p), live_ids.get(p, []),
                            open_n.get(p, 0), open_median.get(p), open_ids.get(p, [])))

    def _no_telemetry(self, metric_id):
        return self._all_missing(metric_id, "sync_events" if self.dataset.sync_events is None
                                 else "installs")

    def _m_sync_error_rate(self, q):
        """Failed sync events in q over all sync events in q."""
        if not self.has_telemetry:
            return self._no_telemetry("sync_error_rate")
        company = self._rolled(q, "error_rates", None)
        company = company.loc[company["quarter"] == str(q)]
        per_partner = self._rolled(q, "error_rates", "partner")
        per_partner = per_partner.loc[per_partner["quarter"] == str(q)].groupby("partner_id")[
            ["attempts", "errors"]].sum()
        attempts, errors = per_partner["attempts"].to_dict(), per_partner["errors"].to_dict()
        # the records are the connections installed at some time during the quarter
        installs = self._installs
        during = installs.loc[(installs["installed_at"] < q.end_exclusive) & (
            installs["uninstalled_at"].isna() | (installs["uninstalled_at"] >= q.start))]
        groups = _ids_by_partner(during, "connection_id")

        def value(attempts, errors, records):
            attempts, errors = int(attempts), int(errors)
            if attempts == 0:
                return MetricValue("sync_error_rate", None, n=0, records=records,
                                   reason="no sync events in the quarter: the rate is undefined")
            low, high = wilson_interval(errors, attempts)
            return MetricValue("sync_error_rate", errors / attempts, n=attempts, ci_low=low,
                               ci_high=high, records=records, details={"errors": errors})

        return self._each(
            value(company["attempts"].sum(), company["errors"].sum(),
                  _ids(during["connection_id"])),
            lambda p: value(attempts.get(p, 0), errors.get(p, 0), groups.get(p, [])))

    # ------------------------------------------------------------------ outcome tier: usage

    def _m_weekly_active_connections(self, q):
        """Connections with >= 1 ok event in the last full week of q; weekly series beside."""
        if not self.has_telemetry:
            return self._no_telemetry("weekly_active_connections")
        company_weeks = self._rolled(q, "weekly_active", None)
        company_weeks = company_weeks.loc[company_weeks["quarter"] == str(q)]
        partner_weeks = self._rolled(q, "weekly_active", "partner")
        partner_weeks = partner_weeks.loc[partner_weeks["quarter"] == str(q)]
        weeks = sorted(pd.unique(company_weeks["week"]))
        # one pivot (partner x week) instead of a groupby per partner
        grid = (partner_weeks.pivot_table(index="partner_id", columns="week",
                                          values="active_connections", aggfunc="sum")
                .reindex(columns=weeks).fillna(0).astype(int))
        labels = [pd.Timestamp(w).strftime("%Y-%m-%d") for w in weeks]
        last = q.last_full_week()
        active = self.active_in_week(last)
        groups = _ids_by_partner(active, "connection_id")

        def value(counts, records):
            counts = [int(c) for c in counts]
            return MetricValue("weekly_active_connections", len(records), n=len(records),
                               records=records, details={
                                   "week": last.strftime("%Y-%m-%d"),
                                   "weekly": dict(zip(labels, counts)),
                                   "weekly_mean": float(np.mean(counts)) if counts else None})

        company = company_weeks.groupby("week")["active_connections"].sum().reindex(weeks)
        rows = {p: grid.loc[p].to_numpy() for p in grid.index}
        zeros = np.zeros(len(weeks), dtype=int)
        return self._each(value(company.to_numpy(), _ids(active["connection_id"])),
                          lambda p: value(rows.get(p, zeros), groups.get(p, [])))

    def _m_active_to_install_ratio(self, q):
        """Weekly active connections over installs active at the end of that same week."""
        wac = self.scoped(q, "weekly_active_connections")
        if wac[ALL].value is None:
            return {s: MetricValue("active_to_install_ratio", None, reason=wac[s].reason)
                    for s in self._scopes}
        installed = self._active_at(q.last_full_week() + pd.Timedelta(days=7))
        groups = _ids_by_partner(installed, "connection_id")

        def value(active_ids, installed_ids):
            n = len(installed_ids)
            records = sorted(set(active_ids) | set(installed_ids))
            if n == 0:
                return MetricValue("active_to_install_ratio", None, n=0, records=records,
                                   reason="no install active at the end of the last full week")
            # an event from a connection removed during the week could push the ratio
            # past 1: only connections still installed at the end of the week count
            active = len(set(active_ids) & set(installed_ids))
            low, high = wilson_interval(active, n)
            return MetricValue("active_to_install_ratio", active / n, n=n, ci_low=low,
                               ci_high=high, records=records,
                               details={"active": active, "installed": n})

        return self._each(value(wac[ALL].records, _ids(installed["connection_id"])),
                          lambda p: value(wac[p].records, groups.get(p, [])))

    # ------------------------------------------------------------------ outcome tier: pipeline

    @cached_property
    def _credited(self) -> dict[str, pd.DataFrame]:
        """Per credit kind, the credited (partner, deal) rows with the deal's columns.

        A partner's credit date for influence is its own earliest credited tag.
        """
        out = {}
        for credit in ("sourced", "influenced"):
            rows = partner_credits(self.attribution, credit)
            rows = rows.loc[rows["bucket"] == credit]
            out[credit] = rows.assign(credit_date=rows["created_date"] if credit == "sourced"
                                      else rows["tagged_date"])
        return out

    def _company_deals(self, credit: str) -> pd.DataFrame:
        """The deals of one bucket, each once, with the date that credits it.

        The same for every quarter: selected once per bucket.
        """
        cache = self.__dict__.setdefault("_bucket_deals", {})
        if credit not in cache:
            deals = self.attribution.deals
            rows = deals.loc[deals["bucket"] == credit]
            if credit == "sourced":
                rows = rows.assign(credit_date=rows["created_date"])
            elif credit == "influenced":
                rows = rows.assign(credit_date=rows["first_influence_date"])
            cache[credit] = rows
        return cache[credit]

    def _needs_attributions(self, metric_id) -> dict[str, MetricValue] | None:
        """Without partner tags no deal can be told apart: not measured, never 0."""
        if self.dataset.attributions is None:
            return self._all_missing(metric_id, "attributions")
        return None

    def _pipeline(self, metric_id, q, credit):
        missing = self._needs_attributions(metric_id)
        if missing:
            return missing
        company = self._company_deals(credit)
        partners = self._credited[credit]
        return self._sums(metric_id, company.loc[q.contains_date(company["credit_date"])],
                          partners.loc[q.contains_date(partners["credit_date"])], details=True)

    def _m_sourced_pipeline(self, q):
        """Amount of sourced deals created in q (the sourcing partner's credit)."""
        return self._pipeline("sourced_pipeline", q, "sourced")

    def _m_influenced_pipeline(self, q):
        """Amount of influenced deals whose first credited influence tag is in q.

        Per partner, the partner's own earliest credited tag on the deal is used.
        """
        return self._pipeline("influenced_pipeline", q, "influenced")

    @staticmethod
    def _won_in(q, rows):
        return rows.loc[rows["is_won"] & q.contains_date(rows["close_date"])]

    def _revenue(self, metric_id, q, credit):
        missing = self._needs_attributions(metric_id)
        if missing:
            return missing
        return self._sums(metric_id, self._won_in(q, self._company_deals(credit)),
                          self._won_in(q, self._credited[credit]))

    def _m_sourced_revenue(self, q):
        """Amount of won sourced deals closed in q."""
        return self._revenue("sourced_revenue", q, "sourced")

    def _m_influenced_revenue(self, q):
        """Amount of won influenced deals closed in q."""
        return self._revenue("influenced_revenue", q, "influenced")

    def _m_partner_revenue_share(self, q):
        """(sourced + influenced revenue) / all won amount closed in q."""
        missing = self._needs_attributions("partner_revenue_share")
        if missing:
            return missing
        won = self._won_in(q, self.attribution.deals)
        total = float(won["amount"].sum())
        sourced = self.scoped(q, "sourced_revenue")
        influenced = self.scoped(q, "influenced_revenue")
        out = {}
        for scope in self._scopes:
            s, i = sourced[scope], influenced[scope]
            records = sorted(set(s.records) | set(i.records))
            if total == 0:
                out[scope] = MetricValue(
                    "partner_revenue_share", None, n=int(len(won)), records=records,
                    reason="no revenue won in the quarter: the share is undefined")
            else:
                out[scope] = MetricValue(
                    "partner_revenue_share", (s.value + i.value) / total, n=int(len(won)),
                    records=records,
                    details={"partner_revenue": s.value + i.value, "total_revenue": total})
        return out

    def _win_rate(self, metric_id, q, bucket):
        def closed(rows):
            return rows.loc[rows["is_closed"] & q.contains_date(rows["close_date"])]

        what = f"closed {bucket} deals"
        missing = self._needs_attributions(metric_id)
        if missing:
            return missing
        if bucket == "unassisted":
            # the baseline belongs to no partner: every scope compares with the company's
            rows = closed(self._company_deals("unassisted"))
            company = self._rate(metric_id, int(rows["is_won"].sum()), int(len(rows)),
                                 _ids(rows["opportunity_id"]), what)
            return self._baseline(company)
        return self._rates(metric_id, closed(self._company_deals(bucket)),
                           closed(self._credited[bucket]), "is_won", "opportunity_id", what)

    def _m_win_rate_sourced(self, q):
        """Won / closed among sourced deals closed in q."""
        return self._win_rate("win_rate_sourced", q, "sourced")

    def _m_win_rate_influenced(self, q):
        """Won / closed among influenced deals closed in q."""
        return self._win_rate("win_rate_influenced", q, "influenced")

    def _m_win_rate_unassisted(self, q):
        """Won / closed among unassisted deals closed in q (the company's, for every scope)."""
        return self._win_rate("win_rate_unassisted", q, "unassisted")

    def _m_win_rate_lift(self, q):
        """Influenced win rate minus unassisted win rate, Newcombe interval."""
        return self._lifts("win_rate_lift", "win_rate_influenced", "win_rate_unassisted", q)

    # ------------------------------------------------------------------ outcome tier: retention

    def _renewals_split(self, q):
        """Renewals due in q, whether the account had any install active at the end of the
        renewal day, and the (renewal, partner) pairs of active installs."""
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
        integrated = rows.index.isin(active["_pos"])
        return rows, integrated, active[["_pos", "partner_id"]].drop_duplicates()

    def _renewal_rate(self, metric_id, q, integrated: bool):
        if self.dataset.renewals is None:
            return self._all_missing(metric_id, "renewals")
        if self._installs is None:
            return self._all_missing(metric_id, "installs")
        rows, any_install, pairs = self._renewals_split(q)
        what = "renewals due" + (" of integrated accounts" if integrated
                                 else " of accounts without an integration")
        if not integrated:
            # accounts with no integration at all: the same baseline for every scope
            without = rows.loc[~any_install]
            company = self._rate(metric_id, int(without["renewed"].sum()), int(len(without)),
                                 _ids(without["account_id"]), what)
            return self._baseline(company)
        per_partner = rows.loc[pairs["_pos"].to_numpy()].assign(
            partner_id=pairs["partner_id"].to_numpy())
        return self._rates(metric_id, rows.loc[any_install], per_partner, "renewed",
                           "account_id", what)

    def _m_renewal_rate_integrated(self, q):
        """Renewed / due among renewals in q of accounts with an install active that day."""
        return self._renewal_rate("renewal_rate_integrated", q, True)

    def _m_renewal_rate_not_integrated(self, q):
        """Renewed / due among renewals in q of accounts without any install active that day."""
        return self._renewal_rate("renewal_rate_not_integrated", q, False)

    def _m_retention_lift(self, q):
        """Integrated minus not-integrated renewal rate, Newcombe interval."""
        return self._lifts("retention_lift", "renewal_rate_integrated",
                           "renewal_rate_not_integrated", q)


def _active_connections(engine, monday: pd.Timestamp) -> pd.DataFrame:
    """Connections with an ok sync event in the week starting ``monday``."""
    weeks = engine.connection_weeks(monday, monday + pd.Timedelta(days=7))
    return weeks.loc[weeks["ok_events"] > 0, ["connection_id", "integration_id", "partner_id"]]


def _ids_by_partner(rows: pd.DataFrame, id_column: str) -> dict[str, list[str]]:
    """partner_id -> sorted distinct ids of the rows credited to it.

    Plain numpy on the two columns: it is called for every metric, quarter and
    scope, mostly on a few hundred rows, where a DataFrame's own overhead is most
    of the cost.

    Examples
    --------
    >>> rows = pd.DataFrame({"partner_id": ["P2", "P1", "P2", None, "P2"],
    ...                      "opportunity_id": ["O3", "O1", "O2", "O4", "O3"]})
    >>> _ids_by_partner(rows, "opportunity_id")
    {'P1': ['O1'], 'P2': ['O2', 'O3']}
    """
    if rows.empty:
        return {}
    partners = rows["partner_id"].to_numpy(dtype=object)
    records = rows[id_column].to_numpy(dtype=object)
    known = ~(pd.isna(partners) | pd.isna(records))
    if not known.all():
        partners, records = partners[known], records[known]
    if not len(partners):
        return {}
    partners, records = partners.astype(str), records.astype(str)
    order = np.lexsort((records, partners))
    partners, records = partners[order], records[order]
    distinct = np.r_[True, (partners[1:] != partners[:-1]) | (records[1:] != records[:-1])]
    partners, records = partners[distinct], records[distinct]
    # one cut per partner in the sorted arrays, rather than a Python group loop
    cuts = np.flatnonzero(partners[1:] != partners[:-1]) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(partners)]
    return {str(partners[a]): records[a:b].tolist() for a, b in zip(starts, ends)}


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
