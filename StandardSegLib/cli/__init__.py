"""The ``standardseg`` command.

Each subcommand lives in its own module ``<name>_cmd.py`` with a ``register(subparsers)`` function that adds
its parser and sets ``func``. Errors of the user's making (``StandardSegError``) are caught here, once, and
printed as one line with the error's exit status; nothing else in the CLI catches them. Third-party warnings
(pydicom's header complaints...) are collected here too and go to the JSON ``warnings``, never to the
terminal (``StandardSegLib.cli.third_party``; ``--debug`` shows them).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module
from typing import Optional, Sequence

from StandardSegLib import __version__
from StandardSegLib.cli.third_party import captured_warnings
from StandardSegLib.errors import StandardSegError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("protocols", "operators", "inspect", "check", "measure", "demo", "features", "segment", "run", "report",
            "batch", "phantom", "compare", "agreement", "robustness", "harmonise", "nyul", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="standardseg",
        description="Standardised lesion segmentation for imaging biomarkers: SOP protocols, image checks, "
        "SUV, segmentation and reproducible reports.",
    )
    parser.add_argument("--version", action="version", version=f"standardseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        import_module(f"{__name__}.{name}_cmd").register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.debug:
            return int(args.func(args) or 0)
        with captured_warnings():
            return int(args.func(args) or 0)
    except StandardSegError as error:
        if args.debug:
            raise
        print(f"standardseg: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("standardseg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `standardseg inspect ... | head`): not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
