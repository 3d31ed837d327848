"""The bundled sample company: a deterministic, fictional partnership program.

The company sells a B2B SaaS product and runs twelve partners of every
partner type between 2024Q4 and 2026Q3. Its data is generated here, from a
seed, so that the notebooks, the CLI and the tests always have a realistic
data directory to run on. The generated tables follow SPEC §2.

Most of the data is unremarkable noise, but a few stories are planted on
purpose so that, read for 2026Q3 with the default leak rules, each one shows
up exactly where it should (see :data:`STORIES`), and a handful of rows break
the attribution rules or the table rules on purpose (see
:data:`PLANTED_QUALITY_CASES`). The counts that decide the stories (activities,
integrations going live, installs, partner tags per quarter) are fixed plans;
the seed only moves dates, amounts, outcomes and usage around them, so the
stories hold for any seed.

Generation is pure: everything is drawn from :class:`numpy.random.Generator`
streams spawned from the seed, never from the clock, ``hash()`` or set order.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: The quarters the sample company covers, oldest first.
QUARTERS = ("2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3")

#: The quarter in which every planted story shows (SPEC §6 windows end here).
STORY_QUARTER = "2026Q3"

#: The planted stories and the ids that carry them, read for :data:`STORY_QUARTER`.
STORIES = {
    # Activity, output and outcome all grow; fires no leak rule.
    "healthy_technology": "P001",
    # Meetings climb while nothing ships: activity_without_output.
    "meetings_without_shipping": "P002",
    # Installs climb, weekly active use stays flat: installs_without_usage.
    "installs_without_usage": {"partner_id": "P003", "integration_id": "I005"},
    # Live with installs, not one tagged deal: output_without_outcome.
    "live_without_pipeline": {"partner_id": "P004", "integration_id": "I006"},
    # Sync failures rise two quarters running to >= 5%: error_rate_creep.
    "error_rate_creep": {"partner_id": "P005", "integration_id": "I007"},
    # A reseller whose tags are mostly sourced; fires no leak rule.
    "sourcing_reseller": "P006",
    # A referral partner whose tags are mostly influenced; fires no leak rule.
    "influencing_referral": "P007",
}

#: Rows planted to break a rule, so the audit and the quarantine have something
#: to find. ``row`` is the 1-based data row in the generated CSV (header is row 0)
#: where it does not depend on the seed; attribution rows are named by their
#: (opportunity_id, partner_id) key instead. ``fires`` is False for the one
#: case planted to sit exactly on a limit without crossing it.
PLANTED_QUALITY_CASES = [
    {"rule": "orphan_attribution", "table": "attributions", "opportunity_id": "O01013",
     "partner_id": "P099", "fires": True, "quarantined": True,
     "reason": "partner_id P099 is not in partners"},
    {"rule": "orphan_attribution", "table": "attributions", "opportunity_id": "O99999",
     "partner_id": "P007", "fires": True, "quarantined": True,
     "reason": "opportunity_id O99999 is not in opportunities"},
    {"rule": "tagged_after_close", "table": "attributions", "opportunity_id": "O01288",
     "partner_id": "P009", "fires": True, "quarantined": False,
     "reason": "influence tagged 6 days after the deal closed won"},
    {"rule": "late_sourced", "table": "attributions", "opportunity_id": "O01342",
     "partner_id": "P006", "fires": False, "quarantined": False,
     "reason": "sourced tag exactly 14 days after created_date: inside the grace period"},
    {"rule": "late_sourced", "table": "attributions", "opportunity_id": "O01377",
     "partner_id": "P006", "fires": True, "quarantined": False,
     "reason": "sourced tag 15 days after created_date: counts as influenced"},
    # The demoted sourcer then counts as an influence on a sourced deal, so
    # sourced_and_influenced (informational) also names it.
    {"rule": "multiple_sourcers", "table": "attributions", "opportunity_id": "O01456",
     "partner_id": "P011", "fires": True, "quarantined": False,
     "reason": "P006 and P011 both sourced on the same tagged_date; P006 (smallest id) keeps it"},
    {"rule": "multiple_sourcers", "table": "attributions", "opportunity_id": "O01533",
     "partner_id": "P006", "fires": True, "quarantined": False,
     "reason": "P011 tagged sourced 3 days before P006; P011 (earliest) keeps it"},
    {"rule": "sourced_and_influenced", "table": "attributions", "opportunity_id": "O01602",
     "partner_id": "P007", "fires": True, "quarantined": False,
     "reason": "sourced by P006 and influenced by P007; the deal is sourced only"},
    {"rule": "negative_amount", "table": "opportunities", "opportunity_id": "O01874",
     "row": 1874, "column": "amount", "fires": True, "quarantined": True,
     "reason": "amount is -4200.00"},
    {"rule": "won_not_closed", "table": "opportunities", "opportunity_id": "O02031",
     "row": 2031, "column": "is_closed", "fires": True, "quarantined": True,
     "reason": "is_won is true while is_closed is false"},
    {"rule": "orphan_events", "table": "sync_events", "connection_id": "C99901",
     "events": 4, "fires": True, "quarantined": False,
     "reason": "connection_id C99901 is not in installs"},
    {"rule": "orphan_events", "table": "sync_events", "connection_id": "C99902",
     "events": 3, "fires": True, "quarantined": False,
     "reason": "connection_id C99902 is not in installs"},
]

#: Generated files, in the order :func:`write_sample` writes them.
SAMPLE_FILES = (
    "partners.csv",
    "activities.csv",
    "integrations.csv",
    "installs.csv",
    "opportunities.csv",
    "attributions.csv",
    "renewals.csv",
    "sync_events.parquet",
)

# --- the calendar ---------------------------------------------------------

_DAY = np.timedelta64(1, "D")
#: First day of each quarter, plus the day after the last one.
_Q_START = np.array(["2024-10-01", "2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01",
                     "2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"], dtype="datetime64[D]")
_FIRST_DAY = _Q_START[0]
_LAST_DAY = _Q_START[-1] - _DAY
_N_Q = len(QUARTERS)
_SECONDS_PER_DAY = 86_400


def _seconds(days: np.ndarray) -> np.ndarray:
    """Seconds since the epoch at midnight UTC of each day."""
    return days.astype("datetime64[D]").astype(np.int64) * _SECONDS_PER_DAY


def _quarter_of(days: np.ndarray) -> np.ndarray:
    """Index into QUARTERS of each day."""
    return np.searchsorted(_Q_START, days.astype("datetime64[D]"), side="right") - 1


def _weekday_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Uniform business days in [lo, hi]; a weekend draw moves back to its Friday.

    Every window starts on a weekday in this calendar, so moving back stays inside it.
    """
    lo = np.asarray(lo, dtype="datetime64[D]")
    hi = np.asarray(hi, dtype="datetime64[D]")
    span = (hi - lo).astype(np.int64) + 1
    days = lo + (rng.random(span.shape) * span).astype(np.int64) * _DAY
    # 1970-01-01 was a Thursday: weekday 0 = Monday.
    weekday = (days.astype(np.int64) + 3) % 7
    back = np.where(weekday >= 5, weekday - 4, 0)
    return np.maximum(days - back * _DAY, lo)


# --- the partners and their plans ------------------------------------------

_PARTNERS = [
    ("P001", "Northfield Ledger", "technology", "2024-10-02"),
    ("P002", "Brightpath Analytics", "technology", "2024-11-04"),
    ("P003", "Tidewater Chat", "technology", "2024-11-12"),
    ("P004", "Quillstack Docs", "technology", "2025-09-15"),
    ("P005", "Ferrous Data", "technology", "2024-10-21"),
    ("P006", "Meridian Channel Group", "reseller", "2024-10-10"),
    ("P007", "Copperfield Advisory", "referral", "2024-10-15"),
    ("P008", "Cloudbazaar", "marketplace", "2024-12-03"),
    ("P009", "Studio Kestrel", "agency", "2025-01-08"),
    ("P010", "Orbital Calendar", "technology", "2024-10-14"),
    ("P011", "Eastgate Solutions", "reseller", "2025-03-03"),
    ("P012", "Lumen Forms", "technology", "2026-04-20"),
]
_SIGNED = {pid: np.datetime64(d, "D") for pid, _, _, d in _PARTNERS}

# Activity-tier events per quarter (2024Q4 .. 2026Q3) and the mix of kinds.
_TECH_MIX = {"meeting": 0.45, "call": 0.25, "email": 0.2, "qbr": 0.1}
_CHANNEL_MIX = {"meeting": 0.35, "call": 0.3, "email": 0.2, "qbr": 0.15}
_ACTIVITY_PLAN = {
    "P001": ([5, 6, 6, 7, 8, 9, 10, 10], _TECH_MIX),
    "P003": ([2, 4, 5, 5, 5, 5, 5, 5], _TECH_MIX),
    "P004": ([0, 0, 0, 2, 4, 4, 4, 4], _TECH_MIX),
    "P005": ([3, 3, 3, 3, 3, 3, 3, 3], _TECH_MIX),
    "P006": ([6, 6, 7, 7, 7, 7, 7, 7], _CHANNEL_MIX),
    "P007": ([4, 4, 4, 4, 4, 4, 4, 4], _CHANNEL_MIX),
    "P008": ([1, 3, 3, 3, 3, 3, 3, 3], _CHANNEL_MIX),
    "P009": ([0, 3, 4, 4, 4, 4, 4, 4], _CHANNEL_MIX),
    "P010": ([3, 3, 3, 3, 3, 3, 3, 3], _TECH_MIX),
    "P011": ([0, 2, 3, 3, 3, 3, 3, 3], _CHANNEL_MIX),
    "P012": ([0, 0, 0, 0, 0, 0, 2, 1], _TECH_MIX),
}
# Kinds planted exactly: (partner, kind) -> count per quarter.
_EXACT_ACTIVITY = {
    # P002: the meeting treadmill.
    ("P002", "meeting"): [1, 2, 2, 3, 3, 4, 7, 10],
    ("P002", "email"): [1, 1, 1, 1, 1, 1, 2, 2],
    # One MOU soon after signing, for the partners that signed one.
    ("P001", "mou"): [1, 0, 0, 0, 0, 0, 0, 0],
    ("P002", "mou"): [0, 1, 0, 0, 0, 0, 0, 0],
    ("P006", "mou"): [1, 0, 0, 0, 0, 0, 0, 0],
    ("P011", "mou"): [0, 1, 0, 0, 0, 0, 0, 0],
    # Output tier.
    ("P001", "listing_published"): [0, 1, 0, 0, 0, 1, 0, 1],
    ("P001", "seller_enabled"): [0, 0, 0, 0, 1, 0, 2, 2],
    ("P003", "listing_published"): [0, 0, 1, 0, 0, 0, 0, 0],
    ("P004", "listing_published"): [0, 0, 0, 0, 0, 0, 1, 0],
    ("P005", "listing_published"): [0, 1, 0, 0, 0, 0, 0, 0],
    ("P006", "seller_enabled"): [2, 2, 1, 2, 2, 2, 2, 2],
    ("P008", "listing_published"): [0, 0, 1, 0, 1, 0, 1, 0],
    ("P010", "listing_published"): [0, 1, 0, 0, 0, 0, 0, 0],
    ("P011", "seller_enabled"): [0, 1, 1, 1, 1, 1, 1, 1],
}

# integration_id, partner_id, name, scoped_date, live_date (None = not live by 2026-09-30)
_INTEGRATIONS = [
    ("I001", "P001", "Northfield Ledger sync", "2024-10-08", "2024-12-02"),
    ("I002", "P001", "Northfield Payroll export", "2025-11-10", "2026-01-19"),
    ("I003", "P001", "Northfield Expenses", "2026-07-06", None),
    ("I004", "P002", "Brightpath dashboards", "2025-04-14", None),
    ("I005", "P003", "Tidewater Chat app", "2025-01-13", "2025-04-07"),
    ("I006", "P004", "Quillstack Docs connector", "2026-02-02", "2026-04-20"),
    ("I007", "P005", "Ferrous warehouse sync", "2024-11-04", "2025-02-10"),
    ("I008", "P008", "Cloudbazaar app listing", "2025-02-03", "2025-05-12"),
    ("I009", "P010", "Orbital Calendar sync", "2024-10-21", "2025-01-20"),
    ("I010", "P012", "Lumen Forms connector", "2026-05-11", None),
]

# New installs per quarter, the chance a new connection is put to real use
# (per quarter of install), the mean days an engaged connection keeps syncing,
# and the share of sync attempts that fail per quarter.
_INSTALL_PLAN = {
    "I001": ([8, 26, 32, 38, 44, 48, 52, 56], [0.82] * 8, 1400, [0.012] * 8),
    "I002": ([0, 0, 0, 0, 0, 10, 18, 24], [0.80] * 8, 1400, [0.015] * 8),
    "I005": ([0, 0, 10, 15, 20, 25, 45, 65],
             [0, 0, 0.55, 0.45, 0.25, 0.15, 0.08, 0.06], 220, [0.018] * 8),
    "I006": ([0, 0, 0, 0, 0, 0, 3, 5], [0.70] * 8, 1200, [0.022] * 8),
    "I007": ([0, 8, 12, 12, 13, 12, 13, 12], [0.72] * 8, 1000,
             [0.02, 0.02, 0.021, 0.019, 0.02, 0.022, 0.041, 0.078]),
    "I008": ([0, 0, 14, 18, 20, 21, 22, 21], [0.62] * 8, 900, [0.016] * 8),
    "I009": ([0, 24, 27, 29, 30, 31, 32, 31], [0.74] * 8, 1200, [0.014] * 8),
}

# Partner tags per quarter of the deal's created_date: (sourced, influenced).
_TAG_PLAN = {
    "P001": ([1, 2, 2, 3, 3, 4, 5, 6], [4, 6, 7, 8, 9, 11, 13, 15]),
    "P002": ([0] * 8, [0, 1, 0, 1, 0, 1, 0, 1]),
    "P003": ([0] * 8, [0, 0, 2, 3, 3, 3, 4, 3]),
    "P005": ([0, 1, 0, 1, 0, 1, 0, 1], [1, 2, 3, 3, 3, 3, 3, 3]),
    "P006": ([18, 20, 21, 22, 23, 24, 25, 26], [1, 2, 1, 2, 1, 2, 2, 2]),
    "P007": ([1, 1, 1, 1, 2, 1, 1, 2], [24, 26, 28, 30, 31, 33, 34, 36]),
    "P008": ([0, 1, 3, 4, 4, 5, 5, 5], [0, 1, 2, 2, 3, 3, 3, 3]),
    "P009": ([0] * 8, [0, 3, 5, 5, 5, 6, 6, 6]),
    "P010": ([0, 1, 0, 1, 1, 0, 1, 1], [2, 3, 4, 4, 4, 5, 5, 5]),
    "P011": ([0, 3, 5, 5, 6, 6, 6, 6], [0, 1, 1, 1, 1, 1, 1, 1]),
}
# Deals influenced by two partners at once (P007 refers, P009 runs the project).
_CO_INFLUENCE = (("P007", "P009"), [0, 2, 2, 2, 2, 2, 2, 2])

_OPPS_PER_QUARTER = [400, 420, 440, 460, 480, 500, 520, 540]
_EXISTING_CUSTOMERS = 700  # A00001..A00700 were customers before 2024Q4
_PROSPECTS = 4000  # A00701..A04700
_WIN_RATE = {"sourced": 0.32, "influenced": 0.38, "unassisted": 0.22}
_RENEW_RATE = {True: 0.90, False: 0.77}  # by "had an active install"
_OPEN_STAGES = np.array(["Prospecting", "Qualification", "Proposal", "Negotiation"])

_ACCOUNT_WORDS = (
    ["Alder", "Birch", "Cedar", "Dune", "Elm", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
     "Kestrel", "Linden", "Maple", "Nimbus", "Oak", "Pine", "Quartz", "Raven", "Sable", "Tamarack",
     "Umber", "Vale", "Willow", "Yarrow", "Zephyr", "Amber", "Basalt", "Cobalt", "Delta", "Ember",
     "Flint", "Garnet", "Hazel", "Indigo", "Jasper", "Kelp", "Lark", "Meadow", "Nova", "Onyx",
     "Pebble", "Quill", "Russet", "Slate", "Thistle", "Upland", "Verdant", "Wren", "Aspen",
     "Bramble"],
    ["Logistics", "Dental", "Foods", "Robotics", "Health", "Legal", "Capital", "Studios", "Freight",
     "Energy", "Labs", "Retail", "Clinics", "Builders", "Media", "Outdoor", "Pharma", "Travel",
     "Insurance", "Textiles", "Analytics", "Brewing", "Marine", "Motors", "Learning", "Realty",
     "Software", "Farms", "Hotels", "Printing", "Security", "Telecom", "Systems", "Design",
     "Fitness", "Audio", "Optics", "Supply", "Ventures", "Works", "Partners", "Group", "Holdings",
     "Industries", "Networks", "Kitchens", "Aerospace", "Apparel", "Chemicals", "Consulting"],
)
_SUFFIXES = ["", " Inc", " Ltd", " GmbH", " Co"]


def _account_name(number: int) -> str:
    """A fictional company name, fixed for each account number."""
    first, second = _ACCOUNT_WORDS
    i = number - 1
    a = first[i % len(first)]
    b = second[(i // len(first) + i) % len(second)]
    suffix = _SUFFIXES[(i // (len(first) * len(second))) % len(_SUFFIXES)]
    return f"{a} {b}{suffix}"


def _account_id(number: int) -> str:
    return f"A{number:05d}"


# --- the generator ------------------------------------------------------------

def generate_sample(seed: int = 7) -> dict[str, pd.DataFrame]:
    """Generate every table of the sample company.

    Parameters
    ----------
    seed : int, default 7
        Seed of the random streams. The same seed always gives the same
        tables; the planted stories and quality cases hold for any seed.

    Returns
    -------
    dict of str to pandas.DataFrame
        One frame per table (``partners``, ``activities``, ``integrations``,
        ``installs``, ``sync_events``, ``opportunities``, ``attributions``,
        ``renewals``) in canonical columns and in-memory types: ids and text
        as strings, dates as ``datetime64[ns]`` at midnight, timestamps as
        naive UTC ``datetime64[ns]``, money as float, flags as bool. The
        planted invalid rows are included, as a raw export would hold them.

    Examples
    --------
    >>> tables = generate_sample(7)
    >>> sorted(tables)  # doctest: +NORMALIZE_WHITESPACE
    ['activities', 'attributions', 'installs', 'integrations', 'opportunities',
     'partners', 'renewals', 'sync_events']
    >>> tables["partners"].set_index("partner_id").loc["P006", "partner_type"]
    'reseller'
    >>> len(tables["opportunities"])
    3760
    """
    streams = np.random.SeedSequence(seed).spawn(6)
    rng_act, rng_opp, rng_tag, rng_inst, rng_evt, rng_ren = (
        np.random.default_rng(s) for s in streams)

    partners = _partners()
    activities = _activities(rng_act)
    integrations = _integrations()
    opps = _opportunities(rng_opp)
    attributions = _attributions(rng_tag, opps)
    _close_deals(rng_opp, opps, attributions)
    installs = _installs(rng_inst, opps)
    sync_events = _sync_events(rng_evt, installs)
    renewals = _renewals(rng_ren, opps, installs)
    return {
        "partners": partners,
        "activities": activities,
        "integrations": integrations,
        "installs": _installs_frame(installs),
        "sync_events": sync_events,
        "opportunities": _opportunities_frame(opps),
        "attributions": _attributions_frame(attributions),
        "renewals": renewals,
    }


def _as_dates(values) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[ns]")


def _partners() -> pd.DataFrame:
    df = pd.DataFrame(_PARTNERS, columns=["partner_id", "name", "partner_type", "signed_date"])
    df["signed_date"] = _as_dates(df["signed_date"])
    return df.astype({"partner_id": "str", "name": "str", "partner_type": "str"})


def _integrations() -> pd.DataFrame:
    df = pd.DataFrame(_INTEGRATIONS,
                      columns=["integration_id", "partner_id", "name", "scoped_date", "live_date"])
    df["scoped_date"] = _as_dates(df["scoped_date"])
    df["live_date"] = _as_dates(df["live_date"])
    return df.astype({"integration_id": "str", "partner_id": "str", "name": "str"})


def _activities(rng: np.random.Generator) -> pd.DataFrame:
    """Activity rows from the fixed plans; the seed picks the days and mixed kinds."""
    partner_ids, kinds, quarters = [], [], []
    for pid, (counts, mix) in _ACTIVITY_PLAN.items():
        names = np.array(list(mix))
        probs = np.array(list(mix.values()))
        for q, n in enumerate(counts):
            if n:
                partner_ids += [pid] * n
                kinds += list(rng.choice(names, size=n, p=probs))
                quarters += [q] * n
    for (pid, kind), counts in _EXACT_ACTIVITY.items():
        for q, n in enumerate(counts):
            partner_ids += [pid] * n
            kinds += [kind] * n
            quarters += [q] * n
    quarters = np.array(quarters)
    signed = np.array([_SIGNED[p] for p in partner_ids], dtype="datetime64[D]")
    lo = np.maximum(_Q_START[quarters], signed)
    hi = _Q_START[quarters + 1] - _DAY
    days = _weekday_days(rng, lo, hi)
    df = pd.DataFrame({"partner_id": partner_ids, "date": days.astype("datetime64[ns]"),
                       "kind": kinds})
    df = df.sort_values(["date", "partner_id", "kind"], kind="stable", ignore_index=True)
    df.insert(0, "activity_id", [f"ACT{i:05d}" for i in range(1, len(df) + 1)])
    return df.astype({"activity_id": "str", "partner_id": "str", "kind": "str"})


def _opportunities(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Deals: creation, account, amount and whether they closed by 2026-09-30.

    Won or lost is decided later, once the partner tags are known.
    """
    q = np.repeat(np.arange(_N_Q), _OPPS_PER_QUARTER)
    created = _weekday_days(rng, _Q_START[q], _Q_START[q + 1] - _DAY)
    order = np.argsort(created, kind="stable")
    created = created[order]
    n = len(created)
    expansion = rng.random(n) < 0.25
    first_prospect = _EXISTING_CUSTOMERS + 1
    account = np.where(expansion, rng.integers(1, first_prospect, n),
                       rng.integers(first_prospect, first_prospect + _PROSPECTS, n))
    size = np.exp(np.log(16_000) + 0.75 * rng.standard_normal(n)) * np.where(expansion, 0.6, 1.0)
    amount = np.maximum(np.round(size / 50) * 50, 1_500).astype(float)
    cycle = 14 + np.round(rng.gamma(2.2, 25, n)).astype(np.int64)
    close = created + cycle * _DAY
    closed = close <= _LAST_DAY
    stage_pick = rng.integers(0, len(_OPEN_STAGES), n)
    return {
        "id": np.array([f"O{i:05d}" for i in range(1, n + 1)]),
        "account": account,
        "expansion": expansion,
        "created": created,
        "close": close,
        "closed": closed,
        "won": np.zeros(n, dtype=bool),
        "amount": amount,
        "stage_pick": stage_pick,
        "planted": np.zeros(n, dtype=bool),
    }


def _index(opportunity_id: str) -> int:
    return int(opportunity_id[1:]) - 1


def _attributions(rng: np.random.Generator, opps: dict) -> list[tuple]:
    """Partner tags: the planned ones on distinct deals, then the planted cases.

    Each planned tag goes to its own deal, so the planned data alone never
    trips an attribution rule; only the planted cases do.
    """
    created, close, closed = opps["created"], opps["close"], opps["closed"]
    planted_ids = [c["opportunity_id"] for c in PLANTED_QUALITY_CASES
                   if c["table"] in ("attributions", "opportunities")
                   and c["opportunity_id"] != "O99999"]
    planted = np.zeros(len(created), dtype=bool)
    planted[[_index(i) for i in planted_ids]] = True
    opps["planted"] = planted
    taken = planted.copy()
    quarter = _quarter_of(created)
    # Tags cannot be dated after the deal closed nor after the data ends.
    last_tag_day = np.where(closed, close, np.minimum(created + 60 * _DAY, _LAST_DAY))

    rows: list[tuple] = []  # (opportunity index or id, partner_id, role, tagged day)

    def take(q: int, n: int, signed: np.datetime64) -> np.ndarray:
        pool = np.flatnonzero((quarter == q) & ~taken & (created >= signed))
        pick = rng.permutation(pool)[:n]
        if len(pick) < n:
            raise ValueError("not enough deals to tag")  # a plan error, not data
        taken[pick] = True
        return np.sort(pick)

    def influence_day(i: int, signed: np.datetime64) -> np.datetime64:
        lo = max(created[i], signed)
        span = int((last_tag_day[i] - lo) / _DAY) + 1
        return lo + int(rng.integers(0, max(span, 1))) * _DAY

    for pid, (sourced, influenced) in _TAG_PLAN.items():
        signed = _SIGNED[pid]
        for q in range(_N_Q):
            for i in take(q, sourced[q], signed):
                day = min(created[i] + int(rng.integers(0, 4)) * _DAY, last_tag_day[i])
                rows.append((i, pid, "sourced", day))
            for i in take(q, influenced[q], signed):
                rows.append((i, pid, "influenced", influence_day(i, signed)))
    pair, counts = _CO_INFLUENCE
    signed = max(_SIGNED[p] for p in pair)
    for q in range(_N_Q):
        for i in take(q, counts[q], signed):
            for pid in pair:
                rows.append((i, pid, "influenced", influence_day(i, signed)))

    rows += _planted_tags(opps)
    return rows


def _force_closed(opps: dict, i: int, days: int, won: bool) -> None:
    """Close a planted deal ``days`` after creation with a fixed outcome."""
    opps["close"][i] = opps["created"][i] + days * _DAY
    opps["closed"][i] = True
    opps["won"][i] = won


def _planted_tags(opps: dict) -> list[tuple]:
    """The attribution rule cases; their deals get fixed outcomes too."""
    c = opps["created"]
    d = _DAY
    rows = []
    # orphan_attribution: a partner id that does not exist.
    i = _index("O01013")
    _force_closed(opps, i, 47, won=False)
    rows.append((i, "P099", "sourced", c[i]))
    # orphan_attribution: a deal id that does not exist (tagged mid 2025Q2).
    rows.append(("O99999", "P007", "influenced", np.datetime64("2025-06-16")))
    # tagged_after_close: influence claimed 6 days after the deal was won.
    i = _index("O01288")
    _force_closed(opps, i, 35, won=True)
    rows.append((i, "P009", "influenced", c[i] + 41 * d))
    # late_sourced at the limit (does not fire) and one day past it (fires).
    i = _index("O01342")
    _force_closed(opps, i, 58, won=True)
    rows.append((i, "P006", "sourced", c[i] + 14 * d))
    i = _index("O01377")
    _force_closed(opps, i, 64, won=True)
    rows.append((i, "P006", "sourced", c[i] + 15 * d))
    # multiple_sourcers, tied on tagged_date: P006 (smallest id) wins.
    i = _index("O01456")
    _force_closed(opps, i, 52, won=True)
    rows.append((i, "P006", "sourced", c[i] + 2 * d))
    rows.append((i, "P011", "sourced", c[i] + 2 * d))
    # multiple_sourcers on different days: P011 tagged first and wins.
    i = _index("O01533")
    _force_closed(opps, i, 71, won=False)
    rows.append((i, "P011", "sourced", c[i] + 1 * d))
    rows.append((i, "P006", "sourced", c[i] + 4 * d))
    # sourced_and_influenced: sourced by P006, P007 also touched it.
    i = _index("O01602")
    _force_closed(opps, i, 66, won=True)
    rows.append((i, "P006", "sourced", c[i]))
    rows.append((i, "P007", "influenced", c[i] + 12 * d))
    # Invalid deals, untagged: a negative amount and a win that is not closed.
    i = _index("O01874")
    _force_closed(opps, i, 40, won=False)
    opps["amount"][i] = -4200.0
    i = _index("O02031")
    opps["closed"][i] = False
    opps["won"][i] = True
    opps["stage_pick"][i] = 3  # Negotiation
    return rows


def _close_deals(rng: np.random.Generator, opps: dict, tags: list[tuple]) -> None:
    """Decide won/lost for the closed, unplanted deals by their attribution bucket."""
    n = len(opps["created"])
    bucket = np.full(n, "unassisted", dtype=object)
    for i, _, role, _ in tags:
        if isinstance(i, str):
            continue
        if role == "sourced":
            bucket[i] = "sourced"
        elif bucket[i] == "unassisted":
            bucket[i] = "influenced"
    p = np.array([_WIN_RATE[b] for b in bucket])
    draw = rng.random(n) < p
    free = ~opps["planted"]
    opps["won"][free] = opps["closed"][free] & draw[free]


def _opportunities_frame(opps: dict) -> pd.DataFrame:
    closed, won = opps["closed"], opps["won"]
    stage = np.where(closed, np.where(won, "Closed Won", "Closed Lost"),
                     _OPEN_STAGES[opps["stage_pick"]])
    names = [f"{_account_name(a)} - {'Expansion' if e else 'New business'}"
             for a, e in zip(opps["account"], opps["expansion"])]
    close = np.where(closed, opps["close"], np.datetime64("NaT"))
    return pd.DataFrame({
        "opportunity_id": pd.Series(opps["id"], dtype="str"),
        "account_id": pd.Series([_account_id(a) for a in opps["account"]], dtype="str"),
        "name": pd.Series(names, dtype="str"),
        "created_date": opps["created"].astype("datetime64[ns]"),
        "close_date": close.astype("datetime64[ns]"),
        "stage": pd.Series(stage, dtype="str"),
        "is_closed": closed.astype(bool),
        "is_won": won.astype(bool),
        "amount": opps["amount"].astype(float),
    })


def _attributions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Attribution rows as a canonical frame, sorted by deal, partner and role.

    Parameters
    ----------
    rows : list of tuple
        ``(opportunity, partner_id, role, tagged_date)``; the opportunity is
        either an id string or a 0-based index into the generated deals.

    Returns
    -------
    pandas.DataFrame
        Columns opportunity_id, partner_id, role, tagged_date.

    Examples
    --------
    >>> rows = [(1, "P002", "influenced", np.datetime64("2025-01-09")),
    ...         ("O00001", "P001", "sourced", np.datetime64("2025-01-06"))]
    >>> _attributions_frame(rows)[["opportunity_id", "partner_id", "role"]].values.tolist()
    [['O00001', 'P001', 'sourced'], ['O00002', 'P002', 'influenced']]
    """
    df = pd.DataFrame({
        "opportunity_id": [i if isinstance(i, str) else f"O{i + 1:05d}" for i, _, _, _ in rows],
        "partner_id": [r[1] for r in rows],
        "role": [r[2] for r in rows],
        "tagged_date": np.array([r[3] for r in rows],
                                dtype="datetime64[D]").astype("datetime64[ns]"),
    }).astype({"opportunity_id": "str", "partner_id": "str", "role": "str"})
    return df.sort_values(["opportunity_id", "partner_id", "role"], kind="stable",
                          ignore_index=True)


def _installs(rng: np.random.Generator, opps: dict) -> dict[str, np.ndarray]:
    """Installs from the plan, on accounts that were customers at the time.

    Each connection is either put to real use (it syncs daily until it goes
    dormant or is removed) or tried once (it syncs for a few days, then idles).
    """
    integ, quarter = [], []
    for iid, (counts, _, _, _) in _INSTALL_PLAN.items():
        for q, k in enumerate(counts):
            integ += [iid] * k
            quarter += [q] * k
    integ = np.array(integ)
    quarter = np.array(quarter)
    n = len(integ)
    live = {iid: np.datetime64(live, "D") for iid, _, _, _, live in _INTEGRATIONS if live}
    lo = np.maximum(_seconds(_Q_START[quarter]),
                    _seconds(np.array([live[i] for i in integ], dtype="datetime64[D]")))
    hi = _seconds(_Q_START[quarter + 1])
    installed = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    p_use = np.array([_INSTALL_PLAN[i][1][q] for i, q in zip(integ, quarter)])
    life = np.array([_INSTALL_PLAN[i][2] for i in integ], dtype=float)
    engaged = rng.random(n) < p_use
    # Engaged: syncs until it goes dormant; tried once: a 1-12 day trial.
    dormant = installed + (rng.exponential(life) * _SECONDS_PER_DAY).astype(np.int64)
    trial = installed + rng.integers(1, 13, n) * _SECONDS_PER_DAY
    until = np.where(engaged, dormant, trial)
    removes = np.where(engaged, rng.random(n) < 0.7, rng.random(n) < 0.4)
    removed_at = until + rng.integers(2 * _SECONDS_PER_DAY, 80 * _SECONDS_PER_DAY, n)
    end = _seconds(np.array([_Q_START[-1]]))[0]
    removed_at = np.where(removes & (removed_at < end), removed_at, -1)
    until = np.minimum(until, np.where(removed_at >= 0, removed_at, end))

    order = np.lexsort((integ, installed))
    integ, installed, engaged, until, removed_at = (
        a[order] for a in (integ, installed, engaged, until, removed_at))

    # Accounts: the existing base plus every account won by the install day.
    won_day = {}
    for a, day, w in zip(opps["account"], opps["close"], opps["won"] & opps["closed"]):
        if w and a not in won_day:
            won_day[a] = day
    won_accounts = np.array(sorted(won_day, key=lambda a: (won_day[a], a)), dtype=np.int64)
    won_sec = _seconds(np.array([won_day[a] for a in won_accounts], dtype="datetime64[D]"))
    base = np.arange(1, _EXISTING_CUSTOMERS + 1)
    used: dict[str, set] = {}
    accounts = np.empty(n, dtype=np.int64)
    for k in range(n):
        eligible = np.concatenate([base, won_accounts[won_sec < installed[k]]])
        taken = used.setdefault(integ[k], set())
        while True:
            a = int(eligible[rng.integers(0, len(eligible))])
            if a not in taken:
                break
        taken.add(a)
        accounts[k] = a
    return {
        "id": np.array([f"C{i:05d}" for i in range(1, n + 1)]),
        "integration": integ,
        "account": accounts,
        "installed": installed,
        "until": until,
        "removed": removed_at,
        "engaged": engaged,
    }


def _installs_frame(inst: dict) -> pd.DataFrame:
    removed = inst["removed"].astype("datetime64[s]")
    removed[inst["removed"] < 0] = np.datetime64("NaT")
    return pd.DataFrame({
        "connection_id": pd.Series(inst["id"], dtype="str"),
        "integration_id": pd.Series(inst["integration"], dtype="str"),
        "account_id": pd.Series([_account_id(a) for a in inst["account"]], dtype="str"),
        "installed_at": inst["installed"].astype("datetime64[s]").astype("datetime64[ns]"),
        "uninstalled_at": removed.astype("datetime64[ns]"),
    })


#: Events of connections that installs does not know (orphan_events).
_ORPHAN_EVENTS = [
    ("C99901", "2026-08-03T02:14:09", True),
    ("C99901", "2026-08-04T02:13:51", True),
    ("C99901", "2026-08-05T02:15:30", False),
    ("C99901", "2026-08-06T02:14:44", True),
    ("C99902", "2026-09-14T11:40:02", True),
    ("C99902", "2026-09-15T11:39:58", True),
    ("C99902", "2026-09-16T11:41:17", True),
]


def _sync_events(rng: np.random.Generator, inst: dict) -> pd.DataFrame:
    """One sync right after each install, then about one a day while in use."""
    n = len(inst["id"])
    start = inst["installed"]
    until = inst["until"]
    first = start + rng.integers(30, 900, n)
    day0 = start - start % _SECONDS_PER_DAY
    days = np.maximum((until - day0 + _SECONDS_PER_DAY - 1) // _SECONDS_PER_DAY, 0)
    owner = np.repeat(np.arange(n), days)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(days) - days, days)
    daily = (day0[owner] + (offset + 1) * _SECONDS_PER_DAY
             + rng.integers(0, _SECONDS_PER_DAY, len(owner)))
    keep = (daily < until[owner]) & (rng.random(len(owner)) >= 0.06)
    owner = np.concatenate([np.arange(n), owner[keep]])
    ts = np.concatenate([first, daily[keep]])
    end = _seconds(np.array([_Q_START[-1]]))[0]
    inside = ts < end
    owner, ts = owner[inside], ts[inside]

    integration_ids = list(_INSTALL_PLAN)
    err = np.array([_INSTALL_PLAN[i][3] for i in integration_ids])
    integ_index = np.searchsorted(np.array(integration_ids), inst["integration"][owner])
    q = _quarter_of(ts.astype("datetime64[s]").astype("datetime64[D]"))
    ok = rng.random(len(ts)) >= err[integ_index, q]

    conn = inst["id"][owner]
    orphan = np.array(_ORPHAN_EVENTS, dtype=object)
    conn = np.concatenate([conn, orphan[:, 0].astype(str)])
    ts = np.concatenate([ts, np.array(orphan[:, 1], dtype="datetime64[s]").astype(np.int64)])
    ok = np.concatenate([ok, orphan[:, 2].astype(bool)])
    order = np.lexsort((ts, conn))
    return pd.DataFrame({
        "connection_id": pd.Series(conn[order], dtype="str"),
        "ts": ts[order].astype("datetime64[s]").astype("datetime64[ns]"),
        "ok": ok[order],
    })


def _renewals(rng: np.random.Generator, opps: dict, inst: dict) -> pd.DataFrame:
    """Renewals that fell due: the existing base yearly, new customers a year after the win.

    An account with an install active at the end of its renewal day renews
    more often than one without.
    """
    by_account: dict[int, list[tuple[int, int]]] = {}
    for a, s, r in zip(inst["account"], inst["installed"], inst["removed"]):
        by_account.setdefault(int(a), []).append((int(s), int(r)))

    def integrated(account: int, day: np.datetime64) -> bool:
        t = int(_seconds(np.array([day + _DAY]))[0])
        return any(s < t and (r < 0 or r >= t) for s, r in by_account.get(account, []))

    rows = []
    base = np.arange(1, _EXISTING_CUSTOMERS + 1)
    first_due = _FIRST_DAY + rng.integers(0, 365, len(base)) * _DAY
    base_arr = np.exp(np.log(14_000) + 0.6 * rng.standard_normal(len(base)))
    base_arr = np.maximum(np.round(base_arr / 10) * 10, 1_200)
    uplift = 1 + rng.random(len(base)) * 0.12
    for a, due, arr, up in zip(base, first_due, base_arr, uplift):
        a = int(a)
        while due <= _LAST_DAY:
            renewed = bool(rng.random() < _RENEW_RATE[integrated(a, due)])
            rows.append((a, due, float(arr), renewed))
            if not renewed:
                break
            due = due + 365 * _DAY
            arr = round(arr * up, 2)
    # New customers: first new-business win per account.
    seen = set()
    new_wins = opps["won"] & opps["closed"] & ~opps["expansion"] & (opps["amount"] > 0)
    for i in np.flatnonzero(new_wins):
        a = int(opps["account"][i])
        if a in seen:
            continue
        seen.add(a)
        due = opps["close"][i] + 365 * _DAY
        if due <= _LAST_DAY:
            renewed = bool(rng.random() < _RENEW_RATE[integrated(a, due)])
            rows.append((a, due, float(opps["amount"][i]), renewed))
    df = pd.DataFrame({
        "account_id": pd.Series([_account_id(r[0]) for r in rows], dtype="str"),
        "renewal_date": np.array([r[1] for r in rows],
                                 dtype="datetime64[D]").astype("datetime64[ns]"),
        "arr": np.array([r[2] for r in rows], dtype=float),
        "renewed": np.array([r[3] for r in rows], dtype=bool),
    })
    return df.sort_values(["renewal_date", "account_id"], kind="stable", ignore_index=True)


# --- writing ------------------------------------------------------------------

# Column formats of each CSV: date, ts (timestamp), bool, money, or text.
_CSV_FORMATS = {
    "partners": {"signed_date": "date"},
    "activities": {"date": "date"},
    "integrations": {"scoped_date": "date", "live_date": "date"},
    "installs": {"installed_at": "ts", "uninstalled_at": "ts"},
    "opportunities": {"created_date": "date", "close_date": "date", "is_closed": "bool",
                      "is_won": "bool", "amount": "money"},
    "attributions": {"tagged_date": "date"},
    "renewals": {"renewal_date": "date", "arr": "money", "renewed": "bool"},
}
_PARQUET_ROW_GROUP = 65_536


def _csv_bytes(df: pd.DataFrame, formats: dict[str, str]) -> bytes:
    """Render a table as canonical CSV bytes (UTF-8, LF, fixed formats).

    Parameters
    ----------
    df : pandas.DataFrame
        The table, in in-memory types.
    formats : dict of str to str
        Column -> ``"date"`` (YYYY-MM-DD), ``"ts"`` (YYYY-MM-DDTHH:MM:SSZ),
        ``"bool"`` (true/false) or ``"money"`` (two decimals). Other columns
        are written as text. Missing values are empty cells.

    Returns
    -------
    bytes

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["007"], "d": pd.to_datetime(["2026-07-01"]),
    ...                    "ok": [True], "amount": [12.5]})
    >>> _csv_bytes(df, {"d": "date", "ok": "bool", "amount": "money"})
    b'id,d,ok,amount\\n007,2026-07-01,true,12.50\\n'
    """
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        kind = formats.get(col)
        s = df[col]
        if kind == "date":
            text = s.dt.strftime("%Y-%m-%d")
        elif kind == "ts":
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind == "bool":
            text = s.map({True: "true", False: "false"})
        elif kind == "money":
            text = s.map(lambda v: f"{v:.2f}")
        else:
            text = s
        out[col] = text.astype("object").where(s.notna(), "")
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def _parquet_table(df: pd.DataFrame) -> pa.Table:
    # Built column by column so no pandas index or metadata ends up in the file.
    return pa.table({
        "connection_id": pa.array(df["connection_id"].to_numpy(dtype=object), pa.string()),
        "ts": pa.array(df["ts"].to_numpy().astype("datetime64[us]").astype(np.int64),
                       pa.timestamp("us")),
        "ok": pa.array(df["ok"].to_numpy(dtype=bool), pa.bool_()),
    })


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_sample(out_dir, seed: int = 7, progress: Callable[[str], None] | None = None,
                 overwrite: bool = False) -> list[Path]:
    """Generate the sample company and write it as a data directory.

    Parameters
    ----------
    out_dir : str or Path
        Target directory; created if missing.
    seed : int, default 7
        Seed passed to :func:`generate_sample`.
    progress : callable, optional
        Called with each file name once that file is written.
    overwrite : bool, default False
        Raw data is never replaced silently: a non-empty ``out_dir`` is refused
        unless this is True. Even then only the generated files are replaced;
        anything else in the directory (such as its README.md) is left alone.

    Returns
    -------
    list of Path
        The written files, in the order of :data:`SAMPLE_FILES`.

    Raises
    ------
    FileExistsError
        ``out_dir`` is not empty and ``overwrite`` is False.

    Notes
    -----
    CSVs are UTF-8 without BOM, LF line endings, ISO dates, UTC timestamps
    with a ``Z``, booleans ``true``/``false`` and money with two decimals.
    ``sync_events.parquet`` is written by pyarrow with zstd compression and a
    fixed row group size, so the same seed gives the same bytes with the same
    pyarrow version. Its ``ts`` column is a UTC timestamp stored without a zone.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in write_sample(tmp)][:2]
    ['partners.csv', 'activities.csv']
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is not a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out} is not empty; refusing to replace data in it (pass overwrite to replace "
            "the generated files)")
    out.mkdir(parents=True, exist_ok=True)
    tables = generate_sample(seed)
    written = []
    for name in SAMPLE_FILES:
        table, ext = name.rsplit(".", 1)
        path = out / name
        if ext == "csv":
            data = _csv_bytes(tables[table], _CSV_FORMATS[table])
            _write_atomic(path, lambda p, data=data: p.write_bytes(data))
        else:
            arrow = _parquet_table(tables[table])
            _write_atomic(path, lambda p, arrow=arrow: pq.write_table(
                arrow, p, compression="zstd", compression_level=3,
                row_group_size=_PARQUET_ROW_GROUP, use_dictionary=True, write_statistics=True,
                version="2.6", data_page_version="1.0"))
        written.append(path)
        if progress is not None:
            progress(name)
    return written
