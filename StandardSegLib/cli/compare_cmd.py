"""``standardseg compare BASELINE FOLLOWUP -o DIR``: longitudinal comparison of two report bundles.

Exit status 0 when the pair is comparable, 3 when a blocking must-match key differs (the bundle is still
written, with no response category), 5 when it is not comparable on a non-blocking key (changes and
categories written beside that verdict).
"""

from __future__ import annotations

import argparse

from StandardSegLib.protocols import add_protocol_dir_argument

NOT_COMPARABLE_STATUS, BLOCKED_STATUS = 5, 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare a follow-up report bundle with a baseline (changes, RECIST 1.1, PERCIST 1.0)",
        description="Check that two report bundles of one patient were acquired and processed alike (the "
        "protocol's longitudinal must-match keys, ESR/EORTC rec. 7), pair their lesions (by name, else by nearest "
        "centre within --tolerance), compute per-lesion and patient changes (volume, SUVmax/peak/mean, TLG, long "
        "axis) and the RECIST 1.1 and PERCIST 1.0 categories where the inputs allow. Writes compare.json, "
        "compare.csv and compare.html to DIR (atomically); DIR is the last line printed. Exit status 0 "
        "comparable, 5 not comparable, 3 blocked by a difference the protocol makes blocking.")
    parser.add_argument("baseline", metavar="BASELINE", help="baseline bundle (folder, report.json or session.json)")
    parser.add_argument("followup", metavar="FOLLOWUP", help="follow-up bundle (folder, report.json or session.json)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="comparison folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing folder (the old one is kept as DIR.previous-<timestamp>)")
    parser.add_argument("--protocol", metavar="ID", default=None,
                        help="protocol whose longitudinal rules apply (default: the baseline report's)")
    parser.add_argument("--tolerance", metavar="MM", type=float, default=None,
                        help="largest centre distance for pairing lesions by position (default 20 mm)")
    add_protocol_dir_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from StandardSegLib.longitudinal import compare_timepoints, load_timepoint, write_compare_bundle
    from StandardSegLib.longitudinal.compare import protocol_for
    from StandardSegLib.longitudinal.pairing import DEFAULT_TOLERANCE_MM
    from StandardSegLib.protocols import library_from_args

    baseline, followup = load_timepoint(args.baseline), load_timepoint(args.followup)
    protocol = protocol_for(baseline, library_from_args(args), args.protocol)
    tolerance = DEFAULT_TOLERANCE_MM if args.tolerance is None else args.tolerance
    document = compare_timepoints(baseline, followup, protocol, tolerance)
    target, previous = write_compare_bundle(document, args.output, overwrite=args.overwrite)
    comparability = document["comparability"]
    print(f"comparability: {comparability['verdict']}" + (" (blocked)" if comparability["blocked"] else ""))
    for difference in (*comparability["differences"], *comparability["unchecked"]):
        print(f"  {difference}")
    print(f"RECIST 1.1: {document['recist']['category']}")
    print(f"PERCIST 1.0: {document['percist']['category']}")
    if previous is not None:
        print(f"previous comparison kept as {previous}", file=sys.stderr)
    print(target)
    if comparability["blocked"]:
        return BLOCKED_STATUS
    return 0 if comparability["verdict"] == "comparable" else NOT_COMPARABLE_STATUS
