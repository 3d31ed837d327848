"""Figures: the exec dashboard, the stack walk, integration health, win rates, time to live.

Every ``plot_*`` function takes plain data (a long KPI panel as
:meth:`partnerkit.kpis.Kpis.panel` returns it, a
:class:`~partnerkit.dashboard.Dashboard`, the integrations table, leak
dicts of SPEC §11), draws on the Axes it is given (or on a new figure when
none is given) and returns that Axes. pyplot is imported only to make a new
figure, and no backend is ever chosen here: that is the caller's business.
:func:`write_figures` draws on :class:`matplotlib.figure.Figure` objects
directly, so it never touches pyplot at all.

The shaping of the data behind each plot is a small pure function of its
own (:func:`stack_walk_frame`, :func:`integration_health_frame`,
:func:`win_rate_frame`, :func:`~partnerkit.dashboard.time_to_live_frame`).

Artists carry ``gid`` values so a figure can be read back by tests and tools:
``sparkline:<metric>``, ``tier:<tier>``, ``leak:<pattern>``, ``open``,
``live``, ``win_rate``, ``wilson_interval``, ``installs_active``,
``weekly_active_connections``, ``sync_error_rate``.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partnerkit.catalogue import CATALOGUE, metric
from partnerkit.dashboard import (
    Dashboard,
    Tile,
    dashboard_model,
    format_change,
    format_value,
    time_to_live_frame,
)
from partnerkit.periods import Quarter

ALL = "all"

#: What each tier of the stack walk adds up, per quarter (SPEC §6 reads the same sums).
STACK_TIERS: dict[str, tuple[str, ...]] = {
    "activity": ("activity_events",),
    "output": ("integrations_live", "listings_published", "sellers_enabled", "installs_new"),
    "outcome": ("sourced_pipeline", "influenced_pipeline"),
}
#: The integration health panel: the catalogue's health metrics.
HEALTH_METRICS: tuple[str, ...] = tuple(m.id for m in CATALOGUE.values() if m.health)
#: Deal bucket -> its win-rate metric.
WIN_RATE_BUCKETS: dict[str, str] = {"sourced": "win_rate_sourced",
                                    "influenced": "win_rate_influenced",
                                    "unassisted": "win_rate_unassisted"}
#: Every metric the figures of a quarter read.
FIGURE_METRICS: tuple[str, ...] = tuple(dict.fromkeys(
    [m for ids in STACK_TIERS.values() for m in ids] + list(HEALTH_METRICS)
    + list(WIN_RATE_BUCKETS.values())))

_TIER_LEGEND = {
    "activity": "activity: partner activity events",
    "output": "output: integrations live + listings + sellers enabled + new installs",
    "outcome": "outcome: sourced + influenced pipeline",
}
_INK, _MUTED, _CARD = "#222222", "#6b6b6b", "#f3f4f6"


def _palette() -> dict[str, Any]:
    import seaborn as sns

    colors = sns.color_palette("colorblind")
    return {"activity": colors[7], "output": colors[0], "outcome": colors[2],
            "installs": colors[7], "active": colors[0], "error": colors[3],
            "live_now": colors[0], "live_before": colors[9], "open": colors[1],
            "spark": colors[0], "companion": colors[1], "leak": colors[3]}


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    # constrained layout keeps titles, notes and legends inside the figure, so the figure
    # is complete as drawn, with or without a tight bounding box at save time
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def scope_label(scope: str) -> str:
    """``"company"`` for ``"all"``, else ``"partner <id>"``.

    Examples
    --------
    >>> scope_label("all"), scope_label("P003")
    ('company', 'partner P003')
    """
    return "company" if scope == ALL else f"partner {scope}"


def _nan(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


# ---------------------------------------------------------------------------- data shaping


def _scope_rows(panel: pd.DataFrame, scope: str) -> pd.DataFrame:
    rows = panel.loc[panel["scope"].astype(str) == str(scope)]
    if rows.empty:
        known = sorted(panel["scope"].astype(str).unique())
        raise KeyError(f"scope {scope!r} is not in the panel (scopes: {', '.join(known)})")
    return rows


def _wide(panel: pd.DataFrame, scope: str, metrics) -> pd.DataFrame:
    rows = _scope_rows(panel, scope)
    quarters = sorted(rows["quarter"].astype(str).unique(), key=lambda q: (
        Quarter.parse(q).year, Quarter.parse(q).number))
    wide = rows.pivot_table(index="quarter", columns="metric", values="value", aggfunc="first",
                            dropna=False)
    return wide.reindex(index=quarters, columns=list(metrics)).astype(float)


def stack_walk_frame(panel: pd.DataFrame, scope: str = ALL) -> pd.DataFrame:
    """Activity, output and outcome per quarter for one scope (the sums of :data:`STACK_TIERS`).

    A tier is missing (NaN) only when none of its metrics was measured.

    Parameters
    ----------
    panel : DataFrame
        Long form: ``quarter, scope, metric, value``.
    scope : str

    Returns
    -------
    DataFrame
        Index ``quarter`` (oldest first), columns ``activity, output, outcome``.

    Examples
    --------
    >>> metrics = ["activity_events", "installs_new", "integrations_live", "sourced_pipeline"]
    >>> rows = [(q, "all", m, v) for q, values in [("2026Q2", [8, 5, 1, 100]),
    ...                                            ("2026Q3", [9, 7, 0, 0])]
    ...         for m, v in zip(metrics, values)]
    >>> panel = pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value"])
    >>> stack_walk_frame(panel)
             activity  output  outcome
    quarter                           
    2026Q2        8.0     6.0    100.0
    2026Q3        9.0     7.0      0.0
    """
    wide = _wide(panel, scope, [m for ids in STACK_TIERS.values() for m in ids])
    frame = pd.DataFrame({tier: wide[list(ids)].sum(axis=1, min_count=1)
                          for tier, ids in STACK_TIERS.items()})
    frame.index.name = "quarter"
    return frame


def integration_health_frame(panel: pd.DataFrame, scope: str = ALL) -> pd.DataFrame:
    """The health metrics per quarter for one scope, one column each.

    Examples
    --------
    >>> rows = [("2026Q3", "all", m, v) for m, v in zip(HEALTH_METRICS, [10, 6, 0.6, 0.02])]
    >>> panel = pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value"])
    >>> integration_health_frame(panel).loc["2026Q3"].tolist()
    [10.0, 6.0, 0.6, 0.02]
    """
    frame = _wide(panel, scope, HEALTH_METRICS)
    frame.columns.name = None
    return frame


def win_rate_frame(panel: pd.DataFrame, quarter=None, scope: str = ALL) -> pd.DataFrame:
    """Win rate, its 95% Wilson interval and n per deal bucket, for one quarter.

    Parameters
    ----------
    panel : DataFrame
        Long form with ``quarter, scope, metric, value, n, ci_low, ci_high``.
    quarter : str, optional
        The latest quarter of the panel when not given.
    scope : str

    Returns
    -------
    DataFrame
        Index ``bucket`` (sourced, influenced, unassisted); columns ``rate, n,
        ci_low, ci_high`` (NaN where the rate is undefined).

    Examples
    --------
    >>> panel = pd.DataFrame({"quarter": ["2026Q3"] * 3, "scope": ["all"] * 3,
    ...     "metric": ["win_rate_sourced", "win_rate_influenced", "win_rate_unassisted"],
    ...     "value": [0.5, None, 0.25], "n": [2, 0, 8], "ci_low": [0.1, None, 0.07],
    ...     "ci_high": [0.9, None, 0.59]})
    >>> win_rate_frame(panel)
                rate  n  ci_low  ci_high
    bucket                              
    sourced     0.50  2    0.10     0.90
    influenced   NaN  0     NaN      NaN
    unassisted  0.25  8    0.07     0.59
    """
    rows = _scope_rows(panel, scope)
    if quarter is None:
        quarter = max(rows["quarter"].astype(str), key=lambda q: (
            Quarter.parse(q).year, Quarter.parse(q).number))
    quarter = str(Quarter.parse(quarter))
    rows = rows.loc[rows["quarter"].astype(str) == quarter].set_index("metric")
    out = []
    for bucket, metric_id in WIN_RATE_BUCKETS.items():
        row = rows.loc[metric_id] if metric_id in rows.index else {}
        n = row.get("n") if len(row) else None
        out.append({"bucket": bucket, "rate": _nan(row.get("value") if len(row) else None),
                    "n": 0 if n is None or pd.isna(n) else int(n),
                    "ci_low": _nan(row.get("ci_low") if len(row) else None),
                    "ci_high": _nan(row.get("ci_high") if len(row) else None)})
    frame = pd.DataFrame(out).set_index("bucket")
    frame.attrs["quarter"] = quarter
    return frame


def leak_quarter(leak: dict, default: str | None = None) -> str | None:
    """The quarter a leak was read for: its ``quarter``, else the last quarter of its evidence.

    Examples
    --------
    >>> leak_quarter({"pattern": "x", "evidence": {"quarters": ["2025Q4", "2026Q1",
    ...                                                          "2026Q2", "2026Q3"]}})
    '2026Q3'
    >>> leak_quarter({"pattern": "x", "evidence": {}}, default="2026Q2")
    '2026Q2'
    """
    if leak.get("quarter"):
        return str(leak["quarter"])
    quarters = (leak.get("evidence") or {}).get("quarters")
    if quarters:
        return str(quarters[-1])
    return default


def leak_tier(leak: dict) -> str | None:
    """The stack tier a leak's lower metrics belong to (None when outside the stack walk).

    Examples
    --------
    >>> leak_tier({"lower": "integrations_live + installs_new"})
    'output'
    >>> leak_tier({"lower": "sync_error_rate"}) is None
    True
    """
    lower = {part.strip() for part in str(leak.get("lower") or "").split("+")}
    for tier, ids in STACK_TIERS.items():
        if lower & set(ids):
            return tier
    return None


def _as_leak_dicts(leaks) -> list[dict]:
    return [leak if isinstance(leak, dict) else leak.to_dict() | {
        "quarter": getattr(leak, "quarter", "") or None} for leak in (leaks or [])]


# ---------------------------------------------------------------------------- the dashboard


def plot_dashboard(model: Dashboard, ax=None):
    """The exec dashboard: the outcome tiles on top, the integration health panel below.

    Each tile shows its label, the quarter's value, the change against the
    prior quarter and a sparkline of the spec's quarters (the adoption tile
    also shows its companion ratio, as a dashed line on its own scale).

    Parameters
    ----------
    model : Dashboard
        From :func:`partnerkit.dashboard.dashboard_model`.
    ax : matplotlib Axes, optional
        The area to draw in; a new 13 x 7.5 inch figure when not given.

    Returns
    -------
    Axes
        The parent Axes (its own frame is switched off). The tiles are child
        Axes made with :meth:`~matplotlib.axes.Axes.inset_axes`, so the whole
        dashboard stays inside ``ax``; their labels are ``tile:<metric>``,
        ``health:<metric>`` (the cards) and ``sparkline:<metric>``,
        ``health-sparkline:<metric>`` (the small trend charts).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from partnerkit.dashboard import Dashboard, Tile
    >>> tile = Tile("sourced_pipeline", "Sourced pipeline", "money", 250.0, 100.0, 150.0, 1.5,
    ...             2, None, {"2025Q4": 0.0, "2026Q1": 0.0, "2026Q2": 100.0, "2026Q3": 250.0})
    >>> model = Dashboard("Exec view", "2026Q3", "all", list(tile.series), [tile], [])
    >>> ax = plot_dashboard(model, ax=Figure(figsize=(8, 5)).add_subplot())
    >>> [a.get_label() for a in ax.child_axes]
    ['tile:sourced_pipeline', 'sparkline:sourced_pipeline']
    """
    ax = _new_axes(ax, (13, 7.5))
    ax.set_axis_off()
    colors = _palette()
    prior = str(Quarter.parse(model.quarter).previous())
    ax.set_title(f"{model.title}: {scope_label(model.scope)}, {model.quarter} "
                 f"(change vs {prior}; trend {model.quarters[0]}-{model.quarters[-1]})",
                 loc="left", fontsize=14, fontweight="bold", color=_INK, pad=14)
    has_health = bool(model.health)
    top = (0.46, 0.94) if has_health else (0.0, 0.94)
    ax.text(0.0, 0.985, "Outcomes", transform=ax.transAxes, fontsize=11, fontweight="bold",
            color=_MUTED, va="top")
    _card_row(ax, model.tiles, top, "tile", "sparkline", colors, model, big=True)
    if has_health:
        ax.text(0.0, 0.41, "Integration health", transform=ax.transAxes, fontsize=11,
                fontweight="bold", color=_MUTED, va="top")
        _card_row(ax, model.health, (0.0, 0.365), "health", "health-sparkline", colors, model,
                  big=False)
    return ax


def _card_row(ax, tiles: list[Tile], span, card_prefix, spark_prefix, colors, model, big):
    from matplotlib.patches import FancyBboxPatch

    n = max(len(tiles), 1)
    gap = 0.02
    width = (1 - gap * (n - 1)) / n
    y0, y1 = span
    height = y1 - y0
    for i, tile in enumerate(tiles):
        x0 = i * (width + gap)
        card = ax.inset_axes([x0, y0, width, height])
        card.set_label(f"{card_prefix}:{tile.metric}")
        card.set_axis_off()
        card.set_xlim(0, 1)
        card.set_ylim(0, 1)
        card.add_patch(FancyBboxPatch((0, 0), 1, 1, boxstyle="round,pad=0,rounding_size=0.03",
                                      transform=card.transAxes, facecolor=_CARD,
                                      edgecolor="#d9dce1", linewidth=0.8, clip_on=False))
        _card_text(card, tile, model, big, colors)
        spark = ax.inset_axes([x0 + 0.06 * width, y0 + 0.06 * height, 0.88 * width,
                               (0.31 if big else 0.36) * height])
        spark.set_label(f"{spark_prefix}:{tile.metric}")
        _sparkline(spark, tile, colors, small=not big)


def _card_text(card, tile: Tile, model: Dashboard, big: bool, colors) -> None:
    prior_q = str(Quarter.parse(model.quarter).previous())
    width = 36
    card.text(0.05, 0.93, tile.label, fontsize=11 if big else 9.5, color=_MUTED, va="top",
              fontweight="bold")
    card.text(0.05, 0.80, format_value(tile.value, tile.unit), fontsize=22 if big else 15,
              fontweight="bold", color=_INK, va="top")
    lines = []
    if tile.change is not None:
        arrow = "\u25b2" if tile.change > 0 else "\u25bc" if tile.change < 0 else "\u25b6"
        lines.append((f"{arrow} {format_change(tile.change, tile.change_relative, tile.unit)}"
                      f" vs {prior_q} ({format_value(tile.prior, tile.unit)})", _INK))
    elif tile.compare:
        lines.append((f"no change: {prior_q} " + ("not measured" if tile.prior is None else
                      f"was {format_value(tile.prior, tile.unit)}"), _MUTED))
    if tile.value is None and tile.reason:
        lines += [(part, _MUTED) for part in textwrap.wrap(tile.reason, width)[:2]]
    if tile.details.get("open"):
        age = tile.details.get("open_median_age_days")
        lines.append((f"{tile.details['open']} still open, median age "
                      f"{format_value(age, 'days')}", _MUTED))
    if tile.companion is not None:
        # written in the companion's line colour: the text is the sparkline's legend
        c = tile.companion
        change = format_change(c.change, c.change_relative, c.unit)
        lines.append((f"- - {c.label.lower()} {format_value(c.value, c.unit)} ({change})",
                      colors["companion"]))
    y = 0.80 - (0.17 if big else 0.19)
    for text, color in lines[:4]:
        card.text(0.05, y, text, fontsize=8.5 if big else 8, color=color, va="top")
        y -= 0.065 if big else 0.09


def _sparkline(spark, tile: Tile, colors, small: bool) -> None:
    quarters = list(tile.series)
    spark.set_facecolor("none")
    for side in ("top", "right", "left"):
        spark.spines[side].set_visible(False)
    spark.spines["bottom"].set_color("#c4c7cc")
    spark.set_yticks([])
    if not quarters:
        spark.set_xticks([])
        spark.text(0.5, 0.5, "no trend shown", transform=spark.transAxes, ha="center",
                   va="center", fontsize=8, color=_MUTED)
        return
    x = np.arange(len(quarters))
    y = np.array([_nan(v) for v in tile.series.values()], dtype=float)
    (line,) = spark.plot(x, y, color=colors["spark"], linewidth=2, marker="o", markersize=3.5,
                         label=tile.metric)
    line.set_gid(f"sparkline:{tile.metric}")
    if not np.isnan(y[-1]):
        spark.plot([x[-1]], [y[-1]], marker="o", markersize=6.5, color=colors["spark"])
    finite = y[~np.isnan(y)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        pad = (high - low) * 0.25 or (abs(high) * 0.25 or 1.0)
        spark.set_ylim(low - pad, high + pad)
    spark.set_xticks(x, [_short_quarter(q) for q in quarters], fontsize=7 if small else 7.5,
                     color=_MUTED)
    spark.tick_params(axis="x", length=0, pad=2)
    spark.set_xlim(-0.3, len(quarters) - 0.7)
    companion = tile.companion
    if companion is not None and companion.series:
        twin = spark.twinx()
        twin.set_label(f"sparkline:{companion.metric}")
        twin.set_axis_off()
        cy = np.array([_nan(v) for v in companion.series.values()], dtype=float)
        (cline,) = twin.plot(x, cy, color=colors["companion"], linewidth=1.5, linestyle="--",
                             marker="o", markersize=3)
        cline.set_gid(f"sparkline:{companion.metric}")
        finite = cy[~np.isnan(cy)]
        if finite.size:
            twin.set_ylim(0, max(1.0, float(finite.max()) * 1.1))


def _short_quarter(label: str) -> str:
    q = Quarter.parse(label)
    return f"Q{q.number} {q.year % 100:02d}"


# ---------------------------------------------------------------------------- the stack walk


def plot_stack_walk(panel: pd.DataFrame, scope: str = ALL, leaks=None, ax=None):
    """Activity, output and outcome per quarter for one scope, with its leaks marked.

    The stack is drawn as it is read: three bar charts sharing the quarters,
    outcome on top, output in the middle, activity at the bottom, each in its
    own unit (pipeline money, items shipped, activity events) with every
    bar labelled. A tier growing under a flat tier shows as bars rising below
    bars that do not. Each leak of the scope is an annotation at its quarter
    in the tier it leaks from (a leak outside the stack, such as an error
    rate, is written under the title); the last two quarters, the ``recent``
    half of the leak rules, are shaded.

    Parameters
    ----------
    panel : DataFrame
        Long KPI panel holding the metrics of :data:`STACK_TIERS`.
    scope : str
        ``"all"`` or a partner id.
    leaks : list of dict or Leak, optional
        SPEC §11 leak entries; only those of ``scope`` are drawn.
    ax : matplotlib Axes, optional
        The area to draw in; a new 10 x 7 inch figure when not given.

    Returns
    -------
    Axes
        The parent Axes (frame switched off, it holds the title). The tiers
        are child Axes (:meth:`~matplotlib.axes.Axes.inset_axes`) labelled
        ``tier:<tier>``; their bars have the gid ``tier:<tier>``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> rows = [(q, "P2", m, v) for q, a in zip(["2025Q4", "2026Q1", "2026Q2", "2026Q3"],
    ...                                          [4, 5, 9, 12])
    ...         for m, v in [("activity_events", a), ("integrations_live", 0),
    ...                      ("sourced_pipeline", 0.0)]]
    >>> panel = pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value"])
    >>> leak = {"pattern": "activity_without_output", "scope": "P2", "lower": "activity_events",
    ...         "evidence": {"quarters": ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]}}
    >>> ax = plot_stack_walk(panel, "P2", leaks=[leak], ax=Figure().add_subplot())
    >>> ax.get_title(loc="left")
    'Stack walk: partner P2, 2025Q4-2026Q3'
    >>> activity = next(a for a in ax.child_axes if a.get_label() == "tier:activity")
    >>> [float(p.get_height()) for p in activity.patches if p.get_gid() == "tier:activity"]
    [4.0, 5.0, 9.0, 12.0]
    >>> [t.get_text() for t in activity.texts if t.get_gid() == "leak:activity_without_output"]
    ['activity_without_output']
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax = _new_axes(ax, (10, 7))
    ax.set_axis_off()
    colors = _palette()
    frame = stack_walk_frame(panel, scope)
    quarters = list(frame.index)
    x = np.arange(len(quarters))
    mine = [leak for leak in _as_leak_dicts(leaks) if str(leak.get("scope")) == str(scope)]
    ax.set_title(f"Stack walk: {scope_label(scope)}, {quarters[0]}-{quarters[-1]}", loc="left",
                 fontweight="bold", pad=16)
    outside = [leak for leak in mine if leak_tier(leak) is None]
    summary = ("leaks: " + ", ".join(
        f"{leak['pattern']} ({leak_quarter(leak, quarters[-1])}"
        + (f"; {leak.get('lower')}, outside the stack)" if leak_tier(leak) is None else ")")
        for leak in mine)) if mine else "no leak for this scope"
    note = ax.text(0.0, 1.0, summary, transform=ax.transAxes, fontsize=9, va="bottom",
                   color=colors["leak"] if mine else _MUTED)
    for leak in outside:
        note.set_gid(f"leak:{leak['pattern']}")

    tiers = list(STACK_TIERS)[::-1]  # read up the stack: outcome on top
    gap, height = 0.06, (1 - 0.06 * 2 - 0.02) / 3
    axes = {}
    for i, tier in enumerate(tiers):
        y0 = 1 - 0.03 - (i + 1) * height - i * gap
        child = ax.inset_axes([0.0, y0, 1.0, height])
        child.set_label(f"tier:{tier}")
        axes[tier] = child
        values = frame[tier].to_numpy(dtype=float)
        unit = metric(STACK_TIERS[tier][0]).unit
        bars = child.bar(x, np.nan_to_num(values, nan=0.0), width=0.55, color=colors[tier])
        for patch, value in zip(bars, values):
            patch.set_gid(f"tier:{tier}")
            child.annotate(format_value(value, unit) if np.isfinite(value) else "not measured",
                           (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                           textcoords="offset points", xytext=(0, 3), ha="center",
                           va="bottom", fontsize=8.5, color=_INK)
        top = np.nanmax(values) if np.isfinite(values).any() else 0.0
        child.set_ylim(0, (top or 1.0) * 1.75)
        child.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=unit == "count"))
        child.yaxis.set_major_formatter(FuncFormatter(lambda v, _p, u=unit: format_value(v, u)))
        child.tick_params(axis="y", labelsize=7.5, colors=_MUTED)
        if not top:  # nothing in the whole window: no scale to read
            child.set_yticks([0])
        child.set_xlim(-0.5, len(quarters) - 0.5)
        child.set_xticks(x, quarters if i == len(tiers) - 1 else [""] * len(quarters))
        child.set_ylabel(_TIER_AXIS[tier], fontsize=8.5)
        for side in ("top", "right"):
            child.spines[side].set_visible(False)
        if mine and len(quarters) >= 2:
            child.axvspan(len(quarters) - 2.5, len(quarters) - 0.5, color="#eef0f3", zorder=0)
            if i == 0:
                child.text(len(quarters) - 1.5, (top or 1.0) * 1.7, "recent half of the "
                           "leak rules", ha="center", va="top", fontsize=7.5, color=_MUTED)
        child.text(0.005, 0.97, _TIER_LEGEND[tier], transform=child.transAxes, fontsize=8,
                   va="top", color=colors[tier], fontweight="bold")

    stacked: dict[tuple[str, str], int] = {}
    for leak in mine:
        tier = leak_tier(leak)
        q = leak_quarter(leak, default=quarters[-1])
        if tier is None or q not in quarters:
            continue
        child, xi = axes[tier], quarters.index(q)
        level = stacked.get((tier, q), 0)
        stacked[(tier, q)] = level + 1
        y = float(np.nan_to_num(frame.at[q, tier]))
        ymax = child.get_ylim()[1]
        # above the leaking bar, clear of its value label; further leaks of the bar stack down
        text = child.annotate(leak["pattern"], xy=(xi, y + ymax * 0.11),
                              xytext=(xi, ymax * (0.84 - 0.12 * level)),
                              ha="center", va="center", fontsize=9, fontweight="bold",
                              color=colors["leak"],
                              arrowprops={"arrowstyle": "->", "color": colors["leak"], "lw": 1.2})
        text.set_gid(f"leak:{leak['pattern']}")
    return ax


_TIER_AXIS = {"activity": "activity\n(events)", "output": "output\n(items)",
              "outcome": "outcome\n(pipeline)"}


# ---------------------------------------------------------------------------- integration health


def plot_integration_health(panel: pd.DataFrame, scope: str = ALL, ax=None):
    """Installs active beside weekly active connections per quarter, with the ratio and errors.

    Bars: installs active at the end of the quarter and weekly active
    connections (left axis), the active-to-install ratio written above each
    pair. Line: the sync error rate on its own axis (right).

    Parameters
    ----------
    panel : DataFrame
        Long KPI panel holding :data:`HEALTH_METRICS`.
    scope : str
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
        The bars' Axes; the error-rate line lives on its twin.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> rows = [(q, "all", m, v) for q, vals in [("2026Q2", [100, 70, 0.7, 0.01]),
    ...                                          ("2026Q3", [120, 72, 0.6, 0.02])]
    ...         for m, v in zip(HEALTH_METRICS, vals)]
    >>> panel = pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value"])
    >>> ax = plot_integration_health(panel, ax=Figure().add_subplot())
    >>> [float(p.get_height()) for p in ax.patches if p.get_gid() == "installs_active"]
    [100.0, 120.0]
    """
    ax = _new_axes(ax, (10, 5.5))
    colors = _palette()
    frame = integration_health_frame(panel, scope)
    quarters = list(frame.index)
    x = np.arange(len(quarters))
    width = 0.38
    installs = ax.bar(x - width / 2, frame["installs_active"].fillna(0), width,
                      color=colors["installs"], alpha=0.55,
                      label="installs active (end of quarter)")
    active = ax.bar(x + width / 2, frame["weekly_active_connections"].fillna(0), width,
                    color=colors["active"], label="weekly active connections (last full week)")
    for patch in installs:
        patch.set_gid("installs_active")
    for patch in active:
        patch.set_gid("weekly_active_connections")
    top = np.nanmax(frame[["installs_active", "weekly_active_connections"]].to_numpy(dtype=float)
                    ) if frame[["installs_active", "weekly_active_connections"]].notna().any(
                    ).any() else 1.0
    for xi, (ratio, installed) in enumerate(zip(frame["active_to_install_ratio"],
                                                frame["installs_active"])):
        height = 0 if pd.isna(installed) else installed
        text = ax.text(xi, height + top * 0.03, f"ratio {format_value(ratio, 'fraction')}",
                       ha="center", va="bottom", fontsize=9, color=_INK)
        text.set_gid("active_to_install_ratio")
    ax.set_ylim(0, top * 1.25 if top else 1)
    ax.set_xticks(x, quarters)
    ax.set_ylabel("connections")
    ax.set_xlabel("quarter")
    for side in ("top",):
        ax.spines[side].set_visible(False)
    twin = ax.twinx()
    rate = frame["sync_error_rate"].to_numpy(dtype=float)
    (line,) = twin.plot(x, rate, color=colors["error"], marker="o", linewidth=2,
                        label="sync error rate (right axis)")
    line.set_gid("sync_error_rate")
    finite = rate[np.isfinite(rate)]
    twin.set_ylim(0, max(0.05, float(finite.max()) * 1.4) if finite.size else 0.05)
    from matplotlib.ticker import PercentFormatter

    twin.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    twin.set_ylabel("sync error rate", color=colors["error"])
    twin.spines["top"].set_visible(False)
    ax.set_title(f"Integration health: {scope_label(scope)}, {quarters[0]}-{quarters[-1]}",
                 loc="left", fontweight="bold")
    handles = [installs, active, line]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8,
              frameon=False)
    return ax


# ---------------------------------------------------------------------------- win rates


def plot_win_rates(panel: pd.DataFrame, quarter=None, scope: str = ALL, ax=None,
                   min_sample: int = 10):
    """Win rate by deal bucket with 95% Wilson intervals; n in the labels.

    Buckets with fewer than ``min_sample`` closed deals are hatched (the KPI
    flags them ``insufficient_sample``); an undefined rate (nothing closed)
    draws no bar.

    Parameters
    ----------
    panel : DataFrame
        Long KPI panel with the win-rate metrics and their ``n, ci_low, ci_high``.
    quarter : str, optional
        The latest quarter of the panel when not given.
    scope : str
    ax : matplotlib Axes, optional
    min_sample : int

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> panel = pd.DataFrame({"quarter": ["2026Q3"] * 3, "scope": ["all"] * 3,
    ...     "metric": ["win_rate_sourced", "win_rate_influenced", "win_rate_unassisted"],
    ...     "value": [0.5, 0.4, 0.25], "n": [20, 30, 80], "ci_low": [0.3, 0.25, 0.17],
    ...     "ci_high": [0.7, 0.57, 0.36]})
    >>> ax = plot_win_rates(panel, ax=Figure().add_subplot())
    >>> [float(p.get_height()) for p in ax.patches]
    [0.5, 0.4, 0.25]
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['sourced\\nn=20', 'influenced\\nn=30', 'unassisted\\nn=80']
    """
    ax = _new_axes(ax, (7, 5))
    colors = _palette()
    frame = win_rate_frame(panel, quarter, scope)
    x = np.arange(len(frame))
    rates = frame["rate"].to_numpy(dtype=float)
    bars = ax.bar(x, rates, width=0.6, color=[colors["outcome"], colors["output"],
                                              colors["installs"]][: len(frame)],
                  label="win rate")
    for patch, n in zip(bars, frame["n"]):
        patch.set_gid("win_rate")
        if 0 < n < min_sample:
            patch.set_hatch("//")
            patch.set_edgecolor("white")
    has_ci = frame[["ci_low", "ci_high"]].notna().all(axis=1).to_numpy()
    lower = np.where(has_ci, rates - frame["ci_low"].to_numpy(dtype=float), np.nan)
    upper = np.where(has_ci, frame["ci_high"].to_numpy(dtype=float) - rates, np.nan)
    if has_ci.any():
        interval = ax.errorbar(x[has_ci], rates[has_ci], yerr=[lower[has_ci], upper[has_ci]],
                               fmt="none", ecolor=_INK, capsize=6, linewidth=1.4,
                               label="95% Wilson interval")
        interval.lines[2][0].set_gid("wilson_interval")
    for xi, rate, n, high in zip(x, rates, frame["n"], frame["ci_high"]):
        if np.isfinite(rate):
            ax.text(xi + 0.33, rate, format_value(rate, "fraction"), va="center", fontsize=9,
                    color=_INK)
        else:
            ax.text(xi, 0.02, "undefined:\nnothing closed" if n == 0 else "n/a", ha="center",
                    va="bottom", fontsize=8.5, color=_MUTED)
    ax.set_xticks(x, [f"{bucket}\nn={n}" for bucket, n in zip(frame.index, frame["n"])])
    ax.set_ylim(0, 1.05)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("won / closed (bars: 95% Wilson interval)")
    note = (f"hatched: fewer than {min_sample} closed deals"
            if ((frame["n"] > 0) & (frame["n"] < min_sample)).any() else "")
    ax.set_title(f"Win rate by bucket: {scope_label(scope)}, {frame.attrs['quarter']}"
                 + (f"\n{note}" if note else ""), loc="left", fontweight="bold")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


# ---------------------------------------------------------------------------- time to live


def plot_time_to_live(integrations: pd.DataFrame, quarter, ax=None, max_rows: int = 30):
    """Days from scoped to live per integration, the still-open ones shown apart.

    One row per integration (up to ``max_rows``; beyond that, one row per
    status with the integrations as dots): a solid bar and a filled dot for
    an integration live by the end of the quarter (dark when it went live in
    the quarter), a dashed bar ending in a hollow diamond for one still open
    (its age so far). The dashed vertical line is the KPI: the median over
    integrations that went live in the quarter (or, when none did, the
    median over every live one, labelled as such).

    Parameters
    ----------
    integrations : DataFrame
        ``integration_id, partner_id, scoped_date, live_date``.
    quarter : str or Quarter
    ax : matplotlib Axes, optional
    max_rows : int

    Returns
    -------
    Axes
        The open integrations are the points of the collection with gid
        ``open``, the live ones of ``live``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> integrations = pd.DataFrame({"integration_id": ["I1", "I2"], "partner_id": ["P1", "P1"],
    ...     "scoped_date": pd.to_datetime(["2026-05-01", "2026-08-01"]),
    ...     "live_date": pd.to_datetime(["2026-07-01", None])})
    >>> ax = plot_time_to_live(integrations, "2026Q3", ax=Figure().add_subplot())
    >>> [len(c.get_offsets()) for c in ax.collections if c.get_gid() == "open"]
    [1]
    """
    ax = _new_axes(ax, (9, 5))
    colors = _palette()
    q = Quarter.parse(quarter)
    frame = time_to_live_frame(integrations, q)
    live = frame.loc[frame["status"] == "live"]
    still_open = frame.loc[frame["status"] == "open"]
    by_row = len(frame) <= max_rows
    if by_row:
        # live ones at the top (longest first), then the open ones
        order = pd.concat([live, still_open])
        rows = np.arange(len(order))[::-1]
        y = pd.Series(rows, index=order.index, dtype=float)
        for idx, row in order.iterrows():
            is_open = row["status"] == "open"
            color = (colors["open"] if is_open else
                     colors["live_now"] if row["live_in_quarter"] else colors["live_before"])
            ax.hlines(y[idx], 0, row["days"], color=color, linewidth=2.2,
                      linestyles="--" if is_open else "-", zorder=2)
            ax.annotate(f"{row['days']} d", (row["days"], y[idx]), textcoords="offset points",
                        xytext=(9, 0), va="center", fontsize=8, color=_MUTED)
        labels = [f"{r.integration_id} ({r.partner_id})" for r in order.itertuples()]
        ax.set_yticks(rows, labels, fontsize=8.5)
        if len(live) and len(still_open):
            ax.axhline(len(still_open) - 0.5, color="#d9dce1", linewidth=0.8)
        ax.set_ylim(-0.8, len(order) - 0.2 + 0.8)
        live_y, open_y = y[live.index].to_numpy(), y[still_open.index].to_numpy()
    else:
        rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same picture
        live_y = 1 + rng.uniform(-0.2, 0.2, len(live))
        open_y = rng.uniform(-0.2, 0.2, len(still_open))
        ax.set_yticks([0, 1], [f"still open\n(n={len(still_open)})", f"live\n(n={len(live)})"])
        ax.set_ylim(-0.6, 1.7)
    now = live["live_in_quarter"].to_numpy(dtype=bool)
    went_live = ax.scatter(live["days"], live_y, s=55, zorder=3,
                           c=[colors["live_now"] if x else colors["live_before"] for x in now],
                           edgecolors="white", linewidths=0.8,
                           label=f"live by the end of {q}"
                                 + (f" (darker: went live in {q})" if now.any() else ""))
    went_live.set_gid("live")
    hollow = ax.scatter(still_open["days"], open_y, s=60, marker="D", facecolors="white",
                        edgecolors=colors["open"], linewidths=1.8, zorder=3,
                        label=f"still open at the end of {q}: days since scoped")
    hollow.set_gid("open")
    in_quarter = live.loc[live["live_in_quarter"], "days"]
    if len(in_quarter):
        median, what = float(in_quarter.median()), f"median of the {len(in_quarter)} live in {q}"
    elif len(live):
        median, what = float(live["days"].median()), f"none went live in {q}; median of all live"
    else:
        median, what = None, ""
    if median is not None:
        line = ax.axvline(median, color=_INK, linestyle=":", linewidth=1.2, zorder=1)
        line.set_gid("median")
        ax.text(median, 1.0, f" {what}: {median:.0f} d", transform=ax.get_xaxis_transform(),
                fontsize=8.5, color=_INK, va="bottom")
    top = float(frame["days"].max()) if len(frame) else 1.0
    ax.set_xlim(0, top * 1.12 + 1)
    ax.set_xlabel("days from scoped to live (open: days since scoped, up to the quarter's end)")
    ax.set_title(f"Time to live: integrations scoped by the end of {q}", loc="left",
                 fontweight="bold", pad=18)
    if frame.empty:
        ax.text(0.5, 0.5, f"no integration scoped by the end of {q}", transform=ax.transAxes,
                ha="center", va="center", color=_MUTED)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    # under the axis: a long open bar can reach any corner of the plot
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize=8,
              frameon=False)
    return ax


# ---------------------------------------------------------------------------- a quarter's figures

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def figure_name(stem: str, scope: str = ALL) -> str:
    """A file name for a figure; partner ids from data are made safe for a path.

    Examples
    --------
    >>> figure_name("stack_walk"), figure_name("stack_walk", "P003"), figure_name("x", "../e")
    ('stack_walk.png', 'stack_walk_P003.png', 'x_e.png')
    """
    if scope == ALL:
        return f"{stem}.png"
    return f"{stem}_{_SAFE_NAME.sub('_', str(scope)).strip('_.') or 'scope'}.png"


def write_figures(kpis, quarter, out_dir, leaks=None, dpi: int = 130) -> list[Path]:
    """Write the figures of a quarter as PNG files.

    Files: ``dashboard.png``, ``stack_walk.png`` (the company),
    ``stack_walk_<partner>.png`` for every partner with a leak,
    ``integration_health.png``, ``win_rates.png`` and ``time_to_live.png``
    (when the data has an integrations table).

    Parameters
    ----------
    kpis : Kpis
    quarter : str or Quarter
    out_dir : str or Path
        Created when missing.
    leaks : list of dict or Leak, optional
        SPEC §11 leak entries; when None, :func:`partnerkit.leaks.detect_leaks`
        finds them.
    dpi : int

    Returns
    -------
    list of Path
        The files written, in the order above.

    Examples
    --------
    >>> from partnerkit.kpis import Kpis
    >>> from partnerkit.load import load_dataset
    >>> kpis = Kpis(load_dataset("data/sample"))  # doctest: +SKIP
    >>> [p.name for p in write_figures(kpis, "2026Q3", "/tmp/figures")][:3]  # doctest: +SKIP
    ['dashboard.png', 'stack_walk.png', 'stack_walk_P002.png']
    """
    from matplotlib.figure import Figure

    q = kpis.quarter(quarter)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if leaks is None:
        leaks = _detected_leaks(kpis, q)
    leaks = _as_leak_dicts(leaks)
    model = dashboard_model(kpis, q)
    leaking = sorted({str(leak["scope"]) for leak in leaks if str(leak.get("scope")) != ALL})
    leaking = [s for s in leaking if s in kpis.partner_ids]
    panel = kpis.panel(model.quarters, metrics=list(FIGURE_METRICS), scopes=[ALL, *leaking])
    written: list[Path] = []

    def save(fig, name):
        path = out / name
        fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
        written.append(path)

    fig = Figure(figsize=(13, 7.5))
    plot_dashboard(model, ax=fig.add_subplot())
    save(fig, "dashboard.png")
    for scope in [ALL, *leaking]:
        fig = Figure(figsize=(10, 7))
        plot_stack_walk(panel, scope, leaks=leaks, ax=fig.add_subplot())
        save(fig, figure_name("stack_walk", scope))
    fig = Figure(figsize=(10, 5.5))
    plot_integration_health(panel, ALL, ax=fig.add_subplot())
    save(fig, "integration_health.png")
    fig = Figure(figsize=(7, 5))
    plot_win_rates(panel, str(q), ALL, ax=fig.add_subplot(), min_sample=kpis.min_sample)
    save(fig, "win_rates.png")
    if kpis.dataset.integrations is not None:
        fig = Figure(figsize=(9, 5))
        plot_time_to_live(kpis.dataset.integrations, q, ax=fig.add_subplot())
        save(fig, "time_to_live.png")
    return written


def _detected_leaks(kpis, q) -> list[dict]:
    try:
        from partnerkit.leaks import detect_leaks
    except ImportError:  # leak detection not available: mark nothing
        return []
    return [leak.to_dict() | {"quarter": getattr(leak, "quarter", None) or str(q)}
            for leak in detect_leaks(kpis, q)]
