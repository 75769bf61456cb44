"""``standardseg run JOB.yaml -o DIR [--overwrite] [--deidentify]``: the whole pipeline, non-interactively.

The job file (``Resources/Schemas/session.schema.json``) names the image, protocol, operator, gate ROIs and
the lesions with their method, seeds and parameters. The bundle (with ``session.json``, from which
``standardseg report --session`` regenerates it) is written to DIR; its path is the last line printed.
"""

from __future__ import annotations

import argparse
import sys

from StandardSegLib.cli.progress_bar import TerminalProgress


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """-o/--output, --overwrite and --deidentify, shared by ``run`` and ``report --session``."""
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="bundle folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bundle (the old one is kept as DIR.previous-<timestamp>)")
    parser.add_argument("--deidentify", action="store_true",
                        help="drop patient identifiers and replace UIDs by salted hashes in every output file")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a job file: image check, segmentation, measurements and report bundle",
        description="Run the whole pipeline described by JOB (YAML or JSON, schema standardseg.session/1): load "
        "the image, check it against the protocol with the operator's training and the gate ROIs, segment and "
        "measure each lesion, and write the report bundle with session.json to DIR. A failed gate stops the run "
        "(exit 3) unless the job records an override; the bundle path is the last line printed.")
    parser.add_argument("job", metavar="JOB", help="job file (.yaml or .json)")
    add_bundle_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.session import Session, run_session

    session = Session.from_file(args.job)
    result = run_session(session, args.output, overwrite=args.overwrite, deidentify=args.deidentify or None,
                         progress=TerminalProgress(sys.stderr))
    print(result.path)
    return 0
