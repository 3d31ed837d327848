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
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
