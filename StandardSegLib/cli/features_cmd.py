"""``standardseg features IMAGE --mask MASK (--params FILE | --protocol ID)``: pyradiomics features.

A standard pyradiomics parameter file (YAML or JSON) is used unchanged, so an existing radiomics pipeline can
switch without re-tuning; ``--protocol`` uses the protocol's ``radiomics.parameters`` instead. Features are
printed with pyradiomics' names (``original_firstorder_Mean``...) and their IBSI counterpart where one exists.

An image *file* (NIfTI, NRRD, MetaImage) is read exactly as pyradiomics reads it (``SimpleITK.ReadImage``, pixel
type kept): resampling keeps the pixel type, so any conversion would change the features. A DICOM series
(folder or file) is loaded with real-world values (rescale applied) and measured in the units ``run`` uses
(``StandardSegLib.gate.values_for_gate``): PET in SUVbw, so a protocol's SUV bin width means the same in
``features`` and in a report; under ``--protocol`` a PET that cannot be converted to SUV is refused, with
``--params`` it is kept in its stored units with a warning. More grey levels than
``StandardSegLib.radiomics.grey_levels.MAX_GREY_LEVELS`` are refused before pyradiomics runs. A mask on
another grid is resampled nearest-neighbour onto the image grid (with a warning), one within
``GRID_TOLERANCE`` is given the image's geometry exactly, so pyradiomics' strict geometry check does not
reject rounding differences.

JSON output keys: ``features`` {name: value}; ``ibsi`` {name: {family, name, code}}; ``ibsi_deviations``
[{id, title, pyradiomics, ibsi, effect, condition, features, source}] (those applying to these settings and
features); ``settings`` (every effective pyradiomics setting), ``image_types``, ``feature_classes``, ``label``,
``parameters_source``, ``pyradiomics_version``, ``diagnostics`` (pyradiomics' own), ``units`` (SUVbw, HU,
the stored PET units, or ``stored (image file)``), ``warnings``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import SimpleITK as sitk

from StandardSegLib.cli.mask_args import add_roi_argument, read_mask_option
from StandardSegLib.cli.output import print_json, print_table
from StandardSegLib.errors import InputError, SUVError
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args

if TYPE_CHECKING:
    import pydicom

    from StandardSegLib.protocols.model import Protocol

#: ``units`` of an image file read as pyradiomics reads it (no header says what its values are).
STORED_UNITS = "stored (image file)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="radiomics features (pyradiomics) of a mask label, with IBSI names and deviations",
        description="Extract radiomics features with pyradiomics from a standard pyradiomics parameter file "
        "(used unchanged) or a protocol's radiomics settings. Prints pyradiomics' feature names, the IBSI "
        "feature each corresponds to, and pyradiomics' known IBSI deviations that apply.")
    parser.add_argument("image", help="image: NIfTI/NRRD/MetaImage file (read as pyradiomics reads it) or a DICOM "
                        "series folder or file")
    parser.add_argument("--mask", required=True, help="label image on or overlapping the image grid, or an "
                        "RTSTRUCT (RS.dcm) with --roi")
    add_roi_argument(parser, "--mask")
    parser.add_argument("--label", type=int, default=None,
                        help="mask label (default: the parameters' setting 'label', else 1)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", metavar="FILE", help="pyradiomics parameter file (YAML or JSON)")
    source.add_argument("--protocol", metavar="ID", help="use this protocol's radiomics settings")
    add_protocol_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that ``standardseg --help`` and the other commands do not load pyradiomics.
    from StandardSegLib.radiomics import build_extractor, protocol_parameters, read_parameter_file, run_extractor

    protocol = None
    if args.params is not None:
        parameters, source = read_parameter_file(args.params), str(args.params)
    else:
        protocol = library_from_args(args).get(args.protocol)
        parameters, source = protocol_parameters(protocol)
    extractor = build_extractor(parameters, source)  # bad parameters fail before any image is read
    image, units, warnings, headers = read_image(Path(args.image), protocol)
    mask_path = Path(args.mask)
    contour_warnings: list[str] = []
    mask = read_mask_option(args, "--mask", image, headers, contour_warnings)
    mask, mask_warnings = mask_on_image_grid(mask, image, mask_path.name)
    mask_warnings = contour_warnings + mask_warnings
    result = run_extractor(extractor, image, mask, label=args.label, source=source, mask_name=str(mask_path))
    output = result.to_dict()
    output["units"] = units
    output["warnings"] = warnings + mask_warnings + output["warnings"]
    if args.json:
        print_json(output)
    else:
        _print_text(output)
    return 0


def read_image(path: Path, protocol: Optional[Protocol], series_uid: Optional[str] = None
                ) -> tuple[sitk.Image, str, list[str], tuple[pydicom.Dataset, ...]]:
    """The image in the units ``run`` measures in (``values_for_gate``: PET in SUVbw), its units, warnings and
    DICOM headers (none for an image file; an RTSTRUCT mask's frame of reference is checked against them).

    Under a protocol, PET that cannot be converted to SUV is refused: the protocol's bin width is in SUV.
    ``series_uid`` picks one series of a folder holding several (a session's ``image.series_uid``).
    """
    from StandardSegLib.gate import values_for_gate
    from StandardSegLib.imaging import load_image
    from StandardSegLib.imaging.image_files import image_file_format

    if path.is_file() and image_file_format(path):
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
            raise InputError(f"cannot read image {path}: {reason}") from None
        notes = [f"{path.name}: an image file is used as stored (units unknown); protocol {protocol.id}'s "
                 f"bin width assumes {_protocol_units(protocol)}"] if protocol is not None else []
        return image, STORED_UNITS, notes, ()
    loaded = load_image(path, series_uid)
    image, units, suv, suv_error = values_for_gate(loaded)
    warnings = list(loaded.record.warnings) + (list(suv.warnings) if suv is not None else [])
    if loaded.record.modality == "PT" and suv is None:
        if protocol is not None:
            raise SUVError(f"{path}: protocol {protocol.id} computes features in SUVbw (as 'standardseg run'), "
                           f"but SUV is not available: {suv_error}")
        warnings.append(f"PET values kept in {units}: SUV is not available ({suv_error})")
    return image, units, warnings, loaded.datasets


def _protocol_units(protocol: Protocol) -> str:
    return {"PT": "SUVbw", "CT": "HU"}.get(protocol.modality, "the stored MR values")


def mask_on_image_grid(mask: sitk.Image, image: sitk.Image, name: str) -> tuple[sitk.Image, list[str]]:
    from StandardSegLib.measure import align_mask

    aligned, warnings = align_mask(mask, image, f"mask {name}")
    if aligned is mask:  # same grid within tolerance: take the image's geometry exactly (a new image)
        aligned = sitk.Image(mask)
        aligned.CopyInformation(image)
    return aligned, warnings


def _print_text(output: dict) -> None:
    ibsi = output["ibsi"]
    rows = []
    for name, value in output["features"].items():
        feature = ibsi.get(name)
        rows.append((name, f"{value:.6g}", f"{feature['code']} {feature['name']}" if feature else "-"))
    print_table(rows, ("feature", "value", "IBSI"))
    print(f"label {output['label']}; values in {output['units']}; parameters: {output['parameters_source']}; "
          f"pyradiomics {output['pyradiomics_version']}")
    for deviation in output["ibsi_deviations"]:
        print(f"IBSI deviation ({deviation['id']}): {deviation['title']}: {deviation['effect']}")
    for warning in output["warnings"]:
        print(f"warning: {warning}")
