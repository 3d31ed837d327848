"""The locked exec dashboard and its vanity lint (SPEC §8).

The exec view is described by a small YAML file, ``dashboard.yml``: four
outcome tiles and an integration health panel, each entry with a prior-quarter
comparison and a sparkline. The packaged default lives in
``partnerkit/config/dashboard.yml``; a report archives the spec it used at
``reports/<quarter>/dashboard.yml`` so the next quarter can prove it shows
the same metrics.

Three things live here:

- reading and validating a spec (:func:`load_dashboard_spec`);
- the numbers of the dashboard for one quarter (:func:`dashboard_model`);
- the lint that keeps vanity metrics off the exec view and the metric set
  stable from quarter to quarter (:func:`lint_dashboard`).

Examples
--------
>>> spec = load_dashboard_spec()
>>> [tile.metric for tile in spec.tiles]
['sourced_pipeline', 'influenced_pipeline', 'weekly_active_connections', 'time_to_live_days']
>>> lint_dashboard(spec)
[]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from partnerkit.catalogue import CATALOGUE, metric, vanity_metrics
from partnerkit.configfile import YamlSyntaxError, parse_yaml
from partnerkit.periods import Quarter, QuarterError, previous_quarters

#: The one comparison a tile can make.
COMPARE_PRIOR_QUARTER = "prior_quarter"
#: A sparkline shorter than this is a snapshot, not a trend (SPEC §8).
MIN_QUARTERS = 4
#: Install counts read as adoption only beside the active-to-install ratio.
INSTALL_METRICS = ("installs_active", "installs_new")
INSTALL_RATIO = "active_to_install_ratio"
#: File name of the spec inside an archived report.
ARCHIVED_SPEC_NAME = "dashboard.yml"

_TOP_KEYS = ("title", "quarters", "tiles", "health")
_ENTRY_KEYS = ("metric", "label", "companion", "compare", "sparkline")
_DEFAULT_TITLE = "Partnerships, exec view"


class DashboardSpecError(ValueError):
    """A dashboard spec that cannot be read; the message names the file and the key."""


# ---------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class TileSpec:
    """One entry of the exec view: a tile, or one line of the health panel.

    Attributes
    ----------
    metric : str
        Catalogue id of the headline number.
    label : str
        Display name.
    companion : str or None
        A second catalogue id shown inside the same tile (the adoption tile
        shows weekly active connections with the active-to-install ratio).
    compare : str or None
        ``"prior_quarter"``, or None when the entry shows no comparison.
    sparkline : bool
        Whether the entry shows the trend over the spec's quarters.
    """

    metric: str
    label: str
    companion: str | None = None
    compare: str | None = None
    sparkline: bool = False

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric and its companion, if any."""
        return (self.metric,) if self.companion is None else (self.metric, self.companion)

    def to_dict(self) -> dict[str, Any]:
        """The entry as written in ``dashboard.yml``."""
        out: dict[str, Any] = {"metric": self.metric, "label": self.label}
        if self.companion is not None:
            out["companion"] = self.companion
        out["compare"] = self.compare if self.compare is not None else False
        out["sparkline"] = self.sparkline
        return out


@dataclass(frozen=True)
class DashboardSpec:
    """A validated ``dashboard.yml``.

    Attributes
    ----------
    title : str
    quarters : int
        Length of every sparkline, ending at the report quarter (>= 4).
    tiles : tuple of TileSpec
        The outcome tiles, in display order.
    health : tuple of TileSpec
        The integration health panel.
    source : str or None
        The file it was read from (for messages).
    """

    title: str
    quarters: int
    tiles: tuple[TileSpec, ...]
    health: tuple[TileSpec, ...] = ()
    source: str | None = None

    def metric_ids(self) -> list[str]:
        """Every metric shown (tiles, companions, health panel), first appearance first.

        Examples
        --------
        >>> load_dashboard_spec().metric_ids()[-3:]
        ['time_to_live_days', 'installs_active', 'sync_error_rate']
        """
        seen: dict[str, None] = {}
        for entry in (*self.tiles, *self.health):
            for metric_id in entry.metrics:
                seen.setdefault(metric_id, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        """The spec in the ``dashboard.yml`` format (what a report archives).

        Examples
        --------
        >>> spec = load_dashboard_spec()
        >>> parse_dashboard_spec(spec.to_dict()).tiles == spec.tiles
        True
        """
        return {"title": self.title, "quarters": self.quarters,
                "tiles": [t.to_dict() for t in self.tiles],
                "health": [t.to_dict() for t in self.health]}

    def to_yaml(self) -> str:
        """The spec as YAML text, ready to archive beside a report."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def default_spec_path():
    """The packaged default spec (``partnerkit/config/dashboard.yml``)."""
    return resources.files("partnerkit") / "config" / ARCHIVED_SPEC_NAME


def load_dashboard_spec(path=None) -> DashboardSpec:
    """Read and validate a dashboard spec.

    Parameters
    ----------
    path : str or Path, optional
        A ``dashboard.yml``; the packaged default when not given.

    Returns
    -------
    DashboardSpec

    Raises
    ------
    DashboardSpecError
        When the file is missing, is not YAML, or breaks the format; the
        message names the file and the key (e.g. ``tiles[2].metric``).

    Examples
    --------
    >>> spec = load_dashboard_spec()
    >>> spec.quarters, spec.tiles[2].companion
    (4, 'active_to_install_ratio')
    """
    if path is None:
        resource = default_spec_path()
        source, text = "partnerkit/config/dashboard.yml", resource.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DashboardSpecError(f"{source}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DashboardSpecError(f"{source}: cannot read the file: {exc}") from None
    try:
        data = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise DashboardSpecError(f"{source}: {exc}") from None
    return parse_dashboard_spec(data, source=source)


def parse_dashboard_spec(data: Any, source: str = "<dashboard spec>") -> DashboardSpec:
    """Validate an already parsed spec (a mapping in the ``dashboard.yml`` format).

    Parameters
    ----------
    data : dict
    source : str
        Named in error messages.

    Returns
    -------
    DashboardSpec

    Raises
    ------
    DashboardSpecError

    Examples
    --------
    >>> spec = parse_dashboard_spec({"tiles": [{"metric": "sourced_pipeline"}]})
    >>> spec.tiles[0].label, spec.tiles[0].compare, spec.tiles[0].sparkline, spec.quarters
    ('Sourced pipeline', None, False, 4)
    >>> parse_dashboard_spec({"tiles": [{"metric": "logos"}]}, source="my.yml")
    Traceback (most recent call last):
    ...
    partnerkit.dashboard.DashboardSpecError: my.yml: tiles[0].metric: unknown metric id 'logos'; ...
    """
    if not isinstance(data, dict):
        raise DashboardSpecError(f"{source}: expected a mapping with keys {', '.join(_TOP_KEYS)}, "
                                 f"got {type(data).__name__}")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise DashboardSpecError(f"{source}: unknown key {unknown[0]!r}; expected "
                                 f"{', '.join(_TOP_KEYS)}")
    title = data.get("title", _DEFAULT_TITLE)
    if not isinstance(title, str) or not title.strip():
        raise DashboardSpecError(f"{source}: title: expected a non-empty text, got {title!r}")
    quarters = data.get("quarters", MIN_QUARTERS)
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < MIN_QUARTERS:
        raise DashboardSpecError(f"{source}: quarters: expected a whole number >= {MIN_QUARTERS} "
                                 f"(a trend needs at least {MIN_QUARTERS} quarters), "
                                 f"got {quarters!r}")
    if "tiles" not in data:
        raise DashboardSpecError(f"{source}: tiles: missing; the exec view needs its tiles")
    tiles = _entries(data["tiles"], "tiles", source, required=True)
    health = _entries(data.get("health", []), "health", source, required=False)
    return DashboardSpec(title=title.strip(), quarters=quarters, tiles=tiles, health=health,
                         source=source)


def _entries(raw: Any, key: str, source: str, required: bool) -> tuple[TileSpec, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        raise DashboardSpecError(f"{source}: {key}: expected a {'non-empty ' if required else ''}"
                                 f"list of entries with {', '.join(_ENTRY_KEYS)}")
    entries = []
    for i, item in enumerate(raw):
        entries.append(_entry(item, f"{key}[{i}]", source))
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if entry.metric in seen:
            raise DashboardSpecError(f"{source}: {key}[{i}].metric: {entry.metric!r} is already "
                                     f"shown by {seen[entry.metric]}")
        seen[entry.metric] = f"{key}[{i}]"
    return tuple(entries)


def _entry(item: Any, where: str, source: str) -> TileSpec:
    if isinstance(item, str):  # a bare id is allowed as shorthand
        item = {"metric": item}
    if not isinstance(item, dict):
        raise DashboardSpecError(f"{source}: {where}: expected a mapping with "
                                 f"{', '.join(_ENTRY_KEYS)}, got {item!r}")
    unknown = [k for k in item if k not in _ENTRY_KEYS]
    if unknown:
        raise DashboardSpecError(f"{source}: {where}: unknown key {unknown[0]!r}; expected "
                                 f"{', '.join(_ENTRY_KEYS)}")
    if "metric" not in item:
        raise DashboardSpecError(f"{source}: {where}.metric: missing")
    metric_id = _metric_id(item["metric"], f"{where}.metric", source)
    companion = item.get("companion")
    if companion is not None:
        companion = _metric_id(companion, f"{where}.companion", source)
        if companion == metric_id:
            raise DashboardSpecError(f"{source}: {where}.companion: the companion repeats the "
                                     f"tile's own metric {metric_id!r}")
    label = item.get("label", default_label(metric_id))
    if not isinstance(label, str) or not label.strip():
        raise DashboardSpecError(f"{source}: {where}.label: expected a non-empty text, "
                                 f"got {label!r}")
    compare = item.get("compare")
    if compare is False:
        compare = None
    if compare is not None and compare != COMPARE_PRIOR_QUARTER:
        raise DashboardSpecError(f"{source}: {where}.compare: expected {COMPARE_PRIOR_QUARTER} "
                                 f"or false, got {compare!r}")
    sparkline = item.get("sparkline", False)
    if sparkline is None:
        sparkline = False
    if not isinstance(sparkline, bool):
        raise DashboardSpecError(f"{source}: {where}.sparkline: expected true or false, "
                                 f"got {sparkline!r}")
    return TileSpec(metric=metric_id, label=label.strip(), companion=companion, compare=compare,
                    sparkline=sparkline)


def _metric_id(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or value not in CATALOGUE:
        raise DashboardSpecError(f"{source}: {where}: unknown metric id {value!r}; known: "
                                 f"{', '.join(CATALOGUE)}")
    return value


def default_label(metric_id: str) -> str:
    """A display label made from a metric id.

    Examples
    --------
    >>> default_label("weekly_active_connections")
    'Weekly active connections'
    """
    return metric_id.replace("_", " ").capitalize()


# ---------------------------------------------------------------------------- the model


def period_change(value, prior) -> tuple[float | None, float | None]:
    """Absolute and relative change of a value against its prior period.

    The relative change is None when the prior is missing or zero (a change
    from nothing has no ratio); both are None when either value is missing.
    For fractions the absolute change is a difference of fractions
    (0.05 = five percentage points).

    Examples
    --------
    >>> period_change(150.0, 100.0)
    (50.0, 0.5)
    >>> period_change(1200.0, 0.0)
    (1200.0, None)
    >>> period_change(None, 3.0)
    (None, None)
    """
    if _missing(value) or _missing(prior):
        return None, None
    absolute = float(value) - float(prior)
    relative = None if float(prior) == 0 else absolute / abs(float(prior))
    return absolute, relative


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """NaN and numpy scalars to plain Python (JSON)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if hasattr(value, "item"):
        value = value.item()
    return value


@dataclass
class Tile:
    """The numbers of one dashboard entry for one quarter.

    Attributes
    ----------
    metric, label, unit : str
    value : float or None
        The quarter's value (None when not measured; ``reason`` says why).
    prior : float or None
        The previous quarter's value (None when the entry makes no comparison
        or the prior is not measured).
    change, change_relative : float or None
        ``value - prior`` and that over ``|prior|`` (see :func:`period_change`).
    n : int or None
        Sample size or number of records behind the value.
    reason : str or None
    series : dict
        Quarter label -> value, oldest first (empty when the entry shows no
        sparkline).
    records : list of str
        Ids of the records behind the value.
    companion : Tile or None
    details : dict
        Extra context (time to live: the integrations still open).
    compare : bool
        Whether the entry compares with the prior quarter.
    """

    metric: str
    label: str
    unit: str
    value: float | None
    prior: float | None
    change: float | None
    change_relative: float | None
    n: int | None
    reason: str | None
    series: dict[str, float | None]
    records: list[str] = field(default_factory=list)
    companion: Tile | None = None
    details: dict[str, Any] = field(default_factory=dict)
    compare: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The tile as plain JSON values."""
        out: dict[str, Any] = {
            "metric": self.metric, "label": self.label, "tier": metric(self.metric).tier,
            "unit": self.unit, "value": _plain(self.value), "prior": _plain(self.prior),
            "change": _plain(self.change), "change_relative": _plain(self.change_relative),
            "n": _plain(self.n), "compare": self.compare,
            "series": [{"quarter": q, "value": _plain(v)} for q, v in self.series.items()],
            "records": list(self.records)}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.details:
            out["details"] = {k: _plain(v) if not isinstance(v, list) else v
                              for k, v in self.details.items()}
        if self.companion is not None:
            out["companion"] = self.companion.to_dict()
        return out


@dataclass
class Dashboard:
    """The exec dashboard for one quarter and scope.

    Attributes
    ----------
    title : str
    quarter : str
    scope : str
        ``"all"`` (the company) or a partner id.
    quarters : list of str
        The sparkline quarters, oldest first, ending at ``quarter``.
    tiles, health : list of Tile
    spec_source : str or None
        The spec file the dashboard follows.
    """

    title: str
    quarter: str
    scope: str
    quarters: list[str]
    tiles: list[Tile]
    health: list[Tile]
    spec_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The dashboard as JSON (title, quarter, scope, quarters, spec, tiles, health)."""
        return {"title": self.title, "quarter": self.quarter, "scope": self.scope,
                "quarters": list(self.quarters), "spec": self.spec_source,
                "tiles": [t.to_dict() for t in self.tiles],
                "health": [t.to_dict() for t in self.health]}

    def to_frame(self) -> pd.DataFrame:
        """One row per entry (tiles, companions, health) for display in a notebook."""
        rows = []
        for section, tiles in (("tile", self.tiles), ("health", self.health)):
            for tile in tiles:
                for t in (tile, tile.companion):
                    if t is None:
                        continue
                    rows.append({"section": section, "metric": t.metric, "label": t.label,
                                 "value": t.value, "prior": t.prior, "change": t.change,
                                 "change_relative": t.change_relative, "n": t.n,
                                 "note": t.reason})
        return pd.DataFrame(rows)


def dashboard_model(kpis, quarter, spec=None, scope: str = "all") -> Dashboard:
    """The numbers of the exec dashboard for one quarter.

    All quarters and metrics come from one :meth:`Kpis.panel` call.

    Parameters
    ----------
    kpis : Kpis
    quarter : str or Quarter
        The report quarter; the prior is the quarter before it.
    spec : DashboardSpec, str or Path, optional
        The packaged default when not given.
    scope : str
        ``"all"`` or a partner id.

    Returns
    -------
    Dashboard

    Examples
    --------
    A company with one partner that sourced a deal in 2026Q2 and a larger
    one in 2026Q3 (no telemetry, so the adoption tiles say why they are empty):

    >>> from pathlib import Path
    >>> from partnerkit.dataset import Dataset
    >>> from partnerkit.kpis import Kpis
    >>> days = pd.to_datetime(["2026-05-02", "2026-08-01"])
    >>> partners = pd.DataFrame({"partner_id": ["P1"], "name": ["Northwind"],
    ...     "partner_type": ["technology"], "signed_date": days[:1]})
    >>> deals = pd.DataFrame({"opportunity_id": ["O1", "O2"], "account_id": ["X1", "X2"],
    ...     "name": [None, None], "created_date": days, "close_date": pd.to_datetime([None, None]),
    ...     "stage": ["open", "open"], "is_closed": [False, False], "is_won": [False, False],
    ...     "amount": [100.0, 250.0]})
    >>> tags = pd.DataFrame({"opportunity_id": ["O1", "O2"], "partner_id": ["P1", "P1"],
    ...     "role": ["sourced", "sourced"], "tagged_date": days})
    >>> kpis = Kpis(Dataset(Path("."), partners, deals, attributions=tags))
    >>> model = dashboard_model(kpis, "2026Q3")
    >>> tile = model.tiles[0]
    >>> tile.label, tile.value, tile.prior, tile.change, tile.change_relative
    ('Sourced pipeline', 250.0, 100.0, 150.0, 1.5)
    >>> tile.series
    {'2025Q4': 0.0, '2026Q1': 0.0, '2026Q2': 100.0, '2026Q3': 250.0}
    >>> model.tiles[2].value, model.tiles[2].reason
    (None, "table 'sync_events' is missing: not measured")
    """
    spec = _as_spec(spec)
    q = kpis.quarter(quarter)
    quarters = [*previous_quarters(q, spec.quarters - 1), q]
    labels = [str(x) for x in quarters]
    panel = kpis.panel(quarters, metrics=spec.metric_ids(), scopes=[scope])
    panel = panel.loc[panel["scope"] == scope].set_index(["metric", "quarter"])
    label, prior_label = str(q), str(q.previous())

    integrations = getattr(kpis.dataset, "integrations", None)

    def build(entry: TileSpec, metric_id: str, tile_label: str) -> Tile:
        rows = panel.loc[metric_id].reindex(labels)
        value = _plain(rows.at[label, "value"])
        prior = _plain(rows.at[prior_label, "value"]) if entry.compare else None
        change, relative = period_change(value, prior)
        n = _plain(rows.at[label, "n"])
        records = rows.at[label, "records"]
        reason = rows.at[label, "reason"]
        details: dict[str, Any] = {}
        if metric_id == "time_to_live_days" and integrations is not None:
            details = open_integrations_summary(
                time_to_live_frame(_scoped(integrations, scope), q))
        return Tile(
            metric=metric_id, label=tile_label, unit=metric(metric_id).unit, value=value,
            prior=prior, change=change, change_relative=relative,
            n=None if n is None else int(n), reason=None if _missing(reason) else str(reason),
            series=({lab: _plain(v) for lab, v in rows["value"].items()} if entry.sparkline
                    else {}),
            records=[] if not isinstance(records, list) else [str(r) for r in records],
            details=details, compare=entry.compare is not None)

    def tile(entry: TileSpec) -> Tile:
        main = build(entry, entry.metric, entry.label)
        if entry.companion is not None:
            main.companion = build(entry, entry.companion, default_label(entry.companion))
        return main

    return Dashboard(title=spec.title, quarter=label, scope=scope, quarters=labels,
                     tiles=[tile(t) for t in spec.tiles], health=[tile(t) for t in spec.health],
                     spec_source=spec.source)


def _scoped(frame: pd.DataFrame, scope: str) -> pd.DataFrame:
    return frame if scope == "all" else frame.loc[frame["partner_id"] == scope]


def _as_spec(spec) -> DashboardSpec:
    if isinstance(spec, DashboardSpec):
        return spec
    return load_dashboard_spec(spec)


def time_to_live_frame(integrations: pd.DataFrame, quarter) -> pd.DataFrame:
    """Scoped-to-live days per integration, as seen at the end of a quarter.

    Integrations scoped after the quarter are left out; the others are either
    ``live`` (live by the end of the quarter: days from scoped to live) or
    ``open`` (scoped, not live by then: their age so far, up to the
    quarter's last day).

    Parameters
    ----------
    integrations : DataFrame
        ``integration_id, partner_id, scoped_date, live_date`` (live_date may be NaT).
    quarter : str or Quarter

    Returns
    -------
    DataFrame
        ``integration_id, partner_id, status, days, live_in_quarter``, live
        ones first, each group by days.

    Examples
    --------
    >>> integrations = pd.DataFrame({
    ...     "integration_id": ["I1", "I2", "I3"], "partner_id": ["P1", "P1", "P2"],
    ...     "scoped_date": pd.to_datetime(["2026-05-01", "2026-08-01", "2026-10-02"]),
    ...     "live_date": pd.to_datetime(["2026-07-01", None, None])})
    >>> time_to_live_frame(integrations, "2026Q3")[["integration_id", "status", "days"]]
      integration_id status  days
    0             I1   live    61
    1             I2   open    60
    """
    q = Quarter.parse(quarter)
    frame = integrations.loc[integrations["scoped_date"] <= q.end]
    live = frame["live_date"].notna() & (frame["live_date"] <= q.end)
    end_or_live = frame["live_date"].where(live, q.end)
    out = pd.DataFrame({
        "integration_id": frame["integration_id"].astype(str),
        "partner_id": frame["partner_id"].astype(str),
        "status": pd.Series(["live" if x else "open" for x in live], index=frame.index,
                            dtype="object"),
        "days": (end_or_live - frame["scoped_date"]).dt.days.astype("int64"),
        "live_in_quarter": (live & (frame["live_date"] >= q.start)).astype(bool),
    })
    out["_order"] = (out["status"] == "open").astype(int)
    return (out.sort_values(["_order", "days", "integration_id"]).drop(columns="_order")
            .reset_index(drop=True))


def open_integrations_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Count, median age and ids of the open integrations of a :func:`time_to_live_frame`.

    Examples
    --------
    >>> frame = pd.DataFrame({"integration_id": ["I1", "I4", "I5"],
    ...                       "status": ["live", "open", "open"], "days": [61, 60, 29]})
    >>> open_integrations_summary(frame)
    {'open': 2, 'open_median_age_days': 44.5, 'open_records': ['I4', 'I5']}
    """
    still_open = frame.loc[frame["status"] == "open"]
    return {"open": int(len(still_open)),
            "open_median_age_days": (float(still_open["days"].median()) if len(still_open)
                                     else None),
            "open_records": sorted(still_open["integration_id"].astype(str))}


# ---------------------------------------------------------------------------- display text


def format_value(value, unit: str) -> str:
    """A value as a dashboard shows it.

    Examples
    --------
    >>> format_value(868600.0, "money"), format_value(2019400.0, "money")
    ('868.6k', '2.02M')
    >>> format_value(0.6414, "fraction"), format_value(77.0, "days"), format_value(None, "count")
    ('64.1%', '77 d', 'n/a')
    """
    if _missing(value):
        return "n/a"
    value = float(value)
    if unit == "money":
        size = abs(value)
        if size >= 1e6:
            return f"{value / 1e6:.2f}M"
        if size >= 1e3:
            return f"{value / 1e3:.1f}k"
        return f"{value:,.0f}"
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "difference":
        return f"{value:+.1%}"
    if unit == "days":
        return f"{value:.0f} d"
    return f"{value:,.0f}"


def format_change(change, change_relative, unit: str) -> str:
    """The change against the prior period as a dashboard shows it.

    Fractions change in percentage points; other units show the absolute
    change and, when the prior was not zero, the relative one.

    Examples
    --------
    >>> format_change(900.0, 4.5, "money")
    '+900 (+450%)'
    >>> format_change(-0.053, -0.076, "fraction")
    '-5.3 pp'
    >>> format_change(2.0, None, "count"), format_change(None, None, "days")
    ('+2', 'n/a')
    """
    if _missing(change):
        return "n/a"
    if unit in ("fraction", "difference"):
        return f"{change * 100:+.1f} pp"
    text = format_value(abs(change), unit)
    text = ("-" if change < 0 else "+") + text
    if change_relative is not None:
        text += f" ({change_relative:+.0%})"
    return text


# ---------------------------------------------------------------------------- the lint


@dataclass(frozen=True)
class LintFinding:
    """One problem the lint found in a dashboard spec.

    Attributes
    ----------
    id : str
        ``vanity_metric``, ``installs_without_ratio``, ``tile_without_prior``,
        ``tile_without_sparkline`` or ``metric_set_changed``.
    message : str
    location : str
        ``tiles[i]``, ``health[i]``, ``health`` (the panel) or ``dashboard``.
    metric : str or None
    replacement : str or None
        For ``vanity_metric`` and ``installs_without_ratio``: the catalogue's
        metric to show instead (or beside).
    details : dict
        For ``metric_set_changed``: ``added``, ``removed`` and ``previous``.
    file : str or None
        The spec that was linted.
    """

    id: str
    message: str
    location: str
    metric: str | None = None
    replacement: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON."""
        out = {"id": self.id, "location": self.location, "message": self.message}
        if self.metric is not None:
            out["metric"] = self.metric
        if self.replacement is not None:
            out["replacement"] = self.replacement
        if self.details:
            out["details"] = dict(self.details)
        if self.file is not None:
            out["file"] = self.file
        return out


def lint_dashboard(spec=None, previous=None) -> list[LintFinding]:
    """Check a dashboard spec against the rules of an exec view (SPEC §8).

    Findings, in this order:

    - ``vanity_metric``: a catalogue vanity metric on the exec view, naming
      the catalogue's replacement. Install counts are vanity only when shown
      alone, which ``installs_without_ratio`` reports instead.
    - ``installs_without_ratio``: ``installs_active`` or ``installs_new`` in
      a tile (or the health panel) that does not also show
      ``active_to_install_ratio``.
    - ``tile_without_prior``: an entry without ``compare: prior_quarter``.
    - ``tile_without_sparkline``: an entry without ``sparkline: true``.
    - ``metric_set_changed``: the metrics shown differ from ``previous``
      (the spec of the last archived quarter); names what was added/removed.

    Parameters
    ----------
    spec : DashboardSpec, str or Path, optional
        The packaged default when not given.
    previous : DashboardSpec, str or Path, optional
        See :func:`previous_archived_spec`.

    Returns
    -------
    list of LintFinding
        Empty when the spec is clean.

    Examples
    --------
    >>> spec = parse_dashboard_spec({"tiles": [
    ...     {"metric": "partners_signed", "compare": "prior_quarter", "sparkline": True}]})
    >>> [(f.id, f.replacement) for f in lint_dashboard(spec)]
    [('vanity_metric', 'integrations_live')]
    """
    spec = _as_spec(spec)
    if previous is not None and not isinstance(previous, DashboardSpec):
        previous = load_dashboard_spec(previous)
    file = spec.source
    findings: list[LintFinding] = []
    entries = [(f"tiles[{i}]", t) for i, t in enumerate(spec.tiles)] + [
        (f"health[{i}]", t) for i, t in enumerate(spec.health)]
    vanity = vanity_metrics()

    for where, entry in entries:
        for metric_id in entry.metrics:
            if metric_id in vanity and metric_id not in INSTALL_METRICS:
                entry_metric = metric(metric_id)
                findings.append(LintFinding(
                    "vanity_metric",
                    f"{where} ({entry.label}) shows {metric_id}, a vanity {entry_metric.tier} "
                    f"metric: it can rise while the business stays flat; report "
                    f"{vanity[metric_id]} instead",
                    where, metric=metric_id, replacement=vanity[metric_id], file=file))

    # a tile is its own group; the health panel is one group
    groups = [(f"tiles[{i}]", f"tiles[{i}] ({t.label})", set(t.metrics))
              for i, t in enumerate(spec.tiles)]
    if spec.health:
        groups.append(("health", "the health panel",
                       {m for t in spec.health for m in t.metrics}))
    for where, name, shown in groups:
        for metric_id in INSTALL_METRICS:
            if metric_id in shown and INSTALL_RATIO not in shown:
                findings.append(LintFinding(
                    "installs_without_ratio",
                    f"{name} shows {metric_id} without {INSTALL_RATIO}: installs alone hide "
                    f"idle connections; show the ratio beside them",
                    where, metric=metric_id, replacement=INSTALL_RATIO, file=file))

    for where, entry in entries:
        if entry.compare is None:
            findings.append(LintFinding(
                "tile_without_prior",
                f"{where} ({entry.label}) has no prior-period comparison: set "
                f"compare: {COMPARE_PRIOR_QUARTER}",
                where, metric=entry.metric, file=file))
    for where, entry in entries:
        if not entry.sparkline:
            findings.append(LintFinding(
                "tile_without_sparkline",
                f"{where} ({entry.label}) shows no trend: set sparkline: true",
                where, metric=entry.metric, file=file))

    if previous is not None:
        now, before = spec.metric_ids(), previous.metric_ids()
        added = [m for m in now if m not in before]
        removed = [m for m in before if m not in now]
        if added or removed:
            parts = ([f"added {', '.join(added)}"] if added else []) + (
                [f"removed {', '.join(removed)}"] if removed else [])
            findings.append(LintFinding(
                "metric_set_changed",
                f"the metrics shown differ from the last archived spec "
                f"({previous.source or 'previous quarter'}): {'; '.join(parts)}. An exec view "
                f"shows the same metrics every quarter",
                "dashboard", details={"added": added, "removed": removed,
                                      "previous": previous.source}, file=file))
    return findings


def lint_report(findings: list[LintFinding]) -> dict[str, Any]:
    """The ``lint-dashboard --json`` payload: ``{"clean": bool, "findings": [...]}``.

    Examples
    --------
    >>> lint_report([])
    {'clean': True, 'findings': []}
    """
    return {"clean": not findings, "findings": [f.to_dict() for f in findings]}


def lint_text(findings: list[LintFinding]) -> str:
    """The findings as readable lines (one per finding).

    Examples
    --------
    >>> lint_text([])
    'dashboard spec is clean: no finding'
    >>> print(lint_text([LintFinding("tile_without_prior", "tiles[0] has no prior", "tiles[0]")]))
    1 finding
    tile_without_prior  tiles[0]  tiles[0] has no prior
    """
    if not findings:
        return "dashboard spec is clean: no finding"
    width = max(len(f.id) for f in findings)
    where = max(len(f.location) for f in findings)
    lines = [f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"]
    lines += [f"{f.id:<{width}}  {f.location:<{where}}  {f.message}" for f in findings]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- archives

_ARCHIVE_DIR = re.compile(r"(?P<quarter>\d{4}-?[Qq][1-4])(?:-r(?P<revision>\d+))?")


def archived_specs(reports_dir) -> list[tuple[str, int, Path]]:
    """Every archived ``dashboard.yml`` under a reports folder, oldest first.

    Archives are ``<reports>/<quarter>/`` and their revisions
    ``<reports>/<quarter>-r<N>/``; folders of any other name are ignored.

    Returns
    -------
    list of (quarter label, revision, path)
        The first archive of a quarter is revision 1.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as reports:
    ...     for folder in ("2026Q2", "2026Q2-r2", "2026Q1", "failed-runs"):
    ...         (Path(reports) / folder).mkdir()
    ...         _ = (Path(reports) / folder / "dashboard.yml").write_text("tiles: []")
    ...     [(q, r) for q, r, _ in archived_specs(reports)]
    [('2026Q1', 1), ('2026Q2', 1), ('2026Q2', 2)]
    """
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        match = _ARCHIVE_DIR.fullmatch(folder.name)
        path = folder / ARCHIVED_SPEC_NAME
        if match is None or not path.is_file():
            continue
        try:
            quarter = Quarter.parse(match.group("quarter"))
        except QuarterError:
            continue
        revision = int(match.group("revision") or 1)
        found.append(((quarter.year, quarter.number), str(quarter), revision, path))
    found.sort(key=lambda x: (x[0], x[2]))
    return [(label, revision, path) for _, label, revision, path in found]


def previous_archived_spec(reports_dir, quarter=None) -> DashboardSpec | None:
    """The dashboard spec of the latest archived quarter (its latest revision).

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder (``reports/``).
    quarter : str or Quarter, optional
        Only archives of quarters before this one count (the quarter being
        reported is not its own previous).

    Returns
    -------
    DashboardSpec or None
        None when no archive holds a ``dashboard.yml``.

    Raises
    ------
    DashboardSpecError
        When the archived file itself is broken.

    Examples
    --------
    >>> previous_archived_spec("no/such/reports") is None
    True
    """
    before = None if quarter is None else Quarter.parse(quarter)
    candidates = [(label, revision, path) for label, revision, path in archived_specs(reports_dir)
                  if before is None or _key(label) < (before.year, before.number)]
    if not candidates:
        return None
    return load_dashboard_spec(candidates[-1][2])


def _key(label: str) -> tuple[int, int]:
    q = Quarter.parse(label)
    return q.year, q.number
