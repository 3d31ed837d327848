"""The notebooks as stored: clean, parameterized, and holding no metric logic.

Executing them is nbval's job (``make test`` runs ``pytest --nbval-lax notebooks/``);
these checks read the files only.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from partnerkit.periods import Quarter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REQUIRED = ["01_data_quality_audit.ipynb", "02_stack_walk.ipynb", "03_exec_dashboard.ipynb",
            "04_integration_health.ipynb", "05_partner_deep_dive.ipynb"]


def read(path):
    return nbformat.read(str(path), as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def parameters(nb) -> dict:
    cell = code_cells(nb)[0]
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name)
        values[node.targets[0].id] = ast.literal_eval(node.value)  # raises unless a literal
    return values


def test_every_required_notebook_exists():
    assert [p.name for p in NOTEBOOKS][:5] == REQUIRED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs_or_execution_counts(path):
    nb = read(path)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [], cell.source[:40]
        assert cell.execution_count is None, cell.source[:40]
    assert "papermill" not in nb.metadata
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_is_python3(path):
    assert read(path).metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_tagged_parameters_and_holds_literals_only(path):
    nb = read(path)
    first = code_cells(nb)[0]
    assert "parameters" in first.metadata.get("tags", [])
    tagged = [c for c in code_cells(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    values = parameters(nb)
    assert str(Quarter.parse(values["quarter"])) == values["quarter"]
    # defaults run on the bundled sample, relative to the notebook
    assert values["data_dir"] == "../data/sample"
    assert (path.parent / values["data_dir"] / "partners.csv").is_file()


def test_stage_and_partner_defaults_exist():
    from partnerkit.load import load_dataset
    from partnerkit.targets import STAGES

    partners = set(load_dataset(ROOT / "data" / "sample").partners["partner_id"])
    values = {p.name: parameters(read(p)) for p in NOTEBOOKS}
    assert values["03_exec_dashboard.ipynb"]["stage"] in STAGES
    assert values["05_partner_deep_dive.ipynb"]["partner_id"] in partners
    # only the deep dive is per-partner: the quarterly report runs the others
    assert [n for n, v in values.items() if "partner_id" in v] == ["05_partner_deep_dive.ipynb"]


# what a notebook may not hold: definitions, data wrangling, or a chosen matplotlib backend
FORBIDDEN = [r"^\s*def ", r"^\s*class ", r"\blambda\b", r"\.groupby\(", r"\.merge\(",
             r"\.loc\[", r"\.iloc\[", r"\.query\(", r"\.pivot", r"\.apply\(", r"\.sum\(",
             r"\.mean\(", r"import pandas", r"import numpy", r"read_csv", r"read_parquet",
             r"matplotlib\.use", r"%matplotlib", r"\bplt\.switch_backend", r"os\.environ"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_call_partnerkit_and_display_only(path):
    for cell in code_cells(read(path))[1:]:
        for pattern in FORBIDDEN:
            assert not re.search(pattern, cell.source, re.MULTILINE), (pattern, cell.source)
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= 8, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_explains_every_notebook(path):
    nb = read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4
    # each section says how to read what follows it
    assert sum(c.source.startswith("## ") for c in markdown) >= 3
