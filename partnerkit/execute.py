"""Executing notebooks with papermill, their kernels started ahead of their inputs.

A report's notebooks read the metrics the report computes first. Their kernels
do not need them to start: launching a kernel and importing pandas, matplotlib
and partnerkit takes about as long as computing the metrics, and on a machine
with more than one core both can happen at once. :class:`NotebookRun` starts
one kernel per notebook straight away, each importing what its notebook
imports, and executes the notebooks as soon as :meth:`NotebookRun.start` hands
over the parameters::

    with NotebookRun(notebooks, folder) as run:   # kernels start here
        ...                                       # compute what the notebooks read
        run.start({"quarter": "2026Q3", ...})     # the notebooks execute now
        executed = run.wait()

Leaving the ``with`` block early (an error while computing) shuts the waiting
kernels down; nothing is executed.

With more than one notebook, the kernels are forks of one process that has
imported their libraries once (see :mod:`partnerkit.kernels`). The kernels
show each figure a cell leaves open without matplotlib drawing it once more
first (:data:`FIGURES_SHOWN_FIRST`).

Every executed notebook is what papermill would write by itself: the kernel's
warm-up binds no names in the notebook's namespace and counts no execution, so
a cell that forgot an import still fails.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from partnerkit.kernels import SOCKETS_PREFIX, KernelTemplate, call, forkable, shared_templates

__all__ = [
    "DEFERRED_IMPORTS",
    "ENGINE_NAME",
    "FIGURES_DRAWN_ONCE",
    "FIGURES_SHOWN_FIRST",
    "KERNEL_NAME",
    "Executed",
    "call_template",
    "kernel_template",
    "NotebookRun",
    "execute_notebook",
    "figure_png",
    "notebook_imports",
    "notebook_parameters",
    "skip_iri_grammars",
    "warm_up_code",
]

#: The kernel every report notebook runs on.
KERNEL_NAME = "python3"
#: The papermill engine that runs a notebook on a kernel started beforehand.
ENGINE_NAME = "partnerkit-started-kernel"
#: What a kernel imports as it starts, beyond ipykernel itself: its debugger brings debugpy
#: (a tenth of a second per kernel). Not matplotlib_inline, which hooks itself into the
#: shell only when imported where one exists.
KERNEL_START_IMPORTS = ("ipykernel.debugger", "IPython.core.oinspect", "sqlite3",
                        "partnerkit.execute")
#: Modules that import others only on first use; warming a kernel up for a notebook
#: that imports the key imports these too (plots import pyplot inside each function).
DEFERRED_IMPORTS: dict[str, tuple[str, ...]] = {
    "partnerkit.plots": ("matplotlib.pyplot", "seaborn"),
}


def skip_iri_grammars() -> None:
    """Keep jsonschema from compiling its IRI grammars in this process.

    papermill reads notebooks with nbformat, which imports jsonschema. When the
    optional ``rfc3987_syntax`` package is installed (JupyterLab brings it),
    jsonschema builds about forty Lark parsers at import, one to two seconds of
    CPU, only to check the ``iri`` string formats, which no notebook schema
    uses (python-jsonschema/jsonschema#1428). The command line calls this first
    thing; a process that imported jsonschema already is left as it is.

    Examples
    --------
    >>> skip_iri_grammars()  # doctest: +SKIP
    >>> import jsonschema  # doctest: +SKIP
    """
    if "jsonschema" not in sys.modules:
        # None in sys.modules makes ``import rfc3987_syntax`` raise ImportError, which
        # jsonschema expects from an optional package that is not installed
        sys.modules.setdefault("rfc3987_syntax", None)


# ---------------------------------------------------------------------------- reading notebooks


def _code_cells(path) -> list[dict]:
    # read as JSON: importing nbformat costs a second or two (jsonschema's format checkers),
    # which would delay the very kernels this module starts early
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append({**cell, "source": "".join(source) if isinstance(source, list)
                          else source})
    return cells


def notebook_parameters(path) -> dict[str, Any]:
    """The defaults of a notebook's ``parameters`` cell (literal assignments only).

    Parameters
    ----------
    path : str or Path
        A notebook.

    Returns
    -------
    dict
        Name -> default value, in the cell's order; empty without a parameters cell.

    Raises
    ------
    ValueError
        When the parameters cell holds anything but ``name = <literal>``.

    Examples
    --------
    >>> notebook_parameters("notebooks/05_partner_deep_dive.ipynb")["partner_id"]
    'P004'
    """
    for cell in _code_cells(path):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            values = {}
            for node in ast.parse(cell["source"]).body:
                if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name)):
                    raise ValueError(f"{path}: the parameters cell may only assign literals "
                                     f"(line {node.lineno})")
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    raise ValueError(f"{path}: parameter {node.targets[0].id!r} is not a "
                                     "literal") from None
            return values
    return {}


def notebook_imports(path) -> tuple[str, ...]:
    """The modules a notebook may import at the top level of its code cells, in order.

    ``from a import b`` lists ``a`` and ``a.b``, as ``b`` may be a submodule
    (``from partnerkit import plots``) or not (``from IPython.display import
    display``): telling which would mean importing ``a`` here. Modules in
    :data:`DEFERRED_IMPORTS` bring the modules they import on first use. Cells
    that are not plain Python (magics) are skipped.

    Examples
    --------
    >>> notebook_imports("notebooks/04_integration_health.ipynb")  # doctest: +NORMALIZE_WHITESPACE
    ('IPython.display', 'IPython.display.display', 'partnerkit', 'partnerkit.report',
     'partnerkit.plots', 'matplotlib.pyplot', 'seaborn')
    """
    found: list[str] = []
    for cell in _code_cells(path):
        try:
            body = ast.parse(cell["source"]).body
        except SyntaxError:
            continue
        for node in body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # a name may be a submodule (``from partnerkit import plots``) or not
                # (``from IPython.display import display``); the warm-up tries both
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names
                                        if a.name != "*")]
            else:
                continue
            for name in names:
                for module in (name, *DEFERRED_IMPORTS.get(name, ())):
                    if module not in found:
                        found.append(module)
    return tuple(found)


def warm_up_code(modules) -> str:
    """Python that imports ``modules`` and leaves the namespace as it found it.

    Run by a kernel at start-up. A module that fails to import is skipped: the
    notebook's own import reports the error where the reader sees it.

    Examples
    --------
    >>> ns = {}
    >>> exec(warm_up_code(["json", "no_such_module_here"]), ns)
    >>> sorted(k for k in ns if k != "__builtins__")
    []
    """
    return ("for __partnerkit_module in %r:\n"
            "    try:\n"
            "        __import__(__partnerkit_module)\n"
            "    except Exception:\n"
            "        pass\n"
            "del __partnerkit_module\n") % (tuple(modules),)


#: Run by a report's kernels at start-up, before any figure exists. At the end of a cell
#: matplotlib draws every open figure (its interactive-mode hook), then the inline backend
#: draws each one again to show it as a PNG and closes it. Registered first, this shows (and
#: closes) the figures before matplotlib's hook runs, so that a figure is drawn only for its
#: image: about a second of CPU per report.
FIGURES_SHOWN_FIRST = (
    "def __partnerkit_show_figures():\n"
    "    import sys\n"
    "    inline = sys.modules.get('matplotlib_inline.backend_inline')\n"
    "    if inline is not None:\n"
    "        inline.flush_figures()\n"
    "get_ipython().events.register('post_execute', __partnerkit_show_figures)\n"
    "del __partnerkit_show_figures\n")

#: Run by a report's kernels at start-up, after :data:`FIGURES_SHOWN_FIRST`: where the
#: notebook uses matplotlib, the inline backend is hooked into the shell now (as it would
#: be at the first figure), then its PNG of a figure is replaced by :func:`figure_png`.
FIGURES_DRAWN_ONCE = (
    "def __partnerkit_png_once():\n"
    "    import sys\n"
    "    if 'matplotlib.pyplot' not in sys.modules:\n"
    "        return\n"
    "    import matplotlib_inline.backend_inline\n"
    "    from matplotlib.figure import Figure\n"
    "    from partnerkit.execute import figure_png\n"
    "    png = get_ipython().display_formatter.formatters['image/png']\n"
    "    if Figure in png.type_printers:\n"
    "        png.for_type(Figure, figure_png)\n"
    "__partnerkit_png_once()\n"
    "del __partnerkit_png_once\n")


def figure_png(fig) -> str | None:
    """A figure as IPython shows it inline (base64 PNG), drawn once.

    What IPython's own PNG of a figure holds, byte for byte, without the draw
    matplotlib makes first for a figure with a layout engine only to lay it
    out (the draw that renders the image lays it out as well). Report kernels
    show every figure through it (:data:`FIGURES_DRAWN_ONCE`).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from matplotlib.backends.backend_agg import FigureCanvasAgg
    >>> from IPython.core.pylabtools import print_figure
    >>> fig = Figure(layout="constrained")
    >>> canvas = FigureCanvasAgg(fig)
    >>> _ = fig.add_subplot().plot([1, 3, 2])
    >>> figure_png(fig) == print_figure(fig, "png", bbox_inches=None, base64=True)
    True
    >>> figure_png(Figure()) is None  # nothing drawn, nothing shown
    True
    """
    import base64
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not fig.axes and not fig.lines:
        return None
    if not isinstance(fig.canvas, FigureCanvasAgg):
        from IPython.core.pylabtools import print_figure

        return print_figure(fig, "png", bbox_inches=None, base64=True)
    data = io.BytesIO()
    fig.canvas.print_png(data)
    return base64.b64encode(data.getvalue()).decode("ascii")


def kernel_template(notebooks, kernel_name: str = KERNEL_NAME) -> KernelTemplate:
    """The (unstarted) template the notebooks' kernels are forked from.

    One process imports what every notebook imports, and what a kernel imports
    as it starts (:data:`KERNEL_START_IMPORTS`); each kernel is a fork of it.
    """
    return KernelTemplate([*(m for nb in notebooks for m in notebook_imports(nb)),
                           *KERNEL_START_IMPORTS], kernel_name)


def call_template(imports, warm_up: str | None = None,
                  kernel_name: str = KERNEL_NAME) -> KernelTemplate:
    """The (unstarted) template of :meth:`NotebookRun.call`: a process of its own, so
    that what the calls import (nbconvert, say) does not leak into the kernels."""
    return KernelTemplate(imports, kernel_name, skip_iri_grammars=True, warm_up=warm_up)


# ---------------------------------------------------------------------------- one notebook


def _engine() -> str:
    """Register (once) and name the papermill engine for started kernels."""
    from papermill.engines import NBClientEngine, papermill_engines

    if ENGINE_NAME in papermill_engines._engines:
        return ENGINE_NAME
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class StartedKernelEngine(NBClientEngine):
        """papermill's nbclient engine on a kernel manager (``km=``) started beforehand.

        The only difference: the client shuts that kernel down when the notebook
        is done (``cleanup_kc=True``), as it does with a kernel it starts itself.
        The keyword handling mirrors :class:`papermill.engines.NBClientEngine`.
        """

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False,
                                     stdout_file=None, stderr_file=None, start_timeout=60,
                                     execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            return PapermillNotebookClient(nb_man, **final_kwargs).execute(cleanup_kc=True)

    papermill_engines.register(ENGINE_NAME, StartedKernelEngine)
    return ENGINE_NAME


_SOCKETS_PREFIX = SOCKETS_PREFIX


def _start_kernel(source: Path, kernel_name: str, template: str | None = None):
    """Launch a kernel that imports what ``source`` imports while it starts.

    With ``template`` (a :attr:`partnerkit.kernels.KernelTemplate.address`) the
    kernel is forked from a process that has imported those modules already.
    """
    from jupyter_core.utils import run_sync

    from partnerkit.kernels import ForkedKernelManager

    # local sockets in a folder of its own: nothing crosses TCP, so the kernel has no reason
    # to warn about unencrypted traffic, and no port can be taken by another process
    sockets = tempfile.mkdtemp(prefix=_SOCKETS_PREFIX)
    km = ForkedKernelManager(kernel_name=kernel_name, transport="ipc",
                             ip=os.path.join(sockets, "kernel"), template=template)
    # the history file is what papermill's client would pass; exec_lines run before the
    # kernel answers, outside the notebook's history and execution count
    arguments = ["--HistoryManager.hist_file=:memory:",
                 # figures lay themselves out (partnerkit.plots uses constrained layout):
                 # a tight bounding box would only measure every figure once more
                 "--InlineBackend.print_figure_kwargs={'bbox_inches': None}"]
    modules = notebook_imports(source)
    arguments.append("--IPKernelApp.exec_lines="
                     f"{warm_up_code(modules)}{FIGURES_SHOWN_FIRST}{FIGURES_DRAWN_ONCE}")
    run_sync(km.start_kernel)(extra_arguments=arguments)
    _yield_cpu(getattr(km.provisioner, "pid", None))
    return km


#: How much a kernel yields the CPU to the process that started it (``nice`` steps).
KERNEL_NICENESS = 5


def _yield_cpu(pid: int | None) -> None:
    """Lower a kernel's CPU priority a little below its parent's.

    A kernel warming up only has to be ready when its notebook's inputs are;
    the process computing those inputs is what everything waits for, so on a
    busy machine it should get the CPU first. Where priorities cannot be set,
    nothing changes.
    """
    if pid is None or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + KERNEL_NICENESS)
    except OSError:
        pass


def _stop_kernel(km) -> None:
    from jupyter_core.utils import run_sync

    # papermill's client has shut it down already unless the notebook never ran
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    finally:
        sockets = Path(km.ip).parent
        if sockets.name.startswith(_SOCKETS_PREFIX):
            shutil.rmtree(sockets, ignore_errors=True)


def _scrub(output: Path, source: Path) -> None:
    """Leave no environment and no temporary paths in an executed notebook."""
    import nbformat

    if not output.exists():
        return
    nb = nbformat.read(str(output), as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta.pop("environment_variables", None)
    meta["input_path"] = source.name
    meta["output_path"] = f"notebooks/{output.name}"
    # the metrics file handed to the kernel is a working file: an archived notebook
    # run again computes from its data_dir
    if meta.get("parameters", {}).get("state"):
        meta["parameters"]["state"] = None
        for cell in nb.cells:
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.source = re.sub(r'^state = .*$', "state = None", cell.source, flags=re.M)
    nbformat.write(nb, str(output))


def execute_notebook(source: Path, output: Path, parameters: dict, progress: bool | dict = False,
                     km=None, kernel_name: str = KERNEL_NAME) -> float:
    """Run one notebook with papermill; return the seconds it took.

    Only the parameters the notebook declares are injected. The executed
    notebook keeps no environment variables and names its paths relative to
    the archive. Every injected path is absolute, so the kernel's working
    directory does not matter; papermill's ``cwd`` is not used because it
    changes the directory of the whole process, which notebooks running side
    by side in threads would trip over.

    Parameters
    ----------
    source, output : Path
    parameters : dict
        Values for the notebook's parameters cell (others are ignored).
    progress : bool or dict
        papermill's progress bar (a dict is passed to tqdm).
    km : jupyter_client.AsyncKernelManager, optional
        A kernel started for this notebook (shut down when done); by default
        papermill starts one.
    """
    import papermill

    declared = notebook_parameters(source)
    given = {k: v for k, v in parameters.items() if k in declared}
    extra = {} if km is None else {"engine_name": _engine(), "km": km}
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(Path(source).resolve()), str(Path(output).resolve()),
                                   parameters=given, kernel_name=kernel_name,
                                   progress_bar=progress, log_output=False,
                                   # written once at the end, not after every cell: each
                                   # save serialises and validates the whole notebook
                                   request_save_on_cell_execute=False,
                                   # every output is in once the last cell is idle; a graceful
                                   # shutdown only waits, seconds on a busy machine
                                   shutdown_kernel="immediate", **extra)
    finally:
        _scrub(Path(output), Path(source))
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- several at once


@dataclass
class Executed:
    """What became of one notebook of a :class:`NotebookRun`.

    Attributes
    ----------
    source, output : Path
    seconds : float
        papermill's run, kernel start-up excluded.
    error : Exception or None
        papermill's error when a cell failed (``PapermillExecutionError``).
    after : Any
        What the run's ``after`` callback returned for this notebook.
    """

    source: Path
    output: Path
    seconds: float | None = None
    error: BaseException | None = None
    after: Any = None


class NotebookRun:
    """Execute notebooks side by side, each on a kernel started before its inputs exist.

    Parameters
    ----------
    notebooks : list of Path
    folder : Path
        Where the executed notebooks are written (same file names).
    jobs : int, optional
        Notebooks executing at once (default: all of them; each has its own
        kernel process, and much of a kernel's life is spent waiting).
    progress : bool
        One tqdm bar per notebook (papermill's cell progress).
    after : callable, optional
        ``after(source, output)`` runs in the notebook's thread right after it
        executed successfully (e.g. an HTML export); its value is kept in
        :attr:`Executed.after`.
    kernel_name : str
    fork : bool, optional
        Fork every kernel from one :class:`partnerkit.kernels.KernelTemplate`
        that imports what the notebooks import (default: when there is more
        than one notebook and the system can fork). A template set with
        :func:`partnerkit.kernels.use_shared_templates` is used whatever this says.
    call_imports : iterable of str
        What :meth:`call` targets import: a second template imports them
        once (when kernels are forked), so that each call is a fork too.
    call_warm_up : str, optional
        ``"module:function"`` that template runs once after its imports (see
        :class:`partnerkit.kernels.KernelTemplate`).

    Notes
    -----
    The first ``jobs`` kernels start on entering the ``with`` block; the others
    start as earlier notebooks finish.
    """

    def __init__(self, notebooks, folder, jobs: int | None = None, progress: bool = False,
                 after: Callable[[Path, Path], Any] | None = None,
                 kernel_name: str = KERNEL_NAME, fork: bool | None = None,
                 call_imports=(), call_warm_up: str | None = None):
        self.notebooks = [Path(nb) for nb in notebooks]
        # a template pays for itself from the second kernel on
        self.fork = (len(self.notebooks) > 1 if fork is None else fork) and forkable()
        self.call_imports = tuple(call_imports)
        self.call_warm_up = call_warm_up
        self._template: KernelTemplate | None = None
        self._calls_template: KernelTemplate | None = None
        self._template_address: str | None = None
        self._calls_address: str | None = None
        self.folder = Path(folder)
        self.jobs = max(1, min(jobs or len(self.notebooks), len(self.notebooks) or 1))
        self.progress = progress
        self.after = after
        self.kernel_name = kernel_name
        self._ready = threading.Event()
        self._parameters: dict | None = None
        self._pool = None
        self._futures: list = []

    def __enter__(self) -> NotebookRun:
        from concurrent.futures import ThreadPoolExecutor

        self.folder.mkdir(parents=True, exist_ok=True)
        self._template_address, self._calls_address = shared_templates()
        if self._template_address is None and self.fork:
            self._template = kernel_template(self.notebooks, self.kernel_name).start()
            self._template_address = self._template.address
        if self._calls_address is None and self.fork and self.call_imports:
            self._calls_template = call_template(self.call_imports, self.call_warm_up,
                                                 self.kernel_name).start()
            self._calls_address = self._calls_template.address
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="notebook")
        self._futures = [self._pool.submit(self._one, i, nb)
                         for i, nb in enumerate(self.notebooks)]
        return self

    def start(self, parameters: dict) -> None:
        """Execute the notebooks with these parameters (each gets those it declares)."""
        self._parameters = dict(parameters)
        self._ready.set()

    def wait(self) -> list[Executed]:
        """Wait for every notebook; one :class:`Executed` each, in notebook order.

        A notebook whose cell failed has ``error`` set; any other exception
        (a kernel that would not start) is raised here.
        """
        if not self._ready.is_set():
            raise RuntimeError("NotebookRun.wait() before start(): nothing would ever run")
        return [future.result() for future in self._futures]

    def __exit__(self, exc_type, exc, tb) -> None:
        # leaving without start(): the waiting threads find no parameters and stop their kernels
        self._ready.set()
        for future in self._futures:
            future.cancel()
        try:
            self._pool.shutdown(wait=True)
        finally:
            for template in (self._template, self._calls_template):
                if template is not None:
                    template.close()
            self._template = self._calls_template = None

    def call(self, target: str, *args):
        """``target(*args)`` in a fork of the run's call template (here without one).

        See :func:`partnerkit.kernels.call`; e.g. an ``after`` callback
        exporting each executed notebook to HTML, away from this process.
        """
        return call(self._calls_address, target, *args)

    def _one(self, position: int, source: Path) -> Executed | None:
        output = self.folder / source.name
        if self._ready.is_set() and self._parameters is None:
            return None  # the run was abandoned before this notebook's turn
        km = _start_kernel(source, self.kernel_name, self._template_address)
        try:
            # papermill is imported once the kernel is starting: its import (nbformat,
            # jsonschema) takes a second or two the kernel needs anyway
            from papermill.exceptions import PapermillExecutionError

            self._ready.wait()
            if self._parameters is None:
                return None
            bar = ({"desc": source.stem, "position": position + 1, "leave": False}
                   if self.progress else False)
            done = Executed(source, output)
            try:
                done.seconds = execute_notebook(source, output, self._parameters, bar, km=km,
                                                kernel_name=self.kernel_name)
            except PapermillExecutionError as exc:
                done.error = exc
                return done
            if self.after is not None:
                done.after = self.after(source, output)
            return done
        finally:
            _stop_kernel(km)
