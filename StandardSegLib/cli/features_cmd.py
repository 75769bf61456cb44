"""``standardseg features IMAGE --mask MASK (--params FILE | --protocol ID)``: pyradiomics features.

A standard pyradiomics parameter file (YAML or JSON) is used unchanged, so an existing radiomics pipeline can
switch without re-tuning; ``--protocol`` uses the protocol's ``radiomics.parameters`` instead. Features are
printed with pyradiomics' names (``original_firstorder_Mean``...) and their IBSI counterpart where one exists.

An image *file* (NIfTI, NRRD, MetaImage) is read exactly as pyradiomics reads it (``SimpleITK.ReadImage``, pixel
type kept): resampling keeps the pixel type, so any conversion would change the features. A DICOM series
(folder or file) is loaded with real-world values (rescale applied). A mask on another grid is resampled
nearest-neighbour onto the image grid (with a warning), one within ``GRID_TOLERANCE`` is given the image's
geometry exactly, so pyradiomics' strict geometry check does not reject rounding differences.

JSON output keys: ``features`` {name: value}; ``ibsi`` {name: {family, name, code}}; ``ibsi_deviations``
[{id, title, pyradiomics, ibsi, effect, condition, features, source}] (those applying to these settings and
features); ``settings`` (every effective pyradiomics setting), ``image_types``, ``feature_classes``, ``label``,
``parameters_source``, ``pyradiomics_version``, ``diagnostics`` (pyradiomics' own), ``warnings``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import SimpleITK as sitk

from StandardSegLib.cli.output import print_json, print_table
from StandardSegLib.errors import InputError
from StandardSegLib.imaging import read_mask_file
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="radiomics features (pyradiomics) of a mask label, with IBSI names and deviations",
        description="Extract radiomics features with pyradiomics from a standard pyradiomics parameter file "
        "(used unchanged) or a protocol's radiomics settings. Prints pyradiomics' feature names, the IBSI "
        "feature each corresponds to, and pyradiomics' known IBSI deviations that apply.")
    parser.add_argument("image", help="image: NIfTI/NRRD/MetaImage file (read as pyradiomics reads it) or a DICOM "
                        "series folder or file")
    parser.add_argument("--mask", required=True, help="label image on or overlapping the image grid")
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

    if args.params is not None:
        parameters, source = read_parameter_file(args.params), str(args.params)
    else:
        parameters, source = protocol_parameters(library_from_args(args).get(args.protocol))
    extractor = build_extractor(parameters, source)  # bad parameters fail before any image is read
    image, warnings = _read_image(Path(args.image))
    mask_path = Path(args.mask)
    mask, mask_warnings = _mask_on_image_grid(read_mask_file(mask_path), image, mask_path.name)
    result = run_extractor(extractor, image, mask, label=args.label, source=source, mask_name=str(mask_path))
    output = result.to_dict()
    output["warnings"] = warnings + mask_warnings + output["warnings"]
    if args.json:
        print_json(output)
    else:
        _print_text(output)
    return 0


def _read_image(path: Path) -> tuple[sitk.Image, list[str]]:
    from StandardSegLib.imaging import load_image
    from StandardSegLib.imaging.image_files import image_file_format

    if path.is_file() and image_file_format(path):
        try:
            return sitk.ReadImage(str(path)), []
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
            raise InputError(f"cannot read image {path}: {reason}") from None
    loaded = load_image(path)
    return loaded.image, list(loaded.record.warnings)


def _mask_on_image_grid(mask: sitk.Image, image: sitk.Image, name: str) -> tuple[sitk.Image, list[str]]:
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
    print(f"label {output['label']}; parameters: {output['parameters_source']}; "
          f"pyradiomics {output['pyradiomics_version']}")
    for deviation in output["ibsi_deviations"]:
        print(f"IBSI deviation ({deviation['id']}): {deviation['title']}: {deviation['effect']}")
    for warning in output["warnings"]:
        print(f"warning: {warning}")
