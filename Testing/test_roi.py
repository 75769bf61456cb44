"""ROI rasterisation checked against analytic geometry and brute-force voxel tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.roi import BoxROI, CylinderROI, SphereROI, parse_sphere, shape_mask
from rtstruct_factory import grid


def _image(size=(80, 80, 60), spacing=(1.0, 1.0, 1.0), origin=(-40.0, -40.0, -30.0), direction=None):
    return grid(size, spacing, origin, direction)


def _brute_force(image, inside):
    """Evaluate ``inside(point)`` at every voxel centre with SimpleITK's own index->physical transform."""
    size = image.GetSize()
    expected = np.zeros(size[::-1], dtype=bool)
    for k in range(size[2]):
        for j in range(size[1]):
            for i in range(size[0]):
                expected[k, j, i] = inside(np.array(image.TransformIndexToPhysicalPoint((i, j, k))))
    return expected


def test_sphere_volume_converges_to_analytic_value():
    # A 30 mm sphere on a 0.5 mm grid: voxel counting approximates 4/3 pi r^3 within 1 %.
    image = _image(size=(80, 80, 80), spacing=(0.5, 0.5, 0.5), origin=(-20.0, -20.0, -20.0))
    mask = sitk.GetArrayFromImage(shape_mask(image, SphereROI((0.0, 0.0, 0.0), 30.0)))
    volume_mm3 = mask.sum() * 0.125
    assert volume_mm3 == pytest.approx(4 / 3 * math.pi * 15.0 ** 3, rel=0.01)


def test_sphere_matches_brute_force_on_an_oblique_anisotropic_grid():
    angle = math.radians(20)
    direction = (math.cos(angle), -math.sin(angle), 0.0, math.sin(angle), math.cos(angle), 0.0, 0.0, 0.0, 1.0)
    image = _image(size=(24, 20, 12), spacing=(0.9, 1.1, 2.0), origin=(-10.0, -12.0, -11.0), direction=direction)
    centre, radius = np.array([1.5, -0.5, 0.7]), 6.0
    mask = sitk.GetArrayFromImage(shape_mask(image, SphereROI(tuple(centre), 2 * radius))).astype(bool)
    expected = _brute_force(image, lambda p: np.sum((p - centre) ** 2) <= radius ** 2)
    assert mask.sum() > 50
    assert np.array_equal(mask, expected)


def test_cylinder_and_box_match_brute_force():
    image = _image(size=(30, 30, 30), spacing=(1.0, 1.0, 1.5), origin=(-15.0, -15.0, -22.0))
    cylinder = CylinderROI((0.3, -0.2, 0.0), diameter_mm=10.0, length_mm=20.0)
    mask = sitk.GetArrayFromImage(shape_mask(image, cylinder)).astype(bool)
    expected = _brute_force(image, lambda p: (p[0] - 0.3) ** 2 + (p[1] + 0.2) ** 2 <= 25.0 and abs(p[2]) <= 10.0)
    assert np.array_equal(mask, expected)

    box = BoxROI((4.0, -3.0, 6.0), (-2.0, 5.0, -6.0))
    mask = sitk.GetArrayFromImage(shape_mask(image, box)).astype(bool)
    expected = _brute_force(image, lambda p: -2 <= p[0] <= 4 and -3 <= p[1] <= 5 and -6 <= p[2] <= 6)
    assert np.array_equal(mask, expected)
    assert mask.sum() == 7 * 9 * 8  # x: -2..4 (7), y: -3..5 (9), z: -5.5..5 at 1.5 mm from -22 (8 centres)


def test_mask_keeps_the_reference_geometry():
    image = _image(spacing=(0.8, 0.8, 2.5), origin=(-30.0, -30.0, -70.0))
    mask = shape_mask(image, SphereROI((0.0, 0.0, 0.0), 20.0))
    assert mask.GetSize() == image.GetSize()
    assert mask.GetOrigin() == image.GetOrigin() and mask.GetSpacing() == image.GetSpacing()


@pytest.mark.parametrize("shape, fragment", [
    (SphereROI((0.0, 0.0, 25.0), 20.0), "extends outside the image"),
    (SphereROI((500.0, 0.0, 0.0), 10.0), "extends outside the image"),
    (SphereROI((0.2, 0.2, 0.2), 0.2), "contains no voxel centre"),
])
def test_bad_rois_are_refused_with_a_reason(shape, fragment):
    with pytest.raises(InputError, match=fragment):
        shape_mask(_image(), shape)


def test_parse_sphere_accepts_lps_and_diameter_and_rejects_garbage():
    assert parse_sphere("10, -5.5,3,30") == SphereROI((10.0, -5.5, 3.0), 30.0)
    for text in ("1,2,3", "a,b,c,d", "1,2,3,-4", "1,2,3,nan"):
        with pytest.raises(InputError):
            parse_sphere(text)
