"""Report figures: zoomed orthogonal views around a lesion, PET over CT fusion and a PET MIP with markers.

Each view is resampled with SimpleITK onto a square display grid aligned with the patient axes, so
anisotropic voxels and oblique acquisitions show in true proportions, in the radiological convention: the
patient's right on the viewer's left, anterior up in axial views, superior up in coronal and sagittal views,
anterior on the left in sagittal views. Coordinates are DICOM patient coordinates (LPS, DICOM PS3.3
C.7.6.2.1.1). The plane through a lesion is its largest cross-section along that axis (as RECIST measures on
the axial slice of largest extent). Pixels come back as PNG bytes; orientation letters, slice position and
scale bar come back as numbers, for the page to draw as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.report.png import encode_png

DISPLAY_PIXELS = 220  # side of a lesion view in pixels
MIN_FIELD_MM = 60.0  # the smallest field of view around a lesion
#: Field of view = the lesion's largest extent x FIELD_PER_EXTENT + FIELD_MARGIN_MM: context on every side,
#: relatively more around small lesions.
FIELD_PER_EXTENT, FIELD_MARGIN_MM = 1.4, 20.0
MIP_WIDTH_PIXELS = 320
CONTOUR_RGB = (0, 200, 255)  # cyan: visible on inverted grey PET, on CT grey and on the hot colour scale
OUTSIDE_RGB = (70, 70, 70)  # display pixels outside the image volume
SCALE_BARS_MM = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
#: Window under a fused PET: soft tissue W400/L40 for CT (OHIF / 3D Slicer soft-tissue preset); MR uses
#: the 1st-99th percentile of the view.
CT_FUSION_WINDOW = (-160.0, 240.0)
FUSION_OPACITY = 0.7
#: The PET is transparent below this fraction of its window (SUV 1 in a 0-5 window: background) and reaches
#: full opacity this fraction higher (SUV 2.5), so the anatomy stays visible outside uptake.
FUSION_CLEAR, FUSION_RAMP = 0.2, 0.3


@dataclass(frozen=True)
class Plane:
    """An orthogonal plane: which LPS axis runs along the screen columns and rows (with sign), which is normal."""

    name: str
    column_axis: int
    row_axis: int
    row_sign: int  # -1: superior (+z) at the top
    normal_axis: int
    labels: tuple[str, str, str, str]  # left, right, top, bottom edges of the screen

    def direction(self) -> tuple[float, ...]:
        """SimpleITK direction (row-major; column j = LPS direction of output index axis j)."""
        matrix = np.zeros((3, 3))
        matrix[self.column_axis, 0] = 1.0
        matrix[self.row_axis, 1] = float(self.row_sign)
        matrix[self.normal_axis, 2] = 1.0
        return tuple(matrix.ravel())


PLANES = (
    Plane("axial", column_axis=0, row_axis=1, row_sign=1, normal_axis=2, labels=("R", "L", "A", "P")),
    Plane("coronal", column_axis=0, row_axis=2, row_sign=-1, normal_axis=1, labels=("R", "L", "S", "I")),
    Plane("sagittal", column_axis=1, row_axis=2, row_sign=-1, normal_axis=0, labels=("A", "P", "S", "I")),
)
AXIS_NAMES = ("x", "y", "z")
_GREY_LEVELS = 251  # palette 0-251: grey ramp; then the contour and the outside colour
_CONTOUR_INDEX, _OUTSIDE_INDEX = _GREY_LEVELS + 1, _GREY_LEVELS + 2
_PALETTE = np.vstack([np.repeat(np.rint(np.linspace(0, 255, _GREY_LEVELS + 1))[:, None], 3, axis=1),
                      [CONTOUR_RGB, OUTSIDE_RGB]]).astype(np.uint8)


@dataclass(frozen=True)
class Window:
    """Display window in image units; ``invert`` shows high values dark (PET read hot-is-dark)."""

    lower: float
    upper: float
    invert: bool = False

    def grey(self, values: np.ndarray) -> np.ndarray:
        """0-1 grey levels (NaN stays NaN)."""
        level = np.clip((values - self.lower) / (self.upper - self.lower), 0.0, 1.0)
        return 1.0 - level if self.invert else level


@dataclass(frozen=True)
class Underlay:
    """An anatomical image (CT or MR, same frame of reference, any grid) shown in grey under a fused PET.

    ``window`` None: each view uses its own 1st-99th intensity percentile (MR has no absolute scale).
    """

    image: sitk.Image
    modality: str
    window: Optional[Window]

    @classmethod
    def of(cls, image: sitk.Image, modality: str) -> "Underlay":
        return cls(image, modality, Window(*CT_FUSION_WINDOW) if modality == "CT" else None)


@dataclass(frozen=True)
class View:
    """One rendered plane: PNG bytes and what the page prints over it."""

    plane: Plane
    png: bytes
    pixels: int
    field_mm: float
    position_mm: float  # LPS coordinate of the plane along its normal axis
    scale_bar_mm: float
    fused: bool

    @property
    def position_text(self) -> str:
        return f"{AXIS_NAMES[self.plane.normal_axis]} = {self.position_mm:.1f} mm"


@dataclass(frozen=True)
class LesionFigure:
    """Views of one lesion (fused first when an anatomical image is given) and its voxel values."""

    views: tuple[View, ...]
    centre_lps: tuple[float, float, float]
    values: np.ndarray  # the lesion's voxel values (for its histogram)


@dataclass(frozen=True)
class Mip:
    """Coronal maximum-intensity projection; markers are (number, fraction from left, fraction from top)."""

    png: bytes
    width_pixels: int
    height_pixels: int
    width_mm: float
    height_mm: float
    markers: tuple[tuple[int, float, float], ...]


def lesion_figure(values: sitk.Image, mask: sitk.Image, window: Window,
                  underlay: Optional[Underlay] = None) -> LesionFigure:
    """Axial, coronal and sagittal views of ``mask`` (on the grid of ``values``) with its contour.

    With an ``underlay`` the views are fused first (the anatomy in grey, ``values`` on a hot colour scale over
    it), then the same views of ``values`` alone follow.
    """
    box_index, box_size = _bounding_box(mask)
    crop = sitk.GetArrayFromImage(sitk.RegionOfInterest(mask, box_size, box_index)) > 0
    lesion_values = sitk.GetArrayFromImage(sitk.RegionOfInterest(values, box_size, box_index))[crop]
    corners = np.array([mask.TransformContinuousIndexToPhysicalPoint(
        [box_index[a] - 0.5 + box_size[a] * corner[a] for a in range(3)])
        for corner in np.ndindex(2, 2, 2)])
    low, high = corners.min(axis=0), corners.max(axis=0)
    centre = (low + high) / 2.0
    field = max(MIN_FIELD_MM, FIELD_PER_EXTENT * float((high - low).max()) + FIELD_MARGIN_MM)
    index_axis = np.abs(np.asarray(mask.GetDirection()).reshape(3, 3)).argmax(axis=1)  # LPS axis -> index axis
    fused, plain = [], []
    for plane in PLANES:
        position = _largest_section(mask, crop, box_index, index_axis[plane.normal_axis], plane.normal_axis)
        origin, spacing = _plane_grid(plane, centre, position, field)
        plane_values = _sample(values, plane, origin, spacing)
        outline = _outline(_sample(mask, plane, origin, spacing) >= 0.5)  # NaN outside compares False
        if underlay is not None:
            png = _fused_png(_sample(underlay.image, plane, origin, spacing), plane_values, outline, underlay, window)
            fused.append(View(plane, png, DISPLAY_PIXELS, field, position, scale_bar_mm(field), True))
        plain.append(View(plane, _grey_png(plane_values, outline, window), DISPLAY_PIXELS, field, position,
                          scale_bar_mm(field), False))
    views = fused + plain
    return LesionFigure(tuple(views), tuple(float(c) for c in centre), lesion_values.astype(np.float64))


def pet_mip(values: sitk.Image, window: Window, centres_lps: Sequence[Sequence[float]]) -> Mip:
    """Coronal MIP of ``values`` (projection along anterior-posterior) with a marker per lesion centre."""
    oriented = values if np.allclose(values.GetDirection(), np.eye(3).ravel()) else sitk.DICOMOrient(values, "LPS")
    array = sitk.GetArrayViewFromImage(oriented)  # [z, y, x]
    projection = array.max(axis=1)[::-1]  # superior at the top
    spacing_x, _, spacing_z = oriented.GetSpacing()
    width_mm, height_mm = projection.shape[1] * spacing_x, projection.shape[0] * spacing_z
    width = MIP_WIDTH_PIXELS
    height = max(1, int(round(width * height_mm / width_mm)))
    rows = np.minimum((np.arange(height) + 0.5) * projection.shape[0] / height, projection.shape[0] - 1).astype(int)
    columns = np.minimum((np.arange(width) + 0.5) * projection.shape[1] / width, projection.shape[1] - 1).astype(int)
    grey = window.grey(projection[np.ix_(rows, columns)].astype(np.float64))
    rgb = np.repeat(np.rint(255.0 * grey).astype(np.uint8)[:, :, None], 3, axis=2)
    origin_x, _, origin_z = oriented.GetOrigin()
    left_mm, top_mm = origin_x - spacing_x / 2.0, origin_z + (array.shape[0] - 0.5) * spacing_z
    markers = tuple((number, (x - left_mm) / width_mm, (top_mm - z) / height_mm)
                    for number, (x, _, z) in enumerate(centres_lps, start=1))
    return Mip(encode_png(rgb), width, height, width_mm, height_mm, markers)


def scale_bar_mm(field_mm: float) -> float:
    """The longest round length (5, 10, 20, 50 ... mm) not above a quarter of the field of view."""
    fitting = [length for length in SCALE_BARS_MM if length <= field_mm / 4.0]
    return fitting[-1] if fitting else SCALE_BARS_MM[0]


def _bounding_box(mask: sitk.Image) -> tuple[list[int], list[int]]:
    """Index and size (x, y, z) of the box around every non-zero voxel: one pass over the mask for the slices
    that hold any, then only over those slices."""
    array = sitk.GetArrayViewFromImage(mask)
    slices = np.flatnonzero(array.reshape(array.shape[0], -1).any(axis=1))
    if not slices.size:
        raise ValueError("a lesion figure needs a mask with at least one voxel")
    slab = array[slices[0]:slices[-1] + 1]
    rows, columns = np.flatnonzero(slab.any(axis=(0, 2))), np.flatnonzero(slab.any(axis=(0, 1)))
    start = [int(columns[0]), int(rows[0]), int(slices[0])]
    end = [int(columns[-1]) + 1, int(rows[-1]) + 1, int(slices[-1]) + 1]
    return start, [e - s for s, e in zip(start, end)]


def _largest_section(mask: sitk.Image, crop: np.ndarray, box_index: Sequence[int], index_axis: int,
                     lps_axis: int) -> float:
    """LPS coordinate (along ``lps_axis``) of the mask slice with most voxels across image index axis ``index_axis``."""
    array_axis = 2 - index_axis
    areas = crop.sum(axis=tuple(a for a in range(3) if a != array_axis))
    index = [box_index[a] + crop.shape[2 - a] / 2.0 - 0.5 for a in range(3)]
    index[index_axis] = box_index[index_axis] + int(np.argmax(areas))
    return float(mask.TransformContinuousIndexToPhysicalPoint(index)[lps_axis])


def _plane_grid(plane: Plane, centre: np.ndarray, position: float, field: float) -> tuple[tuple[float, ...], float]:
    spacing = field / DISPLAY_PIXELS
    direction = np.asarray(plane.direction()).reshape(3, 3)
    point = centre.copy()
    point[plane.normal_axis] = position
    origin = point - (DISPLAY_PIXELS - 1) / 2.0 * spacing * (direction[:, 0] + direction[:, 1])
    return tuple(float(c) for c in origin), spacing


def _sample(image: sitk.Image, plane: Plane, origin: tuple[float, ...], spacing: float) -> np.ndarray:
    """The plane of ``image`` on the display grid (rows top to bottom), linearly interpolated; NaN outside."""
    sampled = sitk.Resample(image, [DISPLAY_PIXELS, DISPLAY_PIXELS, 1], sitk.Transform(), sitk.sitkLinear, origin,
                            (spacing, spacing, spacing), plane.direction(), float("nan"), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(sampled)[0]


def _grey_png(plane_values: np.ndarray, outline: np.ndarray, window: Window) -> bytes:
    """The view in grey as a palette image (a third of the bytes of RGB), contour and outside in colour."""
    indices = np.rint(_GREY_LEVELS * np.nan_to_num(window.grey(plane_values))).astype(np.uint8)
    indices[np.isnan(plane_values)] = _OUTSIDE_INDEX
    indices[outline] = _CONTOUR_INDEX
    return encode_png(indices, _PALETTE)


def _fused_png(plane_anatomy: np.ndarray, plane_values: np.ndarray, outline: np.ndarray, underlay: Underlay,
               window: Window) -> bytes:
    rgb = _fuse(plane_anatomy, plane_values, underlay.window, Window(window.lower, window.upper))
    pixels = np.rint(255.0 * np.nan_to_num(rgb)).astype(np.uint8)
    pixels[np.isnan(plane_anatomy)] = OUTSIDE_RGB
    pixels[outline] = CONTOUR_RGB
    return encode_png(pixels)


def _fuse(anatomy_plane: np.ndarray, values_plane: np.ndarray, anatomy_window: Optional[Window],
          window: Window) -> np.ndarray:
    """Anatomy in grey with ``values`` on a hot scale (black-red-yellow-white) over it, opacity rising with
    the value; RGB in 0-1."""
    if anatomy_window is None:
        finite = anatomy_plane[np.isfinite(anatomy_plane)]
        low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        anatomy_window = Window(float(low), float(high) if high > low else float(low) + 1.0)
    grey = np.repeat(anatomy_window.grey(anatomy_plane)[:, :, None], 3, axis=2)
    level = np.nan_to_num(window.grey(values_plane))
    hot = np.stack([np.clip(3 * level, 0, 1), np.clip(3 * level - 1, 0, 1), np.clip(3 * level - 2, 0, 1)], axis=2)
    alpha = (FUSION_OPACITY * np.clip((level - FUSION_CLEAR) / FUSION_RAMP, 0.0, 1.0))[:, :, None]
    return (1.0 - alpha) * grey + alpha * hot


def _outline(region: np.ndarray) -> np.ndarray:
    """Two-pixel outline: pixels of ``region`` with a 4-neighbour outside it, and their neighbour inwards."""
    padded = np.pad(region, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edge = region & ~interior
    thick = edge.copy()
    thick[1:, :] |= edge[:-1, :]
    thick[:, 1:] |= edge[:, :-1]
    return thick & region
