"""The quarterly report archive (SPEC §10).

``partnerkit report --quarter 2026Q3`` executes the notebooks with papermill
and files everything a reader or an auditor needs into ``reports/2026Q3/``::

    manifest.json           parameters, sha256 of every input file, versions, timings
    kpis.json               the company metrics (``partnerkit kpis --json``)
    kpis_by_partner.json    the same per partner (``--by partner``)
    leaks.json              ``partnerkit leaks --json``
    audit.json              ``partnerkit audit --json``
    validation.json         ``partnerkit validate --json``
    scorecard.json          the stage scorecard of the quarter
    restatements.csv        archived numbers of earlier quarters that now compute differently
    dashboard.yml           the exec view spec used (the next quarter is linted against it)
    drilldown/<metric>.csv  the records behind every company number
    figures/*.png           the dashboard, stack walks, integration health, win rates
    notebooks/*.ipynb       the executed notebooks
    html/*.html             the notebooks without code, readable offline

Rules the archive keeps:

- An archive is never overwritten or deleted. A second run for the same
  quarter raises :class:`ArchiveExists`; with ``revision=True`` it writes
  ``<quarter>-r2/`` (then ``-r3``...) beside the first.
- Writes are atomic: everything goes to a ``.partial-*`` folder inside the
  reports folder and is renamed at the very end. A killed run leaves only that
  partial folder, which the next run removes once its process is gone.
- A notebook that fails leaves no archive; the executed notebooks (the failed
  one with its traceback) are moved to ``_failed/<quarter>-<timestamp>/`` and
  :class:`ReportFailed` names that folder.

A partner deep dive (``--partner P``) is filed inside the latest archive of
its quarter, at ``<quarter>/partners/<P>/``, under the same rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from partnerkit import __version__
from partnerkit.execute import (NotebookRun, call_template, kernel_template, notebook_parameters,
                                skip_iri_grammars)
from partnerkit.kernels import use_shared_templates
from partnerkit.periods import Quarter, previous_quarters

#: Archive folder names: ``2026Q3`` and its revisions ``2026Q3-r2``, ``2026Q3-r3``...
ARCHIVE_NAME = re.compile(r"(?P<quarter>\d{4}Q[1-4])(?:-r(?P<revision>[2-9]|[1-9]\d+))?")
#: Folders of runs in progress (or killed) start with this.
PARTIAL_PREFIX = ".partial-"
#: Where the notebooks of failed runs are kept.
FAILED_DIR = "_failed"
#: The notebook whose HTML is the exec view.
EXEC_NOTEBOOK = "exec_dashboard"
#: Parameter that makes a notebook a per-partner notebook (the deep dive).
PARTNER_PARAMETER = "partner_id"
#: Distributions whose versions the manifest records (import name: distribution name).
RECORDED_PACKAGES = {
    "pandas": "pandas", "numpy": "numpy", "pyarrow": "pyarrow", "pandera": "pandera",
    "duckdb": "duckdb", "ibis": "ibis-framework", "papermill": "papermill",
    "nbconvert": "nbconvert", "nbformat": "nbformat", "ipykernel": "ipykernel",
    "matplotlib": "matplotlib", "seaborn": "seaborn", "pyyaml": "PyYAML",
}
DEFAULT_STAGE = "series_a"
#: Cells with this tag are left out of the HTML pages.
REMOVE_TAG = "remove-cell"

_OWNER_FILE = ".owner.json"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class ArchiveError(Exception):
    """A report that cannot be archived (the message says what to do)."""


class ArchiveExists(ArchiveError):
    """The target archive exists already; archives are never overwritten.

    Attributes
    ----------
    path : Path
        The existing archive folder.
    """

    def __init__(self, path: Path, hint: str = "pass --revision to write a new revision beside it"):
        self.path = Path(path)
        super().__init__(f"{self.path} is already archived and is never overwritten; {hint}")


class ArchiveMissing(ArchiveError):
    """A partner deep dive asked for a quarter that has no archive yet."""


class ReportFailed(ArchiveError):
    """A notebook failed; nothing was archived.

    Attributes
    ----------
    failed_dir : Path
        Where the executed notebooks (the failed one included) were kept.
    notebook : str
        The notebook that failed.
    """

    def __init__(self, notebook: str, failed_dir: Path, error: str):
        self.notebook = notebook
        self.failed_dir = Path(failed_dir)
        super().__init__(f"notebook {notebook} failed ({error}); nothing was archived. The "
                         f"executed notebooks are kept for debugging in {self.failed_dir}")


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ReportRequest:
    """Everything a report run needs (plain values, so it can cross processes).

    Attributes
    ----------
    quarter : str
        Quarter label, e.g. ``"2026Q3"``.
    data_dir : str
        The data directory.
    out : str
        The reports folder (default ``reports``).
    revision : bool
        Write a new revision when the quarter is archived already.
    stage : str
        ``seed``, ``series_a`` or ``series_b`` (the stage scorecard).
    partner : str or None
        Run only the partner deep dive for this partner id.
    notebooks_dir : str or None
        The notebooks to execute (default: :func:`default_notebooks_dir`).
    mapping, strict, grace_days, min_sample, fiscal_year_start_month
        Loader and metric options, as on the command line.
    backend : str or None
        ibis connection URL for the telemetry rollups of the archived JSON
        files (the manifest keeps it without its password). The notebooks
        roll the same events up with DuckDB in their own process: the engine
        changes where the work runs, not the numbers.
    progress : bool
        Show progress bars on stderr.
    notebook_jobs : int or None
        Notebooks executed at the same time (default: the number of cores);
        each runs in its own kernel process.
    state : str or None
        Metrics already computed for these data (:meth:`Kpis.save_state`), as a
        backfill shares them between its quarters; None reads ``data_dir``.
    """

    quarter: str
    data_dir: str = "data/sample"
    out: str = "reports"
    revision: bool = False
    stage: str = DEFAULT_STAGE
    partner: str | None = None
    notebooks_dir: str | None = None
    mapping: str | None = None
    strict: bool = False
    grace_days: int = 14
    min_sample: int = 10
    fiscal_year_start_month: int = 1
    backend: str | None = None
    progress: bool = True
    notebook_jobs: int | None = None
    state: str | None = None


@dataclass
class ReportResult:
    """What a report run wrote.

    Attributes
    ----------
    quarter : str
    path : Path
        The archive folder (or the deep dive folder).
    html : Path or None
        The exec view (or the deep dive) without code.
    seconds : float
    restated : int
        Numbers of earlier archives that now compute differently.
    """

    quarter: str
    path: Path
    html: Path | None
    seconds: float
    restated: int = 0
    notebooks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for ``--json``."""
        return {"quarter": self.quarter, "path": str(self.path),
                "html": None if self.html is None else str(self.html),
                "seconds": round(self.seconds, 2), "restated": self.restated,
                "notebooks": list(self.notebooks)}


# ---------------------------------------------------------------------------- the reports folder


def archive_name(quarter, revision: int = 1) -> str:
    """Folder name of an archive.

    Examples
    --------
    >>> archive_name("2026Q3"), archive_name("2026Q3", 2)
    ('2026Q3', '2026Q3-r2')
    """
    label = str(Quarter.parse(quarter))
    return label if revision == 1 else f"{label}-r{revision}"


def archives(out) -> dict[str, list[Path]]:
    """Every archive under a reports folder: quarter label -> revisions, oldest first.

    Folders of any other name (partial runs, ``_failed``, the README) are ignored.

    Examples
    --------
    >>> archives("no/such/folder")
    {}
    """
    root = Path(out)
    if not root.is_dir():
        return {}
    found: dict[str, list[tuple[int, Path]]] = {}
    for folder in root.iterdir():
        match = ARCHIVE_NAME.fullmatch(folder.name)
        if match is None or not folder.is_dir():
            continue
        found.setdefault(match.group("quarter"), []).append(
            (int(match.group("revision") or 1), folder))
    # labels are YYYYQn: text order is time order
    return {q: [p for _, p in sorted(revs)] for q, revs in sorted(found.items())}


def latest_archive(out, quarter) -> Path | None:
    """The latest revision of a quarter's archive (None when not archived)."""
    revisions = archives(out).get(str(Quarter.parse(quarter)))
    return revisions[-1] if revisions else None


def target_folder(parent, name: str, revision: bool) -> Path:
    """``parent/name``, or its next revision ``name-rN`` when asked for one.

    Raises
    ------
    ArchiveExists
        When ``parent/name`` exists and no revision was asked for.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> target_folder(root, "2026Q3", revision=False).name
    '2026Q3'
    >>> (root / "2026Q3").mkdir()
    >>> target_folder(root, "2026Q3", revision=True).name
    '2026Q3-r2'
    """
    parent = Path(parent)
    first = parent / name
    if not first.exists():
        return first
    if not revision:
        raise ArchiveExists(first)
    n = 2
    while (parent / f"{name}-r{n}").exists():
        n += 1
    return parent / f"{name}-r{n}"


def folder_name(partner_id: str) -> str:
    """A partner id as a safe folder name (no path separators, no leading dot).

    Examples
    --------
    >>> folder_name("P001"), folder_name("../etc"), folder_name("Acme Inc/EU")
    ('P001', '_.._etc', 'Acme_Inc_EU')
    """
    name = _SAFE_NAME.sub("_", str(partner_id))
    return "_" + name if name.startswith(".") or not name else name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_partials(out) -> list[Path]:
    """Remove the partial folders of runs that were killed.

    A partial folder belongs to a dead run when its owner process (recorded
    in the folder) no longer exists on this host. Runs still going, folders of
    other hosts, and archives are left alone.

    Returns
    -------
    list of Path
        The folders removed.
    """
    root = Path(out)
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        if not folder.name.startswith(PARTIAL_PREFIX) or not folder.is_dir():
            continue
        try:
            owner = json.loads((folder / _OWNER_FILE).read_text(encoding="utf-8"))
            pid, host = int(owner["pid"]), owner["host"]
        except (OSError, ValueError, KeyError, TypeError):
            # no readable owner: the run died before writing it, or it is being written now;
            # only a folder untouched for an hour is taken for dead
            if time.time() - folder.stat().st_mtime < 3600:
                continue
            pid, host = None, socket.gethostname()
        if host != socket.gethostname() or (pid is not None and _pid_alive(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _unused(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... the first that does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _new_partial(out: Path, label: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = _unused(out / f"{PARTIAL_PREFIX}{label}-{stamp}-{os.getpid()}")
    folder.mkdir()
    (folder / _OWNER_FILE).write_text(json.dumps({"pid": os.getpid(),
                                                  "host": socket.gethostname()}),
                                      encoding="utf-8")
    return folder


def _keep_failed(partial: Path, out: Path, label: str) -> Path:
    failed_root = out / FAILED_DIR
    failed_root.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = _unused(failed_root / f"{label}-{stamp}")
    (partial / _OWNER_FILE).unlink(missing_ok=True)
    os.rename(partial, target)
    return target


def _publish(partial: Path, target: Path) -> None:
    """Rename the finished partial folder into place (atomic on one file system)."""
    (partial / _OWNER_FILE).unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # another run got there first
        shutil.rmtree(partial, ignore_errors=True)
        raise ArchiveExists(target)
    try:
        os.rename(partial, target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if target.exists():
            raise ArchiveExists(target) from None
        raise ArchiveError(f"cannot move the report into {target}: {exc}") from None


# ---------------------------------------------------------------------------- provenance


def sha256_file(path) -> str:
    """Hex sha256 of a file, read in chunks.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_digests(dataset, mapping=None) -> dict[str, str]:
    """sha256 of every file a data set was read from (and of a mapping file).

    Returns
    -------
    dict
        Path relative to the data directory (or as given, outside it) -> hex digest,
        sorted by path. A Parquet directory is listed file by file.
    """
    data_dir = Path(dataset.data_dir).resolve()
    files: list[Path] = []
    for path in dataset.files.values():
        path = Path(path)
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir()
                     else [path])
    if mapping and Path(str(mapping)).is_file():
        files.append(Path(str(mapping)))
    digests = {}
    for path in files:
        resolved = path.resolve()
        try:
            key = str(resolved.relative_to(data_dir))
        except ValueError:
            key = str(path)
        digests[key] = sha256_file(resolved)
    return dict(sorted(digests.items()))


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a report depends on (None when not installed).

    Examples
    --------
    >>> "pandas" in package_versions()
    True
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name, dist in RECORDED_PACKAGES.items():
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path=None) -> dict[str, Any] | None:
    """The git commit of the partnerkit source in use (None outside a git checkout).

    Never fails: a missing ``git`` or a folder that is not a checkout gives None.
    """
    where = Path(path) if path else Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10)
        return {"commit": commit.stdout.strip(),
                "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------- notebooks


def default_notebooks_dir() -> Path:
    """The ``notebooks/`` folder of the partnerkit checkout (or of the current directory)."""
    beside = Path(__file__).resolve().parents[1] / "notebooks"
    return beside if beside.is_dir() else Path("notebooks").resolve()


def report_notebooks(notebooks_dir, per_partner: bool) -> list[Path]:
    """The notebooks of a quarterly report, or the per-partner ones, in name order.

    A notebook is per-partner when its parameters cell declares ``partner_id``.
    """
    folder = Path(notebooks_dir)
    found = [p for p in sorted(folder.glob("*.ipynb"))
             if (PARTNER_PARAMETER in notebook_parameters(p)) == per_partner]
    if not found:
        kind = "per-partner" if per_partner else "quarterly"
        raise ArchiveError(f"no {kind} notebook in {folder}")
    return found


OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{#- everything the page needs is inline: no script or style is fetched from a CDN -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def export_html(notebook, html, title: str) -> Path:
    """An executed notebook as a self-contained HTML page without code.

    Figures are embedded, styles inline, and no script is loaded from the
    network, so the page opens offline. Strings from the data were escaped
    when the notebook displayed them (pandas tables escape their cells).
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    html = Path(html)
    nb = nbformat.read(str(notebook), as_version=4)
    nb.metadata["title"] = title
    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"partnerkit_offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="partnerkit_offline.html.j2")
    # cells tagged remove-cell (how to set the parameters) are for the notebook user only
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={REMOVE_TAG}),
                                   enabled=True)
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


# ---------------------------------------------------------------------------- the runs


def _kpis(dataset, request: ReportRequest):
    from partnerkit.kpis import Kpis

    backend = None
    if request.backend:
        import ibis

        backend = ibis.connect(request.backend)
    return Kpis(dataset, min_sample=request.min_sample, grace_days=request.grace_days,
                fiscal_year_start_month=request.fiscal_year_start_month, backend=backend)


#: True in a backfill's quarter processes, which start while the parent computes the metrics.
_STATE_MAY_BE_COMING = False
#: Notebooks executing at once inside each quarter of a backfill (the quarters run in parallel).
BACKFILL_NOTEBOOK_JOBS = 2
#: Written beside the shared metrics when the backfill's parent fails to compute them.
STATE_FAILED = ".metrics-failed"


def _kpis_from_state(request: ReportRequest):
    from partnerkit.kpis import Kpis

    state = Path(request.state)
    # a backfill's quarter has started its kernels already: wait for the parent's file, or
    # for its note that the file will never come (or its whole folder being removed)
    while _STATE_MAY_BE_COMING and not state.is_file():
        if (state.parent / STATE_FAILED).exists() or not state.parent.is_dir():
            break
        time.sleep(0.05)
    if not state.is_file():
        raise ArchiveError(f"the shared metrics {state} were never written: "
                           "the backfill stopped before this quarter could run")
    return Kpis.load_state(request.state, min_sample=request.min_sample,
                           grace_days=request.grace_days,
                           fiscal_year_start_month=request.fiscal_year_start_month)


def redact_url(url: str | None) -> str | None:
    """A connection URL without its password, fit for a manifest.

    Examples
    --------
    >>> redact_url("postgres://ana:s3cret@db.example:5432/events")
    'postgres://ana:***@db.example:5432/events'
    >>> redact_url("duckdb:///events.db"), redact_url(None)
    ('duckdb:///events.db', None)
    """
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _load(request: ReportRequest):
    from partnerkit.load import load_dataset

    return load_dataset(request.data_dir, mapping=request.mapping, strict=request.strict)


def _write_json(path: Path, payload) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def _parameters(request: ReportRequest, quarter: Quarter) -> dict[str, Any]:
    """The values injected into every notebook (absolute paths: the kernel's cwd differs)."""
    params = {"quarter": str(quarter), "data_dir": str(Path(request.data_dir).resolve()),
              "reports_dir": str(Path(request.out).resolve()), "stage": request.stage,
              "grace_days": request.grace_days, "min_sample": request.min_sample,
              "fiscal_year_start_month": request.fiscal_year_start_month,
              "mapping": (None if request.mapping is None else
                          str(Path(request.mapping).resolve()) if Path(request.mapping).is_file()
                          else request.mapping)}
    if request.partner is not None:
        params[PARTNER_PARAMETER] = request.partner
    return params


def _manifest(request: ReportRequest, quarter: Quarter, dataset, started: str,
              timings: list[dict], extra: dict) -> dict:
    params = asdict(request)
    params.pop("progress")
    params["quarter"] = str(quarter)
    params["backend"] = redact_url(request.backend)
    return {
        "partnerkit": __version__,
        "kind": "partner deep dive" if request.partner else "quarterly report",
        "quarter": str(quarter),
        "parameters": params,
        "inputs": input_digests(dataset, request.mapping),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
        "git": git_commit(),
        "started": started,
        "finished": _now(),
        "notebooks": timings,
        **extra,
    }


def _progress(total: int, label: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{label} report", unit="step", leave=True)


@contextmanager
def _staged(partial: Path, overall):
    """Everything inside writes to ``partial``; on any error (a kill included) it is removed."""
    try:
        yield
    except BaseException:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if overall is not None:
            overall.close()


#: Quarters before the report's quarter whose metrics are computed up front for the notebooks
#: (they show four quarters); anything else the archive needs is computed when asked for.
WARM_QUARTERS = 3
#: The working file of computed metrics handed to the notebooks (removed before publishing).
STATE_FILE = ".metrics-state.pickle"


def figures_from_notebooks(notebooks_dir: Path, out: Path) -> list[Path]:
    """Save every figure the executed notebooks drew as ``<notebook>-<n>.png``.

    The figures are taken from the notebooks' outputs rather than drawn again.

    Examples
    --------
    >>> import base64, nbformat, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> nb = nbformat.v4.new_notebook()
    >>> cell = nbformat.v4.new_code_cell("plot()")
    >>> cell.outputs = [nbformat.v4.new_output("display_data", data={
    ...     "image/png": base64.b64encode(b"\\x89PNG fake").decode()})]
    >>> nb.cells = [cell]
    >>> nbformat.write(nb, d / "02_stack_walk.ipynb")
    >>> [p.name for p in figures_from_notebooks(d, d / "figures")]
    ['02_stack_walk-1.png']
    """
    import base64

    import nbformat

    written = []
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        count = 0
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    count += 1
                    out.mkdir(parents=True, exist_ok=True)
                    target = out / f"{path.stem}-{count}.png"
                    target.write_bytes(base64.b64decode(png))
                    written.append(target)
    return written


def _timings(executed, partial: Path, out: Path, label: str) -> list[dict]:
    """The manifest's notebook timings; the first failed notebook raises :class:`ReportFailed`."""
    for done in executed:
        if done.error is not None:
            failed = _keep_failed(partial, out, label)
            error = done.error
            raise ReportFailed(done.source.name, failed,
                               f"{error.ename}: {error.evalue}".strip()) from None
    return [{"notebook": done.source.name, "sha256": sha256_file(done.source),
             "seconds": round(done.seconds, 2)} for done in executed]


#: What :func:`export_html` imports: a report's call template imports it once for every page.
HTML_EXPORT_IMPORTS = ("partnerkit.archive", "nbformat", "nbconvert", "nbconvert.exporters.html",
                       "nbconvert.preprocessors", "jinja2")


#: Run once by a call template before it exports pages (see :func:`warm_up_html_export`).
HTML_WARM_UP = "partnerkit.archive:warm_up_html_export"


def warm_up_html_export() -> None:
    """Export a one-cell notebook to a temporary page, compiling what every export reuses.

    Run once by a report's call template, so that each page forked from it
    starts with nbconvert's templates and patterns compiled.
    """
    import tempfile

    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={
        "text/plain": "1", "text/html": "<table><tr><td>1</td></tr></table>"},
        execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# *warm*"), cell]
    with tempfile.TemporaryDirectory(prefix="partnerkit-warm-") as folder:
        nbformat.write(nb, os.path.join(folder, "warm.ipynb"))
        export_html(os.path.join(folder, "warm.ipynb"), os.path.join(folder, "warm.html"), "warm")


def _html_pages(partial: Path, title, overall, run: NotebookRun):
    """``after`` callback of a :class:`NotebookRun`: the page of each executed notebook.

    Each page is exported in a fork of the run's call template (which has
    imported nbconvert), beside the report's own process.
    """
    def page(source: Path, output: Path) -> Path:
        written = Path(run.call("partnerkit.archive:export_html", str(output),
                                str(partial / "html" / f"{source.stem}.html"), title(source)))
        if overall is not None:
            overall.set_postfix_str(source.stem)
            overall.update(1)
        return written
    return page


def _report_run(notebooks, partial: Path, request: ReportRequest, title, overall) -> NotebookRun:
    """The run of a report's notebooks; each executed notebook becomes an HTML page."""
    run = NotebookRun(notebooks, partial / "notebooks", request.notebook_jobs, request.progress,
                      call_imports=HTML_EXPORT_IMPORTS, call_warm_up=HTML_WARM_UP)
    run.after = _html_pages(partial, title, overall, run)
    return run


def run_report(request: ReportRequest, dataset=None, on_loaded=None) -> ReportResult:
    """Archive one quarter: metrics, drill-downs, executed notebooks, HTML, manifest.

    The notebooks' kernels start first and import their libraries while the
    data is loaded and the metrics are computed (once, for every notebook).

    Parameters
    ----------
    request : ReportRequest
        ``request.partner`` must be None (see :func:`run_partner_report`).
    dataset : Dataset, optional
        The data already loaded (and validated) by the caller.
    on_loaded : callable, optional
        Called with the dataset once it is loaded here (the command line prints
        what was read and rejected).

    Returns
    -------
    ReportResult

    Raises
    ------
    ArchiveExists
        The quarter is archived and no revision was asked for.
    ReportFailed
        A notebook failed; its executed copy was kept under ``_failed/``.
    partnerkit.quarantine.DataError
        The data cannot be loaded.
    """
    from partnerkit.audit import audit_report
    from partnerkit.dashboard import ARCHIVED_SPEC_NAME, load_dashboard_spec
    from partnerkit.drilldown import write_drilldowns
    from partnerkit.leaks import detect_leaks
    from partnerkit.report import restatements
    from partnerkit.targets import scorecard_report
    from partnerkit.validate import validation_report

    begun = time.perf_counter()
    quarter = Quarter.parse(request.quarter, request.fiscal_year_start_month)
    label = str(quarter)
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    clean_partials(out)
    target = target_folder(out, label, request.revision)
    notebooks = report_notebooks(request.notebooks_dir or default_notebooks_dir(), False)
    started = _now()
    partial = _new_partial(out, label)
    overall = _progress(len(notebooks) + 2, label, request.progress)

    def title(source: Path) -> str:
        return f"Partnerships {label}: {source.stem.split('_', 1)[-1].replace('_', ' ')}"

    run = _report_run(notebooks, partial, request, title, overall)
    with _staged(partial, overall), run:
        if request.state is not None:
            kpis = _kpis_from_state(request)
            dataset = kpis.dataset
        else:
            if dataset is None:
                dataset = _load(request)
                if on_loaded is not None:
                    on_loaded(dataset)
            kpis = _kpis(dataset, request)
        # every metric the notebooks read, computed once and handed to each kernel
        kpis.panel([*previous_quarters(quarter, WARM_QUARTERS), quarter])
        kpis.orphan_events  # noqa: B018 - computed now so the audit notebook reuses it
        state = kpis.save_state(partial / STATE_FILE).resolve()
        run.start({**_parameters(request, quarter), "state": str(state)})

        # the JSON files and drill-downs are written while the notebooks run
        _write_json(partial / "kpis.json", kpis.to_json(quarter))
        _write_json(partial / "kpis_by_partner.json", kpis.to_json(quarter, by_partner=True))
        leaks = detect_leaks(kpis, quarter)
        _write_json(partial / "leaks.json", {"quarter": label,
                                             "leaks": [leak.to_dict() for leak in leaks]})
        _write_json(partial / "audit.json", audit_report(kpis))
        _write_json(partial / "validation.json", validation_report(dataset))
        _write_json(partial / "scorecard.json", scorecard_report(kpis, quarter, request.stage))
        (partial / ARCHIVED_SPEC_NAME).write_text(load_dashboard_spec().to_yaml(),
                                                  encoding="utf-8")
        write_drilldowns(kpis, quarter, partial / "drilldown")
        moved = restatements(kpis, out, through=quarter)
        moved.to_csv(partial / "restatements.csv", index=False, lineterminator="\n")
        if overall is not None:
            overall.update(1)

        executed = run.wait()
        timings = _timings(executed, partial, out, label)
        state.unlink()  # a working file, not part of the archive
        figures_from_notebooks(partial / "notebooks", partial / "figures")
        html = next((done.after for done in executed if EXEC_NOTEBOOK in done.source.stem), None)
        if overall is not None:
            overall.update(1)
        _write_json(partial / "manifest.json", _manifest(
            request, quarter, dataset, started, timings, {
                "archive": target.name,
                "exec_html": None if html is None else str(html.relative_to(partial)),
                "restated": int(len(moved))}))
        _publish(partial, target)
    return ReportResult(label, target, None if html is None else target / html.relative_to(partial),
                        time.perf_counter() - begun, int(len(moved)),
                        [t["notebook"] for t in timings])


def run_partner_report(request: ReportRequest, dataset=None) -> ReportResult:
    """File one partner's deep dive inside the latest archive of its quarter.

    Writes ``<archive>/partners/<P>/`` with the executed deep-dive notebook,
    its HTML without code, the partner's ``kpis.json``, drill-downs and a
    manifest; atomically, and never over an existing deep dive unless a
    revision is asked for (``partners/<P>-r2/``).

    Raises
    ------
    ArchiveMissing
        The quarter has no archive yet (run the quarterly report first).
    ArchiveExists
        The deep dive exists and no revision was asked for.
    ReportFailed
        The notebook failed (kept under ``_failed/``).
    KeyError
        The partner id is not in the data.
    """
    from partnerkit.drilldown import write_drilldowns

    begun = time.perf_counter()
    quarter = Quarter.parse(request.quarter, request.fiscal_year_start_month)
    label = str(quarter)
    out = Path(request.out)
    base = latest_archive(out, quarter)
    if base is None:
        raise ArchiveMissing(f"{label} has no archive in {out} yet; a deep dive is filed inside "
                             f"it: run `partnerkit report --quarter {label}` first")
    clean_partials(out)
    target = target_folder(base / "partners", folder_name(request.partner), request.revision)
    notebooks = report_notebooks(request.notebooks_dir or default_notebooks_dir(), True)
    if dataset is None:
        dataset = _load(request)
    partners = set(dataset.partners["partner_id"].astype(str))
    if request.partner not in partners:
        raise KeyError(f"unknown partner id {request.partner!r}")
    started = _now()
    partial = _new_partial(out, f"{label}-{folder_name(request.partner)}")
    overall = _progress(len(notebooks) + 2, f"{label} {request.partner}", request.progress)
    run = _report_run(notebooks, partial, request,
                      lambda _: f"Partnerships {label}: partner {request.partner}", overall)
    with _staged(partial, overall), run:
        run.start(_parameters(request, quarter))
        kpis = _kpis(dataset, request)
        values = kpis.compute(quarter, request.partner)
        _write_json(partial / "kpis.json", {"quarter": label, "scope": request.partner,
                                             "metrics": {k: v.to_dict() for k, v in values.items()}})
        write_drilldowns(kpis, quarter, partial / "drilldown", scope=request.partner)
        if overall is not None:
            overall.update(1)
        executed = run.wait()
        timings = _timings(executed, partial, out, f"{label}-{folder_name(request.partner)}")
        pages = [done.after for done in executed]
        if overall is not None:
            overall.update(1)
        _write_json(partial / "manifest.json", _manifest(
            request, quarter, dataset, started, timings,
            {"archive": f"{base.name}/partners/{target.name}", "partner": request.partner,
             "exec_html": str(pages[0].relative_to(partial))}))
        _publish(partial, target)
    return ReportResult(label, target, target / pages[0].relative_to(partial),
                        time.perf_counter() - begun, 0, [t["notebook"] for t in timings])


# ---------------------------------------------------------------------------- backfill


def _backfill_one(request: ReportRequest) -> dict[str, Any]:
    """Worker: one quarter in its own process; errors come back as plain values."""
    from partnerkit.quarantine import DataError

    try:
        result = run_report(request)
        return {"quarter": request.quarter, "status": "archived", **result.to_dict()}
    except ArchiveExists as exc:
        return {"quarter": request.quarter, "status": "skipped", "path": str(exc.path),
                "message": str(exc)}
    except ReportFailed as exc:
        return {"quarter": request.quarter, "status": "failed", "path": str(exc.failed_dir),
                "message": str(exc)}
    except (ArchiveError, DataError, ValueError, KeyError) as exc:
        return {"quarter": request.quarter, "status": "failed", "path": None,
                "message": str(exc)}


def backfill(request: ReportRequest, first, last, jobs: int | None = None,
             dataset=None) -> list[dict]:
    """Archive every quarter from ``first`` to ``last``, each in its own process.

    Quarters already archived are skipped (and listed) unless
    ``request.revision`` is set.

    Parameters
    ----------
    request : ReportRequest
        The common options; its ``quarter`` is ignored.
    first, last : str or Quarter
    jobs : int, optional
        Parallel processes (default: the number of cores).
    dataset : Dataset, optional
        The data already loaded (and validated) by the caller.

    Returns
    -------
    list of dict
        One entry per quarter, in quarter order: ``quarter``, ``status``
        (``archived``, ``skipped`` or ``failed``), ``path``, ``message`` or the
        :class:`ReportResult` fields.
    """
    from partnerkit.periods import quarter_range

    quarters = [str(q) for q in quarter_range(first, last, request.fiscal_year_start_month)]
    out = Path(request.out)
    clean_partials(out)
    done = archives(out)
    results: dict[str, dict] = {}
    todo = []
    for label in quarters:
        if label in done and not request.revision:
            results[label] = {"quarter": label, "status": "skipped", "path": str(done[label][-1]),
                              "message": f"{done[label][-1]} is already archived"}
        else:
            # the quarters run in parallel: two notebooks at a time inside each, so that each
            # quarter has kernels warming up while the shared metrics are computed
            todo.append(replace(request, quarter=label, progress=False,
                                notebook_jobs=BACKFILL_NOTEBOOK_JOBS))
    state = None
    if todo:
        out.mkdir(parents=True, exist_ok=True)
        # kept in a partial folder, so that a killed backfill's file is cleaned like any other
        state = _new_partial(out, "backfill")
        saved = (state / STATE_FILE).resolve()
        todo = [replace(r, state=str(saved)) for r in todo]

        def shared_metrics():
            # load, attribution and the telemetry rollup are the same for every quarter:
            # computed once, here, while the quarters' processes start their kernels
            kpis = _kpis(dataset if dataset is not None else _load(request), request)
            first_q = Quarter.parse(todo[0].quarter, request.fiscal_year_start_month)
            last_q = Quarter.parse(todo[-1].quarter, request.fiscal_year_start_month)
            kpis.panel(quarter_range(first_q.previous(WARM_QUARTERS), last_q,
                                     request.fiscal_year_start_month))
            kpis.orphan_events  # noqa: B018 - computed once for every quarter's audit
            # renamed into place: the quarters' processes are watching for this file
            os.replace(kpis.save_state(saved.with_name(saved.name + ".tmp")), saved)
    try:
        if todo:
            notebooks = report_notebooks(request.notebooks_dir or default_notebooks_dir(), False)
            # every quarter's kernels and pages are forks of the same two templates
            with kernel_template(notebooks) as kernels, \
                    call_template(HTML_EXPORT_IMPORTS, HTML_WARM_UP) as calls:
                results.update(_run_backfill(todo, jobs, quarters, request.progress,
                                             shared_metrics, (kernels.address, calls.address)))
    finally:
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
    return [results[label] for label in quarters]


def _backfill_worker(templates=(None, None)) -> None:
    """Initializer of a backfill's quarter processes."""
    global _STATE_MAY_BE_COMING
    skip_iri_grammars()
    _STATE_MAY_BE_COMING = True
    use_shared_templates(*templates)


#: Imported once by the server a backfill's quarter processes are forked from.
BACKFILL_PRELOAD = "partnerkit.backfill_preload"


def _quarter_processes():
    """How a backfill starts its quarter processes.

    Forked from a server that has imported :data:`BACKFILL_PRELOAD` (never
    from this process, which may hold threads, DuckDB's or BLAS's, that a fork
    would copy mid-lock); spawned, each importing for itself, where there is
    no fork server.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([BACKFILL_PRELOAD])
    return context


def _run_backfill(todo: list[ReportRequest], jobs, quarters, progress: bool,
                  shared_metrics, templates=(None, None)) -> dict:
    """Run the quarters in processes that start while ``shared_metrics()`` computes their input.

    ``templates`` are the addresses of the kernel and call templates every
    quarter shares (see :func:`partnerkit.kernels.use_shared_templates`).
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results = {}
    if todo:
        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        bar = _progress(len(todo), f"{quarters[0]}..{quarters[-1]}", progress)
        context = _quarter_processes()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=_backfill_worker,
                                 initargs=(tuple(templates),)) as pool:
            futures = {pool.submit(_backfill_one, r): r.quarter for r in todo}
            try:
                shared_metrics()
            except BaseException:
                # the quarters already started stop at this note; the others never start
                (Path(todo[0].state).parent / STATE_FAILED).touch()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            for future in as_completed(futures):
                entry = future.result()
                results[entry["quarter"]] = entry
                if bar is not None:
                    bar.set_postfix_str(f"{entry['quarter']} {entry['status']}")
                    bar.update(1)
        if bar is not None:
            bar.close()
    return results
