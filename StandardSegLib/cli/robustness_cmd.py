"""``standardseg robustness IMAGE --mask MASK --protocol ID -o DIR``: which radiomics features are robust.

Each lesion is perturbed ``repetitions`` times (rotation, translation, noise, volume adaptation, contour
randomisation after Zwanenburg et al., Sci Rep 2019; ``--perturbations`` names a subset, e.g. ``RTN``) with a
fixed seed, features are extracted with the protocol's pyradiomics settings (images read as ``standardseg
features`` reads them: PET in SUVbw), and each feature is scored by ICC(1,1) across the perturbations over the
lesions (``--lesion`` adds lesions; ``--cohort DIR`` takes every segment of a batch folder), robust at the
protocol's threshold. With one lesion the ICC is undefined and the within-lesion coefficient of variation is
used instead (said in ``criterion``). ``--retest IMAGE MASK [ROI]``: test-retest mode, the second scan of the
lesion instead of perturbations. A protocol's ``radiomics.normalisation`` (MR) is applied first and recorded.

Writes DIR atomically (an existing DIR only with ``--overwrite``, kept as ``DIR.previous-<time>``):
``robustness.json`` (settings, criterion, per-feature ICC with 95 % CI and CV, the robust set, what each
perturbation drew, inputs, protocol and versions), ``robustness.csv`` (one row per feature) and ``values.csv``
(every value the scores come from: feature, lesion, repetition).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence

from StandardSegLib.cli.mask_args import add_roi_argument, read_mask_option
from StandardSegLib.errors import InputError
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args

if TYPE_CHECKING:
    from StandardSegLib.protocols.model import Protocol
    from StandardSegLib.robustness.study import Lesion, RobustnessResult

ROBUSTNESS_JSON, ROBUSTNESS_CSV, VALUES_CSV = "robustness.json", "robustness.csv", "values.csv"
SCHEMA_ID = "standardseg.robustness/1"


class LesionInput(NamedTuple):
    """Where a lesion comes from: image (and its series in a multi-series folder), mask (and RTSTRUCT ROI)."""

    image: str
    mask: str
    roi: Optional[str]
    name: str
    series_uid: Optional[str] = None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "robustness", help="feature robustness: ICC(1,1) of radiomics features under image perturbations",
        description="Perturb each lesion (rotation, translation, noise, volume, contour; Zwanenburg et al. 2019), "
        "extract the protocol's radiomics features and call each robust or not by its ICC(1,1) across the "
        "perturbations (one lesion: coefficient of variation).")
    parser.add_argument("image", nargs="?", help="image: DICOM series folder/file or an image file")
    parser.add_argument("--mask", help="the lesion: label image or RTSTRUCT (with --roi)")
    parser.add_argument("--roi", metavar="NAME", help="ROI of an RTSTRUCT --mask")
    parser.add_argument("--lesion", nargs="+", action="append", default=[], metavar="IMAGE MASK [ROI]",
                        help="another lesion (repeatable): image, mask and, for an RTSTRUCT, the ROI")
    parser.add_argument("--retest", nargs="+", metavar="IMAGE MASK [ROI]",
                        help="test-retest mode: a second scan of the lesion, instead of perturbations")
    parser.add_argument("--cohort", metavar="DIR", help="every segment of a 'standardseg batch' folder")
    parser.add_argument("--protocol", required=True, metavar="ID", help="protocol (radiomics and robustness settings)")
    add_protocol_dir_argument(parser)
    parser.add_argument("--perturbations", metavar="SPEC", help="e.g. 'rotation,noise' or 'RTNVC' (default: protocol)")
    parser.add_argument("--repetitions", type=int, help="perturbations per lesion (default: protocol, else 10)")
    parser.add_argument("--seed", type=int, help="random seed (default: protocol, else 614)")
    parser.add_argument("--reference-mask", metavar="MASK",
                        help="reference tissue mask for a protocol normalisation that needs one")
    add_roi_argument(parser, "--reference-mask")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR (kept as DIR.previous-<time>)")
    parser.add_argument("--json", action="store_true", help="print robustness.json instead of a summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from StandardSegLib.cli.output import print_json
    from StandardSegLib.radiomics import build_extractor, protocol_parameters, run_extractor
    from StandardSegLib.robustness.perturbations import PerturbationSettings
    from StandardSegLib.robustness.study import RobustnessSettings, perturbation_study, test_retest_study

    protocol = library_from_args(args).get(args.protocol)
    settings = RobustnessSettings.from_protocol(protocol)
    if args.perturbations:
        values = {key: value for key, value in settings.perturbation.to_dict().items()
                  if key not in ("perturbations", "code")}
        settings = replace(settings, perturbation=PerturbationSettings.from_spec(args.perturbations, **values))
    settings = replace(settings, **{key: value for key, value in (("repetitions", args.repetitions),
                                                                  ("seed", args.seed)) if value is not None})
    parameters, source = protocol_parameters(protocol)
    extractor = build_extractor(parameters, source)

    def extract(image: Any, mask: Any, name: str) -> Any:
        return run_extractor(extractor, image, mask, label=1, source=source, mask_name=name)

    notes: list[str] = []
    specs = _lesion_specs(args)
    lesions = [_load_lesion(spec, protocol, args, notes) for spec in specs]
    if args.retest:
        retest_spec = _spec(args.retest, "--retest", 1)
        specs.append(retest_spec._replace(name=f"{retest_spec.name} (retest)"))
        retest = _load_lesion(specs[-1], protocol, args, notes)
        result = test_retest_study([(lesions[0], retest)], settings, extract, source)
    else:
        result = perturbation_study(lesions, settings, extract, source)
    document = _document(result, protocol, specs, notes)
    _write(Path(args.output), document, result, args.overwrite)
    if args.json:
        print_json(document)
    else:
        _print_summary(result, Path(args.output), notes)
    return 0


def _lesion_specs(args: argparse.Namespace) -> list[LesionInput]:
    """(image, mask, roi, name) of every lesion, from IMAGE --mask, --lesion and --cohort."""
    specs = []
    if args.image is not None:
        if not args.mask:
            raise InputError("robustness: IMAGE needs --mask")
        specs.append(LesionInput(args.image, args.mask, args.roi, _name(1, args.roi)))
    for number, values in enumerate(args.lesion, start=len(specs) + 1):
        specs.append(_spec(values, "--lesion", number))
    if args.cohort:
        from StandardSegLib.robustness.cohort import cohort_lesions

        specs += [LesionInput(str(lesion.image), str(lesion.segment), None, lesion.name, lesion.series_uid)
                  for lesion in cohort_lesions(args.cohort)]
    if not specs:
        raise InputError("robustness: expected IMAGE --mask MASK, --lesion or --cohort")
    if args.retest and len(specs) != 1:
        raise InputError("robustness: --retest takes one lesion (IMAGE --mask MASK), found "
                         f"{len(specs)}")
    return specs


def _name(number: int, roi: Optional[str]) -> str:
    """``lesion N`` and its ROI name: never a path (folder names often hold patient identifiers)."""
    return f"lesion {number}" + (f" {roi}" if roi else "")


def _spec(values: Sequence[str], option: str, number: int) -> LesionInput:
    if len(values) not in (2, 3):
        raise InputError(f"{option}: expected IMAGE MASK [ROI], found {len(values)} value(s)")
    roi = values[2] if len(values) == 3 else None
    return LesionInput(values[0], values[1], roi, _name(number, roi))


def _load_lesion(spec: LesionInput, protocol: Protocol, args: argparse.Namespace,
                 notes: list[str]) -> Lesion:
    """The image in the units ``features`` measures in, the mask on its grid, the protocol's normalisation."""
    from StandardSegLib.cli.features_cmd import mask_on_image_grid, read_image
    from StandardSegLib.imaging import read_mask_file
    from StandardSegLib.robustness.study import Lesion

    image_path, mask_path, roi, name, series_uid = spec
    image, _, warnings, headers = read_image(Path(image_path), protocol, series_uid)
    mask = read_mask_file(Path(mask_path), image, roi, headers, warnings=warnings)
    mask, mask_warnings = mask_on_image_grid(mask, image, Path(mask_path).name)
    notes += [f"{name}: {warning}" for warning in warnings + mask_warnings]
    from StandardSegLib.normalisation.protocol_step import normalise, protocol_normalisation

    normalisation = protocol_normalisation(protocol)
    if normalisation:

        reference = read_mask_option(args, "--reference-mask", image, headers)
        if reference is not None:
            reference, _ = mask_on_image_grid(reference, image, Path(args.reference_mask).name)
        image, record = normalise(image, normalisation, headers=headers, reference=reference,
                                  base_dir=protocol.source_path.parent, what=name)
        notes.append(f"{name}: normalised ({json.dumps(record.to_dict(), allow_nan=False)})")
    return Lesion(name, image, mask)


def _document(result: RobustnessResult, protocol: Protocol, specs: Sequence[LesionInput],
              notes: Sequence[str]) -> dict[str, Any]:
    from StandardSegLib.report import software_versions

    return {"schema": SCHEMA_ID, **result.to_dict(),
            "protocol": {"id": protocol.id, "version": protocol.version, "sha256": protocol.content_sha256},
            "inputs": [{"name": spec.name, "image": spec.image, "mask": spec.mask, "roi": spec.roi} for spec in specs],
            "software": software_versions(), "notes": list(notes)}


def _write(target: Path, document: dict[str, Any], result: RobustnessResult, overwrite: bool) -> None:
    import os

    from StandardSegLib.report.atomic_folder import write_atomically

    def fill(staging: Path) -> None:
        (staging / ROBUSTNESS_JSON).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (staging / ROBUSTNESS_CSV).write_text(_csv(result), encoding="utf-8")
        (staging / VALUES_CSV).write_text(_values_csv(result), encoding="utf-8")

    write_atomically(Path(os.path.abspath(target)), fill, overwrite=overwrite)


def _csv(result: RobustnessResult) -> str:
    from StandardSegLib.radiomics import ibsi_feature

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("feature", "ibsi_code", "icc", "icc_lower_95", "icc_upper_95", "cv", "robust"))
    for feature in result.features:
        ibsi = ibsi_feature(feature.name)
        writer.writerow((feature.name, ibsi.code if ibsi else "", *("" if value is None else repr(value) for value in
                         (feature.icc, feature.icc_lower, feature.icc_upper, feature.cv)), str(feature.robust).lower()))
    return buffer.getvalue()


def _values_csv(result: RobustnessResult) -> str:
    """Every feature value the ICCs were computed from: one row per feature x lesion x repetition."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("feature", "lesion", "repetition", "value"))
    for name, table in result.values.items():
        for lesion, row in zip(result.lesions, table):
            writer.writerows((name, lesion, repetition, repr(float(value))) for repetition, value in enumerate(row, 1))
    return buffer.getvalue()


def _print_summary(result: RobustnessResult, target: Path, notes: Sequence[str]) -> None:
    print(f"{result.mode}: {len(result.lesions)} lesion(s), {result.settings.repetitions} repetitions "
          f"({result.settings.perturbation.code}, seed {result.settings.seed}), {len(result.features)} features, "
          f"{len(result.robust_features)} robust ({result.criterion}); {result.seconds:.1f} s")
    print(f"written: {target}")
    for note in notes:
        print(f"note: {note}")
