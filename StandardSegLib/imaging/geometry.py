"""Image geometry in the DICOM/ITK patient frame (LPS), independent of how the image was stored.

One small value type so that DICOM series, NRRD/NIfTI files and the image record all describe position the
same way ITK does: ``origin`` is the centre of voxel (0, 0, 0), ``spacing`` is (x, y, z) in mm and
``direction`` is the 3x3 matrix whose *columns* are the index axes expressed in LPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

Vector3 = tuple[float, float, float]
Matrix3 = tuple[Vector3, Vector3, Vector3]


@dataclass(frozen=True)
class ImageGeometry:
    """Size, origin, spacing and direction of a 3D image, as ITK stores them."""

    size: tuple[int, int, int]
    origin_mm: Vector3
    spacing_mm: Vector3
    direction: Matrix3

    @classmethod
    def from_itk(cls, source: sitk.Image | sitk.ImageFileReader) -> "ImageGeometry":
        """Geometry of an image or of a reader after ``ReadImageInformation`` (no pixels needed).

        2D images are given a third axis of one voxel (spacing 1 mm, identity direction) so every image in
        StandardSeg is 3D.
        """
        size = tuple(int(n) for n in source.GetSize())
        origin = tuple(float(v) for v in source.GetOrigin())
        spacing = tuple(float(v) for v in source.GetSpacing())
        dimension = len(size)
        direction = np.asarray(source.GetDirection(), dtype=float).reshape(dimension, dimension)
        if dimension == 2:
            size, origin, spacing = (*size, 1), (*origin, 0.0), (*spacing, 1.0)
            padded = np.eye(3)
            padded[:2, :2] = direction
            direction = padded
        return cls(size=size, origin_mm=origin, spacing_mm=spacing, direction=_matrix(direction))

    def index_to_physical_mm(self, index: tuple[float, float, float]) -> np.ndarray:
        """Physical position (LPS, mm) of a continuous index (i, j, k): origin + D · (spacing ⊙ index)."""
        direction = np.asarray(self.direction)
        return np.asarray(self.origin_mm) + direction @ (np.asarray(self.spacing_mm) * np.asarray(index))

    def apply_to(self, image: sitk.Image) -> None:
        """Set this geometry's origin, spacing and direction on ``image`` (whose size must match)."""
        image.SetOrigin(self.origin_mm)
        image.SetSpacing(self.spacing_mm)
        image.SetDirection(tuple(float(v) for v in np.asarray(self.direction).ravel()))


def _matrix(values: np.ndarray) -> Matrix3:
    rows = np.asarray(values, dtype=float).reshape(3, 3) + 0.0  # + 0.0 turns -0.0 into 0.0
    return tuple(tuple(float(v) for v in row) for row in rows)  # type: ignore[return-value]
