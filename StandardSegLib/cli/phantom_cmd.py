"""``standardseg phantom IMAGE -o DIR``: IEC/NEMA body phantom analysis (recovery coefficients, EARL bands,
NEMA NU 2 background, threshold calibration) into an atomic bundle (phantom.json, phantom.csv, phantom.html,
protocols/<trial id>.yaml).

True activity: ``--sphere-activity A --background-activity B`` (image units at scan time), or
``--sphere-to-background R`` (R x the measured background), else fitted on the 37 mm sphere and stated as
fitted. No SUV tags are needed or invented. ``--json`` prints phantom.json (keys: ``units``,
``true_activity``, ``background``, ``spheres``, ``calibration``, ``warnings``, ...; see
``Resources/Schemas/phantom.schema.json``). Definitions: ``StandardSegLib.phantom_analysis``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from StandardSegLib.cli.output import print_json
from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args

DEFAULT_PROTOCOL = "pet-nema-iec-phantom"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "phantom", help="IEC/NEMA phantom: recovery coefficients, EARL bands, threshold calibration",
        description="Find the six spheres, background and lung insert of an IEC body phantom PET, measure RCmax, "
        "RCpeak, RC_A50 and RCmean per allowed method, check the EARL1/EARL2 bands, and calibrate the percent-of-"
        "max and pet-contrast thresholds on the spheres >= 17 mm (a trial protocol is written).")
    parser.add_argument("image", help="phantom PET: a DICOM series folder or file, NIfTI or NRRD")
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"phantom protocol (default {DEFAULT_PROTOCOL})")
    add_protocol_dir_argument(parser)
    activity = parser.add_mutually_exclusive_group()
    activity.add_argument("--sphere-to-background", type=float, metavar="R",
                          help="sphere:background filling ratio (true sphere activity = R x measured background)")
    activity.add_argument("--sphere-activity", type=float, metavar="A",
                          help="sphere activity concentration at scan time, in the image's units (with "
                          "--background-activity)")
    parser.add_argument("--background-activity", type=float, metavar="B",
                        help="background activity concentration at scan time, in the image's units")
    parser.add_argument("--filter-fwhm", type=float, metavar="MM",
                        help="Gaussian post-filter (FWHM, mm) applied before the analysis (EARL-compliance check "
                        "of a filtered reconstruction)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="new bundle folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bundle (kept as DIR.previous-<time>)")
    parser.add_argument("--json", action="store_true", help="print phantom.json instead of the summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.imaging import load_image
    from StandardSegLib.phantom_analysis import ActivityArguments, analyse_phantom, write_phantom_bundle
    from StandardSegLib.jsonable import to_jsonable

    protocol = library_from_args(args).get(args.protocol)
    loaded = load_image(args.image, progress=TerminalProgress(sys.stderr))
    analysis = analyse_phantom(loaded, protocol, filter_fwhm_mm=args.filter_fwhm, activity=ActivityArguments(
        args.sphere_activity, args.background_activity, args.sphere_to_background))
    previous = write_phantom_bundle(analysis, Path(args.output), overwrite=args.overwrite)
    document = analysis.document
    if args.json:
        print_json(to_jsonable(document))
        return 0
    true = document["true_activity"]
    print(f"true sphere activity {true['value']:.6g} {document['units']} ({true['source']})")
    print(f"background mean {document['background']['mean']:.6g}, CoV {100 * document['background']['cov']:.1f} %")
    print("sphere  RCmax  RCpeak  RC_A50  " + "  ".join(version for version in document["earl"]["overall"]))
    for sphere in document["spheres"]:
        verdicts = "  ".join(f"{sphere[version.lower()]['verdict']:>5}" for version in document["earl"]["overall"])
        print(f"{sphere['diameter_mm']:4g} mm {sphere['rc_max']:6.3f} {sphere['rc_peak']:6.3f} "
              f"{sphere['rc_a50']:7.3f}  {verdicts}")
    print("overall: " + ", ".join(f"{v} {r}" for v, r in document["earl"]["overall"].items()))
    calibration = document["calibration"]
    print(f"calibration: {calibration['percent_of_max']['value']:.1f} % of max; pet-contrast a = "
          f"{calibration['pet_contrast']['a']:.3f}, b = {calibration['pet_contrast']['b']:.3f} -> trial protocol "
          f"{calibration['trial_protocol']['id']}")
    for warning in document["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if previous is not None:
        print(f"previous bundle kept as {previous}", file=sys.stderr)
    print(f"bundle: {args.output}")
    return 0
