"""``standardseg segment``: segment a lesion under a protocol, after its image check (gate).

Flow: the method must be one the protocol allows (exit 2 with the allowed list); the gate is evaluated on
IMAGE (exit 3 when it fails, unless ``--override "REASON"`` with ``--operator``); PET is converted to
SUVbw; with ``--reference IMAGE2`` the ROI is defined on IMAGE2 brought onto IMAGE's grid (resampled when
both share a FrameOfReferenceUID, else rigidly registered), with the methods the protocol names for
IMAGE2's modality (``segmentation.reference_images``; a modality it does not name is refused); then the
method runs, the scripted edits (``--paint``, ``--erase``, ``--add-mask``, ``--subtract-mask``, in
command-line order) are applied and recorded as MANUAL, and OUT (.nrrd, .nii.gz or .seg.nrrd) is written
with ``<stem>.provenance.json`` beside it. Existing files are only replaced with ``--overwrite``.

JSON output keys: ``output``, ``provenance_file``, ``voxel_count``, ``volume_mm3``, ``gate`` (overall,
override), ``provenance`` (the full provenance document) and ``warnings``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from StandardSegLib.cli.gate_args import add_gate_arguments, gate_from_args, training_from_args
from StandardSegLib.cli.mask_args import add_roi_argument, read_mask_option
from StandardSegLib.cli.output import print_json
from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.errors import InputError
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args
from StandardSegLib.roi import BoxROI, parse_point, parse_sphere

_NEGATIVE = "write --seed=-10,20,5 when X is negative"


class _EditAction(argparse.Action):
    """Collect edits of several options into one ordered list of (kind, value)."""

    def __call__(self, parser, namespace, values, option_string=None):
        edits = list(getattr(namespace, "edits", None) or [])
        edits.append((self.dest, values))
        namespace.edits = edits


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment", help="segment a lesion with a protocol-allowed method (after the image check)",
        description="Segment a lesion (ESR/EORTC consensus): gate first, then a protocol-allowed method in a "
        "VOI around the seeds, post-processing and scripted edits; writes the mask and its provenance JSON. "
        "Coordinates are DICOM patient coordinates (LPS) in mm. Exit 0 written, 2 bad input or refused "
        "method, 3 gate failed.")
    parser.add_argument("image", help="image to segment: DICOM series folder or file, NRRD, NIfTI")
    parser.add_argument("--protocol", required=True, metavar="ID")
    parser.add_argument("--method", required=True, metavar="M",
                        help="threshold, pet-suv, pet-percent-max, pet-a50p, pet-percist, pet-contrast, pet-vote, "
                        "region-grow, confidence-connected, grow-from-seeds or manual (must be allowed by the "
                        "protocol)")
    parser.add_argument("--series", metavar="UID", help="series of IMAGE when its folder holds several")
    parser.add_argument("--seed", action="append", default=[], metavar="X,Y,Z",
                        help=f"foreground seed in LPS mm, repeatable ({_NEGATIVE})")
    parser.add_argument("--background-seed", action="append", default=[], metavar="X,Y,Z",
                        help="background seed for grow-from-seeds, repeatable (--background-seed=-10,20,5 "
                        "when X is negative)")
    parser.add_argument("--seeds-mask", metavar="FILE",
                        help="painted seeds for grow-from-seeds, as Slicer's GrowCut seed image: label 1 "
                        "foreground, 2 background, 0 unlabelled (with or instead of --seed/--background-seed)")
    lesion_roi = parser.add_mutually_exclusive_group()
    lesion_roi.add_argument("--voi", metavar="X1,Y1,Z1,X2,Y2,Z2",
                            help="lesion ROI box (opposite corners, LPS mm) bounding the method, instead of the "
                            "adaptive VOI around the seeds; clipped to the image with a warning")
    lesion_roi.add_argument("--voi-sphere", metavar="X,Y,Z,D",
                            help="lesion ROI sphere (centre LPS mm, diameter mm) bounding the method; clipped to the "
                            "image with a warning (--voi-sphere=-10,20,5,80 when X is negative)")
    lesion_roi.add_argument("--voi-mask", metavar="MASK", help="lesion ROI mask file (non-zero voxels) bounding the "
                            "method, or an RTSTRUCT (RS.dcm) with --voi-roi (e.g. an expert GTV)")
    add_roi_argument(parser, "--voi-mask")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="method or common parameter overriding the protocol default (repeatable), e.g. "
                        "percent=50, lower=80, voi_margin_mm=15, fill_holes=false, margin_mm=-1, smoothing_mm=1")
    parser.add_argument("--reference", metavar="IMAGE2",
                        help="second image that defines the ROI (e.g. CT for a poorly defined PET lesion); it is "
                        "brought onto IMAGE's grid and the mask is written on IMAGE's grid")
    parser.add_argument("--reference-series", metavar="UID", help="series of IMAGE2 when its folder holds several")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="mask file: .nrrd, .nii.gz or .seg.nrrd")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT and its provenance JSON if they exist")
    parser.add_argument("--name", default="lesion", help="segment name in a .seg.nrrd (default lesion)")
    edits = parser.add_argument_group("scripted manual edits (applied in the order given, recorded as MANUAL)")
    edits.add_argument("--paint", action=_EditAction, metavar="X,Y,Z,D",
                       help="add a sphere (centre LPS mm, diameter mm)")
    edits.add_argument("--erase", action=_EditAction, metavar="X,Y,Z,D", help="remove a sphere")
    edits.add_argument("--add-mask", action=_EditAction, metavar="MASK", help="add the non-zero voxels of a mask file")
    edits.add_argument("--subtract-mask", action=_EditAction, metavar="MASK",
                       help="remove the non-zero voxels of a mask file")
    gate = parser.add_argument_group("image check (gate) inputs, as for 'standardseg check'")
    add_gate_arguments(gate, background_help="background ROI sphere, e.g. the 30 mm liver sphere; its mean/SD "
                       "are the background of pet-a50p/pet-contrast and the liver of pet-percist")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_protocol_dir_argument(parser)
    parser.set_defaults(func=run, edits=[])


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.imaging import load_image
    from StandardSegLib.segmentation import check_method_allowed, segment, write_segment
    from StandardSegLib.segmentation.grow_from_seeds import read_seeds_mask
    from StandardSegLib.segmentation.mask_files import mask_suffix, provenance_path
    from StandardSegLib.segmentation.parameters import parse_assignments

    protocol = library_from_args(args).get(args.protocol)
    if not args.reference:  # with a reference image, the reference's methods apply (checked once it is read)
        check_method_allowed(protocol, args.method)
    output = Path(args.output)
    mask_suffix(output)
    if not args.overwrite:
        for target in (output, provenance_path(output)):
            if target.exists():
                raise InputError(f"{target} exists; use --overwrite to replace it")
    training = training_from_args(args, protocol)
    parameters = parse_assignments(args.param)
    seeds = [parse_point(text) for text in args.seed]
    background_seeds = [parse_point(text) for text in args.background_seed]
    roi = _parse_box(args.voi) if args.voi else parse_sphere(args.voi_sphere) if args.voi_sphere else None

    progress = TerminalProgress(sys.stderr)
    loaded = load_image(args.image, series_uid=args.series, progress=progress)
    evaluation = gate_from_args(args, protocol, loaded, training)
    verdict = evaluation.verdict
    verdict.require_segmentation_allowed()
    warnings = list(evaluation.warnings)

    image, units, modality = _working_image(loaded, evaluation.suv, evaluation.units)
    alignment = None
    if args.reference:
        image, units, modality, alignment, notes = _reference_on_grid(args, load_image, image, loaded, progress)
        warnings += notes
        protocol = _reference_protocol(protocol, modality, args.method)
    seeds_mask = None
    if args.seeds_mask:
        seeds_mask, notes = read_seeds_mask(args.seeds_mask, image)
        warnings += notes
    voi_mask = read_mask_option(args, "--voi-mask", loaded.image, loaded.datasets, warnings)
    if voi_mask is not None:
        roi = voi_mask
    segmented = segment(image, protocol=protocol, verdict=verdict, method=args.method, units=units,
                        seeds_lps=seeds, background_seeds_lps=background_seeds, roi=roi, parameters=parameters,
                        background=evaluation.reference, operator=args.operator, roi_modality=modality,
                        alignment=alignment.to_dict() if alignment else None, seeds_mask=seeds_mask,
                        progress=progress)
    warnings += segmented.provenance.details.get("warnings", [])
    segmented = _apply_edits(segmented, args.edits)
    if segmented.provenance.voxel_count == 0:
        raise InputError(f"the {args.method} segment is empty after the edits; nothing written")
    mask_path, sidecar = write_segment(segmented, output, overwrite=args.overwrite, segment_name=args.name)
    provenance = segmented.provenance
    result = {"output": str(mask_path), "provenance_file": str(sidecar), "voxel_count": provenance.voxel_count,
              "volume_mm3": provenance.volume_mm3, "gate": {"overall": verdict.overall,
                                                            "override": provenance.gate["override"]},
              "provenance": provenance.to_dict(), "warnings": warnings}
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0


def _working_image(loaded: Any, suv: Any, units: str):
    """The image in the gate's units: SUV for convertible PET, else the stored real-world values."""
    from StandardSegLib.suv import apply_suv

    image = apply_suv(loaded.image, suv) if suv is not None else loaded.image
    return image, units, loaded.record.modality or "unknown"


def _reference_on_grid(args: argparse.Namespace, load_image, primary_image, primary, progress):
    from StandardSegLib.errors import SUVError
    from StandardSegLib.segmentation import onto_primary_grid
    from StandardSegLib.suv import suv_conversion

    second = load_image(args.reference, series_uid=args.reference_series, progress=progress)
    suv, units, notes = None, "HU" if second.record.modality == "CT" else (second.record.units or "raw"), []
    if second.record.modality == "PT":
        try:
            suv = suv_conversion(second.datasets)
            units = suv.suv_type
        except SUVError as error:
            notes.append(f"reference image kept in stored units: {error}")
    image, units, modality = _working_image(second, suv, units)
    resampled, alignment = onto_primary_grid(image, primary_image, _frame_uid(second), _frame_uid(primary), progress)
    notes.append(f"ROI defined on the reference image ({modality}); {alignment.method}")
    return resampled, units, modality, alignment, notes


def _reference_protocol(protocol: Any, modality: str, method: str) -> Any:
    """The protocol with the methods it names for a ``modality`` reference image; refuses other methods."""
    reference = protocol.for_reference_image(modality)
    if method not in reference.segmentation_methods:
        raise InputError(f"method '{method}' is not allowed on a {modality} reference image by protocol "
                         f"{protocol.id} v{protocol.version} (allowed there: "
                         f"{', '.join(reference.segmentation_methods)})")
    return reference


def _frame_uid(loaded: Any) -> Optional[str]:
    if not loaded.datasets:
        return None
    value = loaded.datasets[0].get("FrameOfReferenceUID")
    return str(value) if value else None


def _apply_edits(segmented, edits):
    from StandardSegLib.imaging import load_image
    from StandardSegLib.segmentation import add_mask, erase_sphere, paint_sphere, subtract_mask

    for kind, value in edits:
        if kind in ("paint", "erase"):
            sphere = parse_sphere(value)
            edit = paint_sphere if kind == "paint" else erase_sphere
            segmented = edit(segmented, sphere.center_lps, sphere.diameter_mm)
        else:
            other = load_image(value).image
            edit = add_mask if kind == "add_mask" else subtract_mask
            segmented = edit(segmented, other, Path(value).name)
    return segmented


def _parse_box(text: str) -> BoxROI:
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 6:
        raise InputError(f"--voi '{text}': expected X1,Y1,Z1,X2,Y2,Z2 (LPS mm), found {len(parts)} value(s)")
    return BoxROI(tuple(values[:3]), tuple(values[3:]))


def _print_text(result: dict) -> None:
    provenance = result["provenance"]
    thresholds = ", ".join(f"{key} {value:.4g}" for key, value in provenance["thresholds"].items()
                           if value is not None)
    limits = f"; thresholds {thresholds} {provenance['units']}" if thresholds else ""
    print(f"{provenance['method']} ({provenance['algorithm_type']}): {result['voxel_count']} voxels, "
          f"{result['volume_mm3'] / 1000.0:.3f} mL{limits}")
    for step in provenance["steps"]:
        print(f"  step {step['name']} [{step['algorithm_type']}]: {step['voxel_count']} voxels")
    if result["gate"]["override"]:
        print(f"gate {result['gate']['overall']} overridden: {result['gate']['override']['reason']}")
    for flag in provenance["flags"]:
        print(f"flag {flag['code']}{' (blocking)' if flag['blocking'] else ''}: {flag['message']}")
    for warning in result["warnings"]:
        print(f"warning: {warning}")
    print(f"wrote {result['output']} and {result['provenance_file']}")
