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

from StandardSegLib.cli.gate_args import add_gate_arguments, gate_from_args, training_from_args
from StandardSegLib.cli.output import print_json
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args

_SYMBOL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="check an image against a protocol's specification before segmenting",
        description="Image-specification gate (ESR/EORTC consensus): acquisition/reconstruction items, SNR, CNR "
        "and PET TBR from ROIs, reference tissue, operator training. Exit 0 pass, 3 fail, 2 bad input.")
    parser.add_argument("image", help="DICOM series folder or file, NRRD, NIfTI")
    parser.add_argument("--protocol", required=True, metavar="ID")
    parser.add_argument("--series", metavar="UID", help="series to use when the folder holds several")
    add_gate_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_protocol_dir_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.imaging import load_image

    protocol = library_from_args(args).get(args.protocol)
    training = training_from_args(args, protocol)
    loaded = load_image(args.image, series_uid=args.series)
    evaluation = gate_from_args(args, protocol, loaded, training)
    if args.json:
        print_json(evaluation.to_dict())
    else:
        _print_text(evaluation)
    return 0 if evaluation.verdict.allows_segmentation else 3


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
