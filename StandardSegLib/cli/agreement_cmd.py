"""``standardseg agreement MASKS... [--reference MASK] -o DIR``: agreement of N readers' segmentations.

With ``--operator NAME --protocol ID`` the first reader is that operator in training: their mean Dice against
the reference (or the consensus) is checked against the protocol's ``operator_training.min_agreement_dice``
and the result is recorded in the operator registry (exit status 3 when it fails).
"""

from __future__ import annotations

import argparse

from StandardSegLib.protocols import add_protocol_dir_argument

FAILED_CHECK_STATUS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agreement", help="agreement of several readers' segmentations (STAPLE, Dice, HD95, volume ICC)",
        description="Compare N readers' segmentations of the same lesions: STAPLE consensus, each reader's "
        "sensitivity and specificity against it, pairwise Dice, Jaccard, HD95 and mean surface distance, volume "
        "ICC(2,1) and ICC(3,1) with 95 %% CI and Bland-Altman, and each reader against --reference. A MASK is a "
        "voxel mask file, RS.dcm:ROI (rasterised onto --grid) or BUNDLE[:SEGMENT]. With several lesions give "
        "--readers N and the masks lesion by lesion (N per lesion). Writes agreement.json, agreement.csv and "
        "agreement.html to DIR (atomically); DIR is the last line printed.")
    parser.add_argument("masks", nargs="+", metavar="MASK", help="one mask per reader (and per lesion)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="agreement folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing folder (the old one is kept as DIR.previous-<timestamp>)")
    parser.add_argument("--readers", type=int, default=None, metavar="N",
                        help="readers per lesion (default: all masks are one lesion)")
    parser.add_argument("--names", default=None, metavar="A,B,...", help="reader names (default: R1, R2, ...)")
    parser.add_argument("--reference", action="append", default=[], metavar="MASK",
                        help="reference segmentation, one per lesion (repeat in lesion order)")
    parser.add_argument("--grid", action="append", default=[], metavar="IMAGE",
                        help="image whose grid the masks are compared on (needed for RS.dcm); once, or once per "
                        "lesion (default: the first reader's mask)")
    parser.add_argument("--operator", default=None, metavar="NAME",
                        help="the first reader is this operator in training: record a training check (needs --protocol)")
    parser.add_argument("--protocol", default=None, metavar="ID", help="protocol setting min_agreement_dice")
    parser.add_argument("--registry", default=None, metavar="FILE", help="operator registry (default location if omitted)")
    add_protocol_dir_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from StandardSegLib.agreement import agreement_study, parse_mask_spec, write_agreement_bundle
    from StandardSegLib.agreement.training import training_check
    from StandardSegLib.errors import InputError
    from StandardSegLib.imaging import load_image
    from StandardSegLib.operators import OperatorRegistry
    from StandardSegLib.protocols import library_from_args

    readers = args.readers or len(args.masks)
    if readers < 2 or len(args.masks) % readers:
        raise InputError(f"--readers {readers}: expected at least 2 readers and a multiple of {readers} masks, "
                         f"found {len(args.masks)}")
    names = args.names.split(",") if args.names else [f"R{number}" for number in range(1, readers + 1)]
    if len(names) != readers:
        raise InputError(f"--names: expected {readers} names, found {len(names)} ({args.names})")
    if args.operator and not args.protocol:
        raise InputError("--operator needs --protocol: the protocol sets the agreement an operator must reach")
    specs = [parse_mask_spec(text) for text in args.masks]
    lesions = [specs[start:start + readers] for start in range(0, len(specs), readers)]
    grids = [load_image(path) for path in args.grid]
    document = agreement_study(lesions, names, [parse_mask_spec(text) for text in args.reference], grids)
    if args.operator:
        protocol = library_from_args(args).get(args.protocol)
        document = training_check(document, OperatorRegistry.open(args.registry), args.operator, protocol)
    target, previous = write_agreement_bundle(document, args.output, overwrite=args.overwrite)
    for row in document["summary"]:
        print(f"{row['reader']}: mean Dice {row['mean_dice']:.3f}, HD95 {row['mean_hd95_mm']:.1f} mm, "
              f"MSD {row['mean_surface_distance_mm']:.1f} mm against the {row['against']}")
    for key, label in (("icc_2_1", "ICC(2,1)"), ("icc_3_1", "ICC(3,1)")):
        icc = document["volumes"][key]
        print(f"volume {label}: " + (f"{icc['value']:.3f}" if icc["value"] is not None else icc["note"]))
    check = document["training_check"]
    if check:
        print(f"training check of {check['operator']}: {check['verdict']} (mean Dice {check['mean_dice']:.3f}, "
              f"required {check['min_agreement_dice']:g})")
    if previous is not None:
        print(f"previous agreement kept as {previous}", file=sys.stderr)
    print(target)
    return FAILED_CHECK_STATUS if check and check["verdict"] == "fail" else 0
