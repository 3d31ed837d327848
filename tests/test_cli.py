"""The command line on the sample company: contract shapes, exit codes, planted cases."""

import json
from pathlib import Path

import pytest

from partnerkit.catalogue import CATALOGUE
from partnerkit.cli import main
from partnerkit.sample import PLANTED_QUALITY_CASES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "data" / "sample")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def audit_json():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["audit", "--data", SAMPLE, "--json"]) == 0
    return json.loads(buffer.getvalue())


def test_help_of_every_command_exits_0(capsys):
    for command in ("sample", "validate", "kpis", "audit"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0
        assert ("--out" if command == "sample" else "--data") in out


def test_no_command_prints_usage_and_exits_2(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "COMMAND" in err


def test_kpis_json_returns_every_metric_of_the_catalogue(capsys):
    code, out, _ = run(capsys, "kpis", "--quarter", "2026Q3", "--data", SAMPLE, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["quarter"] == "2026Q3" and payload["scope"] == "all"
    assert sorted(payload["metrics"]) == sorted(CATALOGUE)
    for entry in payload["metrics"].values():
        assert {"value", "tier", "unit", "records"} <= set(entry)


def test_kpis_by_partner_lists_every_partner(capsys):
    code, out, _ = run(capsys, "kpis", "--quarter", "2026-Q3", "--by", "partner",
                       "--data", SAMPLE, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["quarter"] == "2026Q3"
    assert sorted(payload["partners"]) == [f"P{i:03d}" for i in range(1, 13)]
    assert sorted(payload["partners"]["P006"]["metrics"]) == sorted(CATALOGUE)


def test_kpis_readable_table(capsys):
    code, out, _ = run(capsys, "kpis", "--quarter", "2026Q3", "--data", SAMPLE)
    assert code == 0
    assert "sourced_pipeline" in out and "win_rate_lift" in out


@pytest.mark.parametrize("argv, needle", [
    (["kpis", "--quarter", "2026Q5"], "2026Q5"),
    (["kpis", "--quarter", "Q3"], "Q3"),
    (["kpis", "--quarter", "2026Q3", "--grace-days", "-1"], "grace"),
    (["kpis"], "--quarter"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, argv, needle):
    code, _, err = run(capsys, *argv, "--data", SAMPLE)
    assert code == 2 and needle in err and "Traceback" not in err


def test_missing_data_directory_exits_3(capsys, tmp_path):
    code, _, err = run(capsys, "kpis", "--quarter", "2026Q3", "--data", str(tmp_path / "nope"))
    assert code == 3 and "nope" in err


@pytest.mark.parametrize("mode", [["--quarter", "2026Q3"], ["--backfill", "2026Q2", "2026Q3"]])
def test_report_on_invalid_data_exits_3_and_archives_nothing(capsys, tmp_path, mode):
    out = tmp_path / "reports"
    code, _, err = run(capsys, "report", *mode, "--data", SAMPLE, "--strict", "--out", str(out))
    assert code == 3 and "opportunities.csv" in err and "1874" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_validate_lists_the_planted_invalid_rows(capsys):
    code, out, _ = run(capsys, "validate", "--data", SAMPLE, "--json")
    assert code == 0
    payload = json.loads(out)
    got = {(q["table"], q["row"], q["column"]) for q in payload["quarantined"]}
    assert got == {("opportunities", 1874, "amount"), ("opportunities", 2031, "is_won"),
                   ("attributions", 172, "partner_id"),
                   ("attributions", 790, "opportunity_id")}
    assert payload["tables"]["opportunities"] == {"rows": 3760, "quarantined": 2}


def test_validate_strict_fails_on_the_sample(capsys):
    code, _, err = run(capsys, "validate", "--data", SAMPLE, "--strict")
    assert code == 3 and "opportunities.csv" in err and "1874" in err


def test_every_planted_attribution_case_is_found_under_its_rule(audit_json):
    found = {(f["rule"], f["opportunity_id"], f["partner_id"]) for f in audit_json["findings"]}
    for case in PLANTED_QUALITY_CASES:
        if case["table"] != "attributions":
            continue
        key = (case["rule"], case["opportunity_id"], case["partner_id"])
        assert (key in found) == case["fires"], key


def test_orphan_events_and_quarantined_rows_are_in_the_audit(audit_json):
    orphan = [f for f in audit_json["findings"] if f["rule"] == "orphan_events"]
    planted = [c for c in PLANTED_QUALITY_CASES if c["rule"] == "orphan_events"]
    assert orphan[0]["connection_ids"] == sorted(c["connection_id"] for c in planted)
    assert orphan[0]["count"] == sum(c["events"] for c in planted)
    rows = {(q["table"], q["row"]) for q in audit_json["quarantined"]}
    for case in PLANTED_QUALITY_CASES:
        if case["table"] == "opportunities":
            assert (case["table"], case["row"]) in rows


def test_sample_refuses_a_non_empty_folder(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "sample", "--out", str(tmp_path))
    assert code == 2 and "--overwrite" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_leaks_json_names_each_planted_story(capsys):
    from partnerkit.sample import STORIES

    code, out, _ = run(capsys, "leaks", "--quarter", "2026Q3", "--data", SAMPLE, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["quarter"] == "2026Q3"
    found = {(leak["pattern"], leak["scope"]) for leak in payload["leaks"]}
    assert found == {
        ("activity_without_output", STORIES["meetings_without_shipping"]),
        ("installs_without_usage", STORIES["installs_without_usage"]["partner_id"]),
        ("output_without_outcome", STORIES["live_without_pipeline"]["partner_id"]),
        ("error_rate_creep", STORIES["error_rate_creep"]["partner_id"]),
    }
    for leak in payload["leaks"]:
        assert set(leak) == {"pattern", "scope", "lower", "upper", "evidence", "diagnosis",
                             "records"}


def test_leaks_with_a_bad_rules_file_exits_2(capsys, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  activity_without_output:\n    lower: [logos_on_a_page]\n")
    code, _, err = run(capsys, "leaks", "--quarter", "2026Q3", "--data", SAMPLE,
                       "--rules", str(rules))
    assert code == 2 and "rules.yml" in err and "Traceback" not in err


def test_scorecard_json_rows(capsys):
    code, out, _ = run(capsys, "scorecard", "--quarter", "2026Q3", "--stage", "seed",
                       "--data", SAMPLE, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["stage"] == "seed"
    assert {c["status"] for c in payload["checks"]} <= {"met", "not met", "not measured"}
    assert all({"check", "target", "actual", "status"} <= set(c) for c in payload["checks"])
    code, _, err = run(capsys, "scorecard", "--quarter", "2026Q3", "--stage", "ipo",
                       "--data", SAMPLE)
    assert code == 2 and "ipo" in err


def test_lint_dashboard_flags_vanity_and_installs_alone(capsys, tmp_path):
    spec = ROOT / "tests" / "fixtures" / "dashboards" / "vanity_and_installs.yml"
    code, out, _ = run(capsys, "lint-dashboard", str(spec), "--json",
                       "--reports", str(tmp_path))
    assert code == 0
    found = {(f["id"], f["metric"], f.get("replacement")) for f in json.loads(out)["findings"]}
    assert ("vanity_metric", "partners_signed", "integrations_live") in found
    assert ("installs_without_ratio", "installs_active", "active_to_install_ratio") in found
    code, out, _ = run(capsys, "lint-dashboard", "--reports", str(tmp_path))
    assert code == 0 and "clean" in out
    code, _, err = run(capsys, "lint-dashboard", str(tmp_path / "missing.yml"))
    assert code == 2 and "missing.yml" in err


def test_plots_writes_the_dashboard_and_stack_walk_pngs(capsys, tmp_path):
    code, out, _ = run(capsys, "plots", "--quarter", "2026Q3", "--data", SAMPLE,
                       "--out", str(tmp_path))
    assert code == 0
    for name in ("dashboard.png", "stack_walk.png", "stack_walk_P002.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert str(tmp_path / name) in out


def test_backend_url_runs_the_rollup_on_that_connection(capsys):
    code, out, _ = run(capsys, "kpis", "--quarter", "2026Q3", "--data", SAMPLE, "--json",
                       "--backend", "duckdb://")
    default_code, default_out, _ = run(capsys, "kpis", "--quarter", "2026Q3", "--data", SAMPLE,
                                       "--json")
    assert code == default_code == 0
    assert json.loads(out) == json.loads(default_out)
    code, _, err = run(capsys, "kpis", "--quarter", "2026Q3", "--data", SAMPLE,
                       "--backend", "nosuch://")
    assert code == 2 and "nosuch" in err


# ---------------------------------------------------------------------------- the command itself


def command(*argv, **kwargs):
    """The ``partnerkit`` command as a shell runs it (``run``, not ``main``)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "partnerkit.cli", *argv], capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_the_command_exits_with_the_code_main_returns_and_flushes_its_output(tmp_path):
    done = command("--version")
    assert done.returncode == 0 and done.stdout.strip().startswith("partnerkit ")
    done = command("report", "--bogus")
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr
    # a JSON document written to a pipe arrives whole, though the process leaves at once
    done = command("kpis", "--data", SAMPLE, "--quarter", "2026Q3", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["quarter"] == "2026Q3"


def test_a_reader_that_stops_early_ends_the_command_quietly():
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "partnerkit.cli", "kpis", "--data", SAMPLE,
                                "--quarter", "2026Q3", "--by", "partner", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(10) == b'{\n  "quart'  # then stop reading, as `| head` does
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err
