"""Executing notebooks: warm-up imports, kernels started early, the run's life cycle."""

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from partnerkit import execute, kernels
from partnerkit.execute import NotebookRun, notebook_imports, notebook_parameters, warm_up_code

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
QUICK, FAILING, WARM = FIXTURES / "quick", FIXTURES / "failing", FIXTURES / "warm"
FIGURES = FIXTURES / "figures"


def write_notebook(path: Path, *sources: str, parameters: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells.append(nbformat.v4.new_markdown_cell("import not_code"))
    nbformat.write(nb, str(path))
    return path


# ---------------------------------------------------------------------------- reading


def test_notebook_imports_lists_top_level_imports_once_in_order(tmp_path):
    path = write_notebook(
        tmp_path / "n.ipynb",
        "import os.path as p, json\nfrom collections import OrderedDict, abc",
        "%matplotlib inline\nimport never_seen",  # not Python: skipped
        "from . import sibling\nfrom json import *\nimport json",
        "def f():\n    import inside_a_function\n",
        "from partnerkit import plots")
    assert notebook_imports(path) == (
        "os.path", "json", "collections", "collections.OrderedDict", "collections.abc",
        "partnerkit", "partnerkit.plots", *execute.DEFERRED_IMPORTS["partnerkit.plots"])


def test_notebook_parameters_reads_the_tagged_cell_without_nbformat(tmp_path):
    path = write_notebook(tmp_path / "n.ipynb", "x = 1", parameters='quarter = "2026Q1"\nn = 3')
    assert notebook_parameters(path) == {"quarter": "2026Q1", "n": 3}
    assert notebook_parameters(write_notebook(tmp_path / "none.ipynb", "x = 1")) == {}
    bad = write_notebook(tmp_path / "bad.ipynb", parameters="quarter = compute()")
    with pytest.raises(ValueError, match="'quarter' is not a literal"):
        notebook_parameters(bad)


def test_warm_up_code_imports_and_binds_nothing():
    namespace = {}
    exec(warm_up_code(["wave", "no_such_module_at_all", "colorsys"]), namespace)
    assert set(namespace) == {"__builtins__"}
    assert "wave" in sys.modules and "colorsys" in sys.modules


def test_skip_iri_grammars_drops_only_the_iri_format_checks():
    pytest.importorskip("rfc3987_syntax")
    probe = ("import sys\n{call}\nimport jsonschema\n"
             "print(sorted(f for f in jsonschema.FormatChecker.checkers if 'iri' in f))")
    call = "from partnerkit.execute import skip_iri_grammars; skip_iri_grammars()"
    with_call, without = (
        subprocess.run([sys.executable, "-c", probe.format(call=c)], capture_output=True,
                       text=True, check=True, cwd=ROOT).stdout.strip()
        for c in (call, ""))
    assert without == "['iri', 'iri-reference']"
    assert with_call == "[]"
    # a process that imported jsonschema first keeps everything
    late = probe.format(call="import jsonschema\n" + call)
    kept = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True,
                          check=True, cwd=ROOT).stdout.strip()
    assert kept == "['iri', 'iri-reference']"


# ---------------------------------------------------------------------------- running


def outputs(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return ["".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "stream"]


@pytest.mark.parametrize("fork", [False, True], ids=["own-kernel", "forked-kernel"])
def test_warm_kernel_has_imported_but_bound_nothing_and_counts_from_one(tmp_path, fork):
    with NotebookRun([WARM / "01_warm_up.ipynb"], tmp_path, fork=fork) as run:
        assert (run._template is not None) == (fork and kernels.forkable())
        run.start({"quarter": "2025Q4", "unused": 1})
        [done] = run.wait()
    assert done.error is None and done.seconds > 0
    printed = outputs(tmp_path / "01_warm_up.ipynb")
    assert printed == ["imported: True bound: False\n", "2025Q4 wave\n"]
    nb = nbformat.read(str(tmp_path / "01_warm_up.ipynb"), as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3, 4]  # parameters, injected parameters, then the two cells
    assert nb.metadata.papermill.parameters == {"quarter": "2025Q4"}
    assert "environment_variables" not in nb.metadata.papermill


def test_run_reports_failures_and_hands_each_result_to_after(tmp_path):
    notebooks = [QUICK / "01_quarter.ipynb", FAILING / "02_raises.ipynb"]
    seen = []

    def after(source, output):
        seen.append(source.name)
        return output.stat().st_size

    with NotebookRun(notebooks, tmp_path, after=after) as run:
        run.start({"quarter": "2026Q2", "data_dir": "elsewhere"})
        quick, failed = run.wait()
    assert quick.error is None and quick.after == (tmp_path / "01_quarter.ipynb").stat().st_size
    assert "2026Q2 from elsewhere" in outputs(tmp_path / "01_quarter.ipynb")[0]
    assert type(failed.error).__name__ == "PapermillExecutionError"
    assert "planted failure for 2026Q2" in failed.error.evalue
    assert failed.after is None and seen == ["01_quarter.ipynb"]
    # the failed notebook is written with its traceback
    assert (tmp_path / "02_raises.ipynb").exists()


def test_leaving_before_start_stops_every_kernel_and_executes_nothing(tmp_path, monkeypatch):
    started = []
    real = execute._start_kernel

    def record(source, kernel_name, template=None):
        km = real(source, kernel_name, template)
        started.append(km)
        return km

    monkeypatch.setattr(execute, "_start_kernel", record)
    with pytest.raises(ZeroDivisionError):
        with NotebookRun([QUICK / "01_quarter.ipynb", WARM / "01_warm_up.ipynb"], tmp_path):
            1 / 0  # the computing before start() fails
    assert len(started) == 2
    assert not any(km.has_kernel for km in started)
    assert list(tmp_path.iterdir()) == []
    # the kernels talked over local sockets, whose folders are gone with them
    assert {km.transport for km in started} == {"ipc"}
    assert not any(Path(km.ip).parent.exists() for km in started)


def test_wait_before_start_is_refused(tmp_path):
    with NotebookRun([QUICK / "01_quarter.ipynb"], tmp_path) as run:
        with pytest.raises(RuntimeError, match="before start"):
            run.wait()


def test_jobs_limits_the_kernels_started_at_once(tmp_path):
    three = [QUICK / "01_quarter.ipynb"] * 3
    assert NotebookRun(three, tmp_path, jobs=2).jobs == 2
    assert NotebookRun(three, tmp_path).jobs == 3  # default: every notebook at once
    assert NotebookRun(three, tmp_path, jobs=9).jobs == 3


def figure_draws(tmp_path, fork: bool = False) -> dict:
    """Run the draw-counting fixture notebook; the draws it printed."""
    with NotebookRun([FIGURES / "01_drawn_once.ipynb"], tmp_path, fork=fork) as run:
        run.start({"quarter": "2026Q1"})
        [done] = run.wait()
    assert done.error is None
    return ast.literal_eval(outputs(tmp_path / "01_drawn_once.ipynb")[-1])


@pytest.mark.parametrize("fork", [False, True], ids=["own-kernel", "forked-kernel"])
def test_a_figure_left_open_is_drawn_only_for_its_image(tmp_path, fork):
    draws = figure_draws(tmp_path, fork)
    nb = nbformat.read(str(tmp_path / "01_drawn_once.ipynb"), as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the open figure is shown once, the saved one not at all
    # shown: one draw, the one that renders its image; savefig draws a figure with a
    # layout engine twice (once only to lay it out), and so does IPython's own PNG of it
    assert draws == {"shown": 1, "saved": 2}


def test_with_ipythons_own_png_the_open_figure_is_drawn_as_often_as_saved(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(execute, "FIGURES_DRAWN_ONCE", "")
    draws = figure_draws(tmp_path)
    assert draws["shown"] == draws["saved"] == 2


def test_without_the_hooks_a_stock_kernel_draws_the_open_figure_once_more(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(execute, "FIGURES_SHOWN_FIRST", "")
    monkeypatch.setattr(execute, "FIGURES_DRAWN_ONCE", "")
    draws = figure_draws(tmp_path)
    assert draws["shown"] == draws["saved"] + 1
