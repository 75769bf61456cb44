"""RTSTRUCT (DICOM RT Structure Set) contours as a mask on an image grid, placed by geometry.

Why not a library's reader: rt-utils (``RTStructBuilder.create_from``) finds each contour's slice by the
ReferencedSOPInstanceUID in its ContourImageSequence, so contours drawn on another copy of the series (an
uncropped original, a re-export, a resampled PET) come out empty; it also truncates vertices to whole pixels
before ``cv2.fillPoly``, which paints every pixel the outline touches (a volume bias of about half a pixel
all round). platipy places by geometry but requires pydicom < 3; dicompyler-core returns the contour points
per plane without a grid to rasterise onto. pydicom reads the file; placement and filling are here.

Placement (DICOM PS3.3 C.8.8.6): ContourData are (x, y, z) triplets in mm in the patient frame (LPS) named
by the ROI's ReferencedFrameOfReferenceUID. Each CLOSED_PLANAR contour is mapped into the image's continuous
index space (inverse of origin + direction · spacing · index, the ITK convention) and must lie in one plane
parallel to the image slices. Contour planes a slice apart are filled in the image slice they are nearest;
planes spaced differently (contours drawn on another series) are filled on a grid whose slices are the
contour planes and resampled nearest-neighbour onto the image, so each plane stands for the slab of the
image it was drawn on.

Filling: a pixel belongs to the mask when its centre is inside by the even-odd rule over all contours of its
plane, so an inner contour cuts a hole, as radiotherapy systems read nested contours (the Structure Set
module itself defines no holes). Pixel centres exactly on a left edge count as inside and on a right edge as
outside (half-open scanline rule), so two contours sharing an edge never both claim a pixel. This is the
scanline form of the crossing-number point-in-polygon test (Foley, van Dam et al., Computer Graphics:
Principles and Practice, 2nd ed., section 3.6): no bias for large shapes, checked against an analytic
sphere and against a second implementation in ``Testing/test_rtstruct.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from StandardSegLib.errors import DicomError, InputError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"
#: A contour may deviate this much (in slices) from one plane parallel to the image slices.
PLANE_TOLERANCE_SLICES = 0.25
#: Contours on the outer voxel edges (as written by ``StandardSegLib.report.rtstruct_output``) are inside the
#: image; a contour further out than this (in voxels) is cut at the image edge, with a warning.
EDGE_TOLERANCE = 0.01
#: Contour planes whose spacing differs from the slice spacing by less than this share are filled directly.
SPACING_TOLERANCE = 0.05
#: Where a ROI name is given, for errors (the CLI passes the option of the mask at hand, e.g. --voi-roi).
ROI_OPTION = "--roi (JOB.yaml mask: {path, roi})"


@dataclass(frozen=True)
class RtstructMask:
    """A rasterised ROI: uint8 mask (1 inside) on the image grid, the ROI name, and what to tell the user."""

    mask: sitk.Image
    roi: str
    warnings: tuple[str, ...]


def is_rtstruct(path: str | Path) -> bool:
    """True when ``path`` is a DICOM file of the RT Structure Set storage class (header only is read)."""
    try:
        dataset = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
    except (InvalidDicomError, OSError):
        return False
    return dataset.get("SOPClassUID") == RTSTRUCT_SOP_CLASS_UID or dataset.get("Modality") == "RTSTRUCT"


def rtstruct_roi_names(path: str | Path) -> list[str]:
    """The ROI names of a structure set, in file order."""
    return [str(item.get("ROIName", "")) for item in _read(Path(path)).get("StructureSetROISequence", [])]


def read_rtstruct_mask(path: str | Path, image: sitk.Image, roi: Optional[str] = None,
                       datasets: Sequence[Dataset] = ()) -> sitk.Image:
    """The ROI ``roi`` of ``path`` as a uint8 mask on ``image``'s grid (see ``read_rtstruct``)."""
    return read_rtstruct(path, image, roi, datasets).mask


def read_rtstruct(path: str | Path, image: sitk.Image, roi: Optional[str] = None,
                  datasets: Sequence[Dataset] = (), roi_option: str = ROI_OPTION) -> RtstructMask:
    """Rasterise one ROI of an RTSTRUCT onto ``image``'s grid by geometry (module docstring).

    ``roi`` may be omitted when the file holds one ROI; ``roi_option`` is where the user names it (said in
    the error listing the ROI names when it is absent, unknown or ambiguous). ``datasets`` are the image's
    DICOM headers (as ``LoadedImage.datasets``): with them the frame of reference is checked (a different one is refused: the
    coordinates would mean another patient position) and a warning says when the contours reference another
    series or other instances than the image's.
    """
    path = Path(path)
    structure_set = _read(path)
    if image.GetDimension() != 3:
        raise InputError(f"{path.name}: RTSTRUCT contours need a 3D image, got {image.GetDimension()}D")
    roi_item = _select_roi(structure_set, roi, path, roi_option)
    name = str(roi_item.ROIName)
    warnings = _reference_warnings(structure_set, roi_item, datasets, path)
    contours = _closed_planar_contours(structure_set, roi_item, path)
    if len(contours[1]):
        warnings.append(f"{path.name} ROI {name!r}: {len(contours[1])} contour(s) ignored "
                        f"({', '.join(sorted(set(contours[1])))}); only closed polygons enclose a volume")
    mask, placement_warnings = _rasterise(contours[0], image, f"{path.name} ROI {name!r}")
    return RtstructMask(mask, name, tuple(warnings + placement_warnings))


def _read(path: Path) -> Dataset:
    if not path.is_file():
        raise InputError(f"RTSTRUCT file {path} does not exist")
    try:
        dataset = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError) as error:
        raise DicomError(f"{path}: not a readable DICOM file ({error})") from None
    if dataset.get("SOPClassUID") != RTSTRUCT_SOP_CLASS_UID and dataset.get("Modality") != "RTSTRUCT":
        raise DicomError(f"{path}: SOPClassUID {dataset.get('SOPClassUID')} / Modality {dataset.get('Modality')} "
                         f"is not an RT Structure Set ({RTSTRUCT_SOP_CLASS_UID})")
    if not dataset.get("StructureSetROISequence"):
        raise DicomError(f"{path}: StructureSetROISequence (3006,0020) is missing or empty; no ROI to read")
    return dataset


def _select_roi(structure_set: Dataset, roi: Optional[str], path: Path, roi_option: str) -> Dataset:
    items = list(structure_set.StructureSetROISequence)
    names = [str(item.get("ROIName", "")) for item in items]
    listing = ", ".join(repr(name) for name in names)
    if roi is None:
        if len(items) == 1:
            return items[0]
        raise InputError(f"{path.name} holds {len(items)} ROIs ({listing}); name one with {roi_option}")
    matches = [item for item, name in zip(items, names) if name == roi]
    if not matches:
        matches = [item for item, name in zip(items, names) if name.casefold() == roi.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"{path.name} has no ROI named {roi!r}; its ROIs: {listing}")
    numbers = ", ".join(str(item.get("ROINumber")) for item in matches)
    raise InputError(f"{path.name} has {len(matches)} ROIs named {roi!r} (ROINumber {numbers}); its ROIs: {listing}")


def _reference_warnings(structure_set: Dataset, roi_item: Dataset, datasets: Sequence[Dataset],
                        path: Path) -> list[str]:
    """Refuse another frame of reference; warn when the contours were drawn on other images than these."""
    label = f"{path.name} ROI {roi_item.ROIName!r}"
    image_frame = next((str(ds.FrameOfReferenceUID) for ds in datasets if ds.get("FrameOfReferenceUID")), None)
    roi_frame = roi_item.get("ReferencedFrameOfReferenceUID")
    if image_frame is None or not roi_frame:
        return [f"{label}: frame of reference not checked (no FrameOfReferenceUID on "
                f"{'the image' if image_frame is None else 'the ROI'}); contours placed by their coordinates"]
    if str(roi_frame) != image_frame:
        raise DicomError(f"{label}: ReferencedFrameOfReferenceUID (3006,0024) differs from the image's "
                         f"FrameOfReferenceUID; its coordinates belong to another patient position (register first)")
    image_series = {str(ds.SeriesInstanceUID) for ds in datasets if ds.get("SeriesInstanceUID")}
    image_instances = {str(ds.SOPInstanceUID) for ds in datasets if ds.get("SOPInstanceUID")}
    referenced_series = {str(series.SeriesInstanceUID)
                         for frame in structure_set.get("ReferencedFrameOfReferenceSequence", [])
                         for study in frame.get("RTReferencedStudySequence", [])
                         for series in study.get("RTReferencedSeriesSequence", []) if series.get("SeriesInstanceUID")}
    referenced_instances = {str(image.ReferencedSOPInstanceUID)
                            for contour in _roi_contour_item(structure_set, roi_item, path).get("ContourSequence", [])
                            for image in contour.get("ContourImageSequence", [])
                            if image.get("ReferencedSOPInstanceUID")}
    if referenced_series and image_series and not referenced_series & image_series:
        return [f"{label}: the structure set references another series than the image (RTReferencedSeriesSequence); "
                f"contours placed by geometry in the shared frame of reference"]
    missing = referenced_instances - image_instances
    if missing and image_instances:
        return [f"{label}: {len(missing)} of {len(referenced_instances)} images the contours were drawn on are not "
                f"in this series (e.g. an uncropped original); contours placed by geometry"]
    return []


def _roi_contour_item(structure_set: Dataset, roi_item: Dataset, path: Path) -> Dataset:
    number = roi_item.get("ROINumber")
    for item in structure_set.get("ROIContourSequence", []):
        if item.get("ReferencedROINumber") == number:
            return item
    raise DicomError(f"{path.name} ROI {roi_item.ROIName!r}: no ROIContourSequence (3006,0039) item references "
                     f"ROINumber {number}; the ROI has no contours")


def _closed_planar_contours(structure_set: Dataset, roi_item: Dataset,
                            path: Path) -> tuple[list[np.ndarray], list[str]]:
    """(N x 3 LPS point arrays of the closed planar contours, what the others are: geometric type, or
    degenerate closed contours, which some writers emit for a lone voxel)."""
    closed: list[np.ndarray] = []
    others: list[str] = []
    for number, contour in enumerate(_roi_contour_item(structure_set, roi_item, path).get("ContourSequence", [])):
        kind = str(contour.get("ContourGeometricType", ""))
        if kind != "CLOSED_PLANAR":
            others.append(kind or "no type")
            continue
        values = np.asarray(contour.get("ContourData", []), dtype=float)
        if values.size % 3 or not np.all(np.isfinite(values)):
            raise DicomError(f"{path.name} ROI {roi_item.ROIName!r} contour {number + 1}: ContourData (3006,0050) "
                             f"has {values.size} values; expected finite (x, y, z) triplets")
        if values.size < 9:
            others.append("CLOSED_PLANAR of fewer than 3 points")  # a point or a line encloses nothing
            continue
        closed.append(values.reshape(-1, 3))
    if not closed:
        raise DicomError(f"{path.name} ROI {roi_item.ROIName!r}: no CLOSED_PLANAR contour; nothing encloses a volume")
    return closed, others


def _rasterise(contours: list[np.ndarray], image: sitk.Image, label: str) -> tuple[sitk.Image, list[str]]:
    """The even-odd fill of the contours on ``image``'s grid (module docstring), and placement warnings."""
    origin = np.asarray(image.GetOrigin())
    axes = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    indices = [np.linalg.solve(axes, (points - origin).T).T for points in contours]
    planes = np.empty(len(indices))
    for number, index in enumerate(indices):
        spread = np.ptp(index[:, 2])
        if spread > PLANE_TOLERANCE_SLICES:
            raise DicomError(f"{label} contour {number + 1} is not parallel to the image slices (it spans "
                             f"{spread:.2f} slices); contours drawn in another orientation cannot be placed")
        planes[number] = index[:, 2].mean()
    distinct = np.unique(np.round(planes, 3))
    step = float(np.median(np.diff(distinct))) if len(distinct) > 1 else 1.0
    size = image.GetSize()
    warnings: list[str] = []
    if abs(step - 1.0) <= SPACING_TOLERANCE:
        slices = np.rint(planes).astype(int)
        array = _fill(indices, slices, (size[2], size[1], size[0]))
        mask = sitk.GetImageFromArray(array)
        mask.CopyInformation(image)
    else:
        mask = _fill_on_contour_planes(indices, planes, distinct, step, image, label)
        warnings.append(f"{label}: contour planes are {step * image.GetSpacing()[2]:.3g} mm apart, the image slices "
                        f"{image.GetSpacing()[2]:.3g} mm; filled on the contour planes and resampled nearest-neighbour")
    outside = int(np.count_nonzero((planes < -0.5) | (planes > size[2] - 0.5)))
    if outside:
        warnings.append(f"{label}: {outside} of {len(contours)} contours lie outside the image's slices; "
                        f"the mask is cut at the image edge")
    in_plane = np.concatenate(indices)[:, :2]
    if np.any(in_plane < -0.5 - EDGE_TOLERANCE) or np.any(in_plane > np.asarray(size[:2]) - 0.5 + EDGE_TOLERANCE):
        warnings.append(f"{label}: contours reach past the image's in-plane edge; the mask is cut at the image edge")
    return mask, warnings


def _fill_on_contour_planes(indices: list[np.ndarray], planes: np.ndarray, distinct: np.ndarray, step: float,
                            image: sitk.Image, label: str) -> sitk.Image:
    """Fill on a grid whose slices are the contour planes, then resample onto ``image`` (nearest)."""
    positions = (planes - distinct[0]) / step
    slices = np.rint(positions).astype(int)
    if np.max(np.abs(positions - slices)) > PLANE_TOLERANCE_SLICES:
        raise DicomError(f"{label}: contour planes are unevenly spaced (median {step:.3g} slices apart); cannot "
                         f"tell which slab of the image each plane stands for")
    size = image.GetSize()
    planes_grid = sitk.GetImageFromArray(_fill(indices, slices, (int(slices.max()) + 1, size[1], size[0])))
    planes_grid.SetSpacing((*image.GetSpacing()[:2], image.GetSpacing()[2] * step))
    planes_grid.SetDirection(image.GetDirection())
    planes_grid.SetOrigin(image.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(distinct[0]))))
    return sitk.Resample(planes_grid, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _fill(indices: list[np.ndarray], slices: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 array (z, y, x): pixel centres inside by the even-odd rule over each slice's contours.

    For every row y = j crossed by an edge (half-open in y, so a vertex on the row counts once), the
    crossing's x is found and toggles the parity of pixels i >= x; the cumulative parity along the row is the
    inside test for all pixel centres of the plane's contours at once.
    """
    depth, rows, columns = shape
    array = np.zeros(shape, dtype=np.uint8)
    for plane in np.unique(slices):
        if not 0 <= plane < depth:
            continue
        toggles = np.zeros((rows, columns + 1), dtype=np.int32)
        edges = np.concatenate([_edges(indices[number]) for number in np.flatnonzero(slices == plane)])
        x0, y0, x1, y1 = edges.T
        first = np.clip(np.ceil(np.minimum(y0, y1)), 0, rows).astype(int)
        last = np.clip(np.ceil(np.maximum(y0, y1)), 0, rows).astype(int)  # rows j with low <= j < high
        counts = np.maximum(last - first, 0)
        edge = np.repeat(np.arange(len(edges)), counts)
        row = first[edge] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        x = x0[edge] + (row - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
        np.add.at(toggles, (row, np.clip(np.ceil(x), 0, columns).astype(int)), 1)
        array[plane] = (np.cumsum(toggles[:, :columns], axis=1) % 2).astype(np.uint8)
    return array


def _edges(index: np.ndarray) -> np.ndarray:
    """(N x 4) edges x0, y0, x1, y1 of a closed contour given as (N x 3) continuous indices."""
    x, y = index[:, 0], index[:, 1]
    return np.stack([x, y, np.roll(x, -1), np.roll(y, -1)], axis=1)
