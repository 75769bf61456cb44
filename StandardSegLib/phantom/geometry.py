"""Analytic geometry of the synthetic demo phantom: a body, a liver, two lungs and the six NEMA spheres.

Everything here is exact geometry in DICOM patient coordinates (LPS, millimetres): +x towards the
patient's left, +y posterior, +z superior. Images are rasterised from it on axis-aligned grids, so the
truth (sphere volumes, region values) is known analytically and independently of any segmentation code.

Sphere diameters are those of the NEMA NU 2 / IEC 61675-1 body phantom (inner diameters 10, 13, 17, 22,
28, 37 mm; see design/standards.md §4). As in that phantom the spheres lie in one transverse plane on a
circle of radius 57.2 mm (IEC body phantom drawing; verify against the standard before relying on it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import SimpleITK as sitk

Point = tuple[float, float, float]

#: NEMA NU 2 / IEC body phantom sphere inner diameters, smallest first (design/standards.md §4).
NEMA_SPHERE_DIAMETERS_MM = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
#: Radius of the circle the IEC body phantom's sphere centres lie on (verify).
IEC_SPHERE_RING_RADIUS_MM = 57.2
#: PERCIST reference region: a 3 cm diameter sphere in the right liver lobe (Wahl 2009).
LIVER_REFERENCE_DIAMETER_MM = 30.0


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid: centre and semi-axes (x, y, z) in mm."""

    centre_lps_mm: Point
    semi_axes_mm: Point

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """True where the (broadcast) points lie inside or on the surface."""
        (cx, cy, cz), (a, b, c) = self.centre_lps_mm, self.semi_axes_mm
        return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0

    @property
    def volume_mm3(self) -> float:
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * math.pi * a * b * c


@dataclass(frozen=True)
class Sphere:
    """A sphere with an id (the label value of the lesion label maps) and its diameter in mm."""

    sphere_id: int
    diameter_mm: float
    centre_lps_mm: Point

    @property
    def radius_mm(self) -> float:
        return self.diameter_mm / 2.0

    @property
    def volume_mm3(self) -> float:
        """Analytic volume 4/3 pi r^3."""
        return 4.0 / 3.0 * math.pi * self.radius_mm ** 3

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        cx, cy, cz = self.centre_lps_mm
        return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= self.radius_mm ** 2


@dataclass(frozen=True)
class EllipticCylinder:
    """The body: an elliptical cylinder along z (infinite in z), centre and semi-axes (x, y) in mm."""

    centre_xy_mm: tuple[float, float]
    semi_axes_xy_mm: tuple[float, float]

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        (cx, cy), (a, b) = self.centre_xy_mm, self.semi_axes_xy_mm
        inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0
        return np.broadcast_to(inside, np.broadcast_shapes(np.shape(inside), np.shape(z)))


@dataclass(frozen=True)
class PhantomLayout:
    """Where every structure is. Later structures in ``regions()`` overwrite earlier ones."""

    body: EllipticCylinder
    liver: Ellipsoid
    lungs: tuple[Ellipsoid, Ellipsoid]
    spheres: tuple[Sphere, ...]
    liver_reference: Sphere

    def regions(self) -> Iterator[tuple[str, EllipticCylinder | Ellipsoid | Sphere]]:
        """(tissue name, shape) in painting order: body, liver, lungs, lesions."""
        yield "background", self.body
        yield "liver", self.liver
        for lung in self.lungs:
            yield "lung", lung
        for sphere in self.spheres:
            yield "lesion", sphere


def default_layout() -> PhantomLayout:
    """The demo layout: body 280 x 200 mm, liver on the patient's right, lungs above the sphere plane.

    The sphere ring is centred left of the midline with the smallest sphere nearest the liver, so every
    sphere keeps >= 10 mm (> 1.5 PET FWHM) of uniform background around it; ``Testing/test_phantom.py``
    checks the clearances.
    """
    ring_centre = (50.0, 0.0, -20.0)
    spheres = []
    for index, diameter in enumerate(NEMA_SPHERE_DIAMETERS_MM):
        angle = math.radians(180.0 + 60.0 * index)
        centre = (ring_centre[0] + IEC_SPHERE_RING_RADIUS_MM * math.cos(angle),
                  ring_centre[1] + IEC_SPHERE_RING_RADIUS_MM * math.sin(angle),
                  ring_centre[2])
        spheres.append(Sphere(sphere_id=index + 1, diameter_mm=diameter, centre_lps_mm=centre))
    return PhantomLayout(
        body=EllipticCylinder(centre_xy_mm=(0.0, 0.0), semi_axes_xy_mm=(140.0, 100.0)),
        liver=Ellipsoid(centre_lps_mm=(-75.0, 15.0, -20.0), semi_axes_mm=(50.0, 55.0, 30.0)),
        lungs=(Ellipsoid(centre_lps_mm=(-70.0, 15.0, 36.0), semi_axes_mm=(45.0, 55.0, 20.0)),
               Ellipsoid(centre_lps_mm=(70.0, 15.0, 36.0), semi_axes_mm=(45.0, 55.0, 20.0))),
        spheres=tuple(spheres),
        liver_reference=Sphere(sphere_id=0, diameter_mm=LIVER_REFERENCE_DIAMETER_MM,
                               centre_lps_mm=(-85.0, 15.0, -20.0)),
    )


@dataclass(frozen=True)
class Grid:
    """An axis-aligned voxel grid (identity direction): size and spacing (x, y, z), origin = first voxel centre."""

    size: tuple[int, int, int]
    spacing_mm: Point
    origin_lps_mm: Point

    @classmethod
    def centred(cls, extent_mm: Point, spacing_mm: Point) -> "Grid":
        """A grid of whole voxels covering at least ``extent_mm``, centred on the origin of LPS."""
        size = tuple(int(math.ceil(e / s - 1e-9)) for e, s in zip(extent_mm, spacing_mm))
        origin = tuple(-(n - 1) * s / 2.0 for n, s in zip(size, spacing_mm))
        return cls(size=size, spacing_mm=tuple(spacing_mm), origin_lps_mm=origin)

    def axes(self, oversampling: tuple[int, int, int] = (1, 1, 1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample coordinates along x, y, z: the voxel centres, or ``oversampling[axis]`` evenly spaced
        sub-voxel centres per voxel along each axis."""
        coordinates = []
        for n, s, o, m in zip(self.size, self.spacing_mm, self.origin_lps_mm, oversampling):
            offsets = (np.arange(m) + 0.5) / m - 0.5
            coordinates.append((o + s * (np.arange(n)[:, None] + offsets[None, :])).ravel())
        return tuple(coordinates)

    def refined(self, factors: tuple[int, int, int]) -> "Grid":
        """The grid of sub-voxels: each voxel split ``factors`` times along each axis (same physical extent)."""
        spacing = tuple(s / f for s, f in zip(self.spacing_mm, factors))
        origin = tuple(o - s / 2.0 + t / 2.0 for o, s, t in zip(self.origin_lps_mm, self.spacing_mm, spacing))
        return Grid(size=tuple(n * f for n, f in zip(self.size, factors)), spacing_mm=spacing, origin_lps_mm=origin)

    def image_from_array(self, array_zyx: np.ndarray) -> sitk.Image:
        """Wrap a (z, y, x) array as a SimpleITK image on this grid."""
        image = sitk.GetImageFromArray(array_zyx)
        image.SetSpacing(self.spacing_mm)
        image.SetOrigin(self.origin_lps_mm)
        return image


def paint(layout: PhantomLayout, values: dict[str, float], x: np.ndarray, y: np.ndarray,
          z: np.ndarray) -> np.ndarray:
    """Piecewise-constant tissue values at the broadcast points (z[:, None, None], y[None, :, None], ...).

    ``values`` maps "air" (outside the body) and each tissue of ``PhantomLayout.regions`` to a value.
    """
    shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z))
    out = np.full(shape, values["air"], dtype=np.float64)
    for tissue, region in layout.regions():
        out[region.contains(x, y, z)] = values[tissue]
    return out


def oversampling_for(grid: Grid, sub_voxel_mm: float = 1.0) -> tuple[int, int, int]:
    """Sub-samples per axis so that sub-voxels are at most ``sub_voxel_mm`` wide."""
    return tuple(max(1, math.ceil(s / sub_voxel_mm - 1e-9)) for s in grid.spacing_mm)


def block_mean(array_zyx: np.ndarray, factors_xyz: tuple[int, int, int]) -> np.ndarray:
    """Average non-overlapping blocks of ``factors_xyz`` sub-voxels (x, y, z) into one voxel."""
    fx, fy, fz = factors_xyz
    nz, ny, nx = (n // f for n, f in zip(array_zyx.shape, (fz, fy, fx)))
    return array_zyx.reshape(nz, fz, ny, fy, nx, fx).mean(axis=(1, 3, 5))


def sample_volume(grid: Grid, layout: PhantomLayout, values: dict[str, float],
                  oversampling: tuple[int, int, int] = (1, 1, 1), max_points: int = 2_000_000) -> np.ndarray:
    """(z, y, x) array of tissue values on ``grid``, each voxel the mean of its sub-voxel samples.

    With no oversampling each voxel takes the value at its centre (no partial volume); with oversampling
    it gets the partial-volume mix of tissues a scanner would see. Evaluated in slabs of whole slices so
    memory stays bounded whatever the grid.
    """
    x, y, z = grid.axes(oversampling)
    nx, ny, nz = grid.size
    slab = max(1, max_points // (x.size * y.size * oversampling[2]))
    out = np.empty((nz, ny, nx), dtype=np.float64)
    for k0 in range(0, nz, slab):
        k1 = min(k0 + slab, nz)
        sub = paint(layout, values, x[None, None, :], y[None, :, None],
                    z[k0 * oversampling[2]:k1 * oversampling[2], None, None])
        out[k0:k1] = block_mean(sub, oversampling)
    return out


def label_map(grid: Grid, spheres: tuple[Sphere, ...]) -> np.ndarray:
    """(z, y, x) uint8 label array: voxel = sphere id where its centre lies inside the sphere, else 0.

    The voxel-centre rule is partial-volume free: the voxelised volume is the voxel count times the voxel
    volume, which converges to 4/3 pi r^3 as the grid gets finer.
    """
    x, y, z = grid.axes()
    labels = np.zeros(grid.size[::-1], dtype=np.uint8)
    for sphere in spheres:
        labels[sphere.contains(x[None, None, :], y[None, :, None], z[:, None, None])] = sphere.sphere_id
    return labels
