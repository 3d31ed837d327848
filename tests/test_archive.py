"""The quarterly report archive: end to end through the command line, and its rules.

One full report runs on a copy of the sample company whose partner P002 is named
``<script>alert(1)</script>`` and whose deals carry spreadsheet formulas as names, so the
same run proves the archive's contents, its escaping and its formula-safe CSVs. The other
tests use the tiny notebooks of ``tests/fixtures/notebooks`` to stay fast.
"""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from partnerkit import archive
from partnerkit.cli import main
from partnerkit.load import load_dataset
from partnerkit.quarantine import DataError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
QUICK, FAILING, SLOW = FIXTURES / "quick", FIXTURES / "failing", FIXTURES / "slow"

SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
SECRET = "pk-test-secret-7f3a9c"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root (folders included as markers)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = sha256(path) if path.is_file() else "dir"
    return out


def rewrite_csv(path: Path, change) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    for row in rows:
        change(row)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def copy_sample(target: Path) -> Path:
    target.mkdir(parents=True)
    for path in SAMPLE.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory) -> Path:
    """The sample with a script as a partner name and formulas as deal names."""
    data = copy_sample(tmp_path_factory.mktemp("hostile") / "data")

    def partner(row):
        if row["partner_id"] == "P002":
            row["name"] = SCRIPT_NAME

    def deal(row):
        if row["opportunity_id"] == "O03225":  # sourced by P001, created 2026-07-01
            row["name"] = FORMULA_NAME
        if row["opportunity_id"] == "O03237":  # sourced by P006, created 2026-07-03
            row["name"] = "-2+3"

    rewrite_csv(data / "partners.csv", partner)
    rewrite_csv(data / "opportunities.csv", deal)
    return data


@pytest.fixture(scope="module")
def archived(hostile_data, tmp_path_factory):
    """One full report (the real notebooks) into a fresh reports folder."""
    out = tmp_path_factory.mktemp("reports")
    saved = os.environ.get("PARTNERKIT_TEST_SECRET")
    os.environ["PARTNERKIT_TEST_SECRET"] = SECRET  # the kernel inherits it: it must not leak
    try:
        code = main(["report", "--quarter", "2026Q3", "--data", str(hostile_data),
                     "--out", str(out)])
    finally:
        if saved is None:
            os.environ.pop("PARTNERKIT_TEST_SECRET", None)
        else:
            os.environ["PARTNERKIT_TEST_SECRET"] = saved
    return code, out, out / "2026Q3"


# ---------------------------------------------------------------------------- the full report


def test_report_writes_every_file_of_the_archive(archived):
    code, out, folder = archived
    assert code == 0
    names = {p.name for p in folder.iterdir()}
    assert names == {"manifest.json", "kpis.json", "kpis_by_partner.json", "leaks.json",
                     "audit.json", "validation.json", "scorecard.json", "restatements.csv",
                     "dashboard.yml", "drilldown", "figures", "notebooks", "html"}
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")
                       if "partner" not in p.name)
    assert sorted(p.name for p in (folder / "notebooks").iterdir()) == notebooks
    assert sorted(p.stem for p in (folder / "html").iterdir()) == [Path(n).stem for n in notebooks]
    from partnerkit.catalogue import CATALOGUE
    assert sorted(p.stem for p in (folder / "drilldown").iterdir()) == sorted(CATALOGUE)
    # every figure the executed notebooks drew, as the notebooks hold it
    import base64

    drawn = {}
    for path in sorted((folder / "notebooks").iterdir()):
        images = [o["data"]["image/png"] for c in nbformat.read(str(path), as_version=4).cells
                  for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        for i, image in enumerate(images, 1):
            drawn[f"{path.stem}-{i}.png"] = base64.b64decode(image)
    assert sorted(p.name for p in (folder / "figures").iterdir()) == sorted(drawn)
    for name, data in drawn.items():
        assert (folder / "figures" / name).read_bytes() == data
    assert len((folder / "figures" / "03_exec_dashboard-1.png").read_bytes()) > 10_000
    # the metrics handed to the kernels are a working file, not part of the archive
    assert not list(folder.rglob("*.pickle"))
    # nothing else was left in the reports folder: no partial run, no failure
    assert [p.name for p in out.iterdir()] == ["2026Q3"]


def test_executed_notebooks_ran_every_cell_without_error(archived):
    _, _, folder = archived
    for path in (folder / "notebooks").iterdir():
        nb = nbformat.read(str(path), as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code_cells), path.name
        errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
        assert errors == [], path.name
        assert nb.metadata.papermill.parameters["quarter"] == "2026Q3"


def test_manifest_hashes_are_the_sha256_of_the_input_files(archived, hostile_data):
    _, _, folder = archived
    manifest = json.loads((folder / "manifest.json").read_text())
    tables = {p.name for p in hostile_data.iterdir() if p.suffix in (".csv", ".parquet")}
    assert set(manifest["inputs"]) == tables
    for name, digest in manifest["inputs"].items():
        assert digest == hashlib.sha256((hostile_data / name).read_bytes()).hexdigest()


def test_manifest_records_versions_parameters_and_timings(archived):
    _, _, folder = archived
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["quarter"] == "2026Q3" and manifest["archive"] == "2026Q3"
    assert manifest["parameters"]["stage"] == "series_a"
    assert manifest["python"] == ".".join(map(str, sys.version_info[:3]))
    from partnerkit import __version__
    assert manifest["partnerkit"] == __version__
    for name in ("pandas", "numpy", "pyarrow", "pandera", "duckdb", "ibis", "papermill",
                 "nbconvert", "matplotlib", "seaborn"):
        assert manifest["packages"][name], name
    assert "git" in manifest
    assert manifest["started"] <= manifest["finished"]
    timed = [t["notebook"] for t in manifest["notebooks"]]
    assert timed == sorted(p.name for p in (folder / "notebooks").iterdir())
    assert all(t["seconds"] > 0 for t in manifest["notebooks"])
    assert manifest["exec_html"] == "html/03_exec_dashboard.html"


def test_no_environment_variable_reaches_the_archive(archived):
    _, _, folder = archived
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    nb = nbformat.read(str(folder / "notebooks" / "03_exec_dashboard.ipynb"), as_version=4)
    assert "environment_variables" not in nb.metadata.papermill


def test_json_files_follow_the_command_line_shapes(archived, hostile_data, capsys):
    _, _, folder = archived
    for name, argv in (("kpis.json", ["kpis", "--quarter", "2026Q3"]),
                       ("audit.json", ["audit"]),
                       ("validation.json", ["validate"])):
        assert main([*argv, "--data", str(hostile_data), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert json.loads((folder / name).read_text()) == printed, name
    leaks = json.loads((folder / "leaks.json").read_text())
    found = {(leak["pattern"], leak["scope"]) for leak in leaks["leaks"]}
    # the planted stories of data/sample/README.md
    assert {("activity_without_output", "P002"), ("installs_without_usage", "P003"),
            ("output_without_outcome", "P004"), ("error_rate_creep", "P005")} <= found


def test_drilldown_lists_the_deals_behind_sourced_pipeline(archived):
    _, _, folder = archived
    kpis = json.loads((folder / "kpis.json").read_text())["metrics"]["sourced_pipeline"]
    with (folder / "drilldown" / "sourced_pipeline.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["opportunity_id"] for r in rows) == sorted(kpis["records"])
    assert sum(float(r["amount"]) for r in rows) == pytest.approx(kpis["value"])
    assert {r["bucket"] for r in rows} == {"sourced"}
    assert all(r["created_date"].startswith("2026-0") for r in rows)


def test_drilldown_neutralises_formulas_but_keeps_numbers(archived):
    _, _, folder = archived
    with (folder / "drilldown" / "sourced_pipeline.csv").open(newline="") as fh:
        rows = {r["opportunity_id"]: r for r in csv.DictReader(fh)}
    assert rows["O03225"]["name"] == "'" + FORMULA_NAME
    assert rows["O03237"]["name"] == "'-2+3"
    assert float(rows["O03225"]["amount"]) == 9650.0
    for row in rows.values():
        assert not row["name"].startswith(("=", "+", "-", "@"))


def test_partner_names_are_escaped_in_every_html_page(archived):
    _, _, folder = archived
    pages = list((folder / "html").iterdir())
    leak_page = (folder / "html" / "02_stack_walk.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in leak_page
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert SCRIPT_NAME not in text, page.name
        assert "alert(1)</script>" not in text, page.name


def test_exec_html_opens_offline(archived):
    import re

    _, _, folder = archived
    text = (folder / "html" / "03_exec_dashboard.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", text)
    assert not re.search(r"@import\s+url\([\"']?https?:", text)
    # the dashboard figure is embedded, not linked
    assert text.count("data:image/png;base64,") >= 2
    # neither the code nor the note on how to set the parameters is shown
    assert "report.prepare(" not in text
    assert "The cell below holds the parameters" not in text
    assert "Stage scorecard" in text


def test_second_run_refuses_with_exit_4_and_changes_nothing(archived, hostile_data, capsys):
    _, out, folder = archived
    before = tree_digest(out)
    capsys.readouterr()
    code = main(["report", "--quarter", "2026Q3", "--data", str(hostile_data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 4
    assert str(folder) in err and "--revision" in err
    assert tree_digest(out) == before


def test_revision_is_written_beside_the_archive(archived, hostile_data, capsys):
    _, out, folder = archived
    before = tree_digest(folder)
    code = main(["report", "--quarter", "2026Q3", "--data", str(hostile_data), "--out", str(out),
                 "--revision", "--notebooks", str(QUICK)])
    assert code == 0
    r2 = out / "2026Q3-r2"
    assert json.loads((r2 / "manifest.json").read_text())["archive"] == "2026Q3-r2"
    assert tree_digest(folder) == before
    # the first archive still computes the same on the same data: nothing restated
    assert (r2 / "restatements.csv").read_text().strip() == \
        "quarter,metric,scope,archived,current,archive"
    assert "2026Q3-r2" in capsys.readouterr().out


def test_partner_deep_dive_escapes_the_partner_name(archived, hostile_data, capsys):
    _, out, _ = archived
    latest = archive.latest_archive(out, "2026Q3")
    code = main(["report", "--quarter", "2026Q3", "--data", str(hostile_data), "--out", str(out),
                 "--partner", "P002"])
    assert code == 0, capsys.readouterr().err
    folder = latest / "partners" / "P002"
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "kpis.json", "drilldown",
                                                   "notebooks", "html"}
    page = (folder / "html" / "05_partner_deep_dive.html").read_text(encoding="utf-8")
    assert SCRIPT_NAME not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["scope"] == "P002" and "activity_events" in kpis["metrics"]
    # filed once: a second deep dive of the same partner is refused
    assert main(["report", "--quarter", "2026Q3", "--data", str(hostile_data),
                 "--out", str(out), "--partner", "P002"]) == 4


# ---------------------------------------------------------------------------- failures


def test_failing_notebook_leaves_no_archive_and_keeps_the_notebook(tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["report", "--quarter", "2026Q3", "--data", str(SAMPLE), "--out", str(out),
                 "--notebooks", str(FAILING)])
    err = capsys.readouterr().err
    assert code == 1
    assert not (out / "2026Q3").exists()
    failed = list((out / "_failed").iterdir())
    assert len(failed) == 1 and failed[0].name.startswith("2026Q3-")
    assert str(failed[0]) in err and "02_raises.ipynb" in err
    kept = nbformat.read(str(failed[0] / "notebooks" / "02_raises.ipynb"), as_version=4)
    errors = [o for c in kept.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors and "planted failure for 2026Q3" in errors[0].evalue
    assert not [p for p in out.iterdir() if p.name.startswith(archive.PARTIAL_PREFIX)]
    # the failure is not an archive: the next run writes the quarter
    assert archive.archives(out) == {}


def test_killed_run_leaves_no_archive_and_is_cleaned_next_time(tmp_path):
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerkit.cli", "report", "--quarter", "2026Q3",
         "--data", str(SAMPLE), "--out", str(out), "--notebooks", str(SLOW)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # the notebooks run side by side and each is written when done: once the quick
        # one is written, the other one is executing (it sleeps for minutes)
        while not list(out.glob(f"{archive.PARTIAL_PREFIX}*/notebooks/01_quarter.ipynb")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the first notebook never finished"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its kernel
        proc.wait()
    partials = [p for p in out.iterdir() if p.name.startswith(archive.PARTIAL_PREFIX)]
    assert len(partials) == 1
    assert not (out / "2026Q3").exists()
    assert archive.archives(out) == {}
    assert archive.clean_partials(out) == partials
    assert list(out.iterdir()) == []


def test_clean_partials_never_touches_archives_or_live_runs(tmp_path):
    out = tmp_path / "reports"
    (out / "2026Q2").mkdir(parents=True)
    (out / "2026Q2" / "kpis.json").write_text("{}")
    (out / "_failed" / "2026Q1-x").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    host = __import__("socket").gethostname()
    for name, pid in (("dead", int(dead)), ("alive", os.getpid())):
        folder = out / f"{archive.PARTIAL_PREFIX}2026Q3-{name}"
        folder.mkdir()
        (folder / ".owner.json").write_text(json.dumps({"pid": pid, "host": host}))
    removed = archive.clean_partials(out)
    assert [p.name for p in removed] == [f"{archive.PARTIAL_PREFIX}2026Q3-dead"]
    assert sorted(p.name for p in out.iterdir()) == [
        f"{archive.PARTIAL_PREFIX}2026Q3-alive", "2026Q2", "_failed"]


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("argv, message", [
    (["--quarter", "2026Q5"], "2026Q5"),
    (["--quarter", "../../etc"], "../../etc"),
    (["--quarter", "2026Q3", "--stage", "series_z"], "series_z"),
    (["--quarter", "2026Q3", "--jobs", "0"], "--jobs"),
    ([], "--quarter"),
    (["--quarter", "2026Q3", "--backfill", "2026Q1", "2026Q2"], "--quarter"),
    (["--backfill", "2026Q3", "2026Q1"], "after"),
])
def test_bad_arguments_exit_2_before_anything_runs(tmp_path, capsys, argv, message):
    out = tmp_path / "reports"
    code = main(["report", "--data", str(SAMPLE), "--out", str(out), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_partner_exits_2_and_a_partner_needs_the_quarter_archived(tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["report", "--quarter", "2026Q3", "--data", str(SAMPLE), "--out", str(out),
                 "--partner", "P004"]) == 2
    assert "run `partnerkit report --quarter 2026Q3` first" in capsys.readouterr().err
    (out / "2026Q3").mkdir(parents=True)
    assert main(["report", "--quarter", "2026Q3", "--data", str(SAMPLE), "--out", str(out),
                 "--partner", "<script>"]) == 2
    assert "unknown partner id '<script>'" in capsys.readouterr().err
    assert not (out / "2026Q3" / "partners").exists()


def test_invalid_data_exits_3_with_the_loader_message(tmp_path, capsys):
    data = copy_sample(tmp_path / "data")
    (data / "partners.csv").write_text("partner_id,partner_type,signed_date\nP1,technology,"
                                       "2026-01-01\n")
    code = main(["report", "--quarter", "2026Q3", "--data", str(data),
                 "--out", str(tmp_path / "reports"), "--notebooks", str(QUICK)])
    err = capsys.readouterr().err
    assert code == 3
    assert "partners.csv" in err and "name" in err
    assert not (tmp_path / "reports" / "2026Q3").exists()


# ---------------------------------------------------------------------------- backfill


def test_backfill_runs_each_quarter_and_skips_archived_ones(tmp_path, capsys):
    out = tmp_path / "reports"
    (out / "2026Q2").mkdir(parents=True)
    code = main(["report", "--backfill", "2026Q1", "2026Q3", "--data", str(SAMPLE),
                 "--out", str(out), "--notebooks", str(QUICK), "--jobs", "2", "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)["archives"]
    assert [(r["quarter"], r["status"]) for r in results] == [
        ("2026Q1", "archived"), ("2026Q2", "skipped"), ("2026Q3", "archived")]
    for label in ("2026Q1", "2026Q3"):
        manifest = json.loads((out / label / "manifest.json").read_text())
        assert manifest["quarter"] == label
        kpis = json.loads((out / label / "kpis.json").read_text())
        assert kpis["quarter"] == label
        nb = nbformat.read(str(out / label / "notebooks" / "01_quarter.ipynb"), as_version=4)
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert f": {label} from " in printed
    assert list((out / "2026Q2").iterdir()) == []


def test_backfill_whose_shared_metrics_fail_stops_every_quarter(tmp_path):
    # the quarters' processes start while the parent loads the data; here it cannot
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "partners.csv").write_text("partner_id,name\nP1,One\n")
    out = tmp_path / "reports"
    request = archive.ReportRequest(quarter="2026Q3", data_dir=str(broken), out=str(out),
                                    notebooks_dir=str(QUICK), progress=False)
    with pytest.raises(DataError):
        archive.backfill(request, "2026Q2", "2026Q3", jobs=2)
    assert archive.archives(out) == {}
    assert [p.name for p in out.iterdir()] == []  # neither partials nor kept notebooks


def test_quarter_waiting_for_shared_metrics_stops_at_the_failure_note(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "_STATE_MAY_BE_COMING", True)
    request = archive.ReportRequest(quarter="2026Q3", data_dir=str(SAMPLE),
                                    out=str(tmp_path), state=str(tmp_path / "state.pickle"))
    (tmp_path / archive.STATE_FAILED).touch()
    with pytest.raises(archive.ArchiveError, match="never written"):
        archive._kpis_from_state(request)
    # and once the file is there it is read
    (tmp_path / archive.STATE_FAILED).unlink()
    from partnerkit.kpis import Kpis

    Kpis(load_dataset(SAMPLE)).save_state(tmp_path / "state.pickle")
    assert archive._kpis_from_state(request).partner_ids


def _what_this_process_has(modules):
    """Run in a quarter process: which modules it had before its task, and the IRI grammars."""
    return {m: m in sys.modules for m in modules}, "rfc3987_syntax" in sys.modules and \
        sys.modules["rfc3987_syntax"] is None


def test_quarter_processes_start_with_the_report_libraries_imported():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from partnerkit.backfill_preload import MODULES

    context = archive._quarter_processes()
    if "forkserver" not in multiprocessing.get_all_start_methods():
        assert context.get_start_method() == "spawn"
        pytest.skip("no fork server here: each quarter imports for itself")
    assert context.get_start_method() == "forkserver"
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        imported, iri_skipped = pool.submit(_what_this_process_has, MODULES).result()
    assert imported == {m: True for m in MODULES}
    assert "papermill" in imported and "partnerkit.report" in imported
    # the grammars were left out before jsonschema came in, as in every report process
    assert iri_skipped


# ---------------------------------------------------------------------------- building blocks


def test_archives_lists_quarters_and_revisions_only(tmp_path):
    for name in ("2026Q3", "2026Q3-r2", "2026Q3-r10", "2025Q4", "_failed", ".partial-2026Q1-x",
                 "2026Q3-r1", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("x")
    found = archive.archives(tmp_path)
    assert list(found) == ["2025Q4", "2026Q3"]
    assert [p.name for p in found["2026Q3"]] == ["2026Q3", "2026Q3-r2", "2026Q3-r10"]
    assert archive.latest_archive(tmp_path, "2026q3").name == "2026Q3-r10"
    assert archive.latest_archive(tmp_path, "2026Q1") is None


def test_target_folder_counts_revisions_up(tmp_path):
    (tmp_path / "2026Q3").mkdir()
    with pytest.raises(archive.ArchiveExists, match="2026Q3"):
        archive.target_folder(tmp_path, "2026Q3", revision=False)
    (tmp_path / "2026Q3-r2").mkdir()
    assert archive.target_folder(tmp_path, "2026Q3", revision=True).name == "2026Q3-r3"


def test_notebook_parameters_reads_literals_and_refuses_code(tmp_path):
    assert archive.notebook_parameters(ROOT / "notebooks" / "05_partner_deep_dive.ipynb")[
        "partner_id"] == "P004"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("quarter = compute()")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ValueError, match="quarter"):
        archive.notebook_parameters(path)


def test_report_notebooks_split_quarterly_and_per_partner():
    quarterly = [p.name for p in archive.report_notebooks(ROOT / "notebooks", per_partner=False)]
    partner = [p.name for p in archive.report_notebooks(ROOT / "notebooks", per_partner=True)]
    assert partner == ["05_partner_deep_dive.ipynb"]
    assert "03_exec_dashboard.ipynb" in quarterly and partner[0] not in quarterly


def test_input_digests_cover_every_file_read(tmp_path):
    dataset = load_dataset(SAMPLE)
    digests = archive.input_digests(dataset)
    assert digests["partners.csv"] == sha256(SAMPLE / "partners.csv")
    assert "sync_events.parquet" in digests and "README.md" not in digests


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    assert archive.git_commit(tmp_path) is None


def test_folder_name_keeps_partner_ids_inside_their_folder():
    for hostile in ("../x", "a/b", "..", ".hidden", ""):
        name = archive.folder_name(hostile)
        assert "/" not in name and not name.startswith(".") and name


def test_partner_parameter_reaches_the_notebook_as_text_only(tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "tests" / "fixtures" / "tiny_company", data)
    hostile = 'P9"; open("pwned", "w") #\\'
    with (data / "partners.csv").open("a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow([hostile, "Hostile", "agency", "2026-07-02"])
    out = tmp_path / "reports"
    common = ["--data", str(data), "--out", str(out), "--notebooks", str(QUICK)]
    assert main(["report", "--quarter", "2026Q3", *common]) == 0
    assert main(["report", "--quarter", "2026Q3", "--partner", hostile, *common]) == 0
    [folder] = (out / "2026Q3" / "partners").iterdir()
    assert folder.name == archive.folder_name(hostile) and "/" not in folder.name
    nb = nbformat.read(str(folder / "notebooks" / "02_partner.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert printed.strip() == f"deep dive of {hostile} for 2026Q3"
    assert not list(tmp_path.rglob("pwned")) and not (QUICK / "pwned").exists()
    assert json.loads((folder / "manifest.json").read_text())["partner"] == hostile


def test_backend_option_rolls_telemetry_up_there_and_keeps_no_password(tmp_path, capsys):
    tiny = str(ROOT / "tests" / "fixtures" / "tiny_company")
    out = tmp_path / "reports"
    assert main(["report", "--quarter", "2026Q3", "--data", tiny, "--out", str(out),
                 "--notebooks", str(QUICK), "--backend", "duckdb://"]) == 0
    manifest = json.loads((out / "2026Q3" / "manifest.json").read_text())
    assert manifest["parameters"]["backend"] == "duckdb://"
    archived = json.loads((out / "2026Q3" / "kpis.json").read_text())
    capsys.readouterr()
    assert main(["kpis", "--quarter", "2026Q3", "--data", tiny, "--json"]) == 0
    assert archived == json.loads(capsys.readouterr().out)
    code = main(["report", "--quarter", "2026Q2", "--data", tiny, "--out", str(out),
                 "--backend", "postgres://ana:s3cret@127.0.0.1:1/none"])
    err = capsys.readouterr().err
    assert code == 2 and "s3cret" not in err and "ana:***@" in err
