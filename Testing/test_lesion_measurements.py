"""Lesion measurements against analytic shapes: sphere and ellipsoid volumes, diameters and surface area, a
rectangular cross-section's exact long axis, TLG = SUVmean x MTV computed independently, reference ratios."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.lesion_measurements import measure_lesion, reference_ratios


def images(labels: np.ndarray, spacing_xyz, values=None, origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(np.zeros(labels.shape, np.float32) if values is None else values)
    mask = sitk.GetImageFromArray(labels.astype(np.uint8))
    for item in (image, mask):
        item.SetSpacing(spacing_xyz)
        item.SetOrigin(origin)
    return image, mask


def ellipsoid(shape_zyx, spacing_xyz, centre_zyx, semi_axes_mm_xyz, angle_deg=0.0) -> np.ndarray:
    """Voxels whose centres lie in an ellipsoid (x/y semi-axes rotated by ``angle_deg`` in the slice plane)."""
    z, y, x = np.indices(shape_zyx, dtype=np.float64)
    u, v, w = ((x - centre_zyx[2]) * spacing_xyz[0], (y - centre_zyx[1]) * spacing_xyz[1],
               (z - centre_zyx[0]) * spacing_xyz[2])
    t = math.radians(angle_deg)
    along, across = u * math.cos(t) + v * math.sin(t), -u * math.sin(t) + v * math.cos(t)
    a, b, c = semi_axes_mm_xyz
    return (along / a) ** 2 + (across / b) ** 2 + (w / c) ** 2 <= 1.0


@pytest.mark.parametrize("radius_mm", [6.0, 10.0])
def test_sphere(radius_mm):
    """Every mesh vertex / outline point is the midpoint between a voxel centre inside the sphere and a
    neighbour outside, so it lies within s/2 of the surface: diameters are within 2r +- s (s = 1 mm here).
    Voxel counting converges to 4/3 pi r^3 (within 1.5 % at r >= 6 voxels); the marching-cubes mesh of a
    binary mask is a staircase whose area exceeds 4 pi r^2 by about 8 % (IBSI: mesh areas of voxelised
    objects are overestimates), so the stated tolerance is 0 to +10 %; mesh volume within 2.5 %."""
    rng = np.random.default_rng(int(radius_mm))
    spacing = (1.0, 1.0, 1.0)
    centre = np.array([16.0, 16.0, 16.0]) + rng.uniform(-0.5, 0.5, 3)
    labels = ellipsoid((33, 33, 33), spacing, centre, (radius_mm,) * 3)
    result = measure_lesion(*images(labels, spacing))
    volume, area = 4.0 / 3.0 * math.pi * radius_mm ** 3, 4.0 * math.pi * radius_mm ** 2
    assert result.voxel_count == int(labels.sum())
    assert result.volume_voxels_mm3 == pytest.approx(volume, rel=0.015)
    assert result.volume_mesh_mm3 == pytest.approx(volume, rel=0.025)
    assert 1.0 <= result.surface_area_mesh_mm2 / area <= 1.10
    assert 2 * radius_mm - 1.0 < result.max_3d_diameter_mm <= 2 * radius_mm + 1.0
    assert 2 * radius_mm - 1.0 < result.axial.long_axis_mm <= 2 * radius_mm + 1.0
    assert 2 * radius_mm - 1.0 < result.axial.short_axis_mm <= 2 * radius_mm + 1.0
    assert result.axial.long_axis_mm <= result.max_3d_diameter_mm + 1e-9
    assert abs(result.axial.slice_index - centre[0]) <= 1.0


def test_mesh_values_equal_pyradiomics_shape_features():
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    spacing = (0.7, 0.9, 2.5)
    labels = ellipsoid((14, 40, 40), spacing, (7, 20, 19), (9.0, 7.0, 11.0), angle_deg=20)
    image, mask = images(labels, spacing, values=np.ones(labels.shape, np.float32))
    result = measure_lesion(image, mask)
    shape = RadiomicsFeatureExtractor({"featureClass": {"shape": ["MeshVolume", "SurfaceArea",
                                                                  "Maximum3DDiameter"]}}).execute(image, mask)
    assert result.volume_mesh_mm3 == pytest.approx(float(shape["original_shape_MeshVolume"]), rel=1e-12)
    assert result.surface_area_mesh_mm2 == pytest.approx(float(shape["original_shape_SurfaceArea"]), rel=1e-12)
    assert result.max_3d_diameter_mm == pytest.approx(float(shape["original_shape_Maximum3DDiameter"]), rel=1e-12)


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, 115.0])
def test_ellipsoid_axial_diameters_anisotropic(angle_deg):
    """Semi-axes a, b, c = 20, 8, 8 mm on 0.8 x 0.8 x 2 mm voxels (s = 0.8 mm in plane): the central slice
    (index 15) is measured; long axis 2a = 40 mm within s (outline points lie within s/2 of the ellipse), short
    axis 2b = 16 mm within s of the ellipse's width perpendicular to the measured long axis. Direction: the
    measured long axis is at least 2a - s long and at most s longer than the ellipse's diameter
    D(t) = 2ab / sqrt(b^2 cos^2 t + a^2 sin^2 t) in its direction, so D(t) >= 2a - 2s bounds the angle t to the
    major axis."""
    spacing, (a, b, c), s = (0.8, 0.8, 2.0), (20.0, 8.0, 8.0), 0.8
    labels = ellipsoid((31, 80, 100), spacing, (15, 40, 50), (a, b, c), angle_deg)
    result = measure_lesion(*images(labels, spacing, origin=(-10.0, 5.0, 30.0)))
    axial = result.axial
    assert axial.slice_index == 15
    assert abs(axial.long_axis_mm - 2 * a) <= s + 1e-9
    (x0, y0, z0), (x1, y1, z1) = axial.long_axis_end_points_lps
    assert z0 == z1 == pytest.approx(30.0 + 15 * 2.0)
    assert math.hypot(x1 - x0, y1 - y0) == pytest.approx(axial.long_axis_mm, rel=1e-12)
    direction = math.degrees(math.atan2(y1 - y0, x1 - x0)) % 180.0
    deviation = min(abs(direction - angle_deg % 180), 180 - abs(direction - angle_deg % 180))
    sin2_max = ((a * b / (a - s)) ** 2 - b * b) / (a * a - b * b)
    assert deviation <= math.degrees(math.asin(math.sqrt(sin2_max)))  # 7.3 degrees here
    # short axis: the ellipse's width perpendicular to the measured long axis, 2 sqrt(a^2 sin^2 + b^2 cos^2), +- s
    t = math.radians(deviation)
    width = 2 * math.sqrt((a * math.sin(t)) ** 2 + (b * math.cos(t)) ** 2)
    assert 2 * b - s - 1e-9 <= axial.short_axis_mm <= width + s + 1e-9
    assert 2 * a - s < result.max_3d_diameter_mm <= 2 * a + 2.0  # 2.0: the coarsest spacing (slices)


def test_rectangle_long_axis_is_exact():
    """For a W x H pixel rectangle the outline points are the pixel-edge midpoints, so the long axis is the
    largest of hypot(W sx, (H-1) sy), hypot((W-1) sx, H sy) and hypot((W-1/2) sx, (H-1/2) sy)."""
    spacing = (0.6, 1.1, 3.0)
    labels = np.zeros((5, 20, 30), bool)
    labels[1:4, 4:11, 5:25] = True  # W = 20 columns, H = 7 rows
    labels[2, 4:15, 5:25] = True  # slice 2: H = 11 rows, the largest
    result = measure_lesion(*images(labels, spacing))
    sx, sy = spacing[:2]
    width, height = 20, 11
    expected = max(math.hypot(width * sx, (height - 1) * sy), math.hypot((width - 1) * sx, height * sy),
                   math.hypot((width - 0.5) * sx, (height - 0.5) * sy))
    assert result.axial.slice_index == 2
    assert result.axial.long_axis_mm == pytest.approx(expected, rel=1e-12)


def test_ties_go_to_the_lower_slice():
    labels = np.zeros((6, 10, 10), bool)
    labels[1:5, 2:8, 3:7] = True
    assert measure_lesion(*images(labels, (1.0, 1.0, 1.0))).axial.slice_index == 1


def test_pet_uptake_and_tlg_computed_independently():
    """A uniform SUV-5 sphere (radius 12 mm, larger than the 6.2 mm SUVpeak sphere) on a gradient: SUVpeak
    = 5 exactly; SUVmax/mean/MTV/TLG from numpy here."""
    spacing = (2.0, 2.0, 2.0)
    labels = ellipsoid((24, 24, 24), spacing, (12, 12, 12), (12.0, 12.0, 12.0))
    z = np.indices(labels.shape)[0]
    values = np.where(labels, 5.0, 1.0 + 0.01 * z).astype(np.float32)
    values[12, 12, 12] = 6.5  # one hot voxel: SUVmax, and the peak sphere around it is the highest
    image, mask = images(labels, spacing, values)
    result = measure_lesion(image, mask, units="SUVbw")
    inside = values[labels].astype(np.float64)
    mtv_ml = labels.sum() * 8.0 / 1000.0
    uptake = result.uptake
    assert uptake.units == "SUVbw"
    assert uptake.suv_max == 6.5 and uptake.suv_mean == pytest.approx(inside.mean(), rel=1e-12)
    assert uptake.mtv_ml == pytest.approx(mtv_ml, rel=1e-12)
    assert uptake.mtv_ml == pytest.approx(result.volume_voxels_mm3 / 1000.0, rel=1e-12)
    assert uptake.tlg_suv_ml == pytest.approx(inside.mean() * mtv_ml, rel=1e-12)
    peak_voxels = int((ellipsoid(labels.shape, spacing, (12, 12, 12), (6.2035,) * 3)).sum())
    assert uptake.suv_peak == pytest.approx((5.0 * (peak_voxels - 1) + 6.5) / peak_voxels, rel=1e-9)
    assert measure_lesion(image, mask).uptake is None


def test_reference_ratios():
    spacing = (2.0, 2.0, 2.0)
    labels = ellipsoid((20, 20, 20), spacing, (10, 10, 10), (9.0, 9.0, 9.0))
    values = np.where(labels, 8.0, 1.0).astype(np.float32)
    lesion = measure_lesion(*images(labels, spacing, values), units="SUVbw")
    ratios = reference_ratios(lesion, "liver", 2.0, "SUVbw")
    assert (ratios.max_ratio, ratios.mean_ratio) == (4.0, 4.0)
    assert ratios.peak_ratio == pytest.approx(lesion.uptake.suv_peak / 2.0)
    with pytest.raises(InputError, match="reference tissue 'liver' is in raw, the lesion in SUVbw"):
        reference_ratios(lesion, "liver", 2.0, "raw")
    with pytest.raises(InputError, match="mean is 0"):
        reference_ratios(lesion, "liver", 0.0, "SUVbw")


def test_oblique_slices_warn_and_inputs_unchanged():
    labels = np.zeros((6, 12, 12), bool)
    labels[2:4, 3:9, 3:9] = True
    image, mask = images(labels, (1.0, 1.0, 1.0))
    angle = math.radians(30)
    direction = (1, 0, 0, 0, math.cos(angle), -math.sin(angle), 0, math.sin(angle), math.cos(angle))
    for item in (image, mask):
        item.SetDirection(direction)
    before = sitk.GetArrayFromImage(mask).copy()
    result = measure_lesion(image, mask)
    assert result.warnings and "30.0 degrees from axial" in result.warnings[0]
    assert np.array_equal(sitk.GetArrayFromImage(mask), before) and mask.GetDirection() == direction


def test_bad_input():
    labels = np.zeros((4, 6, 6), bool)
    labels[1, 2, 2] = True
    image, mask = images(labels, (1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="mask label 2 has no voxels in lesion.nii"):
        measure_lesion(image, mask, 2, mask_name="lesion.nii")
    with pytest.raises(InputError, match="need a 3D image"):
        measure_lesion(image[:, :, 0], mask[:, :, 0])
    shifted = sitk.Image(mask)
    shifted.SetOrigin((5.0, 0.0, 0.0))
    with pytest.raises(InputError, match="not on the image grid"):
        measure_lesion(image, shifted)
