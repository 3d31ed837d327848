"""What a backfill's quarter processes import, imported once by the server they fork from.

:func:`partnerkit.archive.backfill` archives its quarters in worker processes
forked from one server that imported this module: every quarter starts with
the report's libraries in memory, instead of importing them itself (more than
a second of CPU each, on cores the quarters' kernels need), and leaves without
tearing them down.

Importing the module does two things besides the imports: jsonschema's IRI
grammars are left out, as in every report process (see
:func:`partnerkit.execute.skip_iri_grammars`; nothing changes where jsonschema
is imported already), and nbformat's notebook validator is compiled.
"""

from __future__ import annotations

import importlib

from partnerkit.execute import skip_iri_grammars

__all__ = ["MODULES"]

#: What a quarter's report imports: the package's report modules, then papermill and the
#: notebook libraries it runs on.
MODULES = (
    "partnerkit.archive", "partnerkit.audit", "partnerkit.dashboard", "partnerkit.drilldown",
    "partnerkit.kpis", "partnerkit.leaks", "partnerkit.report", "partnerkit.targets",
    "partnerkit.validate", "jupyter_client.manager", "nbformat", "nbclient", "papermill",
    "tqdm.auto",
)

skip_iri_grammars()  # before nbformat brings jsonschema in
for _module in MODULES:
    importlib.import_module(_module)
del _module


def _warm_notebook_validator() -> None:
    # papermill validates every notebook it reads; the schema's validator is compiled on
    # first use (a tenth of a second), once here instead of once per quarter
    import nbformat

    nbformat.reads(nbformat.writes(nbformat.v4.new_notebook()), as_version=4)


_warm_notebook_validator()
