"""The ``partnerkit`` command line.

Exit codes (SPEC §11): 0 ok, 2 bad arguments, 3 invalid data (the message
names file, column and rows), 4 refused to overwrite an archive; and 1 when a
notebook of ``partnerkit report`` failed (nothing is archived; the failed
notebook is kept in the failed-runs folder the message names).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from partnerkit import __version__
from partnerkit.quarantine import DataError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INVALID_DATA = 3
EXIT_ARCHIVE_EXISTS = 4

DEFAULT_DATA = "data/sample"


class UsageError(Exception):
    """A bad argument value found after parsing (exit code 2)."""


def _add_data_options(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                        help=f"data directory of CSV/Parquet tables (default: {DEFAULT_DATA})")
    parser.add_argument("--mapping", metavar="NAME|FILE",
                        help="column mapping for real exports: salesforce, hubspot, or a YAML file")
    parser.add_argument("--strict", action="store_true",
                        help="treat any quarantined row as fatal (exit 3)")
    if json_flag:
        parser.add_argument("--json", action="store_true",
                            help="print machine-readable JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="partnerkit",
        description="What a partnership program actually drives: validate partnership data, "
                    "compute outcome metrics, find leaks, archive quarterly reports.",
    )
    parser.add_argument("--version", action="version", version=f"partnerkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sample", help="write the deterministic sample company",
                       description="Generate the fictional sample company (2024Q4-2026Q3) "
                                   "as CSV tables plus sync_events.parquet.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write into (must be empty unless --overwrite)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace generated files in a non-empty folder (other files are kept)")
    p.set_defaults(handler=_cmd_sample)

    p = sub.add_parser("validate", help="load and validate a data directory",
                       description="Load every table, report quarantined rows by table, row, "
                                   "column and reason. Exit 3 on structural problems "
                                   "(or any quarantined row with --strict).")
    _add_data_options(p)
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser("kpis", help="every metric of the catalogue for a quarter",
                       description="Compute every catalogue metric for a quarter, for the company "
                                   "or per partner, with the ids of the records behind each value.")
    p.add_argument("--quarter", required=True, metavar="Q", help="quarter, e.g. 2026Q3")
    p.add_argument("--by", choices=["partner"], help="break the metrics down per partner")
    _add_metric_options(p)
    _add_data_options(p)
    p.set_defaults(handler=_cmd_kpis)

    p = sub.add_parser("audit", help="attribution findings and rejected rows",
                       description="List every attribution rule that fired (with its rule id, "
                                   "opportunity and partner), events of unknown connections, "
                                   "and every quarantined row.")
    _add_metric_options(p)
    _add_data_options(p)
    p.set_defaults(handler=_cmd_audit)

    p = sub.add_parser("leaks", help="where the activity -> output -> outcome stack leaks",
                       description="Run the leak rules for the company and every partner: a "
                                   "lower-tier metric growing while the one above stays flat.")
    p.add_argument("--quarter", required=True, metavar="Q", help="quarter, e.g. 2026Q3")
    p.add_argument("--rules", metavar="FILE",
                   help="YAML file tuning the default rules or adding metric pairs")
    _add_metric_options(p)
    _add_data_options(p)
    p.set_defaults(handler=_cmd_leaks)

    p = sub.add_parser("scorecard", help="stage targets: met, not met, not measured",
                       description="Check the trailing four quarters against the targets of "
                                   "a company stage (seed, series_a, series_b).")
    p.add_argument("--quarter", required=True, metavar="Q", help="quarter, e.g. 2026Q3")
    p.add_argument("--stage", required=True, choices=["seed", "series_a", "series_b"])
    p.add_argument("--targets", metavar="FILE", help="YAML file overriding the default targets")
    _add_metric_options(p)
    _add_data_options(p)
    p.set_defaults(handler=_cmd_scorecard)

    p = sub.add_parser("lint-dashboard", help="check an exec dashboard spec for vanity metrics",
                       description="Flag vanity metrics on the exec view (with the metric to "
                                   "show instead), installs shown without the active ratio, "
                                   "tiles without a prior period or sparkline, and a metric set "
                                   "that changed since the last archived quarter.")
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="dashboard YAML (default: the packaged locked dashboard)")
    p.add_argument("--reports", metavar="DIR", default="reports",
                   help="archive folder holding earlier quarters' dashboard.yml "
                        "(default: reports)")
    p.add_argument("--quarter", metavar="Q",
                   help="compare with the last archived quarter before Q (default: the latest)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=_cmd_lint_dashboard)

    p = sub.add_parser("plots", help="write the report figures as PNG files",
                       description="Write dashboard.png, stack_walk.png (and per leaking "
                                   "partner), integration_health.png, win_rates.png and "
                                   "time_to_live.png for a quarter.")
    p.add_argument("--quarter", required=True, metavar="Q", help="quarter, e.g. 2026Q3")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    _add_metric_options(p)
    _add_data_options(p, json_flag=False)
    p.set_defaults(handler=_cmd_plots)

    p = sub.add_parser("report", help="archive the quarterly report (notebooks, HTML, JSON, CSV)",
                       description="Validate the data, execute the notebooks with papermill and "
                                   "archive everything in <out>/<quarter>/: executed notebooks, "
                                   "HTML without code, kpis/leaks/audit JSON, drill-down CSVs, "
                                   "the dashboard spec and a manifest. An archive is never "
                                   "overwritten: a second run exits 4 unless --revision. "
                                   "Exit 1 when a notebook fails (nothing is archived; the "
                                   "executed notebooks are kept in <out>/_failed/).")
    p.add_argument("--quarter", metavar="Q", help="quarter, e.g. 2026Q3")
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="reports folder (default: reports)")
    p.add_argument("--revision", action="store_true",
                   help="when the quarter is archived already, write <quarter>-r2 (-r3...) beside it")
    p.add_argument("--backfill", nargs=2, metavar=("FROM", "TO"),
                   help="archive every quarter from FROM to TO, each in its own process; "
                        "quarters already archived are skipped unless --revision")
    p.add_argument("--partner", metavar="P",
                   help="only the deep dive of this partner, filed in <out>/<quarter>/partners/<P>/ "
                        "(the quarter must be archived)")
    p.add_argument("--stage", default="series_a", metavar="STAGE",
                   help="stage scorecard: seed, series_a or series_b (default: series_a)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="parallel processes for --backfill (default: number of cores)")
    p.add_argument("--notebooks", metavar="DIR",
                   help="notebooks to execute (default: the notebooks/ folder of partnerkit)")
    _add_metric_options(p)
    _add_data_options(p)
    p.set_defaults(handler=_cmd_report)
    return parser


def _add_metric_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grace-days", type=int, default=14, metavar="N",
                        help="days after a deal's creation a sourced tag is still believed "
                             "(default: 14)")
    parser.add_argument("--min-sample", type=int, default=10, metavar="N",
                        help="rates with fewer observations are flagged (default: 10)")
    parser.add_argument("--fiscal-year-start-month", type=int, default=1, metavar="M",
                        help="first month of the fiscal year, 1-12 (default: 1, calendar)")
    parser.add_argument("--backend", metavar="URL",
                        help="ibis connection URL where sync events are rolled up "
                             "(default: DuckDB in process; e.g. duckdb:///events.db, "
                             "postgres://user@host/db)")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    partnerkit 0.1.0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args) or EXIT_OK
    except UsageError as exc:
        print(f"partnerkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as exc:
        print(f"partnerkit {args.command}: invalid data: {exc}", file=sys.stderr)
        return EXIT_INVALID_DATA


def _load(args):
    from partnerkit.load import load_dataset

    return load_dataset(args.data, mapping=args.mapping, strict=args.strict)


def _print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _cmd_sample(args) -> int:
    from partnerkit.sample import write_sample

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise UsageError(f"{out} is not empty; pass --overwrite to replace the generated files")
    written = write_sample(out, seed=args.seed, overwrite=args.overwrite)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({total / 1e6:.1f} MB) to {out} with seed {args.seed}")
    return EXIT_OK


def _cmd_validate(args) -> int:
    from partnerkit.validate import validation_report, validation_text

    dataset = _load(args)
    report = validation_report(dataset)
    if args.json:
        _print_json(report)
    else:
        print(validation_text(dataset))
    return EXIT_OK


def _kpis(args):
    from partnerkit.kpis import Kpis
    from partnerkit.periods import Quarter, QuarterError

    if args.grace_days < 0:
        raise UsageError("--grace-days must be >= 0")
    if args.min_sample < 1:
        raise UsageError("--min-sample must be >= 1")
    try:
        quarter = (Quarter.parse(args.quarter, args.fiscal_year_start_month)
                   if getattr(args, "quarter", None) else None)
    except QuarterError as exc:
        raise UsageError(str(exc)) from None
    backend = _backend(getattr(args, "backend", None))
    kpis = Kpis(_load(args), min_sample=args.min_sample, grace_days=args.grace_days,
                fiscal_year_start_month=args.fiscal_year_start_month, backend=backend)
    return kpis, quarter


def _backend(url: str | None):
    """The ibis connection of ``--backend`` (None without one); a bad URL is a usage error.

    The URL's password never reaches the message.
    """
    if not url:
        return None
    import ibis

    from partnerkit.archive import redact_url

    try:
        return ibis.connect(url)
    except Exception as exc:  # ibis raises backend-specific errors for bad URLs
        shown = redact_url(url)
        raise UsageError(f"--backend {shown!r}: {str(exc).replace(url, shown)}") from None


def _cmd_kpis(args) -> int:
    from partnerkit.kpis import kpis_text

    kpis, quarter = _kpis(args)
    by_partner = args.by == "partner"
    if args.json:
        _print_json(kpis.to_json(quarter, by_partner=by_partner))
    else:
        print(kpis_text(kpis, quarter, by_partner=by_partner))
    return EXIT_OK


def _cmd_audit(args) -> int:
    from partnerkit.audit import audit_report, audit_text

    kpis, _ = _kpis(args)
    if args.json:
        _print_json(audit_report(kpis))
    else:
        print(audit_text(kpis))
    return EXIT_OK


#: ``partnerkit report``: a notebook failed, nothing was archived.
EXIT_REPORT_FAILED = 1


def _cmd_leaks(args) -> int:
    from partnerkit.leaks import RulesError, leaks_report, leaks_text, load_rules

    kpis, quarter = _kpis(args)
    try:
        rules = load_rules(args.rules) if args.rules else None
    except (RulesError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(leaks_report(kpis, quarter, rules=rules))
    else:
        print(leaks_text(kpis, quarter, rules=rules))
    return EXIT_OK


def _cmd_scorecard(args) -> int:
    from partnerkit.targets import TargetsError, load_targets, scorecard_report, scorecard_text

    kpis, quarter = _kpis(args)
    try:
        targets = load_targets(args.targets) if args.targets else None
    except (TargetsError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(scorecard_report(kpis, quarter, args.stage, targets=targets))
    else:
        print(scorecard_text(kpis, quarter, args.stage, targets=targets))
    return EXIT_OK


def _cmd_lint_dashboard(args) -> int:
    from partnerkit.dashboard import (
        DashboardSpecError,
        lint_dashboard,
        lint_report,
        lint_text,
        load_dashboard_spec,
        previous_archived_spec,
    )
    from partnerkit.periods import QuarterError

    try:
        spec = load_dashboard_spec(args.file)
        previous = (previous_archived_spec(args.reports, args.quarter)
                    if Path(args.reports).is_dir() else None)
    except (DashboardSpecError, QuarterError, OSError) as exc:
        raise UsageError(str(exc)) from None
    findings = lint_dashboard(spec, previous)
    if args.json:
        _print_json(lint_report(findings))
    else:
        print(lint_text(findings))
    return EXIT_OK


def _cmd_plots(args) -> int:
    from partnerkit.plots import write_figures

    kpis, quarter = _kpis(args)
    written = write_figures(kpis, quarter, Path(args.out))
    for path in written:
        print(path)
    return EXIT_OK


def _cmd_report(args) -> int:
    from partnerkit import archive
    from partnerkit.execute import skip_iri_grammars

    skip_iri_grammars()  # before papermill is imported: see its docstring
    from partnerkit.periods import Quarter, QuarterError
    from partnerkit.targets import STAGES

    # every argument is checked before anything is read or executed
    if args.stage not in STAGES:
        raise UsageError(f"unknown stage {args.stage!r}; expected one of {', '.join(STAGES)}")
    if args.grace_days < 0:
        raise UsageError("--grace-days must be >= 0")
    if args.min_sample < 1:
        raise UsageError("--min-sample must be >= 1")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be >= 1")
    if bool(args.quarter) == bool(args.backfill):
        raise UsageError("give either --quarter Q or --backfill FROM TO")
    if args.partner is not None and args.backfill:
        raise UsageError("--partner runs one quarter: use --quarter, not --backfill")
    try:
        quarters = [Quarter.parse(q, args.fiscal_year_start_month)
                    for q in (args.backfill or [args.quarter])]
    except QuarterError as exc:
        raise UsageError(str(exc)) from None
    if args.backfill and quarters[0] > quarters[1]:
        raise UsageError(f"--backfill {quarters[0]} {quarters[1]}: FROM is after TO")
    if args.notebooks is not None and not Path(args.notebooks).is_dir():
        raise UsageError(f"--notebooks {args.notebooks}: no such folder")
    _backend(args.backend)  # a bad URL stops here, before anything is read or executed
    request = archive.ReportRequest(
        quarter=str(quarters[0]), data_dir=args.data, out=args.out, revision=args.revision,
        stage=args.stage, partner=args.partner, notebooks_dir=args.notebooks,
        mapping=args.mapping, strict=args.strict, grace_days=args.grace_days,
        min_sample=args.min_sample, fiscal_year_start_month=args.fiscal_year_start_month,
        backend=args.backend)
    archive.clean_partials(args.out)
    try:
        if args.backfill:
            # the data is loaded while the quarters' processes start; invalid data stops them
            # all (exit 3) before any quarter is archived
            results = archive.backfill(request, quarters[0], quarters[1], jobs=args.jobs)
            return _report_backfill(args, results)
        if args.partner is not None:
            base = archive.latest_archive(args.out, quarters[0])
            if base is None:
                raise UsageError(f"{quarters[0]} has no archive in {args.out} yet; a deep dive "
                                 f"is filed inside it: run `partnerkit report --quarter "
                                 f"{quarters[0]}` first")
            archive.target_folder(base / "partners", archive.folder_name(args.partner),
                                  args.revision)
            dataset = _load(args)
            known = sorted(dataset.partners["partner_id"].astype(str))
            if args.partner not in known:
                raise UsageError(f"unknown partner id {args.partner!r}; known: {', '.join(known)}")
            result = archive.run_partner_report(request, dataset)
        else:
            archive.target_folder(args.out, str(quarters[0]), args.revision)

            def loaded(dataset):
                if not args.json:
                    from partnerkit.validate import validation_text

                    # what was read and rejected comes first, before trust in the numbers
                    print(validation_text(dataset), end="\n\n", flush=True)

            # the report loads the data itself, once its notebooks' kernels are starting
            result = archive.run_report(request, on_loaded=loaded)
    except archive.ArchiveExists as exc:
        print(f"partnerkit report: refused: {exc}", file=sys.stderr)
        return EXIT_ARCHIVE_EXISTS
    except archive.ReportFailed as exc:
        print(f"partnerkit report: failed: {exc}", file=sys.stderr)
        return EXIT_REPORT_FAILED
    if args.json:
        _print_json({"archives": [result.to_dict()]})
    else:
        what = f"deep dive of {args.partner}" if args.partner else "report"
        print(f"archived the {result.quarter} {what} in {result.path} ({result.seconds:.0f} s)")
        if result.html is not None:
            print(f"exec view (HTML, opens offline): {result.html}")
        if result.restated:
            print(f"{result.restated} archived numbers of earlier quarters now compute "
                  f"differently: see {result.path / 'restatements.csv'}")
    return EXIT_OK


def _report_backfill(args, results) -> int:
    if args.json:
        _print_json({"archives": results})
    else:
        for entry in results:
            where = entry.get("path") or ""
            line = f"{entry['quarter']}  {entry['status']:<8}  {where}"
            if entry["status"] == "failed":
                line += f"\n          {entry['message']}"
            print(line)
    return EXIT_REPORT_FAILED if any(e["status"] == "failed" for e in results) else EXIT_OK


def run() -> NoReturn:
    """The ``partnerkit`` command: :func:`main`, then leave without tearing down.

    A report has imported pandas, DuckDB, matplotlib and nbconvert by the time
    it ends; freeing their objects one by one at interpreter exit takes about
    half a second (see :func:`partnerkit.kernels.exit_now`). Every file the
    commands write is closed before :func:`main` returns.
    """
    from partnerkit.kernels import exit_now

    try:
        code = main()
    except BrokenPipeError:
        # whoever read the output stopped reading (``partnerkit kpis --json | head``): end
        # quietly, with nothing more written to the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    exit_now(code)


if __name__ == "__main__":  # pragma: no cover
    run()
