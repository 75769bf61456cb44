"""``standardseg report --session FILE -o DIR [--overwrite] [--deidentify]``: regenerate a report bundle.

The session (a bundle's ``session.json``) pins the protocol version and hash and the SHA-256 of every
input file; if any of them changed the command refuses (exit 2) and names what changed, so a regenerated
bundle is always computed from exactly what the original was.
"""

from __future__ import annotations

import argparse
import sys

from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.cli.run_cmd import add_bundle_arguments, partial_status, print_bundle


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="regenerate a report bundle from a recorded session",
        description="Re-run the pipeline recorded in a session file (session.json of a bundle) and write a new "
        "bundle to DIR. Refuses when an input file's SHA-256 or the protocol differs from the session's "
        "record. The bundle path is the last line printed; exit status 4 (partial) when a lesion failed, as for "
        "'standardseg run'.")
    parser.add_argument("--session", required=True, metavar="FILE", help="session file (a bundle's session.json)")
    add_bundle_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.errors import InputError
    from StandardSegLib.report.deidentify import REMOVED
    from StandardSegLib.session import Session, run_session

    session = Session.from_file(args.session)
    if not session.inputs:
        raise InputError(f"{args.session}: expected a recorded session with 'inputs' (a bundle's session.json), "
                         "found a job without input hashes; use 'standardseg run' for jobs")
    if session.deidentify and session.image == REMOVED:
        raise InputError(f"{args.session}: a de-identified bundle's session has no input paths (removed with the "
                         "identifiers); regenerate from the original bundle's session.json with --deidentify")
    result = run_session(session, args.output, overwrite=args.overwrite, deidentify=args.deidentify or None,
                         progress=TerminalProgress(sys.stderr))
    print_bundle(result)
    return partial_status(result)
