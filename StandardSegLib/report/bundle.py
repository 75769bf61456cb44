"""Write a report bundle atomically: one folder with report.json, measurements.csv, report.html,
segments/*.seg.nrrd (+ provenance) and, for DICOM sources, dicom/seg.dcm, dicom/sr.dcm and dicom/rtstruct.dcm
(the segments as contours, for radiotherapy systems).

The bundle is assembled in a hidden staging folder beside the target and renamed into place
(``atomic_folder``), so a reader never sees half a bundle, two runs into one new folder never both succeed,
and an interrupted write (error, Ctrl-C, SIGTERM, SIGHUP) leaves nothing behind; staging folders of killed
processes are swept on the next write into the same parent. An existing bundle is never replaced unless
asked; then it is kept, renamed ``<name>.previous-<timestamp>``. A bundle is never written into a folder
holding the inputs (paths compared after resolving ``..`` and symbolic links).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import pydicom
import pydicom.errors

from StandardSegLib.errors import InputError
from StandardSegLib.progress import ProgressCallback, report
from StandardSegLib.report.atomic_folder import sweep_stale_partials, write_atomically
from StandardSegLib.report.deidentify import Deidentifier
from StandardSegLib.report.html import report_html
from StandardSegLib.report.inputs import LesionReport, ReportInputs
from StandardSegLib.report.measurements_csv import measurements_csv
from StandardSegLib.report.report_json import build_report, report_text
from StandardSegLib.segmentation import write_segment

REPORT_JSON, MEASUREMENTS_CSV, REPORT_HTML = "report.json", "measurements.csv", "report.html"
SEGMENTS_DIR, DICOM_DIR = "segments", "dicom"
SEG_FILE, SR_FILE = "seg.dcm", "sr.dcm"
RTSTRUCT_FILE = "rtstruct.dcm"


@dataclass(frozen=True)
class BundleResult:
    """Where the bundle went, what it holds, and where a replaced bundle was kept."""

    path: Path
    files: tuple[str, ...]  # relative POSIX paths
    previous: Optional[Path]
    deidentified: bool
    swept: tuple[Path, ...] = ()  # staging folders of killed runs removed from the parent folder


def write_report_bundle(inputs: ReportInputs, target: str | os.PathLike, *, overwrite: bool = False,
                        deidentify: bool = False, salt: Optional[str] = None,
                        extra_files: Optional[Mapping[str, str]] = None,
                        progress: Optional[ProgressCallback] = None) -> BundleResult:
    """Write the bundle for ``inputs`` to folder ``target`` (see the module docstring for the guarantees).

    ``deidentify`` drops patient identifiers and input paths, replaces UIDs by hashes salted with ``salt``
    (random when None) and shifts dates (``deidentify`` module) in every file, DICOM included.
    ``extra_files`` (relative path -> text, e.g. the session.json a session adds) are written into the bundle
    first (de-identified alike), so report.json lists them among its outputs. Raises ``InputError`` if
    ``target`` exists and not ``overwrite``, or lies in an input folder.
    """
    target = Path(os.path.abspath(target))
    _check_not_in_inputs(target, inputs)
    _check_grids(inputs)
    deidentifier = (Deidentifier.from_datasets(_identifying_datasets(inputs), salt, paths=_input_folders(inputs))
                    if deidentify else None)

    def fill(staging: Path) -> None:
        for name, text in (extra_files or {}).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(deidentifier.text(text) if deidentifier else text, encoding="utf-8")
        lesions = _deidentified_lesions(inputs.lesions, deidentifier)
        if lesions:
            (staging / SEGMENTS_DIR).mkdir()
        for number, lesion in enumerate(lesions):
            report(progress, 0.6 * number / len(lesions), f"segment {lesion.name}")
            write_segment(lesion.segment, staging / SEGMENTS_DIR / f"{lesion.name}.seg.nrrd", segment_name=lesion.name)
        header_warnings: tuple[str, ...] = ()
        if inputs.is_dicom and lesions:
            report(progress, 0.6, "DICOM SEG and SR")
            header_warnings = _write_dicom(dataclasses.replace(inputs, lesions=lesions), staging / DICOM_DIR,
                                           deidentifier)
        report(progress, 0.8, "report.json, measurements.csv, report.html")
        written = [p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()]
        document = build_report(inputs, outputs=(*written, REPORT_JSON, MEASUREMENTS_CSV, REPORT_HTML),
                                not_written=_not_written(inputs, lesions), deidentifier=deidentifier,
                                header_warnings=header_warnings)
        (staging / REPORT_JSON).write_text(report_text(document), encoding="utf-8")
        (staging / MEASUREMENTS_CSV).write_text(measurements_csv(document), encoding="utf-8")
        (staging / REPORT_HTML).write_text(report_html(document, inputs), encoding="utf-8")

    swept = sweep_stale_partials(target.parent)
    previous = write_atomically(target, fill, overwrite=overwrite)
    report(progress, 1.0, "bundle written")
    files = tuple(sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()))
    return BundleResult(path=target, files=files, previous=previous, deidentified=deidentify, swept=swept)


def _check_not_in_inputs(target: Path, inputs: ReportInputs) -> None:
    """Refuse a bundle inside (or equal to) a folder that holds an input file: inputs are never touched."""
    target = target.resolve()
    folders = {Path(p).resolve().parent for p in (*inputs.input_files.values(), *inputs.loaded.source_files)}
    for folder in folders:
        if target == folder or folder in target.parents:
            raise InputError(f"{target}: expected a bundle folder outside the input folders, found it inside "
                             f"{folder}; choose another output folder")


def _identifying_datasets(inputs: ReportInputs) -> list[pydicom.Dataset]:
    """Headers of the loaded series and of every DICOM input file (e.g. the CT beside the PET): all their
    identifiers and UIDs must go, wherever the report mentions them."""
    datasets = list(inputs.loaded.datasets)
    for path in inputs.input_files.values():
        try:
            datasets.append(pydicom.dcmread(path, stop_before_pixels=True))
        except pydicom.errors.InvalidDicomError:
            continue  # not DICOM (NRRD, JSON ...): nothing to collect
    return datasets


def _input_folders(inputs: ReportInputs) -> set[str]:
    """The absolute folders holding the inputs (folder names are often patient IDs): a de-identified bundle
    mentions none of them (input paths themselves are pseudonyms there: ``pseudonymous_path``)."""
    folders = set()
    for path in (*inputs.input_files.values(), *inputs.loaded.source_files):
        folders.update((str(Path(path).absolute().parent), str(Path(path).resolve().parent)))
    return folders


def _check_grids(inputs: ReportInputs) -> None:
    image = inputs.values_image
    for lesion in inputs.lesions:
        mask = lesion.segment.mask
        same = (mask.GetSize() == image.GetSize() and _close(mask.GetOrigin(), image.GetOrigin())
                and _close(mask.GetSpacing(), image.GetSpacing()) and _close(mask.GetDirection(), image.GetDirection()))
        if not same:
            raise InputError(f"segment '{lesion.name}': expected its mask on the measured image's grid "
                             f"(size {image.GetSize()}), found size {mask.GetSize()} or a different geometry")


def _close(first: tuple[float, ...], second: tuple[float, ...], tolerance: float = 1e-4) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(first, second))


def _deidentified_lesions(lesions: tuple[LesionReport, ...],
                          deidentifier: Optional[Deidentifier]) -> tuple[LesionReport, ...]:
    """Lesions whose provenance text fields (alignment UIDs, details) went through the de-identifier."""
    if deidentifier is None:
        return lesions
    result = []
    for lesion in lesions:
        provenance = lesion.segment.provenance
        steps = tuple(dataclasses.replace(step, name=deidentifier.text(step.name),
                                          parameters=deidentifier.document(step.parameters))
                      for step in provenance.steps)
        scrubbed = dataclasses.replace(
            provenance, alignment=deidentifier.document(provenance.alignment),
            details=deidentifier.document(provenance.details), gate=deidentifier.document(provenance.gate),
            parameters=deidentifier.document(provenance.parameters), voi=deidentifier.document(provenance.voi),
            steps=steps)
        segment = dataclasses.replace(lesion.segment, provenance=scrubbed)
        result.append(dataclasses.replace(lesion, segment=segment))
    return tuple(result)


def _not_written(inputs: ReportInputs, lesions: tuple[LesionReport, ...]) -> tuple[dict[str, str], ...]:
    """The DICOM outputs left out, and why: SEG and SR are drawn on the source's DICOM frames, which an
    NRRD/NIfTI (even with a JSON sidecar) does not have; without segments there is nothing to encode."""
    reason = ("source is not DICOM" if not inputs.is_dicom else "no segments" if not lesions else None)
    if reason is None:
        return ()
    return tuple({"file": f"{DICOM_DIR}/{name}", "reason": reason} for name in (SEG_FILE, SR_FILE, RTSTRUCT_FILE))


def _write_dicom(inputs: ReportInputs, folder: Path, deidentifier: Optional[Deidentifier]) -> tuple[str, ...]:
    """Write the SEG, SR and RTSTRUCT; returns the warnings about source values they could not copy."""
    from StandardSegLib.report.dicom_outputs import build_seg, build_sr, output_headers
    from StandardSegLib.report.rtstruct_output import build_rtstruct

    datasets = list(inputs.loaded.datasets)
    if deidentifier is not None:
        datasets = [deidentifier.dataset(dataset) for dataset in datasets]
    datasets, header_warnings = output_headers(datasets)
    folder.mkdir()
    seg = build_seg(inputs, datasets)
    seg.save_as(folder / SEG_FILE)
    observer = inputs.operator.name if inputs.operator is not None else "unknown"
    build_sr(inputs, seg, datasets, observer).save_as(folder / SR_FILE)
    build_rtstruct(inputs, datasets).save_as(folder / RTSTRUCT_FILE, enforce_file_format=True)
    return header_warnings
