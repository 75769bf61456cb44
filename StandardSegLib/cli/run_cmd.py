"""``standardseg run JOB.yaml -o DIR [--overwrite] [--deidentify]``: the whole pipeline, non-interactively.

The job file (``Resources/Schemas/session.schema.json``) names the image, protocol, operator, gate ROIs and
the lesions with their method, seeds and parameters. The bundle (with ``session.json``, from which
``standardseg report --session`` regenerates it) is written to DIR; its path is the last line printed.
Exit status 4 ("partial"): the bundle was written, but a lesion failed (its method, measurement or radiomics);
report.json ``failures`` and stderr name it, the stage and the reason.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from StandardSegLib.cli.progress_bar import TerminalProgress

if TYPE_CHECKING:
    from StandardSegLib.report import BundleResult


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """-o/--output, --overwrite and --deidentify, shared by ``run`` and ``report --session``."""
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="bundle folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bundle (the old one is kept as DIR.previous-<timestamp>)")
    parser.add_argument("--deidentify", action="store_true",
                        help="drop patient identifiers and input paths, replace UIDs by salted hashes and shift dates "
                        "(intervals kept) in every output file")


def print_bundle(result: "BundleResult") -> None:
    """The bundle's path as the last line; stale staging folders swept on the way are named on stderr."""
    for folder in result.swept:
        print(f"standardseg: removed {folder}, an unfinished bundle of a run that no longer exists",
              file=sys.stderr)
    print(result.path)


def partial_status(result: "BundleResult") -> int:
    """0, or ``PARTIAL_EXIT_STATUS`` (4) with each failed lesion named on stderr, for a written bundle."""
    from StandardSegLib.session import PARTIAL_EXIT_STATUS, bundle_failures

    failures = bundle_failures(result.path)
    for failure in failures:
        print(f"standardseg: lesion {failure['name']} failed ({failure['stage']}): {failure['reason']}",
              file=sys.stderr)
    return PARTIAL_EXIT_STATUS if failures else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a job file: image check, segmentation, measurements and report bundle",
        description="Run the whole pipeline described by JOB (YAML or JSON, schema standardseg.session/1): load "
        "the image, check it against the protocol with the operator's training and the gate ROIs, segment and "
        "measure each lesion, and write the report bundle with session.json to DIR. A failed gate stops the run "
        "(exit 3) unless the job records an override; the bundle path is the last line printed. A lesion whose "
        "method, measurement or radiomics fails does not stop the others: the bundle is written, report.json "
        "'failures' names the lesion, stage and reason, and the exit status is 4 (partial).")
    parser.add_argument("job", metavar="JOB", help="job file (.yaml or .json)")
    add_bundle_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.session import Session, run_session

    session = Session.from_file(args.job)
    result = run_session(session, args.output, overwrite=args.overwrite, deidentify=args.deidentify or None,
                         progress=TerminalProgress(sys.stderr))
    print_bundle(result)
    return partial_status(result)
