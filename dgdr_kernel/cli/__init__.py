"""The `dgdr` command line.

Each subcommand lives in its own module with a `register(subparsers)` function
that adds its parser and sets `func(args) -> int`. Exit codes: 0 success,
1 invalid input (any DgdrError), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dgdr_kernel import __version__
from dgdr_kernel.errors import DgdrError

__all__ = ["main", "positive_int"]

SUBCOMMAND_MODULES = ("validate", "hw", "models", "profile", "report", "batch")

EXIT_OK = 0
EXIT_INVALID_INPUT = 1
EXIT_USAGE = 2


def positive_int(text: str) -> int:
    """Parse a command-line count of at least 1 (an argparse `type`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class _LowerCaseLevelFormatter(logging.Formatter):
    """Start each log line with the level in lower case (`error: `), as argparse and our messages do."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(logging.makeLogRecord({**record.__dict__, "levelname": record.levelname.lower()}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgdr",
        description=(
            "Capacity planning for LLM serving on NVIDIA Dynamo: validate a "
            "DynamoGraphDeploymentRequest (DGDR), sweep serving configurations, "
            "pick one and write the DynamoGraphDeployment (DGD)."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version and exit",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much the tool logs to standard error (default: WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"dgdr_kernel.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerCaseLevelFormatter("%(levelname)s: %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, args.log_level), handlers=[handler])
    try:
        return int(args.func(args) or 0)
    except DgdrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
