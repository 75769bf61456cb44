"""``standardseg measure IMAGE --mask MASK``: statistics of an image inside one mask label.

MASK is a label image, or an RTSTRUCT (``RS.dcm``) whose ROI ``--roi NAME`` is rasterised onto the image by
geometry (``StandardSegLib.rtstruct``; the ROI names are listed when ``--roi`` is absent or wrong).

Output keys (stable; ``--json`` prints them as one object, otherwise a two-column table):

- ``label``: the mask label measured; ``units``: ``raw`` (the image's real-world values after rescale)
  or the SUV type (``SUVbw``, ``SUVlbm``, ``SUVbsa``, ``SUVibw``)
- ``voxel_count``; ``volume_mm3`` and ``volume_ml`` (voxel count x voxel volume)
- ``min``, ``max``, ``mean``, ``median``, ``sd`` (population, ddof 0), ``p5``, ``p25``, ``p75``, ``p95``
  (linear interpolation)
- ``suv_peak``: mean of the 1 mL sphere with the highest mean centred in the label (PERCIST/QIBA SUVpeak);
  ``suv_peak_center_lps``: its centre in mm (LPS). Both ``null`` unless units are SUV.
- ``warnings``: list of strings (image loading, mask resampling, SUV header issues)
- ``suv_conversion`` (only with SUV units): factors, rule, reference and injection times, decay factor,
  normaliser and warnings, as ``StandardSegLib.suv.SUVConversion.to_dict``.

Definitions: ``StandardSegLib.measure``. Inputs are only read, never written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from StandardSegLib.cli.mask_args import add_roi_argument, read_mask_option
from StandardSegLib.cli.output import print_json, print_table
from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.errors import InputError
from StandardSegLib.measure import align_mask, region_statistics
from StandardSegLib.suv import SUV_TYPES, apply_suv, suv_conversion

STATISTIC_KEYS = ("voxel_count", "volume_mm3", "volume_ml", "min", "max", "mean", "median", "sd",
                  "p5", "p25", "p75", "p95")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "measure", help="volume and intensity statistics (SUV, SUVpeak for PET) inside a mask label",
        description="Measure an image inside one label of a mask: voxel count, volume, min/max/mean/median/"
        "SD/percentiles and, for PET in SUV units, SUVpeak (1 mL sphere). SUV follows the standardised "
        "rules of the OncoRay/IBSI SUV manual and QIBA; the rule applied is printed.")
    parser.add_argument("image", help="image: a DICOM series folder or file, NIfTI or NRRD")
    parser.add_argument("--mask", required=True, help="label image (NIfTI, NRRD, ...) on or overlapping the "
                        "image grid, resampled nearest-neighbour if its grid differs; or an RTSTRUCT (RS.dcm) with --roi")
    add_roi_argument(parser, "--mask")  # its contours are placed on the image by frame of reference and slice position
    parser.add_argument("--label", type=int, default=1, help="mask label to measure (default 1)")
    parser.add_argument("--units", choices=("raw",) + SUV_TYPES, default="raw",
                        help="raw image values, or an SUV type (PET only; default raw)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that ``standardseg --help`` and the other commands do not load the DICOM stack.
    from StandardSegLib.imaging import load_image

    loaded = load_image(args.image, progress=TerminalProgress(sys.stderr))
    mask_path = Path(args.mask)
    mask_warnings: list[str] = []
    mask = read_mask_option(args, "--mask", loaded.image, loaded.datasets, mask_warnings)
    mask, warnings = align_mask(mask, loaded.image, f"mask {Path(mask_path).name}")
    warnings = list(loaded.record.warnings) + mask_warnings + warnings
    image, conversion = loaded.image, None
    is_suv = args.units != "raw"
    if is_suv:
        if loaded.record.modality != "PT":
            raise InputError(f"--units {args.units} needs a PET (PT) image; {args.image} is "
                             f"{loaded.record.modality or 'of unknown modality'}")
        conversion = suv_conversion(loaded.datasets, args.units)
        image = apply_suv(loaded.image, conversion)
        warnings += list(conversion.warnings)
    stats = region_statistics(image, mask, args.label, args.units, with_peak=is_suv, mask_name=str(mask_path))
    result = {key: getattr(stats, key) for key in STATISTIC_KEYS}
    result.update(suv_peak=stats.peak, suv_peak_center_lps=stats.peak_center_lps, units=args.units,
                  label=args.label, warnings=warnings)
    if conversion is not None:
        result["suv_conversion"] = conversion.to_dict()
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0


def _print_text(result: dict) -> None:
    rows = []
    for key, value in result.items():
        if key in ("warnings", "suv_conversion"):
            continue
        rows.append((key, _format(value)))
    conversion = result.get("suv_conversion")
    if conversion is not None:
        rows.append(("suv_rule", conversion["rule"]))
    print_table(rows, ("quantity", "value"))
    for warning in result["warnings"]:
        print(f"warning: {warning}")


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(item) for item in value) + ")"
    return str(value)
