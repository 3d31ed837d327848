"""Smoke test of the benchmark scripts at tiny scale (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from partnerkit.catalogue import CATALOGUE
from partnerkit.load import load_dataset

ROOT = Path(__file__).resolve().parents[1]
GENERATE = ROOT / "benchmarks" / "generate.py"
RUN = ROOT / "benchmarks" / "run.py"

# tiny scale: 2*10^5 events plus the 5 + 3 + 2 planted orphan events
TINY_EVENTS = 200_000
TINY_ORPHANS = 10


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(out: Path, seed: int = 1) -> None:
    proc = subprocess.run([sys.executable, str(GENERATE), "--scale", "tiny", "--out", str(out),
                           "--seed", str(seed)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "tiny"
    _generate(out)
    return out


def test_tiny_data_directory_loads_without_quarantine(tiny):
    dataset = load_dataset(tiny)
    assert dataset.quarantine == []
    assert len(dataset.partners) == 20
    assert len(dataset.opportunities) == 2_000
    assert len(dataset.installs) == 500
    assert pq.ParquetFile(tiny / "sync_events.parquet").metadata.num_rows == TINY_EVENTS + TINY_ORPHANS
    # every quarter from 2024Q4 to 2026Q3 has deals
    created = dataset.opportunities["created_date"].dt.to_period("Q").astype(str)
    assert sorted(created.unique()) == ["2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4",
                                        "2026Q1", "2026Q2", "2026Q3"]


def test_generation_is_deterministic_per_seed(tiny, tmp_path):
    _generate(tmp_path / "same", seed=1)
    _generate(tmp_path / "other", seed=2)
    for name in ("opportunities.csv", "installs.csv", "attributions.csv"):
        assert (tmp_path / "same" / name).read_bytes() == (tiny / name).read_bytes()
        assert (tmp_path / "other" / name).read_bytes() != (tiny / name).read_bytes()


def test_run_writes_ratios_for_the_selected_benchmarks(tiny, tmp_path):
    results_path = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--scale", "tiny", "--data", str(tiny), "--repeat", "1",
         "--results", str(results_path), "--only", "telemetry_rollup", "kpis"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(results_path.read_text())
    assert {"telemetry_rollup", "kpis", "report", "backfill", "data", "machine"} <= set(results)

    for name, target in (("telemetry_rollup", 1.2), ("kpis", 2.0)):
        entry = results[name]
        assert entry["status"] == "ok"
        assert entry["target"] == target
        assert isinstance(entry["ratio"], float) and math.isfinite(entry["ratio"])
        assert entry["seconds"] > 0 and entry["baseline"]["seconds"] > 0
        assert entry["ratio"] == pytest.approx(entry["seconds"] / entry["baseline"]["seconds"],
                                               rel=1e-2)
        assert entry["peak_rss_mb"] > 0 and isinstance(entry["met"], bool)
    for name in ("report", "backfill"):
        assert results[name]["status"] == "skipped" and results[name]["ratio"] is None

    telemetry = results["telemetry_rollup"]
    assert telemetry["agree"] is True
    # every generated event falls inside 2024Q4..2026Q3; the orphans are left out
    quarterly = telemetry["quarterly"]
    assert sum(attempts for attempts, _, _ in quarterly.values()) == TINY_EVENTS
    assert all(0 <= errors <= attempts for attempts, errors, _ in quarterly.values())
    assert telemetry["pandas"]["seconds"] > 0

    kpis = results["kpis"]
    assert kpis["counts"]["partners"] == 20
    assert kpis["counts"]["metrics"] == len(CATALOGUE)

    tables = results["data"]["tables"]
    assert tables["sync_events"]["rows"] == TINY_EVENTS + TINY_ORPHANS
    assert tables["opportunities"]["rows"] == 2_000
    assert results["data"]["bytes"] == sum(t["bytes"] for t in tables.values())
    assert results["machine"]["cores"] >= 1


def test_disagreeing_telemetry_results_fail_loudly():
    run = _module(RUN)
    same = {"weekly": {"2026-07-06": 3}, "quarterly": {"2026Q3": [10, 1, 0.1]}}
    run._compare_telemetry({"a": same, "b": json.loads(json.dumps(same))})
    other_week = {"weekly": {"2026-07-06": 4}, "quarterly": same["quarterly"]}
    with pytest.raises(run.BenchmarkError, match="week 2026-07-06"):
        run._compare_telemetry({"a": same, "b": other_week})
    other_quarter = {"weekly": same["weekly"], "quarterly": {"2026Q3": [10, 2, 0.2]}}
    with pytest.raises(run.BenchmarkError, match="quarter 2026Q3"):
        run._compare_telemetry({"a": same, "b": other_quarter})


def test_telemetry_window_is_the_eight_quarters_ending_at_the_quarter():
    run = _module(RUN)
    assert run._telemetry_window("2026Q3") == ("2024-10-01T00:00:00", "2026-10-01T00:00:00")
    assert run._telemetry_window("2025Q1") == ("2023-04-01T00:00:00", "2025-04-01T00:00:00")
    assert run._previous_quarters("2026Q1", 4) == ["2025Q2", "2025Q3", "2025Q4", "2026Q1"]
