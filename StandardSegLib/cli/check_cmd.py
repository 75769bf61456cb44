"""``standardseg check``: the image-specification gate, before segmentation.

Exit status: 0 when the gate passes (warnings allowed) or a failure was overridden with ``--override``,
3 when it fails, 2 for bad input or usage. Coordinates are DICOM patient coordinates (LPS) in mm.

JSON output keys: ``protocol`` {id, version, sha256}; ``overall`` (pass/warn/fail); ``allows_segmentation``;
``override`` (null or {operator, reason, timestamp}); ``items`` (list of {id, kind spec/metric/reference/
operator, verdict, severity, rule, message, measured, threshold, unit, definition, source}); ``snr``, ``cnr``,
``tbr`` (when the protocol sets them) each {value, definition, threshold, verdict, message}; ``units``;
``lesion_roi`` and ``background_roi`` (region statistics or null); ``reference_tissue`` ({name, roi, units,
voxel_count, volume_ml, mean, sd, median} or null); ``suv_conversion`` (PET) and ``warnings``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Optional

from StandardSegLib.cli.output import print_json
from StandardSegLib.errors import InputError
from StandardSegLib.gate import RoiInput, evaluate_gate
from StandardSegLib.operators import OperatorRegistry, training_status
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args
from StandardSegLib.roi import parse_sphere, shape_mask

_SYMBOL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="check an image against a protocol's specification before segmenting",
        description="Image-specification gate (ESR/EORTC consensus): acquisition/reconstruction items, SNR, CNR "
        "and PET TBR from ROIs, reference tissue, operator training. Exit 0 pass, 3 fail, 2 bad input.")
    parser.add_argument("image", help="DICOM series folder or file, NRRD, NIfTI")
    parser.add_argument("--protocol", required=True, metavar="ID")
    parser.add_argument("--series", metavar="UID", help="series to use when the folder holds several")
    parser.add_argument("--operator", metavar="NAME", help="operator (training is checked in the registry)")
    parser.add_argument("--registry", metavar="FILE", help="operator registry JSON file")
    lesion = parser.add_mutually_exclusive_group()
    lesion.add_argument("--lesion", metavar="MASK", help="lesion ROI mask file (label 1 unless --lesion-label)")
    lesion.add_argument("--lesion-sphere", metavar="X,Y,Z,D", help="lesion ROI sphere: centre LPS mm, diameter mm "
                        "(write --lesion-sphere=-10,20,5,30 when X is negative)")
    parser.add_argument("--lesion-label", type=int, default=1, metavar="N")
    background = parser.add_mutually_exclusive_group()
    background.add_argument("--background", metavar="MASK", help="background/reference ROI mask file")
    background.add_argument("--background-sphere", metavar="X,Y,Z,D",
                            help="background ROI sphere, e.g. the 30 mm liver sphere of FDG protocols")
    parser.add_argument("--reference", metavar="NAME", help="protocol reference tissue the background ROI is "
                        "(default: the protocol's first, e.g. liver)")
    parser.add_argument("--override", metavar="REASON", help="record an override of a failed gate (needs --operator)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_protocol_dir_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.imaging import load_image

    protocol = library_from_args(args).get(args.protocol)
    if args.override and not args.operator:
        raise InputError("--override needs --operator: an override is recorded with who made it")
    training = None
    if args.operator:
        operator = OperatorRegistry.open(args.registry).get(args.operator)
        rule = protocol.operator_training
        training = training_status(operator, int(rule["validity_days"]), rule["on_expiry"])
    loaded = load_image(args.image, series_uid=args.series)
    evaluation = evaluate_gate(
        protocol, loaded,
        lesion=_roi(loaded.image, args.lesion, args.lesion_sphere, args.lesion_label, "lesion"),
        background=_roi(loaded.image, args.background, args.background_sphere, 1, "background"),
        reference_name=args.reference, training=training)
    verdict = evaluation.verdict
    if args.override:
        verdict = verdict.with_override(args.operator, args.override)
        evaluation = replace(evaluation, verdict=verdict)
    if args.json:
        print_json(evaluation.to_dict())
    else:
        _print_text(evaluation)
    return 0 if verdict.allows_segmentation else 3


def _roi(image, mask_path: Optional[str], sphere: Optional[str], label: int, role: str) -> Optional[RoiInput]:
    if mask_path:
        from StandardSegLib.imaging import load_image

        return RoiInput(load_image(mask_path).image, f"{role} mask {Path(mask_path).name}", label)
    if sphere:
        shape = parse_sphere(sphere)
        return RoiInput(shape_mask(image, shape), f"{role} {shape.describe()}")
    return None


def _print_text(evaluation) -> None:
    verdict = evaluation.verdict
    print(f"protocol {verdict.protocol_id} v{verdict.protocol_version} (sha256 {verdict.protocol_sha256[:12]})")
    for item in verdict.items:
        note = "" if item.verdict == "pass" or item.severity == "fail" else " (advisory)"
        print(f"  {_SYMBOL[item.verdict]}  {item.id:<24} {item.message}{note}")
        print(f"        rule: {item.rule}" + (f"  [{item.source}]" if item.source else ""))
    if evaluation.reference:
        ref = evaluation.reference
        print(f"reference tissue {ref.name}: mean {ref.mean:.3f} sd {ref.sd:.3f} median {ref.median:.3f} "
              f"{ref.units}, {ref.voxel_count} voxels, {ref.volume_ml:.2f} mL")
    for warning in evaluation.warnings:
        print(f"warning: {warning}")
    if verdict.override:
        print(f"override by {verdict.override.operator}: {verdict.override.reason}")
    print(f"gate: {verdict.overall.upper()}" + (" (overridden)" if verdict.override and verdict.overall == "fail" else ""))
