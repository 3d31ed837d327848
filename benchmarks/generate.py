"""Write a synthetic data directory at benchmark scale.

    python benchmarks/generate.py --scale series_b            # -> benchmarks/data/series_b/
    python benchmarks/generate.py --scale tiny --out /tmp/d --seed 3

The tables have the canonical formats of ``data/sample`` (CSVs for the small
tables, ``sync_events.parquet`` for the events) and cover 2024Q4..2026Q3.
Everything is produced by DuckDB SQL: every random draw is a hash of
``(seed, stream, row)``, so the same seed and DuckDB version give the same
files, whatever the number of threads. The only planted oddity is a few sync
events from connection ids unknown to ``installs`` (the ``orphan_events``
audit finding); nothing is quarantined by ``partnerkit.load.load_dataset``.
Attribution findings (late sourced tags, tags after close, several sourcers)
arise at realistic low rates.

Scales:

==============  ========  ============  =============  ========  ==========  ==========
scale           partners  integrations  opportunities  installs  activities  sync events
==============  ========  ============  =============  ========  ==========  ==========
``series_b``    500       400           100,000        50,000    60,000      5*10^7
``tiny``        20        12            2,000          500       1,200       2*10^5
==============  ========  ============  =============  ========  ==========  ==========
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from partnerkit.sample import SAMPLE_FILES

BENCHMARKS = Path(__file__).resolve().parent

#: Files written, in load order: the same set as the bundled sample company.
FILES = SAMPLE_FILES

#: Written beside the tables: scale, seed, rows, bytes and generation time.
MANIFEST = "generation.json"

# The window every table covers: 2024Q4 .. 2026Q3.
FIRST_DAY = date(2024, 10, 1)
LAST_DAY = date(2026, 9, 30)
WINDOW_DAYS = (LAST_DAY - FIRST_DAY).days + 1
WINDOW_START_S = int(datetime(2024, 10, 1, tzinfo=timezone.utc).timestamp())
WINDOW_END_S = int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp())

#: Orphan sync events planted on purpose: (connection_id, events).
ORPHANS = (("C999991", 5), ("C999992", 3), ("C999993", 2))


@dataclass(frozen=True)
class Scale:
    """Row counts of one generated data directory."""

    partners: int
    integrations: int
    installs: int
    events: int
    opportunities: int
    activities: int
    #: accounts that were customers before the window (expansion deals, installs, renewals)
    customers: int
    #: accounts that are prospects (new-business deals)
    prospects: int


SCALES = {
    "series_b": Scale(partners=500, integrations=400, installs=50_000, events=50_000_000,
                      opportunities=100_000, activities=60_000, customers=15_000,
                      prospects=60_000),
    "tiny": Scale(partners=20, integrations=12, installs=500, events=200_000,
                  opportunities=2_000, activities=1_200, customers=300, prospects=1_500),
}


def _sql(scale: Scale) -> list[tuple[str, str]]:
    """(table name, CREATE statement) for every small table, parents first."""
    s = scale
    end = f"DATE '{LAST_DAY}'"
    w0 = f"DATE '{FIRST_DAY}'"
    return [
        ("partners", f"""
        CREATE TABLE partners AS
        SELECT i,
               printf('P%04d', i) AS partner_id,
               printf('Partner %04d ', i)
                 || ['Labs', 'Group', 'Systems', 'Partners', 'Cloud'][1 + i % 5] AS name,
               CASE WHEN u(1, i) < 0.45 THEN 'technology'
                    WHEN u(1, i) < 0.65 THEN 'reseller'
                    WHEN u(1, i) < 0.80 THEN 'referral'
                    WHEN u(1, i) < 0.90 THEN 'agency'
                    ELSE 'marketplace' END AS partner_type,
               -- most partners signed before the window, the rest join during it
               CASE WHEN u(2, i) < 0.6 THEN DATE '2022-01-03' + CAST(floor(u(3, i) * 1000) AS INT)
                    ELSE {w0} + CAST(floor(u(3, i) * 700) AS INT) END AS signed_date
        FROM range(1, {s.partners + 1}) r(i)
        """),
        ("activities", f"""
        CREATE TABLE activities AS
        WITH a AS (
            SELECT a, 1 + CAST(floor(pow(u(40, a), 1.5) * {s.partners}) AS BIGINT) AS i,
                   u(41, a) AS day, u(42, a) AS k
            FROM range(1, {s.activities + 1}) r(a))
        SELECT a.a, printf('ACT%06d', a.a) AS activity_id, p.partner_id,
               greatest(p.signed_date, {w0})
                 + CAST(floor(a.day * ({end} - greatest(p.signed_date, {w0}) + 1)) AS INT) AS date,
               CASE WHEN a.k < 0.35 THEN 'meeting' WHEN a.k < 0.60 THEN 'call'
                    WHEN a.k < 0.80 THEN 'email' WHEN a.k < 0.88 THEN 'qbr'
                    WHEN a.k < 0.90 THEN 'mou' WHEN a.k < 0.95 THEN 'listing_published'
                    ELSE 'seller_enabled' END AS kind
        FROM a JOIN partners p USING (i)
        """),
        ("integrations", f"""
        CREATE TABLE integrations AS
        WITH builders AS (
            SELECT row_number() OVER (ORDER BY i) - 1 AS k, partner_id, signed_date
            FROM partners WHERE partner_type IN ('technology', 'marketplace')),
        j AS (
            SELECT j, CAST(floor(u(4, j) * (SELECT count(*) FROM builders)) AS BIGINT) AS k,
                   -- the first two are scoped early so that some integration is live
                   CASE WHEN j <= 2 THEN DATE '2024-07-01' + 10 * CAST(j AS INT)
                        ELSE DATE '2024-07-01' + CAST(floor(u(6, j) * 640) AS INT) END AS scoped,
                   20 + CAST(floor(-ln(1 - u(7, j)) * 60) AS INT) AS build_days,
                   j <= 2 OR u(5, j) < 0.85 AS ships
            FROM range(1, {s.integrations + 1}) r(j))
        -- no project is scoped before its partner signed
        SELECT j.j, printf('I%04d', j.j) AS integration_id, b.partner_id,
               printf('Connector %04d', j.j) AS name,
               greatest(j.scoped, b.signed_date) AS scoped_date,
               CASE WHEN j.ships AND greatest(j.scoped, b.signed_date) + j.build_days <= {end}
                    THEN greatest(j.scoped, b.signed_date) + j.build_days END AS live_date,
               0.005 + 0.04 * pow(u(13, j.j), 3) AS error_share
        FROM j JOIN builders b USING (k)
        """),
        ("installs", f"""
        CREATE TABLE installs AS
        WITH live AS (
            SELECT row_number() OVER (ORDER BY j) - 1 AS k, integration_id, error_share,
                   greatest(datediff('day', DATE '1970-01-01', live_date) * 86400,
                            {WINDOW_START_S}) AS open_s
            FROM integrations WHERE live_date IS NOT NULL),
        c AS (
            SELECT c,
                   CAST(floor(pow(u(8, c), 1.5) * (SELECT count(*) FROM live)) AS BIGINT) AS k,
                   u(9, c) AS at, u(10, c) AS leaves, u(11, c) AS account, u(12, c) AS life,
                   u(14, c) AS engagement
            FROM range(1, {s.installs + 1}) r(c)),
        placed AS (
            SELECT c.c, l.integration_id, l.error_share, c.account, c.engagement,
                   -- more installs later on: density grows over the window
                   l.open_s + CAST(floor(pow(c.at, 0.75) * ({WINDOW_END_S} - 1 - l.open_s)) AS BIGINT)
                     AS installed_s,
                   c.leaves < 0.3 AS leaves, c.life
            FROM c JOIN live l USING (k))
        SELECT c, printf('C%06d', c) AS connection_id, integration_id,
               printf('A%06d', 1 + CAST(floor(account * {s.customers}) AS BIGINT)) AS account_id,
               installed_s,
               CASE WHEN leaves AND installed_s + CAST(floor(-ln(1 - life) * 200 * 86400) AS BIGINT)
                                    < {WINDOW_END_S}
                    THEN installed_s + CAST(floor(-ln(1 - life) * 200 * 86400) AS BIGINT)
                    END AS uninstalled_s,
               error_share,
               -- 12% are installed and never used; the rest sync at their own pace
               CASE WHEN engagement < 0.12 THEN 0.0 ELSE 0.3 + 1.4 * engagement END AS pace
        FROM placed
        """),
        ("opportunities", f"""
        CREATE TABLE opportunities AS
        WITH o AS (
            SELECT o, u(30, o) < 0.25 AS expansion, u(31, o) AS acct,
                   CAST(floor(pow(u(32, o), 0.8) * {WINDOW_DAYS}) AS INT) AS day,
                   sqrt(-2 * ln(1 - u(33, o))) * cos(2 * pi() * u(34, o)) AS z,
                   14 + CAST(floor(-ln(1 - u(35, o)) * 55) AS INT) AS cycle,
                   u(36, o) AS tag, u(37, o) AS outcome
            FROM range(1, {s.opportunities + 1}) r(o)),
        d AS (
            SELECT *, {w0} + day AS created,
                   CASE WHEN tag < 0.12 THEN 'sourced' WHEN tag < 0.35 THEN 'influenced' END AS credit,
                   {w0} + day + cycle <= {end} AS closed
            FROM o)
        SELECT o, printf('O%06d', o) AS opportunity_id,
               CASE WHEN expansion THEN printf('A%06d', 1 + CAST(floor(acct * {s.customers}) AS BIGINT))
                    ELSE printf('A%06d', {s.customers} + 1 + CAST(floor(acct * {s.prospects}) AS BIGINT))
                    END AS account_id,
               CASE WHEN expansion THEN 'Expansion' ELSE 'New business' END AS name,
               created AS created_date, cycle, credit, expansion,
               CASE WHEN closed THEN created + cycle END AS close_date,
               closed AS is_closed,
               closed AND outcome < CASE credit WHEN 'sourced' THEN 0.32
                                                WHEN 'influenced' THEN 0.38 ELSE 0.22 END AS is_won,
               greatest(round(exp(ln(16000) + 0.75 * z) * CASE WHEN expansion THEN 0.6 ELSE 1 END
                              / 50) * 50, 1500) AS amount
        FROM d
        """),
        ("attributions", f"""
        CREATE TABLE attributions AS
        WITH tagged AS (
            SELECT o, opportunity_id, credit, created_date, close_date, cycle,
                   CAST(floor(pow(u(50, o), 1.5) * {s.partners}) AS BIGINT) AS p0,
                   u(51, o) AS when0, u(52, o) AS odd, u(53, o) AS second, u(54, o) AS p1,
                   u(55, o) AS when1
            FROM opportunities WHERE credit IS NOT NULL),
        tags AS (
            -- the main tag: sourced within days of creation (3% too late to count),
            -- influenced during the sales cycle (2% after the deal closed)
            SELECT o, opportunity_id, p0 AS p, credit AS role,
                   CASE WHEN credit = 'sourced' AND odd < 0.03
                            THEN created_date + 15 + CAST(floor(when0 * 30) AS INT)
                        WHEN credit = 'sourced' THEN created_date + CAST(floor(when0 * 8) AS INT)
                        WHEN odd < 0.02 AND close_date IS NOT NULL
                            THEN close_date + 1 + CAST(floor(when0 * 10) AS INT)
                        ELSE created_date + CAST(floor(when0 * cycle) AS INT) END AS tagged
            FROM tagged
            UNION ALL
            -- a second partner: co-influence on 10% of influenced deals,
            -- a competing sourcer on 1% of sourced deals
            SELECT o, opportunity_id,
                   (p0 + 1 + CAST(floor(p1 * ({s.partners} - 1)) AS BIGINT)) % {s.partners} AS p,
                   credit AS role,
                   CASE WHEN credit = 'sourced' THEN created_date + CAST(floor(when1 * 8) AS INT)
                        ELSE created_date + CAST(floor(when1 * cycle) AS INT) END AS tagged
            FROM tagged
            WHERE (credit = 'influenced' AND second < 0.10) OR (credit = 'sourced' AND second < 0.01))
        SELECT o, opportunity_id, printf('P%04d', 1 + p) AS partner_id, role,
               least(tagged, {end}) AS tagged_date
        FROM tags
        """),
        ("renewals", f"""
        CREATE TABLE renewals AS
        WITH integrated AS (SELECT DISTINCT account_id FROM installs),
        base AS (
            SELECT a, printf('A%06d', a) AS account_id,
                   {w0} + CAST(floor(u(60, a) * 365) AS INT) AS due,
                   greatest(round(exp(ln(14000) + 0.6 * sqrt(-2 * ln(1 - u(61, a)))
                                      * cos(2 * pi() * u(62, a))) / 10) * 10, 1200) AS arr,
                   u(63, a) AS r1, u(64, a) AS r2
            FROM range(1, {s.customers + 1}) r(a)),
        base_rate AS (
            SELECT b.*, CASE WHEN i.account_id IS NULL THEN 0.78 ELSE 0.90 END AS rate
            FROM base b LEFT JOIN integrated i USING (account_id)),
        wins AS (
            SELECT account_id, min(close_date) AS won, arg_min(amount, close_date) AS amount,
                   arg_min(o, close_date) AS o
            FROM opportunities WHERE is_won AND NOT expansion GROUP BY account_id)
        SELECT account_id, due AS renewal_date, arr, r1 < rate AS renewed FROM base_rate
        UNION ALL
        SELECT account_id, due + 365, round(arr * 1.05, 2), r2 < rate
        FROM base_rate WHERE r1 < rate
        UNION ALL
        SELECT account_id, won + 365, amount, u(65, o) < 0.78
        FROM wins WHERE won + 365 <= {end}
        """),
    ]


#: What each CSV holds, in canonical column order and text formats.
_CSV_SELECT = {
    "partners": "SELECT partner_id, name, partner_type, signed_date FROM partners ORDER BY i",
    "activities": "SELECT activity_id, partner_id, date, kind FROM activities ORDER BY a",
    "integrations": "SELECT integration_id, partner_id, name, scoped_date, live_date "
                    "FROM integrations ORDER BY j",
    "installs": "SELECT connection_id, integration_id, account_id, "
                "strftime(make_timestamp(installed_s * 1000000), '%Y-%m-%dT%H:%M:%SZ') AS installed_at, "
                "strftime(make_timestamp(uninstalled_s * 1000000), '%Y-%m-%dT%H:%M:%SZ') AS uninstalled_at "
                "FROM installs ORDER BY c",
    "opportunities": "SELECT opportunity_id, account_id, name, created_date, close_date, "
                     "CASE WHEN is_won THEN 'Closed Won' WHEN is_closed THEN 'Closed Lost' "
                     "ELSE ['Prospecting', 'Qualification', 'Proposal', 'Negotiation']"
                     "[1 + o % 4] END AS stage, is_closed, is_won, "
                     "printf('%.2f', amount) AS amount FROM opportunities ORDER BY o",
    "attributions": "SELECT opportunity_id, partner_id, role, tagged_date FROM attributions "
                    "ORDER BY o, tagged_date, partner_id",
    "renewals": "SELECT account_id, renewal_date, printf('%.2f', arr) AS arr, renewed "
                "FROM renewals ORDER BY renewal_date, account_id",
}


def _events_select(scale: Scale) -> str:
    """Every sync event, in time order (as an event log is appended).

    Each install gets a share of ``scale.events`` proportional to the time it
    was installed inside the window and its pace (largest remainders make the
    total exact); its events fall uniformly over that time.
    """
    orphans = " UNION ALL ".join(
        f"SELECT '{cid}' AS connection_id, {WINDOW_START_S} + CAST(floor(u2(90, {n}, k) * "
        f"{WINDOW_END_S - WINDOW_START_S}) AS BIGINT) AS ts_s, u2(91, {n}, k) < 0.5 AS ok "
        f"FROM range({count}) r(k)"
        for n, (cid, count) in enumerate(ORPHANS))
    return f"""
    WITH w AS (
        SELECT c, connection_id, error_share, installed_s AS from_s,
               coalesce(uninstalled_s, {WINDOW_END_S}) - installed_s AS span_s,
               (coalesce(uninstalled_s, {WINDOW_END_S}) - installed_s) * pace AS weight
        FROM installs),
    q AS (
        SELECT *, {scale.events} * weight / sum(weight) OVER () AS share FROM w),
    n AS (
        SELECT *, CAST(floor(share) AS BIGINT)
                  + CASE WHEN row_number() OVER (ORDER BY share - floor(share) DESC, c)
                              <= {scale.events} - sum(CAST(floor(share) AS BIGINT)) OVER ()
                         THEN 1 ELSE 0 END AS events
        FROM q),
    e AS (
        SELECT c, connection_id, from_s, span_s, error_share, unnest(range(events)) AS k
        FROM n WHERE events > 0),
    all_events AS (
        SELECT connection_id, from_s + CAST(floor(u2(20, c, k) * span_s) AS BIGINT) AS ts_s,
               u2(21, c, k) >= error_share AS ok
        FROM e
        UNION ALL {orphans})
    SELECT connection_id, make_timestamp(ts_s * 1000000) AS ts, ok
    FROM all_events ORDER BY ts, connection_id
    """


def _connect(seed: int, tmp: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{tmp}'")
    con.execute("SET memory_limit = '4GB'")
    seed = int(seed)
    # Uniform [0, 1) from 53 bits of a hash: deterministic and free of thread
    # order. DuckDB's variadic hash(a, b, c) combines its arguments almost
    # linearly (neighbouring streams came out correlated), so each argument is
    # mixed in through a full hash instead.
    con.execute(f"CREATE MACRO stream_key(stream) AS hash(xor(hash({seed}), CAST(stream AS UBIGINT)))")
    con.execute("CREATE MACRO mix(stream, i) AS "
                "hash(xor(CAST(i AS UBIGINT), stream_key(stream)))")
    con.execute("CREATE MACRO u(stream, i) AS "
                "CAST(mix(stream, i) >> 11 AS DOUBLE) / 9007199254740992.0")
    con.execute("CREATE MACRO u2(stream, i, k) AS "
                "CAST(hash(xor(CAST(k AS UBIGINT), mix(stream, i))) >> 11 AS DOUBLE) "
                "/ 9007199254740992.0")
    return con


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def generate(out_dir, scale: str = "series_b", seed: int = 1,
             progress=None) -> dict:
    """Write a data directory of the given scale; return its manifest.

    Parameters
    ----------
    out_dir : str or Path
        Target folder (created; the generated files in it are replaced).
    scale : {"series_b", "tiny"}
    seed : int
    progress : callable, optional
        Called with a line of text after each file.

    Returns
    -------
    dict
        ``scale, seed, rows (per table), bytes (per file), seconds``.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".tmp"
    tmp.mkdir(exist_ok=True)
    started = time.perf_counter()
    rows, sizes, seconds = {}, {}, {}
    try:
        con = _connect(seed, tmp)
        for table, statement in _sql(SCALES[scale]):
            con.execute(statement)
        for name in FILES:
            t0 = time.perf_counter()
            table = name.split(".")[0]
            path = out / name
            partial = tmp / name
            if name.endswith(".csv"):
                con.execute(f"COPY ({_CSV_SELECT[table]}) TO {_quote(partial)} "
                            "(FORMAT csv, HEADER true, DELIMITER ',')")
                rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            else:
                con.execute(f"COPY ({_events_select(SCALES[scale])}) TO {_quote(partial)} "
                            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
                rows[table] = con.execute(
                    f"SELECT count(*) FROM read_parquet({_quote(partial)})").fetchone()[0]
            partial.replace(path)
            sizes[name] = path.stat().st_size
            seconds[name] = round(time.perf_counter() - t0, 2)
            if progress is not None:
                progress(f"{name:<22} {rows[table]:>12,} rows {sizes[name] / 1e6:>9.1f} MB "
                         f"{seconds[name]:>7.1f} s")
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    manifest = {
        "scale": scale, "seed": int(seed), "scale_rows": asdict(SCALES[scale]),
        "rows": rows, "bytes": sizes, "total_bytes": sum(sizes.values()),
        "seconds": round(time.perf_counter() - started, 2), "file_seconds": seconds,
        "duckdb": duckdb.__version__,
        "orphan_events": {cid: n for cid, n in ORPHANS},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def default_dir(scale: str) -> Path:
    """``benchmarks/data/<scale>/`` (git-ignored)."""
    return BENCHMARKS / "data" / scale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="series_b")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="target folder (default: benchmarks/data/<scale>/)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = args.out or default_dir(args.scale)
    print(f"generating scale {args.scale} (seed {args.seed}) into {out}", flush=True)
    manifest = generate(out, args.scale, args.seed, progress=lambda s: print("  " + s, flush=True))
    print(f"done in {manifest['seconds']:.1f} s, {manifest['total_bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
