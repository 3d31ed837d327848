"""Stage scorecards: what "good" means at seed, Series A and Series B (SPEC §7).

The same metric carries a different bar at each stage: at seed the question
is whether the motion worked at all, at Series A whether it repeats, at
Series B whether it holds up as a revenue line. Each stage has a few checks,
read over the trailing four quarters q-3..q of the company:

seed
    ``sourced_deal`` (at least one sourced deal, traceable to its id),
    ``integration_in_weekly_use`` (an integration with connections syncing in
    the last full week of q), ``credited_influence`` (an influenced deal),
    ``integration_live`` (an integration went live in the window).
series_a
    ``sourced_pipeline_each_quarter`` (sourced pipeline above zero in each of
    the last 3 quarters), ``influence_from_partners`` (influenced deals from
    at least 2 partners), ``adoption_on_integrations`` (active-to-install
    ratio at or above the target on at least 2 integrations),
    ``time_to_live_trending_down``.
series_b
    ``partner_revenue_share_rising``, ``win_rate_lift_positive`` (with its
    95% interval above 0), ``retention_lift_positive``.

Trends are precise: the least-squares slope of the quarterly values against
the quarter's position (0 for q-3 up to 3 for q), over the quarters that have
a value; "trending down" is a slope below 0 and "rising" a slope above 0.
With fewer than ``min_quarters`` values (default 2) the check is not
measured. Lifts pool the four quarters (won and closed deals, renewed and
due renewals) before taking the difference, because one quarter of one
bucket is often a small sample.

Every row has a status: ``met``, ``not met``, or ``not measured`` when the
data it needs is missing (no renewals table, no telemetry, no quarter with a
value). The targets live in ``partnerkit/config/targets.yml``; a user file
laid over it changes them key by key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from partnerkit.configfile import YamlSyntaxError, parse_yaml
from partnerkit.periods import Quarter
from partnerkit.stats import newcombe_difference

__all__ = [
    "STAGES",
    "STATUSES",
    "TargetsError",
    "default_targets",
    "load_targets",
    "quarterly_slope",
    "integration_adoption",
    "evaluate_scorecard",
    "scorecard",
    "scorecard_report",
    "scorecard_text",
]

ALL = "all"
WINDOW = 4
STAGES = ("seed", "series_a", "series_b")
MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"
STATUSES = (MET, NOT_MET, NOT_MEASURED)
COLUMNS = ["check", "target", "actual", "status", "note"]


class TargetsError(ValueError):
    """A targets file that cannot be used; the message names the file and the key."""


# --------------------------------------------------------------------------- arithmetic


def quarterly_slope(values: Sequence[float], min_quarters: int = 2) -> float:
    """Least-squares slope of quarterly values against their position.

    Positions are 0, 1, 2, ... in the order given (oldest first); a missing
    value (None or NaN) is left out, keeping the others at their positions.

    Parameters
    ----------
    values : sequence of float
        One value per quarter, oldest first.
    min_quarters : int, default 2
        Fewer measured values give NaN: no trend can be read.

    Returns
    -------
    float
        Change per quarter; NaN when fewer than ``min_quarters`` values.

    Examples
    --------
    >>> quarterly_slope([100, 90, 80, 70])
    -10.0
    >>> quarterly_slope([None, 70, 77, None])  # two points: the line through them
    7.0
    >>> quarterly_slope([1.0, 2.0, 1.0, 2.0])
    0.2
    >>> quarterly_slope([None, 5, None, None])
    nan
    """
    points = [(i, float(v)) for i, v in enumerate(values) if not _missing(v)]
    if len(points) < max(min_quarters, 2):
        return math.nan
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    dx = x - x.mean()
    return float(round((dx * (y - y.mean())).sum() / (dx * dx).sum(), 12))


def integration_adoption(active: pd.DataFrame, installs: pd.DataFrame,
                         week: pd.Timestamp) -> pd.DataFrame:
    """Active-to-install ratio per integration for one week.

    The per-integration form of ``active_to_install_ratio``: connections with
    at least one successful sync in the week, over the installs active at the
    end of that week (SPEC §3: installed before the next Monday and not
    removed before it). As for the company ratio, a connection removed during
    the week does not count as active even if it synced before leaving.

    Parameters
    ----------
    active : DataFrame
        ``connection_id`` (and optionally ``integration_id``) of the
        connections with at least one ok sync event in the week, e.g.
        ``TelemetryEngine.connection_weeks(week, week + 7 days)`` filtered
        on ``ok_events > 0`` (e.g. :meth:`Kpis.active_in_week`).
    installs : DataFrame
        ``connection_id, integration_id, installed_at, uninstalled_at``.
    week : Timestamp
        The Monday the week starts.

    Returns
    -------
    DataFrame
        One row per integration of ``installs``, sorted by id:
        ``integration_id, active_connections, installs_active, ratio``
        (``ratio`` NaN when nothing is installed at the end of the week).

    Examples
    --------
    >>> installs = pd.DataFrame({
    ...     "connection_id": ["c1", "c2", "c3", "c4"],
    ...     "integration_id": ["i1", "i1", "i1", "i2"],
    ...     "installed_at": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-01",
    ...                                     "2026-09-29"]),
    ...     "uninstalled_at": pd.to_datetime([None, None, "2026-09-23", None])})
    >>> active = pd.DataFrame({"connection_id": ["c1", "c3"]})
    >>> integration_adoption(active, installs, pd.Timestamp("2026-09-21"))
      integration_id  active_connections  installs_active  ratio
    0             i1                   1                2    0.5
    1             i2                   0                0    NaN
    """
    week = pd.Timestamp(week)
    end = week + pd.Timedelta(days=7)
    installed = installs.loc[(installs["installed_at"] < end) & (
        installs["uninstalled_at"].isna() | (installs["uninstalled_at"] >= end))]
    ids = installs["integration_id"].astype(str)
    installed_ids = installed["connection_id"].astype(str)
    is_active = installed_ids.isin(set(active["connection_id"].astype(str)))
    frame = pd.DataFrame({"integration_id": sorted(ids.unique())})
    per_integration = installed["integration_id"].astype(str)
    frame["active_connections"] = frame["integration_id"].map(
        per_integration[is_active.to_numpy()].value_counts()).fillna(0).astype("int64")
    frame["installs_active"] = frame["integration_id"].map(
        per_integration.value_counts()).fillna(0).astype("int64")
    frame["ratio"] = (frame["active_connections"]
                      / frame["installs_active"].where(frame["installs_active"] > 0)
                      ).astype("float64")
    return frame


def _adoption_of(kpis, q: Quarter) -> pd.DataFrame | None:
    """Per-integration adoption in the last full week of q (None without telemetry)."""
    if not kpis.has_telemetry:
        return None
    week = q.last_full_week()
    return integration_adoption(kpis.active_in_week(week), kpis.dataset.installs, week)


def _missing(x) -> bool:
    if x is None or x is pd.NA:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Result:
    target: str
    actual: float | int | None
    status: str
    note: str


class _Window:
    """The company's values over q-3..q, and what the checks need beside them."""

    def __init__(self, panel: pd.DataFrame, quarters: list[str], adoption):
        self.quarters = quarters
        self.adoption = adoption
        rows = panel.loc[panel["quarter"].astype(str).isin(quarters)]
        self.company = rows.loc[rows["scope"] == ALL]
        self.partners = rows.loc[rows["scope"] != ALL]

    def _column(self, metric_id: str, column: str) -> list:
        rows = self.company.loc[self.company["metric"] == metric_id]
        if column not in rows.columns:
            return [math.nan] * len(self.quarters)
        by_quarter = dict(zip(rows["quarter"].astype(str), rows[column]))
        return [by_quarter.get(q, math.nan) for q in self.quarters]

    def values(self, metric_id: str) -> list:
        return self._column(metric_id, "value")

    def counts(self, metric_id: str) -> list:
        """n per quarter (the number of deals behind a pipeline), NaN when not measured."""
        values, ns = self.values(metric_id), self._column(metric_id, "n")
        return [math.nan if _missing(v) or _missing(n) else float(n) for v, n in zip(values, ns)]

    def pooled(self, metric_id: str) -> tuple[int, int] | None:
        """Successes and trials of a rate summed over the window (None if never measured)."""
        values, ns = self.values(metric_id), self._column(metric_id, "n")
        successes = trials = 0
        measured = False
        for v, n in zip(values, ns):
            if _missing(n):
                continue  # table missing: nothing to pool
            measured = True
            if int(n) > 0 and not _missing(v):
                successes += int(round(float(v) * int(n)))
                trials += int(n)
        return (successes, trials) if measured else None


def _at_least(total_parts: list, minimum: float, what: str, quarters) -> tuple:
    measured = [x for x in total_parts if not _missing(x)]
    if not measured:
        return None, NOT_MEASURED, f"no quarter of {quarters[0]}..{quarters[-1]} has {what}"
    total = sum(measured)
    total = int(total) if float(total).is_integer() else total
    if total >= minimum:
        return total, MET, ""
    if len(measured) < len(total_parts):
        return total, NOT_MEASURED, f"{what} missing in some quarters of the window"
    return total, NOT_MET, ""


def _span(w: _Window) -> str:
    return f"{w.quarters[0]}..{w.quarters[-1]}"


def _check_sourced_deal(w: _Window, p) -> _Result:
    actual, status, note = _at_least(w.counts("sourced_pipeline"), p["min_deals"],
                                     "sourced pipeline", w.quarters)
    return _Result(f">= {p['min_deals']} sourced deal(s)", actual, status,
                   note or f"sourced deals created {_span(w)}")


def _check_credited_influence(w: _Window, p) -> _Result:
    actual, status, note = _at_least(w.counts("influenced_pipeline"), p["min_deals"],
                                     "influenced pipeline", w.quarters)
    return _Result(f">= {p['min_deals']} influenced deal(s)", actual, status,
                   note or f"deals first influenced {_span(w)}")


def _check_integration_live(w: _Window, p) -> _Result:
    actual, status, note = _at_least(w.values("integrations_live"), p["min_integrations"],
                                     "integrations", w.quarters)
    return _Result(f">= {p['min_integrations']} integration(s) live", actual, status,
                   note or f"integrations that went live {_span(w)}")


def _check_integration_in_weekly_use(w: _Window, p) -> _Result:
    target = (f">= {p['min_integrations']} integration(s) with >= "
              f"{p['min_active_connections']} weekly active connection(s)")
    if w.adoption is None:
        return _Result(target, None, NOT_MEASURED, "no sync telemetry: weekly use is unknown")
    used = w.adoption.loc[w.adoption["active_connections"] >= p["min_active_connections"]]
    note = "last full week of " + w.quarters[-1] + (
        ": " + ", ".join(f"{r.integration_id} {r.active_connections} active"
                         for r in used.itertuples()) if len(used) else "")
    return _Result(target, int(len(used)),
                   MET if len(used) >= p["min_integrations"] else NOT_MET, note)


def _check_sourced_pipeline_each_quarter(w: _Window, p) -> _Result:
    k = p["quarters"]
    values = w.values("sourced_pipeline")[-k:]
    positive = sum(1 for v in values if not _missing(v) and v > 0)
    target = f"> 0 in each of the last {k} quarters"
    note = ", ".join(f"{q} {'n/a' if _missing(v) else f'{v:,.0f}'}"
                     for q, v in zip(w.quarters[-k:], values))
    if positive == k:
        return _Result(target, positive, MET, note)
    if any(_missing(v) for v in values):
        return _Result(target, positive, NOT_MEASURED, note)
    return _Result(target, positive, NOT_MET, note)


def _check_influence_from_partners(w: _Window, p) -> _Result:
    rows = w.partners.loc[w.partners["metric"] == "influenced_pipeline"]
    target = f">= {p['min_partners']} partners with influenced deals"
    if rows.empty or rows["value"].isna().all() or "n" not in rows.columns:
        return _Result(target, None, NOT_MEASURED, "no per-partner influenced pipeline")
    measured = rows.loc[rows["value"].notna()]
    deals = pd.to_numeric(measured["n"], errors="coerce").fillna(0).groupby(
        measured["scope"]).sum()
    partners = sorted(str(s) for s in deals.index[deals > 0])
    return _Result(target, len(partners), MET if len(partners) >= p["min_partners"] else NOT_MET,
                   ", ".join(partners))


def _check_adoption_on_integrations(w: _Window, p) -> _Result:
    target = (f"ratio >= {p['min_ratio']:.2f} on >= {p['min_integrations']} integrations")
    if w.adoption is None:
        return _Result(target, None, NOT_MEASURED, "no sync telemetry: adoption is unknown")
    counted = w.adoption.loc[w.adoption["installs_active"] >= max(p["min_installs"], 1)]
    good = counted.loc[counted["ratio"] >= p["min_ratio"]]
    note = "last full week of " + w.quarters[-1] + ": " + ", ".join(
        f"{r.integration_id} {r.active_connections}/{r.installs_active}"
        for r in counted.itertuples())
    return _Result(target, int(len(good)),
                   MET if len(good) >= p["min_integrations"] else NOT_MET, note)


def _trend(w: _Window, metric_id: str, p, direction: int, fmt: Callable, unit: str) -> _Result:
    values = w.values(metric_id)
    slope = quarterly_slope(values, p["min_quarters"])
    word = "< 0" if direction < 0 else "> 0"
    target = f"slope {word} {unit} per quarter"
    note = ", ".join(f"{q} {'n/a' if _missing(v) else fmt(v)}" for q, v in zip(w.quarters, values))
    if math.isnan(slope):
        measured = sum(1 for v in values if not _missing(v))
        return _Result(target, None, NOT_MEASURED,
                       f"{measured} quarter(s) with a value, {p['min_quarters']} needed: {note}")
    return _Result(target, slope, MET if slope * direction > 0 else NOT_MET, note)


def _check_time_to_live_trending_down(w: _Window, p) -> _Result:
    return _trend(w, "time_to_live_days", p, -1, lambda v: f"{v:.0f} d", "days")


def _check_partner_revenue_share_rising(w: _Window, p) -> _Result:
    return _trend(w, "partner_revenue_share", p, +1, lambda v: f"{v:.1%}", "share")


def _lift(w: _Window, p, first: str, second: str, what: str) -> _Result:
    target = f"> {p['min_lift']:g}" + (" with the 95% interval above it"
                                       if p["interval_above"] else "")
    a, b = w.pooled(first), w.pooled(second)
    if a is None or b is None:
        missing = first if a is None else second
        return _Result(target, None, NOT_MEASURED, f"{missing} is not measured in {_span(w)}")
    if a[1] == 0 or b[1] == 0:
        empty = first if a[1] == 0 else second
        return _Result(target, None, NOT_MEASURED, f"no {what} behind {empty} in {_span(w)}")
    diff, low, high = newcombe_difference(a[0], a[1], b[0], b[1])
    met = diff > p["min_lift"] and (not p["interval_above"] or low > p["min_lift"])
    note = (f"{_span(w)} pooled: {a[0]}/{a[1]} vs {b[0]}/{b[1]}; "
            f"95% interval [{low:.3f}, {high:.3f}]")
    return _Result(target, diff, MET if met else NOT_MET, note)


def _check_win_rate_lift_positive(w: _Window, p) -> _Result:
    return _lift(w, p, "win_rate_influenced", "win_rate_unassisted", "closed deals")


def _check_retention_lift_positive(w: _Window, p) -> _Result:
    return _lift(w, p, "renewal_rate_integrated", "renewal_rate_not_integrated",
                 "renewals due")


@dataclass(frozen=True)
class _Check:
    evaluate: Callable[[_Window, Mapping], _Result]
    params: Mapping[str, str]  # name -> kind of number
    metrics: tuple[str, ...] = ()  # company metrics read
    partner_metrics: tuple[str, ...] = ()  # per-partner metrics read
    adoption: bool = False  # needs per-integration adoption


_REGISTRY: dict[str, dict[str, _Check]] = {
    "seed": {
        "sourced_deal": _Check(_check_sourced_deal, {"min_deals": "count"},
                               ("sourced_pipeline",)),
        "integration_in_weekly_use": _Check(
            _check_integration_in_weekly_use,
            {"min_integrations": "count", "min_active_connections": "count"}, adoption=True),
        "credited_influence": _Check(_check_credited_influence, {"min_deals": "count"},
                                     ("influenced_pipeline",)),
        "integration_live": _Check(_check_integration_live, {"min_integrations": "count"},
                                   ("integrations_live",)),
    },
    "series_a": {
        "sourced_pipeline_each_quarter": _Check(_check_sourced_pipeline_each_quarter,
                                                {"quarters": "quarters"},
                                                ("sourced_pipeline",)),
        "influence_from_partners": _Check(_check_influence_from_partners,
                                          {"min_partners": "count"},
                                          partner_metrics=("influenced_pipeline",)),
        "adoption_on_integrations": _Check(
            _check_adoption_on_integrations,
            {"min_ratio": "fraction", "min_integrations": "count", "min_installs": "count"},
            adoption=True),
        "time_to_live_trending_down": _Check(_check_time_to_live_trending_down,
                                             {"min_quarters": "min_quarters"},
                                             ("time_to_live_days",)),
    },
    "series_b": {
        "partner_revenue_share_rising": _Check(_check_partner_revenue_share_rising,
                                               {"min_quarters": "min_quarters"},
                                               ("partner_revenue_share",)),
        "win_rate_lift_positive": _Check(_check_win_rate_lift_positive,
                                         {"min_lift": "lift", "interval_above": "flag"},
                                         ("win_rate_influenced", "win_rate_unassisted")),
        "retention_lift_positive": _Check(
            _check_retention_lift_positive, {"min_lift": "lift", "interval_above": "flag"},
            ("renewal_rate_integrated", "renewal_rate_not_integrated")),
    },
}


# --------------------------------------------------------------------------- targets files


def _fail(source: str, key: str, message: str):
    raise TargetsError(f"{source}: {key}: {message}")


def _value(value: Any, kind: str, source: str, key: str):
    if kind == "flag":
        if not isinstance(value, bool):
            _fail(source, key, f"expected true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(source, key, f"expected a number, got {value!r}")
    if kind == "count":
        if value != int(value) or value < 0:
            _fail(source, key, f"expected a whole number >= 0, got {value!r}")
        return int(value)
    if kind == "quarters":
        if value != int(value) or not 1 <= value <= WINDOW:
            _fail(source, key, f"expected a whole number of quarters within 1..{WINDOW}, "
                               f"got {value!r}")
        return int(value)
    if kind == "min_quarters":
        if value != int(value) or not 2 <= value <= WINDOW:
            _fail(source, key, f"a trend needs a whole number of quarters within 2..{WINDOW}, "
                               f"got {value!r}")
        return int(value)
    if kind == "fraction" and not 0 <= value <= 1:
        _fail(source, key, f"is a fraction and must be within 0..1, got {value!r}")
    if kind == "lift" and not -1 <= value <= 1:
        _fail(source, key, f"is a difference of two rates and must be within -1..1, "
                           f"got {value!r}")
    return float(value)


def _layer(base: dict, text: str, source: str) -> dict:
    try:
        data = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise TargetsError(f"{source}: {exc}") from None
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise TargetsError(f"{source}: expected a mapping of stage -> checks at the top")
    merged = {stage: {check: dict(params) for check, params in checks.items()}
              for stage, checks in base.items()}
    for stage, checks in data.items():
        if stage not in _REGISTRY:
            _fail(source, str(stage), f"unknown stage (expected: {', '.join(STAGES)})")
        if not isinstance(checks, Mapping):
            _fail(source, stage, "expected a mapping of check -> targets")
        for check, params in checks.items():
            known = _REGISTRY[stage]
            if check not in known:
                _fail(source, f"{stage}.{check}", f"unknown check for {stage} (expected: "
                                                  f"{', '.join(known)})")
            if not isinstance(params, Mapping):
                _fail(source, f"{stage}.{check}", "expected a mapping of target -> value")
            spec = known[check].params
            for name, value in params.items():
                key = f"{stage}.{check}.{name}"
                if name not in spec:
                    _fail(source, key, f"unknown target (expected: {', '.join(spec)})")
                merged.setdefault(stage, {}).setdefault(check, {})[name] = _value(
                    value, spec[name], source, key)
    return merged


def _complete(targets: dict, source: str) -> dict:
    for stage, checks in _REGISTRY.items():
        for check, spec in checks.items():
            for name in spec.params:
                if name not in targets.get(stage, {}).get(check, {}):
                    _fail(source, f"{stage}.{check}", f"missing target {name!r}")
    return targets


def _default_text() -> str:
    return (resources.files("partnerkit") / "config" / "targets.yml").read_text(encoding="utf-8")


def default_targets() -> dict:
    """The targets shipped in ``partnerkit/config/targets.yml``.

    Returns
    -------
    dict
        stage -> check -> target name -> value.

    Examples
    --------
    >>> default_targets()["series_a"]["adoption_on_integrations"]
    {'min_ratio': 0.5, 'min_integrations': 2, 'min_installs': 1}
    >>> list(default_targets()["seed"])
    ['sourced_deal', 'integration_in_weekly_use', 'credited_influence', 'integration_live']
    """
    return _complete(_layer({}, _default_text(), "targets.yml (defaults)"),
                     "targets.yml (defaults)")


def load_targets(path: str | Path | None = None, *, text: str | None = None) -> dict:
    """The default targets with a user's targets file laid over them, key by key.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file shaped like ``partnerkit/config/targets.yml`` naming only
        the targets it changes.
    text : str, optional
        The YAML itself instead of a file (named ``<text>`` in messages).

    Raises
    ------
    TargetsError
        Unreadable file, invalid YAML, an unknown stage, check or target, a
        bad number; the message names the file and the key.

    Examples
    --------
    >>> load_targets(text="series_a: {adoption_on_integrations: {min_ratio: 0.6}}")[
    ...     "series_a"]["adoption_on_integrations"]
    {'min_ratio': 0.6, 'min_integrations': 2, 'min_installs': 1}
    >>> load_targets(text="seed: {sourced_deal: {min_deals: two}}")
    Traceback (most recent call last):
    ...
    partnerkit.targets.TargetsError: <text>: seed.sourced_deal.min_deals: expected a number, got 'two'
    """
    targets = default_targets()
    if text is not None:
        return _layer(targets, text, "<text>")
    if path is not None:
        path = Path(path)
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise TargetsError(f"{path}: cannot read the targets file: {err}") from None
        return _layer(targets, content, str(path))
    return targets


def _resolve_targets(targets) -> dict:
    if targets is None:
        return default_targets()
    if isinstance(targets, (str, Path)):
        return load_targets(targets)
    if isinstance(targets, Mapping):
        # a mapping in the file's shape, laid over the defaults and validated alike
        return _layer(default_targets(), yaml.safe_dump(_plain_mapping(targets)), "<targets>")
    raise TypeError("targets must be a mapping, a targets file path or None")


def _plain_mapping(value):
    if isinstance(value, Mapping):
        return {str(k): _plain_mapping(v) for k, v in value.items()}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _check_stage(stage: str) -> str:
    if stage not in _REGISTRY:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    return stage


# --------------------------------------------------------------------------- scorecards


def evaluate_scorecard(panel: pd.DataFrame, quarter, stage: str, targets=None,
                       adoption: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scorecard of a stage from a long panel of metrics.

    Parameters
    ----------
    panel : DataFrame
        Long form, as :meth:`partnerkit.kpis.Kpis.panel` returns it:
        ``quarter, scope, metric, value, n``; company rows have scope
        ``"all"``, partner rows are read for ``influence_from_partners``.
        An absent row counts as not measured.
    quarter : str or Quarter
        q; the window is q-3..q.
    stage : {"seed", "series_a", "series_b"}
    targets : mapping, path or None
        Targets laid over the defaults (see :func:`load_targets`).
    adoption : DataFrame, optional
        Per-integration adoption in the last full week of q, as
        :func:`integration_adoption` returns it; None when there is no
        telemetry (the adoption checks are then not measured).

    Returns
    -------
    DataFrame
        ``check, target, actual, status, note``, one row per check of the
        stage; ``status`` is ``met``, ``not met`` or ``not measured``.

    Examples
    --------
    >>> panel = pd.DataFrame({
    ...     "quarter": ["2025Q4", "2026Q1", "2026Q2", "2026Q3"], "scope": "all",
    ...     "metric": "time_to_live_days", "value": [None, 90.0, 80.0, 64.0],
    ...     "n": [0, 1, 2, 1]})
    >>> card = evaluate_scorecard(panel, "2026Q3", "series_a")
    >>> card.set_index("check").loc["time_to_live_trending_down", ["actual", "status"]].tolist()
    [-13.0, 'met']
    >>> card.set_index("check").loc["adoption_on_integrations", "status"]
    'not measured'
    """
    stage = _check_stage(stage)
    targets = _resolve_targets(targets)
    q = Quarter.parse(quarter)
    quarters = [str(q.previous(n)) for n in range(WINDOW - 1, -1, -1)]
    window = _Window(panel, quarters, adoption)
    rows = []
    for check_id, check in _REGISTRY[stage].items():
        result = check.evaluate(window, targets[stage][check_id])
        rows.append({"check": check_id, "target": result.target, "actual": _plain(result.actual),
                     "status": result.status, "note": result.note})
    card = pd.DataFrame(rows, columns=COLUMNS)
    # plain Python numbers (an int count stays an int beside a float slope)
    card["actual"] = pd.Series([r["actual"] for r in rows], dtype=object)
    return card


def scorecard(kpis, quarter, stage: str, targets=None) -> pd.DataFrame:
    """The scorecard of a stage for a quarter of a data set.

    Parameters
    ----------
    kpis : Kpis
    quarter : str or Quarter
    stage : {"seed", "series_a", "series_b"}
    targets : mapping, path or None
        None for the defaults of ``partnerkit/config/targets.yml``.

    Returns
    -------
    DataFrame
        ``check, target, actual, status, note`` (see :func:`evaluate_scorecard`).

    Examples
    --------
    >>> from partnerkit.kpis import Kpis
    >>> from partnerkit.load import load_dataset
    >>> kpis = Kpis(load_dataset("data/sample"))  # doctest: +SKIP
    >>> scorecard(kpis, "2026Q3", "seed")["status"].tolist()  # doctest: +SKIP
    ['met', 'met', 'met', 'met']
    """
    stage = _check_stage(stage)
    targets = _resolve_targets(targets)
    q = kpis.quarter(quarter)
    quarters = [q.previous(n) for n in range(WINDOW - 1, -1, -1)]
    checks = _REGISTRY[stage].values()
    company = list(dict.fromkeys(m for c in checks for m in c.metrics))
    per_partner = list(dict.fromkeys(m for c in checks for m in c.partner_metrics))
    parts = []
    if company:
        parts.append(kpis.panel(quarters, metrics=company, scopes=[ALL]))
    if per_partner and kpis.partner_ids:
        parts.append(kpis.panel(quarters, metrics=per_partner, scopes=kpis.partner_ids))
    panel = (pd.concat(parts, ignore_index=True) if parts
             else pd.DataFrame(columns=["quarter", "scope", "metric", "value", "n"]))
    adoption = _adoption_of(kpis, q) if any(c.adoption for c in checks) else None
    return evaluate_scorecard(panel, q, stage, targets, adoption)


def _plain(value):
    if _missing(value):
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def scorecard_report(kpis, quarter, stage: str, targets=None) -> dict:
    """The ``partnerkit scorecard --json`` payload.

    Returns
    -------
    dict
        ``{"quarter": ..., "stage": ..., "checks": [{"check", "target",
        "actual", "status", "note"}, ...]}``; ``actual`` is a number or null.
    """
    q = kpis.quarter(quarter)
    card = scorecard(kpis, q, stage, targets)
    checks = [{column: _plain(row[column]) for column in COLUMNS}
              for row in card.to_dict("records")]
    return {"quarter": str(q), "stage": stage, "checks": checks}


def _format_actual(value) -> str:
    if _missing(value):
        return "n/a"
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"


def scorecard_text(kpis, quarter, stage: str, targets=None,
                   card: pd.DataFrame | None = None) -> str:
    """A readable scorecard (``partnerkit scorecard``).

    Pass ``card`` to print a scorecard already computed.
    """
    q = kpis.quarter(quarter)
    if card is None:
        card = scorecard(kpis, q, stage, targets)
    shown = card.assign(actual=card["actual"].map(_format_actual))
    met = int((card["status"] == MET).sum())
    header = (f"Stage scorecard: {stage}, {q} (trailing quarters {q.previous(WINDOW - 1)}..{q}): "
              f"{met} of {len(card)} met")
    return header + "\n\n" + shown.set_index("check").to_string() + "\n"
