"""Command-line inputs of the image-specification gate, shared by ``check`` and ``segment``.

Both commands take the same operator, ROI and override options and evaluate the gate the same way, so a
segmentation is always preceded by exactly the check a reader could have run on its own.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from StandardSegLib.cli.mask_args import add_roi_argument, read_mask_option
from StandardSegLib.errors import InputError
from StandardSegLib.gate import GateEvaluation, RoiInput, evaluate_gate
from StandardSegLib.operators import OperatorRegistry, TrainingStatus, protocol_training_status
from StandardSegLib.roi import parse_sphere, shape_mask

if TYPE_CHECKING:
    from StandardSegLib.imaging.loaded import LoadedImage

NEGATIVE_HINT = "write --lesion-sphere=-10,20,5,30 (with '=') when X is negative"


def add_gate_arguments(parser: Any, background_help: str = "background/reference-tissue ROI sphere, e.g. the "
                       "30 mm liver sphere of FDG protocols") -> None:
    """Add --operator, --registry, the lesion and background ROIs, --reference-tissue and --override.

    The ROI mask options take a label image or an RTSTRUCT whose structure ``--lesion-roi``/``--background-roi``
    names (``mask_args``)."""
    parser.add_argument("--operator", metavar="NAME", help="operator (training is checked in the registry)")
    parser.add_argument("--registry", metavar="FILE", help="operator registry JSON file")
    lesion = parser.add_mutually_exclusive_group()
    lesion.add_argument("--lesion", metavar="MASK", help="lesion ROI mask file (label 1 unless --lesion-label), or "
                        "an RTSTRUCT (RS.dcm) with --lesion-roi")
    lesion.add_argument("--lesion-sphere", metavar="X,Y,Z,D",
                        help=f"lesion ROI sphere: centre LPS mm, diameter mm ({NEGATIVE_HINT})")
    add_roi_argument(parser, "--lesion")
    parser.add_argument("--lesion-label", type=int, default=1, metavar="N", help="label of --lesion (default 1)")
    background = parser.add_mutually_exclusive_group()
    background.add_argument("--background", metavar="MASK", help="background/reference-tissue ROI mask file, or "
                            "an RTSTRUCT (RS.dcm) with --background-roi")
    background.add_argument("--background-sphere", metavar="X,Y,Z,D", help=background_help)
    add_roi_argument(parser, "--background")
    parser.add_argument("--reference-tissue", metavar="NAME", help="protocol reference tissue the background ROI "
                        "is (default: the protocol's first, e.g. liver)")
    parser.add_argument("--override", metavar="REASON",
                        help="record an override of a failed gate (needs --operator)")


def training_from_args(args: argparse.Namespace, protocol: Any) -> Optional[TrainingStatus]:
    """The named operator's training status under ``protocol`` (checked before any image is read)."""
    if args.override and not args.operator:
        raise InputError("--override needs --operator: an override is recorded with who made it")
    if not args.operator:
        return None
    operator = OperatorRegistry.open(args.registry).get(args.operator)
    return protocol_training_status(operator, protocol)


def gate_from_args(args: argparse.Namespace, protocol: Any, loaded: Any,
                   training: Optional[TrainingStatus]) -> GateEvaluation:
    """Evaluate the gate on ``loaded`` with the ROIs given on the command line; record any override."""
    notes: list[str] = []  # an RTSTRUCT ROI's placement warnings
    evaluation = evaluate_gate(
        protocol, loaded,
        lesion=_roi(args, loaded, "--lesion", args.lesion_sphere, args.lesion_label, notes),
        background=_roi(args, loaded, "--background", args.background_sphere, 1, notes),
        reference_name=args.reference_tissue, training=training)
    if notes:
        evaluation = replace(evaluation, warnings=(*evaluation.warnings, *notes))
    if args.override:
        evaluation = replace(evaluation, verdict=evaluation.verdict.with_override(args.operator, args.override))
    return evaluation


def _roi(args: argparse.Namespace, loaded: LoadedImage, mask_option: str, sphere: Optional[str], label: int,
         notes: list[str]) -> Optional[RoiInput]:
    role = mask_option.removeprefix("--")
    mask = read_mask_option(args, mask_option, loaded.image, loaded.datasets, notes)
    if mask is not None:
        path, roi = getattr(args, role), getattr(args, f"{role}_roi")
        return RoiInput(mask, f"{role} mask {Path(path).name}" + (f" ROI {roi}" if roi else ""), label)
    if sphere:
        shape = parse_sphere(sphere)
        return RoiInput(shape_mask(loaded.image, shape), f"{role} {shape.describe()}", shape=shape)
    return None
