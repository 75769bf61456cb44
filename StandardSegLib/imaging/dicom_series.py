"""Turn the files of one DICOM series into a correctly ordered, geometrically checked volume.

Slices are ordered by the projection of ImagePositionPatient (0020,0032) on the slice normal (the cross
product of the ImageOrientationPatient (0020,0037) row and column cosines), as PS3.3 C.7.6.2.1.1 defines the
patient frame; InstanceNumber and file names are never trusted for order. A series that cannot be one regular
3D grid (mixed orientation or matrix, duplicate positions, a missing slice, gantry-tilt shear) is refused
with a message naming the files, since resampling it silently would change every downstream number.

Pixels are decoded with pydicom slice by slice and the *slice's own* modality LUT (RescaleSlope/Intercept) is
applied before stacking: PET stores a different slope on every slice, so ITK's series reader, which casts
to the first slice's integer type, would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.datadict import tag_for_keyword
from pydicom.pixels import apply_modality_lut

from StandardSegLib.errors import DicomError
from StandardSegLib.imaging.geometry import ImageGeometry, _matrix
from StandardSegLib.imaging.header_fields import distinct_values_by_tag
from StandardSegLib.progress import ProgressCallback, report

#: Relative tolerance for "uniform" slice spacing: a gap deviating from the median spacing by more than 1 %
#: of it is a missing or extra slice (the task's acceptance rule; ITK's GDCM reader uses a similar check).
SPACING_TOLERANCE = 0.01
#: Direction cosines agreeing to this absolute tolerance are "the same orientation" (DS values carry ~6
#: significant digits).
ORIENTATION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OrderedSeries:
    """The headers of one series in spatial order and the grid they define."""

    files: tuple[Path, ...]
    datasets: tuple[pydicom.Dataset, ...]
    geometry: ImageGeometry
    #: Median distance between consecutive slice positions along the normal; None for a single slice.
    measured_slice_spacing_mm: Optional[float]
    warnings: tuple[str, ...]


def order_slices(members: Sequence[tuple[Path, pydicom.Dataset]]) -> OrderedSeries:
    """Order single-frame slices along the slice normal and check they form one regular grid.

    Per-slice attributes that must agree are decoded once per distinct stored value, not once per slice.
    """
    grid_keywords = {"Rows": 0.0, "Columns": 0.0, "PixelSpacing": ORIENTATION_TOLERANCE,
                     "ImageOrientationPatient": ORIENTATION_TOLERANCE}
    checked = ("NumberOfFrames", "SamplesPerPixel", *grid_keywords)
    holders = distinct_values_by_tag([ds for _, ds in members], [tag_for_keyword(k) for k in checked])
    path_of = {id(dataset): path for path, dataset in members}
    for dataset in holders[tag_for_keyword("NumberOfFrames")]:
        frames = int(dataset.get("NumberOfFrames") or 1)
        if frames > 1:
            raise DicomError(f"{path_of[id(dataset)]}: multi-frame image (NumberOfFrames (0028,0008) = {frames}) "
                             "is not supported yet; expected single-frame slices (export the series as one file "
                             "per slice)")
    for dataset in holders[tag_for_keyword("SamplesPerPixel")]:
        if int(dataset.get("SamplesPerPixel") or 1) != 1:
            raise DicomError(f"{path_of[id(dataset)]}: SamplesPerPixel (0028,0002) = {dataset.SamplesPerPixel}; "
                             "expected 1 (greyscale); colour images are not quantitative")
    for keyword, tolerance in grid_keywords.items():
        _require_same(members, keyword, holders[tag_for_keyword(keyword)], tolerance)
    row, column, normal = _axes(members[0])
    positions = np.array([_position(path, dataset) for path, dataset in members])
    order = np.argsort(positions @ normal, kind="stable")
    files = tuple(members[i][0] for i in order)
    datasets = tuple(members[i][1] for i in order)
    positions = positions[order]
    pixel_spacing = [float(v) for v in datasets[0].PixelSpacing]  # (row spacing, column spacing)
    warnings: list[str] = []
    if len(datasets) > 1:
        slice_spacing = _check_stacking(files, positions, normal, min(pixel_spacing))
        measured = slice_spacing
    else:
        slice_spacing, measured = _single_slice_spacing(datasets[0], warnings)
    geometry = ImageGeometry(
        size=(int(datasets[0].Columns), int(datasets[0].Rows), len(datasets)),
        origin_mm=tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
        spacing_mm=(pixel_spacing[1], pixel_spacing[0], slice_spacing),
        direction=_matrix(np.column_stack([row, column, normal])),
    )
    return OrderedSeries(files, datasets, geometry, measured, tuple(warnings))


def read_pixels(series: OrderedSeries, progress: Optional[ProgressCallback] = None) -> sitk.Image:
    """Decode every slice with its own modality LUT and stack them into a float image on the series grid."""
    planes = []
    for index, path in enumerate(series.files):
        planes.append(_slice_values(path))
        report(progress, (index + 1) / len(series.files), "decoding DICOM slices")
    needs_double = any(plane.dtype == np.float64 for plane in planes)
    volume = np.stack(planes).astype(np.float64 if needs_double else np.float32, copy=False)
    image = sitk.GetImageFromArray(volume)
    series.geometry.apply_to(image)
    return image


def _slice_values(path: Path) -> np.ndarray:
    """Real-world values of one slice; float64 only when float32 would lose integer precision."""
    try:
        dataset = pydicom.dcmread(path)
    except Exception as error:  # pydicom raises many types on a damaged file
        raise DicomError(f"{path}: DICOM file is unreadable ({type(error).__name__}: {error})") from error
    try:
        stored = dataset.pixel_array
    except Exception as error:  # truncated data, missing decoder plugin, malformed element...
        syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
        hint = f" (transfer syntax {syntax.name})" if syntax is not None else ""
        raise DicomError(f"{path}: pixel data cannot be decoded{hint}: {error}") from error
    values = apply_modality_lut(stored, dataset)
    precise = int(dataset.get("BitsStored") or 16) > 24 or stored.dtype == np.float64
    return np.asarray(values, dtype=np.float64 if precise else np.float32)


def _axes(member: tuple[Path, pydicom.Dataset]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column direction cosines and the slice normal, orthonormalised after checking they nearly are."""
    path, dataset = member
    if "ImageOrientationPatient" not in dataset or len(dataset.ImageOrientationPatient) != 6:
        raise DicomError(f"{path}: ImageOrientationPatient (0020,0037) missing or not 6 values; "
                         "cannot place the image in patient space")
    cosines = np.array([float(v) for v in dataset.ImageOrientationPatient])
    row, column = cosines[:3], cosines[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3 or abs(row @ column) > 1e-3:
        raise DicomError(f"{path}: ImageOrientationPatient (0020,0037) = {cosines.tolist()} is not two orthogonal "
                         "unit vectors")
    row = row / np.linalg.norm(row)
    column = column - (column @ row) * row
    column = column / np.linalg.norm(column)
    return row, column, np.cross(row, column)


def _position(path: Path, dataset: pydicom.Dataset) -> list[float]:
    value = dataset.get("ImagePositionPatient")
    if value is None or len(value) != 3:
        raise DicomError(f"{path}: ImagePositionPatient (0020,0032) missing or not 3 values")
    return [float(v) for v in value]


def _check_stacking(files: tuple[Path, ...], positions: np.ndarray, normal: np.ndarray,
                    pixel_spacing_mm: float) -> float:
    """Median spacing along the normal, after refusing duplicates, gaps and sheared (tilted) stacks."""
    along = positions @ normal
    steps = np.diff(along)
    median = float(np.median(steps))
    for k, step in enumerate(steps):
        if step < SPACING_TOLERANCE * max(median, 1e-6):
            raise DicomError(f"duplicate slice position {positions[k + 1].round(4).tolist()} in {files[k].name} and "
                             f"{files[k + 1].name}; expected one slice per position")
    deviating = np.flatnonzero(np.abs(steps - median) > SPACING_TOLERANCE * median)
    if deviating.size:
        k = int(deviating[0])
        raise DicomError(
            f"non-uniform slice spacing: {steps[k]:.4g} mm between {files[k].name} (position "
            f"{along[k]:.4g} mm) and {files[k + 1].name} ({along[k + 1]:.4g} mm), median {median:.4g} mm; "
            f"expected uniform spacing within {SPACING_TOLERANCE:.0%} (missing slice?) in {len(deviating)} place(s)")
    lateral = positions - positions[0] - np.outer(along - along[0], normal)
    offset = float(np.max(np.linalg.norm(lateral, axis=1)))
    if offset > max(1e-3, SPACING_TOLERANCE * pixel_spacing_mm):
        raise DicomError(f"slices are not stacked along the slice normal (lateral shift up to {offset:.3g} mm, "
                         f"e.g. gantry tilt) in {files[0].parent}; expected a rectilinear volume")
    return median


def _single_slice_spacing(dataset: pydicom.Dataset, warnings: list[str]) -> tuple[float, None]:
    """A one-slice image has no measured spacing: use SpacingBetweenSlices, else SliceThickness, else 1 mm."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = dataset.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value), None
    warnings.append("single slice without SliceThickness: slice spacing set to 1 mm")
    return 1.0, None


def _require_same(members: Sequence[tuple[Path, pydicom.Dataset]], keyword: str,
                  distinct: Sequence[pydicom.Dataset], tolerance: float) -> None:
    """All members agree on ``keyword``; ``distinct`` holds one dataset per distinct stored value."""
    reference_path, reference = members[0]
    if keyword not in reference:
        raise DicomError(f"{reference_path}: {keyword} missing; required to build the image grid")
    expected = np.atleast_1d(np.asarray(reference.get(keyword), dtype=float))
    holders = {id(dataset) for dataset in distinct}
    for path, dataset in members[1:]:
        if id(dataset) not in holders:
            continue  # stored bytes identical to a dataset already checked
        found = dataset.get(keyword)
        values = np.atleast_1d(np.asarray(found, dtype=float)) if found is not None else None
        if values is None or values.shape != expected.shape or np.any(np.abs(values - expected) > tolerance):
            raise DicomError(f"mixed {keyword} in one series: {reference_path.name} has {expected.tolist()}, "
                             f"{path.name} has {None if values is None else values.tolist()}; expected one value "
                             "for all slices")
