"""The project's own set-up files agree with each other."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few PyPI packages differently.
CONDA_NAMES = {"duckdb": "python-duckdb", "ibis-framework": "ibis-framework-core"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", requirement.strip())
    return match.group(1).lower(), match.group(3).replace(" ", "")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_mirrors_pyproject_core_and_notebooks():
    project = _pyproject()
    wanted = {}
    for req in project["dependencies"] + project["optional-dependencies"]["notebooks"]:
        name, spec = _split(req)
        wanted[CONDA_NAMES.get(name, name)] = spec
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str) or dep == "pip" or dep.startswith("python>"):
            continue
        name, spec = _split(dep)
        conda[name] = spec
    assert conda == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python>"))
    assert python.replace("python", "") == project["requires-python"]
    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section["pip"] == ["-e ."]


def test_console_script_points_at_the_cli():
    # run() is main() plus a quick exit; the module's own __main__ uses it too
    assert _pyproject()["scripts"]["partnerkit"] == "partnerkit.cli:run"
    from partnerkit import cli

    assert callable(cli.run)


def test_readme_shows_the_two_commands_and_ci_calls_make_test():
    readme = (ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
