"""Leaks: a lower tier of the stack growing while the tier above it stays flat (SPEC §6).

Reading up the stack means checking that activity turns into output and
output into outcome. When a lower-tier metric grows and the metric above it
does not follow, the program leaks somewhere between the two, and the kind
of leak says where to look.

The rules are data, not code: ``partnerkit/config/leaks.yml`` holds the four
default rules (which metrics, which thresholds, what the leak probably means)
and a user file can tune them or add a rule for any pair of catalogue
metrics. Four rule *kinds* are understood:

``lower_grows_upper_flat``
    the lower metrics grow by at least ``min_lower_growth`` (and reach
    ``min_lower_recent``) while the upper metrics grow by at most
    ``max_upper_growth``.
``lower_grows_ratio_low``
    the lower metrics grow as above while a ratio (a fraction metric) is
    below ``max_ratio`` at q or fell by ``min_ratio_drop`` against q-2.
``lower_without_upper``
    the lower metrics reach ``min_lower_recent`` while the upper metrics
    stay at most ``max_upper_recent`` recently and ``max_upper_prior`` before.
``rate_creep``
    a rate rose in each of the last ``rises`` quarters and is at least
    ``min_rate`` at q.

For a scope and quarter q, with values summed over a rule's metric ids:
``recent = v(q) + v(q-1)``, ``prior = v(q-2) + v(q-3)`` and
``growth = (recent - prior) / max(prior, 1)``. A missing value (a table that
is not there, a rate with nothing to divide) never fires a rule.

:func:`find_leaks` is the pure core over a long panel (the output of
:meth:`partnerkit.kpis.Kpis.panel`); :func:`detect_leaks` builds that panel
with one call and runs the rules for the company and every partner.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from partnerkit.catalogue import CATALOGUE
from partnerkit.configfile import YamlSyntaxError, parse_yaml
from partnerkit.periods import Quarter

__all__ = [
    "RULE_KINDS",
    "Leak",
    "LeakRule",
    "RulesError",
    "default_rules",
    "load_rules",
    "find_leaks",
    "detect_leaks",
    "leaks_frame",
    "leaks_report",
    "leaks_text",
]

ALL = "all"
#: Quarters every rule reads: q-3..q.
WINDOW = 4

#: Rule kind -> its thresholds, in the order they are documented.
RULE_KINDS: dict[str, tuple[str, ...]] = {
    "lower_grows_upper_flat": ("min_lower_growth", "min_lower_recent", "max_upper_growth"),
    "lower_grows_ratio_low": ("min_lower_growth", "min_lower_recent", "max_ratio",
                              "min_ratio_drop"),
    "lower_without_upper": ("min_lower_recent", "max_upper_recent", "max_upper_prior"),
    "rate_creep": ("rises", "min_rate"),
}
# thresholds that count something and cannot be negative, or that are fractions
_NON_NEGATIVE = {"min_lower_recent", "max_upper_recent", "max_upper_prior", "min_ratio_drop"}
_FRACTIONS = {"max_ratio", "min_rate"}
_RULE_KEYS = {"pattern", "kind", "lower", "upper", "ratio", "thresholds", "diagnosis", "look_at",
              "enabled"}
_FILE_KEYS = {"rules", "use_defaults"}
_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_SUMMABLE_UNITS = ("count", "money")
_PLACEHOLDERS_ALL = ("scope", "scope_label", "quarter", "lower", "upper", "lower_values",
                     "upper_values")
_PLACEHOLDERS = {
    "lower_grows_upper_flat": _PLACEHOLDERS_ALL + (
        "lower_recent", "lower_prior", "lower_growth", "upper_recent", "upper_prior",
        "upper_growth"),
    "lower_without_upper": _PLACEHOLDERS_ALL + (
        "lower_recent", "lower_prior", "lower_growth", "upper_recent", "upper_prior",
        "upper_growth"),
    "lower_grows_ratio_low": _PLACEHOLDERS_ALL + (
        "lower_recent", "lower_prior", "lower_growth", "upper_recent", "upper_prior",
        "upper_growth", "ratio", "ratio_values", "ratio_now", "ratio_before", "ratio_change",
        "quarter_before"),
    "rate_creep": _PLACEHOLDERS_ALL + ("rate_now", "rate_before"),
}


class RulesError(ValueError):
    """A leak-rules file that cannot be used; the message names the file and the key."""


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class LeakRule:
    """One leak rule, as read from a rules file.

    Attributes
    ----------
    pattern : str
        The leak's name, e.g. ``activity_without_output``.
    kind : str
        One of :data:`RULE_KINDS`.
    lower, upper : tuple of str
        Catalogue ids, summed per quarter. ``upper`` may be empty for
        ``rate_creep``; ``lower`` is then the one rate.
    ratio : str or None
        The fraction metric of ``lower_grows_ratio_low``.
    thresholds : dict
        Threshold name -> number, exactly those of the kind.
    diagnosis, look_at : str
        Text templates (see the module notes and ``leaks.yml``).
    source : str
        The file the rule came from, for messages.
    """

    pattern: str
    kind: str
    lower: tuple[str, ...]
    upper: tuple[str, ...]
    thresholds: dict[str, float]
    diagnosis: str
    look_at: str = ""
    ratio: str | None = None
    source: str = "leaks.yml"

    @property
    def metrics(self) -> list[str]:
        """Every catalogue id the rule reads."""
        ids = [*self.lower, *self.upper] + ([self.ratio] if self.ratio else [])
        return list(dict.fromkeys(ids))

    @property
    def lower_label(self) -> str:
        """``"a + b"`` for the lower metrics."""
        return " + ".join(self.lower)

    @property
    def upper_label(self) -> str | None:
        """``"a + b"`` for the upper metrics (None when the rule has none)."""
        return " + ".join(self.upper) if self.upper else None


def _fail(source: str, key: str, message: str):
    raise RulesError(f"{source}: {key}: {message}")


def _number(value: Any, source: str, key: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(source, key, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        _fail(source, key, f"expected a finite number, got {value!r}")
    if name in _NON_NEGATIVE and value < 0:
        _fail(source, key, f"must be >= 0, got {value!r}")
    if name in _FRACTIONS and not 0 <= value <= 1:
        _fail(source, key, f"is a fraction and must be within 0..1, got {value!r}")
    if name == "rises" and (value != int(value) or not 1 <= value <= WINDOW - 1):
        _fail(source, key, f"must be a whole number of quarters within 1..{WINDOW - 1}, "
                           f"got {value!r}")
    return int(value) if name == "rises" else value


def _metric_ids(value: Any, source: str, key: str, *, single: bool = False) -> tuple[str, ...]:
    ids = [value] if isinstance(value, str) else value
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        _fail(source, key, f"expected a catalogue metric id or a non-empty list of them, "
                           f"got {value!r}")
    if single and len(ids) != 1:
        _fail(source, key, f"expected exactly one metric id, got {ids!r}")
    for metric_id in ids:
        if metric_id not in CATALOGUE:
            _fail(source, key, f"unknown metric id {metric_id!r} (catalogue ids: "
                               f"{', '.join(CATALOGUE)})")
    if len(set(ids)) != len(ids):
        _fail(source, key, f"a metric id is listed twice: {ids!r}")
    return tuple(ids)


def _summable(ids: tuple[str, ...], source: str, key: str) -> None:
    units = {CATALOGUE[i].unit for i in ids}
    if len(units) > 1 or not units <= set(_SUMMABLE_UNITS):
        _fail(source, key, "the metrics of a sum must share one unit, count or money; got "
                           + ", ".join(f"{i} ({CATALOGUE[i].unit})" for i in ids))


def _fraction(metric_id: str, source: str, key: str) -> None:
    if CATALOGUE[metric_id].unit != "fraction":
        _fail(source, key, f"{metric_id} is a {CATALOGUE[metric_id].unit}, not a fraction")


def _template(text: Any, kind: str, thresholds, source: str, key: str) -> str:
    if not isinstance(text, str):
        _fail(source, key, f"expected text, got {text!r}")
    names = {**{p: "x" for p in _PLACEHOLDERS[kind]}, **{t: "x" for t in thresholds}}
    try:
        text.format(**names)
    except KeyError as err:
        _fail(source, key, f"unknown placeholder {{{err.args[0]}}}; known for {kind}: "
                           + ", ".join(sorted(names)))
    except (ValueError, IndexError) as err:
        _fail(source, key, f"not a valid template: {err}")
    return " ".join(text.split())


def _build_rule(spec: Mapping, source: str, where: str) -> LeakRule:
    """A complete rule from a (merged) mapping, validated."""
    for required in ("kind", "lower", "thresholds", "diagnosis"):
        if required not in spec:
            _fail(source, where, f"missing key {required!r}")
    kind = spec["kind"]
    if kind not in RULE_KINDS:
        _fail(source, f"{where}.kind", f"unknown rule kind {kind!r} (known: "
                                       f"{', '.join(RULE_KINDS)})")
    rate = kind == "rate_creep"
    lower = _metric_ids(spec["lower"], source, f"{where}.lower", single=rate)
    if rate:
        _fraction(lower[0], source, f"{where}.lower")
        upper = (_metric_ids(spec["upper"], source, f"{where}.upper")
                 if spec.get("upper") is not None else ())
    else:
        _summable(lower, source, f"{where}.lower")
        if spec.get("upper") is None:
            _fail(source, where, "missing key 'upper'")
        upper = _metric_ids(spec["upper"], source, f"{where}.upper")
        _summable(upper, source, f"{where}.upper")
    if upper and rate:
        _summable(upper, source, f"{where}.upper")
    ratio = None
    if kind == "lower_grows_ratio_low":
        if spec.get("ratio") is None:
            _fail(source, where, "missing key 'ratio' (a fraction metric id)")
        ratio = _metric_ids(spec["ratio"], source, f"{where}.ratio", single=True)[0]
        _fraction(ratio, source, f"{where}.ratio")
    elif spec.get("ratio") is not None:
        _fail(source, f"{where}.ratio", "only a lower_grows_ratio_low rule has a ratio")
    given = spec["thresholds"]
    if not isinstance(given, Mapping):
        _fail(source, f"{where}.thresholds", "expected a mapping of threshold -> number")
    expected = RULE_KINDS[kind]
    for name in given:
        if name not in expected:
            _fail(source, f"{where}.thresholds.{name}",
                  f"unknown threshold for a {kind} rule (expected: {', '.join(expected)})")
    thresholds = {}
    for name in expected:
        if name not in given:
            _fail(source, f"{where}.thresholds", f"missing threshold {name!r}")
        thresholds[name] = _number(given[name], source, f"{where}.thresholds.{name}", name)
    diagnosis = _template(spec["diagnosis"], kind, thresholds, source, f"{where}.diagnosis")
    look_at = _template(spec.get("look_at") or "", kind, thresholds, source, f"{where}.look_at")
    return LeakRule(pattern=spec["pattern"], kind=kind, lower=lower, upper=upper,
                    thresholds=thresholds, diagnosis=diagnosis, look_at=look_at, ratio=ratio,
                    source=source)


def _read_yaml(text: str, source: str) -> Mapping:
    try:
        data = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise RulesError(f"{source}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RulesError(f"{source}: expected a mapping with the key 'rules' at the top")
    for key in data:
        if key not in _FILE_KEYS:
            _fail(source, str(key), f"unknown key (expected: {', '.join(sorted(_FILE_KEYS))})")
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        _fail(source, "rules", "expected a list of rules")
    if not isinstance(data.get("use_defaults", True), bool):
        _fail(source, "use_defaults", f"expected true or false, got {data['use_defaults']!r}")
    return data


def _layer(base: dict[str, dict], data: Mapping, source: str) -> dict[str, dict]:
    """Lay the rules of one file over ``base`` (pattern -> raw mapping)."""
    merged = {pattern: dict(spec) for pattern, spec in base.items()}
    seen = set()
    for i, spec in enumerate(data.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(spec, Mapping):
            _fail(source, where, "expected a mapping (pattern, kind, lower, upper, ...)")
        pattern = spec.get("pattern")
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            _fail(source, f"{where}.pattern", f"expected a name in lower_snake_case, "
                                              f"got {pattern!r}")
        where = f"rules[{i}] ({pattern})"
        if pattern in seen:
            _fail(source, f"{where}.pattern", "the pattern is listed twice in this file")
        seen.add(pattern)
        for key in spec:
            if key not in _RULE_KEYS:
                _fail(source, f"{where}.{key}", f"unknown key (expected: "
                                                 f"{', '.join(sorted(_RULE_KEYS))})")
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            _fail(source, f"{where}.enabled", f"expected true or false, got {enabled!r}")
        rule = {**merged.get(pattern, {}), "_where": where, "_source": source}
        for key, value in spec.items():
            if key == "thresholds" and isinstance(value, Mapping) and isinstance(
                    rule.get("thresholds"), Mapping):
                rule["thresholds"] = {**rule["thresholds"], **value}
            else:
                rule[key] = value
        merged[pattern] = rule
    return merged


def _rules_from(layers: list[tuple[str, str]]) -> list[LeakRule]:
    merged: dict[str, dict] = {}
    for text, source in layers:
        data = _read_yaml(text, source)
        if not data.get("use_defaults", True):
            merged = {}
        merged = _layer(merged, data, source)
    rules = []
    for pattern, spec in merged.items():
        if spec.get("enabled", True) is False:
            continue
        rules.append(_build_rule(spec, spec["_source"], spec["_where"]))
    return rules


def _default_text() -> str:
    return (resources.files("partnerkit") / "config" / "leaks.yml").read_text(encoding="utf-8")


def default_rules() -> list[LeakRule]:
    """The rules shipped in ``partnerkit/config/leaks.yml``.

    Examples
    --------
    >>> [r.pattern for r in default_rules()]
    ['activity_without_output', 'installs_without_usage', 'output_without_outcome', 'error_rate_creep']
    >>> default_rules()[0].thresholds["min_lower_growth"]
    0.25
    """
    return _rules_from([(_default_text(), "leaks.yml (defaults)")])


def load_rules(path: str | Path | None = None, *, text: str | None = None) -> list[LeakRule]:
    """The default rules with a user's rules file laid over them.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file shaped like ``partnerkit/config/leaks.yml``. A rule with
        the pattern of a default rule changes only the keys it names
        (thresholds key by key); ``enabled: false`` drops a rule; a new
        pattern adds a rule; ``use_defaults: false`` starts from no rule.
    text : str, optional
        The YAML itself instead of a file (named ``<text>`` in messages).

    Returns
    -------
    list of LeakRule

    Raises
    ------
    RulesError
        Unreadable file, invalid YAML, an unknown key, rule kind, threshold,
        placeholder or metric id, a bad number; the message names the file
        and the key.

    Examples
    --------
    >>> rules = load_rules(text='''
    ... rules:
    ...   - pattern: installs_without_usage
    ...     thresholds: {max_ratio: 0.3}
    ...   - pattern: error_rate_creep
    ...     enabled: false
    ... ''')
    >>> [(r.pattern, r.thresholds.get("max_ratio")) for r in rules]
    [('activity_without_output', None), ('installs_without_usage', 0.3), ('output_without_outcome', None)]
    >>> load_rules(text="rules: [{pattern: error_rate_creep, thresholds: {min_rate: 5}}]")
    Traceback (most recent call last):
    ...
    partnerkit.leaks.RulesError: <text>: rules[0] (error_rate_creep).thresholds.min_rate: is a fraction and must be within 0..1, got 5
    """
    layers = [(_default_text(), "leaks.yml (defaults)")]
    if text is not None:
        layers.append((text, "<text>"))
    elif path is not None:
        path = Path(path)
        try:
            layers.append((path.read_text(encoding="utf-8"), str(path)))
        except (OSError, UnicodeDecodeError) as err:
            raise RulesError(f"{path}: cannot read the leak rules file: {err}") from None
    return _rules_from(layers)


def _resolve_rules(rules) -> list[LeakRule]:
    if rules is None:
        return default_rules()
    if isinstance(rules, (str, Path)):
        return load_rules(rules)
    rules = list(rules)
    if not all(isinstance(r, LeakRule) for r in rules):
        raise TypeError("rules must be LeakRule objects, a rules file path or None")
    return rules


# --------------------------------------------------------------------------- leaks


@dataclass
class Leak:
    """One leak found for one scope and quarter.

    Attributes
    ----------
    pattern : str
    scope : str
        ``"all"`` or a partner id.
    lower : str
        The lower metric id, or ``"a + b"`` for a sum.
    upper : str or None
        The upper metric(s); None for a rule about one rate.
    evidence : dict
        ``quarters`` (q-3..q), per-quarter values ``lower`` and ``upper``
        (quarter -> value), ``lower_recent/prior/growth`` and
        ``upper_recent/prior/growth``, and the ratio or rate the rule used.
    diagnosis : str
        What is probably broken and where to look, with the numbers.
    records : list of str
        Ids of the records behind the lower and upper values of q and q-1.
    quarter : str
        The quarter read.
    """

    pattern: str
    scope: str
    lower: str
    upper: str | None
    evidence: dict[str, Any]
    diagnosis: str
    records: list[str] = field(default_factory=list)
    quarter: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The leak in the JSON contract of SPEC §11.

        Examples
        --------
        >>> Leak("error_rate_creep", "P5", "sync_error_rate", None,
        ...      {"rate_now": 0.07}, "text", ["C1"]).to_dict()
        {'pattern': 'error_rate_creep', 'scope': 'P5', 'lower': 'sync_error_rate', 'upper': None, 'evidence': {'rate_now': 0.07}, 'diagnosis': 'text', 'records': ['C1']}
        """
        return {"pattern": self.pattern, "scope": self.scope, "lower": self.lower,
                "upper": self.upper, "evidence": _plain(self.evidence),
                "diagnosis": self.diagnosis, "records": [str(r) for r in self.records]}


def _plain(value):
    """Plain Python numbers for JSON; NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _growth(recent: float, prior: float) -> float:
    if _missing(recent) or _missing(prior):
        return math.nan
    # rounded so that a value exactly on a threshold is not lost to float noise
    return round((recent - prior) / max(prior, 1.0), 12)


# formatting of the numbers a diagnosis quotes
def _fmt(value, unit: str) -> str:
    if _missing(value):
        return "n/a"
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "growth":
        return f"{value:+.0%}"
    if unit == "change":
        return f"{value * 100:+.1f} points"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _unit(ids: Sequence[str]) -> str:
    return CATALOGUE[ids[0]].unit if ids else "count"


class _ScopeView:
    """Values of one scope: metric -> quarter label -> value / records."""

    def __init__(self, values: dict, records: dict, quarters: list[str]):
        self.values = values
        self.records = records
        self.quarters = quarters  # oldest first, the last one is q

    def value(self, metric_id: str, quarter: str) -> float:
        v = self.values.get((metric_id, quarter), math.nan)
        return math.nan if _missing(v) else float(v)

    def total(self, ids: Sequence[str], quarter: str) -> float:
        # a sum with a missing part is missing: a rule never fires on half the data
        parts = [self.value(i, quarter) for i in ids]
        return math.nan if any(math.isnan(p) for p in parts) else float(sum(parts))

    def ids(self, ids: Sequence[str], quarters: Sequence[str]) -> list[str]:
        out = set()
        for metric_id in ids:
            for quarter in quarters:
                out.update(str(r) for r in self.records.get((metric_id, quarter), ()) or ())
        return sorted(out)


def _stack_evidence(rule: LeakRule, view: _ScopeView) -> dict[str, Any]:
    quarters = view.quarters[-WINDOW:]
    q3, q2, q1, q0 = quarters
    lower = {q: view.total(rule.lower, q) for q in quarters}
    upper = {q: view.total(rule.upper, q) for q in quarters}
    evidence: dict[str, Any] = {"quarters": list(quarters), "lower": lower, "upper": upper}
    for side, values in (("lower", lower), ("upper", upper)):
        recent = values[q0] + values[q1]
        prior = values[q2] + values[q3]
        evidence[f"{side}_recent"] = recent
        evidence[f"{side}_prior"] = prior
        evidence[f"{side}_growth"] = _growth(recent, prior)
    return evidence


def _fires(rule: LeakRule, view: _ScopeView) -> dict[str, Any] | None:
    """The evidence when the rule fires for this scope, else None."""
    t = rule.thresholds
    quarters = view.quarters[-WINDOW:]
    q = quarters[-1]
    if rule.kind == "rate_creep":
        rates = {x: view.value(rule.lower[0], x) for x in quarters}
        evidence = {"quarters": list(quarters), "lower": rates}
        if rule.upper:
            evidence["upper"] = {x: view.total(rule.upper, x) for x in quarters}
        steps = [rates[quarters[i]] > rates[quarters[i - 1]]
                 for i in range(len(quarters) - t["rises"], len(quarters))]
        evidence.update(rate_now=rates[q], rate_before=rates[quarters[-2]],
                        rises=t["rises"])
        # a comparison with NaN is False, so a missing quarter never fires
        return evidence if all(steps) and rates[q] >= t["min_rate"] else None

    evidence = _stack_evidence(rule, view)
    lower_growth, lower_recent = evidence["lower_growth"], evidence["lower_recent"]
    if rule.kind == "lower_grows_upper_flat":
        fired = (lower_growth >= t["min_lower_growth"] and lower_recent >= t["min_lower_recent"]
                 and evidence["upper_growth"] <= t["max_upper_growth"])
    elif rule.kind == "lower_without_upper":
        fired = (lower_recent >= t["min_lower_recent"]
                 and evidence["upper_recent"] <= t["max_upper_recent"]
                 and evidence["upper_prior"] <= t["max_upper_prior"])
    else:  # lower_grows_ratio_low
        ratios = {x: view.value(rule.ratio, x) for x in quarters}
        now, before = ratios[q], ratios[quarters[-3]]
        change = round(now - before, 12)  # NaN when either end is missing
        evidence.update(ratio_metric=rule.ratio, ratio=ratios, ratio_now=now,
                        ratio_before=before, ratio_change=change, quarter_before=quarters[-3])
        weak = now < t["max_ratio"] or -change >= t["min_ratio_drop"]
        fired = (lower_growth >= t["min_lower_growth"] and lower_recent >= t["min_lower_recent"]
                 and weak)
    return evidence if fired else None


def _facts(rule: LeakRule, scope: str, label: str, evidence: dict) -> dict[str, str]:
    """Placeholder values of the diagnosis templates, already formatted."""
    lower_unit = _unit(rule.lower)
    upper_unit = _unit(rule.upper)
    facts = {"scope": scope, "scope_label": label, "quarter": evidence["quarters"][-1],
             "lower": rule.lower_label, "upper": rule.upper_label or "",
             "lower_values": " -> ".join(_fmt(v, lower_unit) for v in evidence["lower"].values()),
             "upper_values": " -> ".join(_fmt(v, upper_unit)
                                         for v in evidence.get("upper", {}).values())}
    for side, unit in (("lower", lower_unit), ("upper", upper_unit)):
        for part in ("recent", "prior"):
            if f"{side}_{part}" in evidence:
                facts[f"{side}_{part}"] = _fmt(evidence[f"{side}_{part}"], unit)
        if f"{side}_growth" in evidence:
            facts[f"{side}_growth"] = _fmt(evidence[f"{side}_growth"], "growth")
    if rule.kind == "lower_grows_ratio_low":
        facts.update(ratio=rule.ratio,
                     ratio_values=" -> ".join(_fmt(v, "fraction")
                                              for v in evidence["ratio"].values()),
                     ratio_now=_fmt(evidence["ratio_now"], "fraction"),
                     ratio_before=_fmt(evidence["ratio_before"], "fraction"),
                     ratio_change=_fmt(evidence["ratio_change"], "change"),
                     quarter_before=evidence["quarter_before"])
    if rule.kind == "rate_creep":
        facts.update(rate_now=_fmt(evidence["rate_now"], "fraction"),
                     rate_before=_fmt(evidence["rate_before"], "fraction"))
    for name, value in rule.thresholds.items():
        facts[name] = _fmt(value, "fraction" if name in _FRACTIONS or "ratio" in name
                           else "growth" if "growth" in name else "count")
    return facts


def _scope_label(scope: str, names: Mapping[str, str]) -> str:
    if scope == ALL:
        return "The company"
    name = names.get(scope)
    return f"{name} ({scope})" if name else f"Partner {scope}"


def _window(quarter) -> list[str]:
    q = Quarter.parse(quarter)
    return [str(q.previous(n)) for n in range(WINDOW - 1, -1, -1)]


def find_leaks(panel: pd.DataFrame, quarter, rules=None,
               partner_names: Mapping[str, str] | None = None) -> list[Leak]:
    """Run the leak rules over a long panel of metrics.

    Parameters
    ----------
    panel : DataFrame
        Long form, as :meth:`partnerkit.kpis.Kpis.panel` returns it: columns
        ``quarter, scope, metric, value`` and optionally ``records`` (the ids
        behind each value). It must hold q-3..q for the metrics the rules
        read; an absent row counts as not measured.
    quarter : str or Quarter
        q, e.g. ``"2026Q3"``.
    rules : list of LeakRule, path or None
        None for the default rules; a path is read with :func:`load_rules`.
    partner_names : mapping, optional
        Partner id -> name, quoted in the diagnosis.

    Returns
    -------
    list of Leak
        Company first, then partners in id order; rules in their file order.

    Examples
    --------
    A partner whose meetings double while nothing ships:

    >>> rows = []
    >>> for quarter, meetings in zip(["2025Q4", "2026Q1", "2026Q2", "2026Q3"], [2, 3, 5, 6]):
    ...     rows.append((quarter, "P1", "activity_events", meetings))
    ...     for output in ("integrations_live", "listings_published", "sellers_enabled"):
    ...         rows.append((quarter, "P1", output, 0))
    >>> panel = pd.DataFrame(rows, columns=["quarter", "scope", "metric", "value"])
    >>> [leak] = find_leaks(panel, "2026Q3", partner_names={"P1": "Acme"})
    >>> leak.pattern, leak.scope, leak.lower
    ('activity_without_output', 'P1', 'activity_events')
    >>> leak.evidence["lower_recent"], leak.evidence["lower_prior"], leak.evidence["lower_growth"]
    (11.0, 5.0, 1.2)
    >>> leak.diagnosis[:60]
    'Acme (P1): partner activity went from 5 to 11 events over tw'

    Once the partner publishes a listing in each of the last two quarters, the
    output grows with the activity and there is no leak:

    >>> recent = panel["quarter"].isin(["2026Q2", "2026Q3"])
    >>> panel.loc[recent & (panel["metric"] == "listings_published"), "value"] = 1
    >>> find_leaks(panel, "2026Q3")
    []
    """
    rules = _resolve_rules(rules)
    names = dict(partner_names or {})
    quarters = _window(quarter)
    missing = {"quarter", "scope", "metric", "value"} - set(panel.columns)
    if missing:
        raise ValueError(f"panel lacks column(s) {', '.join(sorted(missing))}")
    wanted = {m for rule in rules for m in rule.metrics}
    rows = panel.loc[panel["quarter"].astype(str).isin(quarters)
                     & panel["metric"].isin(wanted)]
    key = ["quarter", "scope", "metric"]
    duplicated = rows.duplicated(key)
    if duplicated.any():
        first = rows.loc[duplicated, key].iloc[0].tolist()
        raise ValueError(f"panel has more than one row for quarter, scope, metric {first}")
    has_records = "records" in rows.columns
    views: dict[str, tuple[dict, dict]] = {}
    for row in rows.itertuples(index=False):
        values, records = views.setdefault(str(row.scope), ({}, {}))
        k = (row.metric, str(row.quarter))
        values[k] = row.value
        if has_records and not isinstance(row.records, str) and hasattr(row.records, "__iter__"):
            records[k] = list(row.records)
    scopes = sorted(views, key=lambda s: (s != ALL, s))
    leaks = []
    for scope in scopes:
        view = _ScopeView(*views[scope], quarters)
        for rule in rules:
            evidence = _fires(rule, view)
            if evidence is None:
                continue
            facts = _facts(rule, scope, _scope_label(scope, names), evidence)
            diagnosis = " ".join(x for x in (rule.diagnosis.format(**facts),
                                             rule.look_at.format(**facts)) if x)
            record_ids = view.ids(rule.metrics if rule.kind != "lower_grows_ratio_low"
                                  else [*rule.lower, *rule.upper], quarters[-2:])
            leaks.append(Leak(rule.pattern, scope, rule.lower_label, rule.upper_label,
                              evidence, diagnosis, record_ids, quarters[-1]))
    return leaks


def _partner_names(kpis) -> dict[str, str]:
    partners = kpis.dataset.partners
    return dict(zip(partners["partner_id"].astype(str), partners["name"].astype(str)))


def detect_leaks(kpis, quarter, rules=None, scopes: list[str] | None = None) -> list[Leak]:
    """Every leak of a quarter, for the company and every partner.

    Builds the panel q-3..q of the metrics the rules read with one
    :meth:`~partnerkit.kpis.Kpis.panel` call, then runs :func:`find_leaks`.

    Parameters
    ----------
    kpis : Kpis
    quarter : str or Quarter
    rules : list of LeakRule, path or None
        None for the default rules.
    scopes : list of str, optional
        ``"all"`` and/or partner ids (default: the company and every partner).

    Returns
    -------
    list of Leak

    Examples
    --------
    >>> from partnerkit.kpis import Kpis
    >>> from partnerkit.load import load_dataset
    >>> kpis = Kpis(load_dataset("data/sample"))  # doctest: +SKIP
    >>> [(l.pattern, l.scope) for l in detect_leaks(kpis, "2026Q3")]  # doctest: +SKIP
    [('activity_without_output', 'P002'), ('installs_without_usage', 'P003'), ...]
    """
    rules = _resolve_rules(rules)
    q = kpis.quarter(quarter)
    if not rules:
        return []
    metrics = list(dict.fromkeys(m for rule in rules for m in rule.metrics))
    panel = kpis.panel([q.previous(n) for n in range(WINDOW - 1, -1, -1)], metrics=metrics,
                       scopes=scopes)
    return find_leaks(panel, q, rules, partner_names=_partner_names(kpis))


def leaks_report(kpis, quarter, rules=None, scopes: list[str] | None = None) -> dict:
    """The ``partnerkit leaks --json`` payload (SPEC §11).

    Returns
    -------
    dict
        ``{"quarter": "2026Q3", "leaks": [<Leak.to_dict()>, ...]}``
    """
    q = kpis.quarter(quarter)
    leaks = detect_leaks(kpis, q, rules, scopes)
    return {"quarter": str(q), "leaks": [leak.to_dict() for leak in leaks]}


def _evidence_line(leak: Leak) -> str:
    e = leak.evidence
    lower_unit = _unit(leak.lower.split(" + "))
    values = " / ".join(_fmt(v, "fraction" if "rate_now" in e else lower_unit)
                        for v in e["lower"].values())
    if "rate_now" in e:
        return f"rate {values}"
    upper_unit = _unit(leak.upper.split(" + ")) if leak.upper else "count"
    text = (f"lower {values} ({_fmt(e['lower_prior'], lower_unit)} -> "
            f"{_fmt(e['lower_recent'], lower_unit)}, {_fmt(e['lower_growth'], 'growth')}); "
            f"upper {' / '.join(_fmt(v, upper_unit) for v in e['upper'].values())}")
    if "ratio_now" in e:
        text += (f"; ratio {_fmt(e['ratio_before'], 'fraction')} -> "
                 f"{_fmt(e['ratio_now'], 'fraction')}")
    return text


def leaks_frame(leaks: Sequence[Leak], partner_names: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """Leaks as a table for display: one row per leak.

    Columns ``pattern, scope, name, lower, upper, evidence, diagnosis``;
    ``evidence`` sums the four quarters up in one line.

    Examples
    --------
    >>> leak = Leak("error_rate_creep", "P5", "sync_error_rate", None,
    ...             {"quarters": ["a", "b", "c", "d"], "lower": {"a": 0.01, "b": 0.02,
    ...              "c": 0.04, "d": 0.07}, "rate_now": 0.07}, "Sync errors rose.")
    >>> leaks_frame([leak], {"P5": "Ferrous"}).loc[0, ["name", "evidence"]].tolist()
    ['Ferrous', 'rate 1.0% / 2.0% / 4.0% / 7.0%']
    """
    names = dict(partner_names or {})
    rows = [{"pattern": leak.pattern, "scope": leak.scope,
             "name": "company" if leak.scope == ALL else names.get(leak.scope, ""),
             "lower": leak.lower, "upper": leak.upper or "",
             "evidence": _evidence_line(leak), "diagnosis": leak.diagnosis} for leak in leaks]
    return pd.DataFrame(rows, columns=["pattern", "scope", "name", "lower", "upper", "evidence",
                                       "diagnosis"])


def leaks_text(kpis, quarter, rules=None, scopes: list[str] | None = None,
               leaks: Sequence[Leak] | None = None) -> str:
    """A readable report of the leaks of a quarter (``partnerkit leaks``).

    One block per leak: pattern, scope with the partner's name, lower ->
    upper, the four quarters of evidence, and the diagnosis. Pass ``leaks``
    to print leaks already found instead of running the rules again.
    """
    q = kpis.quarter(quarter)
    window = _window(q)
    if leaks is None:
        leaks = detect_leaks(kpis, q, rules, scopes)
    header = f"Leaks for {q} (recent = {window[2]} + {window[3]}, prior = {window[0]} + {window[1]})"
    if not leaks:
        return header + "\n\nNo leak: every scope reads up the stack."
    frame = leaks_frame(leaks, _partner_names(kpis))
    blocks = [header, ""]
    for row in frame.itertuples(index=False):
        who = row.scope if row.scope == ALL else f"{row.scope} {row.name}".strip()
        arrow = f"{row.lower} -> {row.upper}" if row.upper else row.lower
        blocks += [f"{row.pattern}  [{who}]", f"  {arrow}",
                   f"  evidence ({window[0]}..{window[3]}): {row.evidence}",
                   f"  {row.diagnosis}", ""]
    return "\n".join(blocks).rstrip() + "\n"
