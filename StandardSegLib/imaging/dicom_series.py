"""Turn the files of one DICOM series into a correctly ordered, geometrically checked volume.

Slices are ordered by the projection of ImagePositionPatient (0020,0032) on the slice normal (the cross
product of the ImageOrientationPatient (0020,0037) row and column cosines), as PS3.3 C.7.6.2.1.1 defines the
patient frame; InstanceNumber and file names are never trusted for order. A series that cannot be one regular
3D grid (mixed orientation or matrix, duplicate positions, a missing slice, gantry-tilt shear) is refused
with a message naming the files, since resampling it silently would change every downstream number.

Pixels are decoded with pydicom slice by slice and the *slice's own* modality LUT (RescaleSlope/Intercept) is
applied before stacking: PET stores a different slope on every slice, so ITK's series reader, which casts
to the first slice's integer type, would be wrong. The rules for the value scale (rescale present and sane,
bits consistent, pixel data as long as Rows x Columns say, finite values) are in ``pixel_scale``. Geometry
numbers must be finite, and PixelSpacing two positive values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.tag import Tag

from StandardSegLib.errors import DicomError
from StandardSegLib.imaging.dicom_scan import SeriesHeaders
from StandardSegLib.imaging.geometry import ImageGeometry, _matrix
from StandardSegLib.imaging.pixel_scale import real_world_values
from StandardSegLib.progress import ProgressCallback, report

#: Relative tolerance for "uniform" slice spacing: a gap deviating from the median spacing by more than 1 %
#: of it is a missing or extra slice (the task's acceptance rule; ITK's GDCM reader uses a similar check).
SPACING_TOLERANCE = 0.01
#: Direction cosines agreeing to this absolute tolerance are "the same orientation" (DS values carry ~6
#: significant digits).
ORIENTATION_TOLERANCE = 1e-4
#: Attributes every slice must agree on, with the tolerance (absolute) of the agreement.
_GRID_TOLERANCES = {"Rows": 0.0, "Columns": 0.0, "PixelSpacing": ORIENTATION_TOLERANCE,
                    "ImageOrientationPatient": ORIENTATION_TOLERANCE}
#: The stored values ``order_slices`` reads from every file (scan them in the folder's first pass).
SERIES_KEYWORDS = ("NumberOfFrames", "SamplesPerPixel", *_GRID_TOLERANCES, "ImagePositionPatient",
                   "SpacingBetweenSlices", "SliceThickness")
#: pydicom's ``stop_before_pixels`` stops at the first of (7FE0,0008), (7FE0,0009), (7FE0,0010).
_FIRST_PIXEL_TAG = Tag(0x7FE00008)


@dataclass(frozen=True)
class OrderedSeries:
    """The headers of one series in spatial order and the grid they define."""

    files: tuple[Path, ...]
    #: Whole pydicom headers in the same order, each read on first use (``datasets[k]`` is file k's).
    datasets: SeriesHeaders
    geometry: ImageGeometry
    #: Median distance between consecutive slice positions along the normal; None for a single slice.
    measured_slice_spacing_mm: Optional[float]
    warnings: tuple[str, ...]


def order_slices(headers: SeriesHeaders) -> OrderedSeries:
    """Order single-frame slices along the slice normal and check they form one regular grid.

    Works on the scanned stored values only (no whole header is read); attributes that must agree are
    checked once per distinct stored value, not once per slice.
    """
    files = headers.files
    headers.prefetch(SERIES_KEYWORDS)
    for value, index in headers.holders("NumberOfFrames").items():
        frames = _integer(files[index], "NumberOfFrames", value) or 1
        if frames > 1:
            raise DicomError(f"{files[index]}: multi-frame image (NumberOfFrames (0028,0008) = {frames}) "
                             "is not supported yet; expected single-frame slices (export the series as one file "
                             "per slice)")
    for value, index in headers.holders("SamplesPerPixel").items():
        samples = _integer(files[index], "SamplesPerPixel", value) or 1
        if samples != 1:
            raise DicomError(f"{files[index]}: SamplesPerPixel (0028,0002) = {samples}; "
                             "expected 1 (greyscale); colour images are not quantitative")
    for keyword, tolerance in _GRID_TOLERANCES.items():
        _require_same(headers, keyword, tolerance)
    row, column, normal = _axes(files[0], headers.value(0, "ImageOrientationPatient"))
    positions = np.array([_position(path, value)
                          for path, value in zip(files, headers.values("ImagePositionPatient"))])
    order = np.argsort(positions @ normal, kind="stable")
    ordered = headers.reordered(int(i) for i in order)
    files = ordered.files
    positions = positions[order]
    pixel_spacing = _floats(files[0], "PixelSpacing", ordered.value(0, "PixelSpacing"))  # (row, column spacing)
    if len(pixel_spacing) != 2 or min(pixel_spacing) <= 0:
        raise DicomError(f"{files[0]}: PixelSpacing (0028,0030) = {pixel_spacing}; expected two positive numbers "
                         "(row and column spacing in mm)")
    for keyword in ("Rows", "Columns"):
        if _integer(files[0], keyword, ordered.value(0, keyword)) < 1:
            raise DicomError(f"{files[0]}: {keyword} = {ordered.value(0, keyword)!r}; expected a positive number")
    warnings: list[str] = []
    if len(files) > 1:
        slice_spacing = _check_stacking(files, positions, normal, min(pixel_spacing))
        measured = slice_spacing
    else:
        slice_spacing, measured = _single_slice_spacing(ordered, warnings)
    geometry = ImageGeometry(
        size=(_integer(files[0], "Columns", ordered.value(0, "Columns")),
              _integer(files[0], "Rows", ordered.value(0, "Rows")), len(files)),
        origin_mm=tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
        spacing_mm=(pixel_spacing[1], pixel_spacing[0], slice_spacing),
        direction=_matrix(np.column_stack([row, column, normal])),
    )
    return OrderedSeries(files, ordered, geometry, measured, tuple(warnings))


def read_pixels(series: OrderedSeries, progress: Optional[ProgressCallback] = None
                ) -> tuple[sitk.Image, tuple[pydicom.Dataset, ...]]:
    """Decode every slice with its own modality LUT and stack them into a float image on the series grid.

    Also returns each slice's pixel-free header from the same read (what ``stop_before_pixels`` would give),
    so loading pixels parses every file once.
    """
    planes = []
    headers = []
    for index, path in enumerate(series.files):
        plane, header = _slice_values(path)
        planes.append(plane)
        headers.append(header)
        report(progress, (index + 1) / len(series.files), "decoding DICOM slices")
    needs_double = any(plane.dtype == np.float64 for plane in planes)
    volume = np.stack(planes).astype(np.float64 if needs_double else np.float32, copy=False)
    image = sitk.GetImageFromArray(volume)
    series.geometry.apply_to(image)
    return image, tuple(headers)


def _slice_values(path: Path) -> tuple[np.ndarray, pydicom.Dataset]:
    """Real-world values of one slice (float64 only when float32 would lose integer precision) and its header
    without the pixel data and anything after it."""
    try:
        dataset = pydicom.dcmread(path)
    except Exception as error:  # pydicom raises many types on a damaged file
        raise DicomError(f"{path}: DICOM file is unreadable ({type(error).__name__}: {error})") from error
    values = real_world_values(dataset, path)
    precise = int(dataset.get("BitsStored") or 16) > 24 or "DoubleFloatPixelData" in dataset
    del dataset[_FIRST_PIXEL_TAG:]  # as pydicom's stop_before_pixels leaves it; also drops the decoded array
    return values if precise else _float32(values, path), dataset


def _float32(values: np.ndarray, path: Path) -> np.ndarray:
    """``values`` as float32, refusing those beyond its range (they would become infinite)."""
    if values.size and np.abs(values).max() > np.finfo(np.float32).max:
        raise DicomError(f"{path}: real-world pixel values reach {np.abs(values).max():.3g}, beyond float32; "
                         "check RescaleSlope (0028,1053)")
    return values.astype(np.float32)


def _axes(path: Path, stored: Optional[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column direction cosines and the slice normal, orthonormalised after checking they nearly are."""
    values = _floats(path, "ImageOrientationPatient", stored) if stored else []
    if len(values) != 6:
        raise DicomError(f"{path}: ImageOrientationPatient (0020,0037) missing or not 6 values; "
                         "cannot place the image in patient space")
    cosines = np.array(values)
    row, column = cosines[:3], cosines[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3 or abs(row @ column) > 1e-3:
        raise DicomError(f"{path}: ImageOrientationPatient (0020,0037) = {cosines.tolist()} is not two orthogonal "
                         "unit vectors")
    row = row / np.linalg.norm(row)
    column = column - (column @ row) * row
    column = column / np.linalg.norm(column)
    return row, column, np.cross(row, column)


def _position(path: Path, stored: Optional[str]) -> list[float]:
    values = _floats(path, "ImagePositionPatient", stored) if stored is not None else []
    if len(values) != 3:
        raise DicomError(f"{path}: ImagePositionPatient (0020,0032) missing or not 3 values")
    return values


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


def _single_slice_spacing(headers: SeriesHeaders, warnings: list[str]) -> tuple[float, None]:
    """A one-slice image has no measured spacing: use SpacingBetweenSlices, else SliceThickness, else 1 mm."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        stored = headers.value(0, keyword)
        if stored not in (None, ""):
            value = _floats(headers.files[0], keyword, stored)
            if value and value[0] > 0:
                return value[0], None
    warnings.append("single slice without SliceThickness: slice spacing set to 1 mm")
    return 1.0, None


def _require_same(headers: SeriesHeaders, keyword: str, tolerance: float) -> None:
    """All files agree on ``keyword`` (each distinct stored value checked once, in file order)."""
    holders = headers.holders(keyword)
    reference_path = headers.files[0]
    stored = headers.value(0, keyword)
    if not stored:
        raise DicomError(f"{reference_path}: {keyword} missing; required to build the image grid")
    expected = np.array(_floats(reference_path, keyword, stored), dtype=float)
    for found, index in holders.items():
        if index == 0:
            continue
        path = headers.files[index]
        values = np.array(_floats(path, keyword, found), dtype=float) if found is not None else None
        if values is None or values.shape != expected.shape or np.any(np.abs(values - expected) > tolerance):
            raise DicomError(f"mixed {keyword} in one series: {reference_path.name} has {expected.tolist()}, "
                             f"{path.name} has {None if values is None else values.tolist()}; expected one value "
                             "for all slices")


def _floats(path: Path, keyword: str, stored: Optional[str]) -> list[float]:
    """The numbers of a stored multi-value text ("a\\b\\c"); a value that is not a number is an error naming it."""
    try:
        values = [float(part) for part in (stored or "").split("\\") if part.strip()]
    except ValueError as error:
        raise DicomError(f"{path}: {keyword} = {stored!r} is not a list of numbers ({error})") from error
    if not all(math.isfinite(value) for value in values):
        raise DicomError(f"{path}: {keyword} = {stored!r}; expected finite numbers")
    return values


def _integer(path: Path, keyword: str, stored: Optional[str]) -> int:
    """An integer attribute's stored value (0 when absent or empty)."""
    values = _floats(path, keyword, stored)
    return int(values[0]) if values else 0
