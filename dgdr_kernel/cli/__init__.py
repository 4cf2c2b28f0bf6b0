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


class _DropRepeatedWarnings(logging.Filter):
    """Let each warning or error message reach the console once, however many times it is logged."""

    def __init__(self):
        super().__init__()
        self._seen: set[tuple[int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.levelno, record.getMessage())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _console_handler(level: str) -> logging.Handler:
    """Return the standard error handler: `level: message`, with the logger's name only at DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    layout = "%(levelname)s: %(name)s: %(message)s" if level == "DEBUG" else "%(levelname)s: %(message)s"
    handler.setFormatter(_LowerCaseLevelFormatter(layout))
    handler.addFilter(_DropRepeatedWarnings())
    return handler


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

    logging.basicConfig(level=getattr(logging, args.log_level), handlers=[_console_handler(args.log_level)])
    try:
        return int(args.func(args) or 0)
    except DgdrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
