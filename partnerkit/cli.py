"""The ``partnerkit`` command line.

Exit codes (SPEC §11): 0 ok, 2 bad arguments, 3 invalid data (the message
names file, column and rows), 4 refused to overwrite an archive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    return parser


def _add_metric_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grace-days", type=int, default=14, metavar="N",
                        help="days after a deal's creation a sourced tag is still believed "
                             "(default: 14)")
    parser.add_argument("--min-sample", type=int, default=10, metavar="N",
                        help="rates with fewer observations are flagged (default: 10)")
    parser.add_argument("--fiscal-year-start-month", type=int, default=1, metavar="M",
                        help="first month of the fiscal year, 1-12 (default: 1, calendar)")


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
    kpis = Kpis(_load(args), min_sample=args.min_sample, grace_days=args.grace_days,
                fiscal_year_start_month=args.fiscal_year_start_month)
    return kpis, quarter


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
