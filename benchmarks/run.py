"""The performance claims of SPEC §14, measured as ratios in one run.

    python benchmarks/run.py                         # series_b data, every benchmark
    python benchmarks/run.py --scale tiny --repeat 1 --only telemetry_rollup kpis

Every measurement runs in a fresh Python process; the parent records its wall
time and, through ``os.wait4``, its peak resident memory (the largest of the
process and the children it waited for, e.g. notebook kernels). A timed child
also reports the seconds of its own timed region, which leaves out interpreter
start-up and imports; the ratios of SPEC §14 compare those regions, and the
whole-process ratio is printed beside them. Each figure is the median of
``--repeat`` runs (variants interleaved, so that a burst of load from other
processes spreads over all of them).

Benchmarks (targets are ratios, lower is better):

telemetry_rollup  partnerkit's ``TelemetryEngine`` rollup (weekly active
                  connections + error rate per quarter, 8 quarters ending at
                  ``--quarter``) / one hand-written DuckDB SQL query; pandas
                  ``read_parquet`` + groupby measured beside. The three must
                  agree exactly. Target <= 1.2 and peak RSS < 1 GB.
kpis              ``load_dataset`` + every KPI for the company and per partner +
                  audit + leaks for one quarter / pandas reading every table
                  file of the directory (``sync_events`` included). Target <= 2.
report            ``partnerkit report --quarter Q`` on data/sample / papermill
                  executing as many notebooks that only import partnerkit.
                  Target <= 1.5.
backfill          ``partnerkit report --backfill`` over 4 quarters / 4 sequential
                  single-quarter reports. Target <= 0.65. One run by default
                  (``--backfill-repeat``): each run is eight reports.

A benchmark whose command does not exist yet is reported as "not available"
(with the reason) and no number is invented for it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SAMPLE = ROOT / "data" / "sample"

NAMES = ("telemetry_rollup", "kpis", "report", "backfill")
TARGETS = {"telemetry_rollup": 1.2, "kpis": 2.0, "report": 1.5, "backfill": 0.65}
RSS_TARGET_MB = {"telemetry_rollup": 1024}
BACKFILL_QUARTERS = 4
TELEMETRY_QUARTERS = 8
NOT_AVAILABLE = "not available"


# =========================================================================== children
#
# Each child does one thing and writes a small JSON (its timed seconds, its
# stages and the numbers to cross-check) to --child-out. Children import only
# what their variant needs.


def _now() -> tuple[float, float]:
    """Wall clock, and CPU seconds of this process over all its threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _timed(start: tuple[float, float], end: tuple[float, float]) -> dict:
    return {"seconds": end[0] - start[0], "cpu_seconds": end[1] - start[1]}


def _quarter_label(year: int, quarter: int) -> str:
    return f"{year}Q{quarter}"


def _child_telemetry_partnerkit(args) -> dict:
    import pandas as pd

    from partnerkit.dataset import EventSource
    from partnerkit.load import load_table
    from partnerkit.telemetry import TelemetryEngine

    # ibis imports its DuckDB backend (and sqlglot) on first use: an import, so it
    # is done before the clock starts, as the other variants import theirs.
    import ibis

    ibis.duckdb  # noqa: B018

    data = Path(args.data)
    t0 = time.perf_counter()
    # The in-memory installs and integrations that load_dataset would hand over;
    # reading and validating them is reported apart (prepare_seconds).
    installs, _, _ = load_table(data / "installs.csv", "installs")
    integrations, _, _ = load_table(data / "integrations.csv", "integrations")
    t1 = _now()
    engine = TelemetryEngine(EventSource(data / "sync_events.parquet", "parquet"),
                             installs, integrations)
    rollup = engine.rollup(pd.Timestamp(args.start), pd.Timestamp(args.end))
    weekly = rollup.weekly_active()
    rates = rollup.error_rates()
    t2 = _now()
    return {
        **_timed(t1, t2),
        "stages": {"prepare_seconds": t1[0] - t0},
        "weekly": {w.strftime("%Y-%m-%d"): int(n)
                   for w, n in zip(weekly["week"], weekly["active_connections"]) if n},
        "quarterly": {str(r.quarter): [int(r.attempts), int(r.errors), float(r.error_rate)]
                      for r in rates.itertuples() if r.attempts},
    }


#: The hand-written query: aggregate per (connection, week, quarter), keep the
#: known connections, then count active connections per week and sum attempts
#: and errors per quarter. Grouping first keeps the join to installs small, as
#: partnerkit's own query does.
TELEMETRY_SQL = """
WITH connection_weeks AS (
    SELECT connection_id,
           date_trunc('week', ts) AS week,
           date_trunc('quarter', ts) AS quarter,
           count(*) AS attempts,
           count(*) FILTER (WHERE NOT ok) AS errors,
           bool_or(ok) AS active
    FROM read_parquet($events)
    WHERE ts >= $start AND ts < $end
    GROUP BY ALL
),
known AS (
    SELECT * FROM connection_weeks
    SEMI JOIN read_csv($installs, all_varchar = true) AS i USING (connection_id)
)
SELECT 'week' AS kind, week AS period,
       count(DISTINCT connection_id) FILTER (WHERE active) AS active_connections,
       NULL::BIGINT AS attempts, NULL::BIGINT AS errors
FROM known GROUP BY week
UNION ALL
SELECT 'quarter', quarter, NULL, sum(attempts), sum(errors)
FROM known GROUP BY quarter
"""


def _child_telemetry_sql(args) -> dict:
    import datetime as dt

    import duckdb

    data = Path(args.data)
    t0 = _now()
    con = duckdb.connect()
    rows = con.execute(TELEMETRY_SQL, {
        "events": str(data / "sync_events.parquet"),
        "installs": str(data / "installs.csv"),
        "start": dt.datetime.fromisoformat(args.start),
        "end": dt.datetime.fromisoformat(args.end),
    }).fetchall()
    t1 = _now()
    weekly, quarterly = {}, {}
    for kind, period, active, attempts, errors in rows:
        if kind == "week":
            if active:
                weekly[period.strftime("%Y-%m-%d")] = int(active)
        elif attempts:
            label = _quarter_label(period.year, (period.month - 1) // 3 + 1)
            quarterly[label] = [int(attempts), int(errors), errors / attempts]
    return {**_timed(t0, t1), "weekly": weekly, "quarterly": quarterly}


def _child_telemetry_pandas(args) -> dict:
    import pandas as pd

    data = Path(args.data)
    t0 = _now()
    events = pd.read_parquet(data / "sync_events.parquet")
    installs = pd.read_csv(data / "installs.csv", usecols=["connection_id"], dtype=str)
    t1 = _now()
    events = events[(events["ts"] >= pd.Timestamp(args.start))
                    & (events["ts"] < pd.Timestamp(args.end))]
    events = events[events["connection_id"].isin(installs["connection_id"])]
    ts = events["ts"]
    week = (ts - pd.to_timedelta(ts.dt.dayofweek, unit="D")).dt.normalize()
    ok = events["ok"]
    weekly = events.loc[ok, "connection_id"].groupby(week[ok]).nunique()
    quarterly = ok.groupby([ts.dt.year, ts.dt.quarter]).agg(["size", "sum"])
    t2 = _now()
    return {
        **_timed(t0, t2),
        "stages": {"read_seconds": t1[0] - t0[0], "groupby_seconds": t2[0] - t1[0]},
        "weekly": {w.strftime("%Y-%m-%d"): int(n) for w, n in weekly.items() if n},
        "quarterly": {_quarter_label(y, q): [int(n), int(n - k), (n - k) / n]
                      for (y, q), (n, k) in quarterly.iterrows() if n},
    }


def _child_kpis_partnerkit(args) -> dict:
    from partnerkit.audit import audit_report
    from partnerkit.kpis import Kpis
    from partnerkit.load import load_dataset

    try:
        from partnerkit.leaks import leaks_report
    except ImportError:
        leaks_report = None
    # imports happen before the clock starts, in every variant: the telemetry
    # engine's ibis and its DuckDB backend load lazily on first use otherwise
    import ibis

    import partnerkit.telemetry  # noqa: F401

    ibis.duckdb  # noqa: B018

    stages = {}
    t0 = _now()
    last = t0[0]

    def stage(name):
        nonlocal last
        now = time.perf_counter()
        stages[name] = now - last
        last = now

    dataset = load_dataset(args.data)
    stage("load_dataset")
    kpis = Kpis(dataset)
    company = kpis.to_json(args.quarter)
    stage("company")
    partners = kpis.to_json(args.quarter, by_partner=True)
    stage("by_partner")
    audit = audit_report(kpis)
    stage("audit")
    leaks = leaks_report(kpis, args.quarter) if leaks_report is not None else None
    stage("leaks")
    t1 = _now()
    # the payloads' size, outside the timed region (printing them is not asked for)
    text = json.dumps([company, partners, audit, leaks], default=str)
    return {
        **_timed(t0, t1),
        "stages": stages,
        "leaks_available": leaks_report is not None,
        "counts": {"metrics": len(company["metrics"]), "partners": len(partners["partners"]),
                   "findings": len(audit["findings"]),
                   "quarantined": len(audit["quarantined"]),
                   "leaks": None if leaks is None else len(leaks["leaks"]),
                   "json_bytes": len(text)},
    }


def _child_kpis_read(args) -> dict:
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (read_parquet imports it lazily)

    stages = {}
    t0 = _now()
    rows = {}
    for path in _table_files(Path(args.data)):
        t = time.perf_counter()
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        stages[path.name] = time.perf_counter() - t
        rows[path.name] = len(frame)
        del frame
    return {**_timed(t0, _now()), "stages": stages, "rows": rows}


def _child_papermill_floor(args, strict: bool = False) -> dict:
    """papermill as it comes; ``strict``: with the process settings the report uses too."""
    options = {}
    if strict:
        from partnerkit.execute import skip_iri_grammars

        skip_iri_grammars()
        options = {"shutdown_kernel": "immediate"}
    import papermill

    folder = Path(args.notebooks)
    t0 = _now()
    for path in sorted(folder.glob("*.ipynb")):
        papermill.execute_notebook(str(path), str(folder / "out" / path.name),
                                   parameters={"quarter": args.quarter},
                                   progress_bar=False, log_output=False, **options)
    return _timed(t0, _now())


def _child_papermill_floor_strict(args) -> dict:
    return _child_papermill_floor(args, strict=True)


CHILDREN = {
    "telemetry_partnerkit": _child_telemetry_partnerkit,
    "telemetry_sql": _child_telemetry_sql,
    "telemetry_pandas": _child_telemetry_pandas,
    "kpis_partnerkit": _child_kpis_partnerkit,
    "kpis_read": _child_kpis_read,
    "papermill_floor": _child_papermill_floor,
    "papermill_floor_strict": _child_papermill_floor_strict,
}


def _child_main(args) -> int:
    result = CHILDREN[args.child](args)
    Path(args.child_out).write_text(json.dumps(result))
    return 0


# =========================================================================== measuring


def _table_files(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir()
                  if p.is_file() and p.suffix in (".csv", ".parquet") and not p.name.startswith("."))


def _cpu_busy(seconds: float = 2.0) -> float:
    """Share of all CPUs busy over a short window (0..1), from /proc/stat."""
    def sample():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + values[4]
        return idle, sum(values)
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return float("nan")
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def _loadavg() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


class Runner:
    """Starts measured processes, optionally only once the machine is quiet."""

    def __init__(self, max_busy: float | None, max_wait: float, log):
        self.max_busy = max_busy
        self.max_wait = max_wait
        self.log = log

    def _wait_quiet(self) -> float | None:
        if self.max_busy is None:
            return None
        deadline = time.monotonic() + self.max_wait
        busy = _cpu_busy()
        while busy > self.max_busy and time.monotonic() < deadline:
            self.log(f"    waiting: other processes keep {busy:.0%} of the CPUs busy")
            time.sleep(10)
            busy = _cpu_busy()
        return busy

    def run(self, cmd: list[str], *, timed_child: bool = False, timeout: float = 7200) -> dict:
        """Run ``cmd`` in a fresh process; wall seconds, peak RSS and its JSON result."""
        busy = self._wait_quiet()
        with tempfile.TemporaryDirectory(prefix="pk-bench-") as tmp:
            out = Path(tmp) / "child.json"
            if timed_child:
                cmd = [*cmd, "--child-out", str(out)]
            stdout = open(Path(tmp) / "stdout", "w+b")
            stderr = open(Path(tmp) / "stderr", "w+b")
            load = _loadavg()
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=stdout, stderr=stderr)
            while True:
                # wait4 reaps the child and returns its own resource usage
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.005)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            stdout.seek(0)
            stderr.seek(0)
            result = {
                "wall_seconds": wall,
                # CPU of the process and of the children it waited for (kernels)
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "returncode": proc.returncode,
                "loadavg": load,
                "cpu_busy_before": busy,
                "stdout": stdout.read().decode(errors="replace"),
                "stderr": stderr.read().decode(errors="replace"),
            }
            stdout.close()
            stderr.close()
            if timed_child and proc.returncode == 0:
                result["child"] = json.loads(out.read_text())
        return result


def _python_child(args, name: str, **extra) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
           "--data", str(args.data), "--quarter", args.quarter]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def _check_ok(run: dict, what: str) -> None:
    if run["returncode"] != 0:
        tail = "\n".join(run["stderr"].strip().splitlines()[-15:])
        raise BenchmarkError(f"{what} failed with exit code {run['returncode']}:\n{tail}")


class BenchmarkError(RuntimeError):
    """A measured command failed or two implementations disagree."""


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _summary(runs: list[dict], timed: bool = True) -> dict:
    out = {
        "seconds": _median([r["child"]["seconds"] for r in runs] if timed
                           else [r["wall_seconds"] for r in runs]),
        "cpu_seconds": _median([r["child"]["cpu_seconds"] for r in runs] if timed
                               else [r["cpu_seconds"] for r in runs]),
        "wall_seconds": _median([r["wall_seconds"] for r in runs]),
        "peak_rss_mb": _median([r["peak_rss_mb"] for r in runs]),
        "runs": len(runs),
        "all_seconds": [round(r["child"]["seconds"] if timed else r["wall_seconds"], 3)
                        for r in runs],
        "loadavg": [r["loadavg"][0] if r["loadavg"] else None for r in runs],
    }
    stages = [r["child"].get("stages") for r in runs if timed and r["child"].get("stages")]
    if stages:
        out["stages"] = {k: _median([s.get(k) for s in stages]) for k in stages[0]}
    return out


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


# =========================================================================== benchmarks


def _telemetry_window(quarter: str) -> tuple[str, str]:
    """The 8 quarters ending at ``quarter`` (calendar quarters), as ISO timestamps."""
    year, q = int(quarter[:4]), int(quarter[5])
    index = year * 4 + (q - 1)
    first = index - (TELEMETRY_QUARTERS - 1)
    start = date(first // 4, 3 * (first % 4) + 1, 1)
    after = index + 1
    end = date(after // 4, 3 * (after % 4) + 1, 1)
    return f"{start}T00:00:00", f"{end}T00:00:00"


def _compare_telemetry(results: dict[str, dict]) -> None:
    """Fail loudly unless every implementation gives the same numbers."""
    names = list(results)
    reference = results[names[0]]
    for name in names[1:]:
        other = results[name]
        problems = []
        weeks = sorted(set(reference["weekly"]) | set(other["weekly"]))
        for w in weeks:
            a, b = reference["weekly"].get(w, 0), other["weekly"].get(w, 0)
            if a != b:
                problems.append(f"week {w}: active connections {a} ({names[0]}) vs {b} ({name})")
        quarters = sorted(set(reference["quarterly"]) | set(other["quarterly"]))
        for q in quarters:
            a = reference["quarterly"].get(q, [0, 0, None])
            b = other["quarterly"].get(q, [0, 0, None])
            if a[:2] != b[:2] or (a[2] is not None and abs(a[2] - b[2]) > 1e-12):
                problems.append(f"quarter {q}: attempts, errors, rate {a} ({names[0]}) vs {b} ({name})")
        if problems:
            raise BenchmarkError("telemetry results differ:\n  " + "\n  ".join(problems[:20]))
        if not reference["weekly"] or not reference["quarterly"]:
            raise BenchmarkError("telemetry rollup found no events in the window")


def _interleaved(args, runner: Runner, log, name: str, variants: dict[str, str],
                 after_round=None, **child_args) -> dict[str, list[dict]]:
    """Run each variant's child ``--repeat`` times, the variants taking turns."""
    runs = {v: [] for v in variants}
    for i in range(args.repeat):
        for variant, child in variants.items():
            run = runner.run(_python_child(args, child, **child_args), timed_child=True)
            _check_ok(run, f"{name} ({variant})")
            runs[variant].append(run)
            log(f"    run {i + 1}: {variant:<11} {run['child']['seconds']:7.2f} s "
                f"(process {run['wall_seconds']:.2f} s, {run['peak_rss_mb']:.0f} MB)")
        if after_round is not None:
            after_round(runs)
    return runs


def _compared(name: str, mine: dict, base: dict, baseline_name: str) -> dict:
    """The fields every benchmark result shares: ratios, partnerkit's figures, the baseline."""
    return {
        "status": "ok",
        "ratio": mine["seconds"] / base["seconds"],
        "target": TARGETS[name],
        "ratio_cpu": mine["cpu_seconds"] / base["cpu_seconds"],
        "seconds": mine["seconds"],
        "peak_rss_mb": mine["peak_rss_mb"],
        "partnerkit": mine,
        "baseline": {"name": baseline_name, **base},
    }


def bench_telemetry(args, runner: Runner, log) -> dict:
    start, end = _telemetry_window(args.quarter)
    variants = {"partnerkit": "telemetry_partnerkit", "duckdb_sql": "telemetry_sql",
                "pandas": "telemetry_pandas"}
    if args.skip_pandas:
        variants.pop("pandas")
    runs = _interleaved(args, runner, log, "telemetry_rollup", variants,
                        after_round=lambda runs: _compare_telemetry(
                            {v: r[-1]["child"] for v, r in runs.items()}),
                        start=start, end=end)
    pk, sql = _summary(runs["partnerkit"]), _summary(runs["duckdb_sql"])
    out = {
        **_compared("telemetry_rollup", pk, sql, "one hand-written DuckDB SQL query"),
        "ratio_wall": pk["wall_seconds"] / sql["wall_seconds"],
        "wall_seconds": pk["wall_seconds"],
        "rss_target_mb": RSS_TARGET_MB["telemetry_rollup"],
        "window": [start, end],
        "agree": True,
        "weeks": len(runs["partnerkit"][-1]["child"]["weekly"]),
        "quarterly": runs["partnerkit"][-1]["child"]["quarterly"],
    }
    if "pandas" in runs:
        pd_ = _summary(runs["pandas"])
        out["pandas"] = {"name": "pandas read_parquet + groupby", **pd_,
                         "time_vs_sql": pd_["seconds"] / sql["seconds"],
                         "rss_vs_sql": pd_["peak_rss_mb"] / sql["peak_rss_mb"]}
    out["met"] = out["ratio"] <= out["target"] and out["peak_rss_mb"] < out["rss_target_mb"]
    return out


def bench_kpis(args, runner: Runner, log) -> dict:
    runs = _interleaved(args, runner, log, "kpis",
                        {"partnerkit": "kpis_partnerkit", "pandas_read": "kpis_read"})
    pk, read = _summary(runs["partnerkit"]), _summary(runs["pandas_read"])
    last = runs["partnerkit"][-1]["child"]
    out = {
        **_compared("kpis", pk, read, "pandas read_csv/read_parquet of every table file"),
        "ratio_wall": pk["wall_seconds"] / read["wall_seconds"],
        "wall_seconds": pk["wall_seconds"],
        "quarter": args.quarter,
        "leaks_included": last["leaks_available"],
        "counts": last["counts"],
    }
    out["met"] = out["ratio"] <= out["target"]
    return out


def _partnerkit_command() -> list[str]:
    script = Path(sys.executable).parent / "partnerkit"
    if script.exists():
        return [str(script)]
    found = shutil.which("partnerkit")
    return [found] if found else [sys.executable, "-m", "partnerkit.cli"]


def _report_help() -> tuple[bool, str]:
    """Whether ``partnerkit report`` exists, and its help text (or the error)."""
    proc = subprocess.run([*_partnerkit_command(), "report", "--help"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"`partnerkit report` does not exist yet ({reason})"
    return True, proc.stdout


def _not_available(name: str, reason: str) -> dict:
    return {"status": NOT_AVAILABLE, "reason": reason, "ratio": None,
            "target": TARGETS[name], "met": None}


def _report_cmd(out: Path, *quarter_args: str) -> list[str]:
    return [*_partnerkit_command(), "report", *quarter_args, "--data", str(SAMPLE),
            "--out", str(out)]


def _archived_notebooks(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.ipynb")
               if not any("fail" in part.lower() for part in p.relative_to(folder).parts))


def _trivial_notebooks(folder: Path, count: int, quarter: str) -> None:
    """``count`` notebooks with a parameters cell and ``import partnerkit``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out").mkdir(exist_ok=True)
    for i in range(count):
        notebook = {
            "cells": [
                {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["parameters"]},
                 "outputs": [], "source": f'quarter = "{quarter}"'},
                {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                 "source": "import partnerkit"},
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 4,
        }
        (folder / f"floor_{i:02d}.ipynb").write_text(json.dumps(notebook))


def bench_report(args, runner: Runner, log) -> dict:
    available, help_text = _report_help()
    if not available:
        return _not_available("report", help_text)
    report_runs, floor_runs, strict_runs, notebooks = [], [], [], None
    with tempfile.TemporaryDirectory(prefix="pk-bench-report-") as tmp:
        tmp = Path(tmp)
        for i in range(args.repeat):
            out = tmp / f"report_{i}"
            run = runner.run(_report_cmd(out, "--quarter", args.quarter))
            _check_ok(run, "partnerkit report")
            report_runs.append(run)
            if notebooks is None:
                notebooks = _archived_notebooks(out) or len(list((ROOT / "notebooks").glob("*.ipynb")))
                if not notebooks:
                    raise BenchmarkError("partnerkit report archived no notebook; nothing to compare")
                _trivial_notebooks(tmp / "floor", notebooks, args.quarter)
            run_floor = runner.run(_python_child(args, "papermill_floor", notebooks=tmp / "floor"),
                                   timed_child=True)
            _check_ok(run_floor, "papermill floor")
            floor_runs.append(run_floor)
            run_strict = runner.run(_python_child(args, "papermill_floor_strict",
                                                  notebooks=tmp / "floor"), timed_child=True)
            _check_ok(run_strict, "papermill floor (strict)")
            strict_runs.append(run_strict)
            log(f"    run {i + 1}: report {run['wall_seconds']:.2f} s, floor "
                f"{run_floor['wall_seconds']:.2f} s, strict floor "
                f"{run_strict['wall_seconds']:.2f} s ({notebooks} notebooks)")
    report, floor = _summary(report_runs, timed=False), _summary(floor_runs, timed=False)
    strict = _summary(strict_runs, timed=False)
    out = {
        **_compared("report", report, floor, f"papermill executing {notebooks} notebooks "
                                             "that only import partnerkit (one process)"),
        "notebooks": notebooks,
        "quarter": args.quarter,
        "data": str(SAMPLE.relative_to(ROOT)),
        # the same floor with the two process settings the report itself uses (jsonschema's
        # IRI grammars skipped, kernels shut down at once): the ratio without their gain
        "ratio_strict": report["seconds"] / strict["seconds"],
        "baseline_strict": {"name": "the same, with IRI grammars skipped and kernels shut "
                                    "down at once", **strict},
    }
    out["met"] = out["ratio"] <= out["target"]
    return out


def _previous_quarters(quarter: str, n: int) -> list[str]:
    year, q = int(quarter[:4]), int(quarter[5])
    index = year * 4 + (q - 1)
    return [_quarter_label(i // 4, i % 4 + 1) for i in range(index - n + 1, index + 1)]


def bench_backfill(args, runner: Runner, log) -> dict:
    available, help_text = _report_help()
    if not available:
        return _not_available("backfill", help_text)
    if "--backfill" not in help_text:
        return _not_available("backfill", "`partnerkit report` has no --backfill option yet")
    quarters = _previous_quarters(args.quarter, BACKFILL_QUARTERS)
    backfill_runs, sequential = [], []
    with tempfile.TemporaryDirectory(prefix="pk-bench-backfill-") as tmp:
        tmp = Path(tmp)
        for i in range(args.backfill_repeat):
            run = runner.run(_report_cmd(tmp / f"backfill_{i}", "--backfill",
                                         quarters[0], quarters[-1]))
            _check_ok(run, "partnerkit report --backfill")
            backfill_runs.append(run)
            singles = []
            for q in quarters:
                single = runner.run(_report_cmd(tmp / f"sequential_{i}", "--quarter", q))
                _check_ok(single, f"partnerkit report --quarter {q}")
                singles.append(single)
            total = sum(s["wall_seconds"] for s in singles)
            sequential.append({"wall_seconds": total,
                               "cpu_seconds": sum(s["cpu_seconds"] for s in singles),
                               "peak_rss_mb": max(s["peak_rss_mb"] for s in singles),
                               "loadavg": singles[0]["loadavg"]})
            log(f"    run {i + 1}: backfill {run['wall_seconds']:.2f} s, "
                f"{len(quarters)} sequential reports {total:.2f} s")
    backfill, seq = _summary(backfill_runs, timed=False), _summary(sequential, timed=False)
    out = {
        **_compared("backfill", backfill, seq,
                    f"{len(quarters)} sequential `partnerkit report --quarter` runs"),
        "quarters": quarters,
        "note": "peak RSS is that of the largest single process of the tree, not their sum",
    }
    out["met"] = out["ratio"] <= out["target"]
    return out


BENCHES = {"telemetry_rollup": bench_telemetry, "kpis": bench_kpis, "report": bench_report,
           "backfill": bench_backfill}


# =========================================================================== reporting


def _data_section(data: Path, scale: str) -> dict:
    tables, total = {}, 0
    for path in _table_files(data):
        size = path.stat().st_size
        total += size
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows
        else:
            with open(path, "rb") as fh:
                rows = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1
        tables[path.stem] = {"rows": rows, "bytes": size}
    out = {"dir": _shown(data), "scale": scale, "tables": tables, "bytes": total}
    manifest = data / "generation.json"
    if manifest.exists():
        generated = json.loads(manifest.read_text())
        out["generated"] = {k: generated.get(k) for k in ("seed", "seconds", "duckdb")}
    return out


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _versions() -> dict:
    out = {}
    for name in ("partnerkit", "duckdb", "ibis-framework", "pandas", "pyarrow", "numpy",
                 "papermill"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _machine() -> dict:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_mb": memory,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": _versions()}


def _table(results: dict) -> str:
    lines = [f"{'benchmark':<18}{'partnerkit':>12}{'baseline':>12}{'ratio':>8}"
             f"{'target':>9}{'met':>6}{'peak RSS':>11}{'CPU ratio':>11}"]
    for name in NAMES:
        r = results.get(name)
        if r is None:
            continue
        if r.get("status") != "ok":
            lines.append(f"{name:<18}{r.get('status', ''):>12}   {r.get('reason', '')}")
            continue
        met = "yes" if r["met"] else "NO"
        lines.append(f"{name:<18}{r['seconds']:>10.2f} s{r['baseline']['seconds']:>10.2f} s"
                     f"{r['ratio']:>8.2f}{'<= ' + str(r['target']):>9}{met:>6}"
                     f"{r['peak_rss_mb']:>8.0f} MB{r['ratio_cpu']:>11.2f}")
        if "ratio_wall" in r:
            lines.append(f"{'  whole process':<18}{r['wall_seconds']:>10.2f} s"
                         f"{r['baseline']['wall_seconds']:>10.2f} s{r['ratio_wall']:>8.2f}")
        if "baseline_strict" in r:
            lines.append(f"{'  strict floor':<18}{'':>12}{r['baseline_strict']['seconds']:>10.2f} s"
                         f"{r['ratio_strict']:>8.2f}")
        if "pandas" in r:
            p = r["pandas"]
            lines.append(f"{'  pandas':<18}{p['seconds']:>10.2f} s{'':>12}"
                         f"{p['time_vs_sql']:>7.1f}x{'':>15}{p['peak_rss_mb']:>8.0f} MB"
                         f"  ({p['rss_vs_sql']:.1f}x the SQL's memory)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure the performance claims of SPEC §14 as ratios.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["series_b", "tiny"], default="series_b",
                        help="data set for telemetry_rollup and kpis (default: series_b)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="data directory (default: benchmarks/data/<scale>/, generated "
                             "when missing)")
    parser.add_argument("--quarter", default="2026Q3")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per variant; the median is reported (default: 3)")
    parser.add_argument("--backfill-repeat", type=int, default=1,
                        help="runs of the backfill benchmark (default: 1, each is 8 reports)")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(NAMES)})")
    parser.add_argument("--results", type=Path, default=BENCHMARKS / "results.json",
                        help="where to write the JSON results (default: benchmarks/results.json)")
    parser.add_argument("--skip-pandas", action="store_true",
                        help="leave out the pandas variant of telemetry_rollup")
    parser.add_argument("--max-busy", type=float, metavar="SHARE",
                        help="before each run, wait until other processes use at most this "
                             "share of the CPUs (e.g. 0.25)")
    parser.add_argument("--max-wait", type=float, default=900, metavar="SECONDS",
                        help="longest wait for a quiet machine before each run (default: 900)")
    # child side (internal)
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    parser.add_argument("--notebooks", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)
    if args.repeat < 1 or args.backfill_repeat < 1:
        parser.error("--repeat and --backfill-repeat must be >= 1")

    def log(line: str) -> None:
        print(line, flush=True)

    args.data = (args.data or BENCHMARKS / "data" / args.scale).resolve()
    if not (args.data / "sync_events.parquet").exists():
        log(f"no data in {_shown(args.data)}: generating scale {args.scale}")
        subprocess.run([sys.executable, str(BENCHMARKS / "generate.py"), "--scale", args.scale,
                        "--out", str(args.data)], check=True)
    # read every file once so that no variant pays for a cold page cache
    for path in _table_files(args.data):
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass

    results: dict = {}
    selected = args.only or list(NAMES)
    runner = Runner(args.max_busy, args.max_wait, log)
    started_load = _loadavg()
    failed = None
    for name in NAMES:
        if name not in selected:
            results[name] = {"status": "skipped", "ratio": None, "target": TARGETS[name],
                             "met": None}
            continue
        log(f"{name} (load {_loadavg()})")
        try:
            results[name] = BENCHES[name](args, runner, log)
        except BenchmarkError as exc:
            failed = f"{name}: {exc}"
            results[name] = {"status": "failed", "reason": str(exc), "ratio": None,
                             "target": TARGETS[name], "met": None}
            log(f"FAILED {failed}")
            break
    for name in NAMES:
        results.setdefault(name, {"status": "skipped", "ratio": None, "target": TARGETS[name],
                                  "met": None})
    results["data"] = _data_section(args.data, args.scale)
    results["machine"] = {**_machine(), "loadavg_start": started_load, "loadavg_end": _loadavg(),
                          "repeat": args.repeat, "backfill_repeat": args.backfill_repeat,
                          "max_busy": args.max_busy}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(_rounded(results), indent=2) + "\n")
    log("")
    log(_table(results))
    log(f"\nresults written to {_shown(args.results)}")
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
