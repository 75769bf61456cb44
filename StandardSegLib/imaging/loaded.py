"""Load an image from any supported source into one value: pixels, record, headers, files read.

Sources: a DICOM folder (scanned recursively, grouped by SeriesInstanceUID), a single DICOM file,
NRRD (.nrrd/.nhdr), NIfTI (.nii/.nii.gz) and MetaImage (.mha/.mhd) with an optional JSON sidecar.
``read_image_record`` does the header half only, so ``standardseg inspect`` never decodes pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pydicom
import SimpleITK as sitk

from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.imaging.dicom_scan import HeaderTable, SeriesHeaders, read_header, scan_folder
from StandardSegLib.imaging.dicom_series import SERIES_KEYWORDS, OrderedSeries, order_slices, read_pixels
from StandardSegLib.imaging.geometry import ImageGeometry
from StandardSegLib.imaging.header_fields import PER_SLICE_KEYWORDS, PET_KEYWORDS, header_fields
from StandardSegLib.imaging.image_files import (image_file_format, read_file_header, read_file_pixels,
                                                read_sidecar)
from StandardSegLib.imaging.record import ImageRecord
from StandardSegLib.progress import ProgressCallback, progress_part, report

#: Share of the progress bar given to reading headers when pixels are loaded too.
_HEADER_SHARE = 0.25
_GEOMETRY_FIELDS = frozenset(item.name for item in fields(ImageRecord) if item.metadata["group"] == "geometry")
#: Header line naming the pixel file of a detached header: (lower-case key, separator).
_DATA_FILE_KEYS = {".nhdr": ("data file", ":"), ".mhd": ("elementdatafile", "=")}
_SUPPORTED = "a DICOM folder or file, .nrrd/.nhdr, .nii/.nii.gz or .mha/.mhd"
#: Read from every file of a DICOM folder in the scan's one pass: what ordering the slices and the record's
#: per-slice comparisons need. PET attributes are left to a second pass over PET series only (GDCM reads on
#: to the last attribute asked for, into the pixel data when a file has none of them).
_FOLDER_SCAN_KEYWORDS = tuple(keyword for keyword in dict.fromkeys((*SERIES_KEYWORDS, *PER_SLICE_KEYWORDS))
                              if keyword not in PET_KEYWORDS)


@dataclass(frozen=True)
class LoadedImage:
    """An image in real-world values with the headers it came from.

    ``image`` is float32 (float64 when float32 would round the stored values) with per-slice
    RescaleSlope/Intercept applied and geometry in LPS as DICOM/ITK define it. ``datasets[k]`` is the
    pixel-free DICOM header of z-index k; for NRRD/NIfTI it is one Dataset built from the sidecar's DICOM
    keywords, or empty without a sidecar. ``source_files`` lists every file read (for input hashes).
    """

    image: sitk.Image
    record: ImageRecord
    datasets: tuple[pydicom.Dataset, ...]
    source_files: tuple[Path, ...]


@dataclass(frozen=True)
class _HeaderPart:
    record: ImageRecord
    #: Whole pixel-free headers; for a DICOM series read on first use (``SeriesHeaders``).
    datasets: Sequence[pydicom.Dataset]
    source_files: tuple[Path, ...]
    #: Pixels and the headers in slice order (for DICOM from the same read of each file).
    read_pixels: Callable[[Optional[ProgressCallback]], tuple[sitk.Image, tuple[pydicom.Dataset, ...]]]


def load_image(path: str | os.PathLike, series_uid: Optional[str] = None,
               progress: Optional[ProgressCallback] = None) -> LoadedImage:
    """Read headers and pixels of ``path`` (see module docstring for the accepted sources)."""
    header = _read_headers(Path(path), series_uid, progress_part(progress, 0.0, _HEADER_SHARE))
    image, datasets = header.read_pixels(progress_part(progress, _HEADER_SHARE, 1.0))
    return LoadedImage(image, header.record, datasets, header.source_files)


def read_image_record(path: str | os.PathLike, series_uid: Optional[str] = None,
                      progress: Optional[ProgressCallback] = None) -> ImageRecord:
    """The image record from headers only (no pixel data is decoded)."""
    return _read_headers(Path(path), series_uid, progress).record


def read_image_headers(path: str | os.PathLike, series_uid: Optional[str] = None,
                       progress: Optional[ProgressCallback] = None) -> tuple[ImageRecord, tuple[pydicom.Dataset, ...]]:
    """Record and pixel-free headers (what ``inspect`` needs for the SUV conversion)."""
    header = _read_headers(Path(path), series_uid, progress)
    return header.record, tuple(header.datasets)


def image_source_files(path: str | os.PathLike, series_uid: Optional[str] = None) -> tuple[Path, ...]:
    """The files ``load_image(path, series_uid)`` would read (its ``source_files``), from headers only: what a
    resumed batch hashes to decide whether a finished case still matches its inputs."""
    return _read_headers(Path(path), series_uid, None).source_files


def _read_headers(path: Path, series_uid: Optional[str], progress: Optional[ProgressCallback]) -> _HeaderPart:
    if path.is_dir():
        return _dicom_folder(path, series_uid, progress)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory (expected {_SUPPORTED})")
    if image_file_format(path):
        return _image_file(path)
    dataset = read_header(path)
    if dataset is None:
        raise InputError(f"{path}: unknown file type (expected {_SUPPORTED})")
    if series_uid is not None and str(dataset.get("SeriesInstanceUID")) != series_uid:
        raise DicomError(f"{path}: SeriesInstanceUID is {dataset.get('SeriesInstanceUID')}, not the requested "
                         f"{series_uid}")
    if "Rows" not in dataset:
        raise DicomError(f"{path}: {dataset.get('Modality', 'this')} object has no image (Rows (0028,0010) "
                         "missing); expected an image file")
    table = HeaderTable()
    table.add_dataset(path, dataset)
    ordered = order_slices(SeriesHeaders((path,), table))
    warning = ("single DICOM file loaded as a one-slice image; pass its folder to load the whole series",)
    return _dicom_part(ordered, "dicom-file", warning)


def _dicom_folder(folder: Path, series_uid: Optional[str], progress: Optional[ProgressCallback]) -> _HeaderPart:
    scan = scan_folder(folder, progress, _FOLDER_SCAN_KEYWORDS)
    summaries = scan.summaries()
    listing = "; ".join(summary.describe() for summary in summaries)
    if series_uid is not None:
        if series_uid not in scan.files_by_series:
            raise DicomError(f"{folder}: series {series_uid} not found; series present: {listing}")
        chosen = series_uid
    else:
        images = [summary for summary in summaries if summary.is_image]
        if not images:
            raise DicomError(f"{folder}: no image series found (only: {listing})")
        if len(images) > 1:
            raise DicomError(f"{folder}: {len(images)} image series found, choose one with series_uid "
                             f"(--series): {'; '.join(summary.describe() for summary in images)}")
        chosen = images[0].series_instance_uid
    ignored = () if series_uid is not None else tuple(
        f"ignored series {summary.describe()}" for summary in summaries if summary.series_instance_uid != chosen)
    ordered = order_slices(scan.series(chosen))
    return _dicom_part(ordered, "dicom-series", scan.warnings + ignored)


def _dicom_part(ordered: OrderedSeries, source_format: str, warnings: tuple[str, ...]) -> _HeaderPart:
    values, field_warnings = header_fields(ordered.datasets)
    first = ordered.datasets[0]
    geometry = ordered.geometry
    values.update(
        source_format=source_format,
        matrix=(int(first.Rows), int(first.Columns), len(ordered.datasets)),
        number_of_slices=len(ordered.datasets),
        pixel_spacing_mm=tuple(float(v) for v in first.PixelSpacing),
        spacing_between_slices_mm=ordered.measured_slice_spacing_mm,
        orientation=tuple(float(v) for v in first.ImageOrientationPatient),
        image_position_first=tuple(float(v) for v in first.ImagePositionPatient),
        **_geometry_values(geometry),
    )
    notes = list(warnings) + list(ordered.warnings) + field_warnings
    tag_spacing, measured = values.get("spacing_between_slices_tag_mm"), ordered.measured_slice_spacing_mm
    if tag_spacing is not None and measured is not None and abs(tag_spacing - measured) > 0.01 * measured:
        notes.append(f"SpacingBetweenSlices (0018,0088) = {tag_spacing} mm but slice positions are {measured:.4g} "
                     "mm apart; the measured spacing is used")
    record = ImageRecord(**values, warnings=tuple(notes))
    return _HeaderPart(record, ordered.datasets, ordered.files, lambda progress: read_pixels(ordered, progress))


def _image_file(path: Path) -> _HeaderPart:
    geometry = ImageGeometry.from_itk(read_file_header(path))
    dataset, overrides, notes, sidecar = read_sidecar(path)
    values: dict[str, Any] = {}
    if dataset is not None:
        values, field_warnings = header_fields([dataset])
        notes += field_warnings
    for name, value in overrides.items():
        if name in _GEOMETRY_FIELDS:
            notes.append(f"sidecar field {name!r} ignored: geometry comes from the image file")
        else:
            values[name] = _checked_override(sidecar, name, value)
    rows_spacing = geometry.spacing_mm[1]
    direction = geometry.direction
    values.update(
        source_format=image_file_format(path),
        matrix=(geometry.size[1], geometry.size[0], geometry.size[2]),
        number_of_slices=geometry.size[2],
        pixel_spacing_mm=(rows_spacing, geometry.spacing_mm[0]),
        spacing_between_slices_mm=geometry.spacing_mm[2] if geometry.size[2] > 1 else None,
        orientation=tuple(direction[i][0] for i in range(3)) + tuple(direction[i][1] for i in range(3)),
        image_position_first=geometry.origin_mm,
        **_geometry_values(geometry),
    )
    record = ImageRecord(**values, warnings=tuple(notes))
    files = (path,) + ((sidecar,) if sidecar else ()) + _detached_data_files(path)
    datasets = (dataset,) if dataset is not None else ()
    return _HeaderPart(record, datasets, files, lambda progress: (_file_pixels(path, progress), datasets))


def _file_pixels(path: Path, progress: Optional[ProgressCallback]) -> sitk.Image:
    image = read_file_pixels(path)
    report(progress, 1.0, "image read")
    return image


def _detached_data_files(path: Path) -> tuple[Path, ...]:
    """The data file of a detached header (.nhdr / .mhd), so input hashes cover the pixels too."""
    key_separator = _DATA_FILE_KEYS.get(path.suffix.lower())
    if key_separator is None:
        return ()
    key, separator = key_separator
    for line in path.read_text(encoding="latin-1", errors="replace").splitlines():
        name, found, value = line.partition(separator)
        if found and name.strip().lower() == key:
            candidate = path.parent / value.strip()
            return (candidate,) if candidate.is_file() else ()
    return ()


def _checked_override(sidecar: Optional[Path], name: str, value: Any) -> Any:
    """Sidecar values for record fields must have the field's kind (number, text, list of text)."""
    kind = ImageRecord.__dataclass_fields__[name].type
    if kind == "Number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InputError(f"{sidecar}: {name} must be a number, found {value!r}")
    if kind == "Text" and not isinstance(value, str):
        raise InputError(f"{sidecar}: {name} must be a string, found {value!r}")
    if kind == "Texts":
        items = (value,) if isinstance(value, str) else value
        if not isinstance(items, tuple) or not all(isinstance(item, str) for item in items):
            raise InputError(f"{sidecar}: {name} must be a string or a list of strings, found {value!r}")
        return items
    return float(value) if kind == "Number" else value


def _geometry_values(geometry: ImageGeometry) -> dict[str, Any]:
    return {"origin": geometry.origin_mm, "spacing": geometry.spacing_mm, "direction": geometry.direction}
