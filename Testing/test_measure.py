"""Region statistics against IBSI reference values, analytic phantoms and brute-force SUVpeak."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.measure import align_mask, region_statistics

DATA = Path(__file__).resolve().parent / "Data"
IBSI = DATA / "ibsi_digital_phantom"
ONE_ML_RADIUS_MM = (3000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)   # 6.2035 mm


def _image(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_ibsi_digital_phantom_reference_values():
    image = sitk.ReadImage(str(IBSI / "image.nii.gz"))
    mask = sitk.ReadImage(str(IBSI / "mask.nii.gz"))
    stats = region_statistics(image, mask, with_peak=True)
    # IBSI 1 consensus values (reference_values.csv)
    assert stats.voxel_count == 74
    assert stats.volume_mm3 == pytest.approx(592.0)
    assert stats.volume_ml == pytest.approx(0.592)
    assert round(stats.mean, 2) == 2.15
    assert stats.median == 1.0 and stats.min == 1.0 and stats.max == 6.0
    assert round(stats.sd ** 2, 2) == 3.05            # IBSI variance: population (ddof = 0)
    assert round(stats.peak, 1) == 3.1                # IBSI "global intensity peak" (1 cm^3 sphere)


def test_statistics_match_plain_numpy_on_a_random_image():
    rng = np.random.default_rng(7)
    values = rng.normal(100.0, 15.0, size=(30, 40, 50))
    labels = np.zeros(values.shape, dtype=np.uint8)
    labels[5:12, 10:30, 3:9] = 1
    labels[20:28, 2:5, 40:49] = 2
    image, mask = _image(values, spacing=(0.8, 0.9, 2.5)), _image(labels, spacing=(0.8, 0.9, 2.5))
    for label in (1, 2):
        selected = values[labels == label]
        stats = region_statistics(image, mask, label=label, units="HU")
        assert stats.voxel_count == selected.size
        assert stats.volume_mm3 == pytest.approx(selected.size * 0.8 * 0.9 * 2.5)
        assert stats.mean == pytest.approx(selected.sum() / selected.size)
        assert stats.sd == pytest.approx(math.sqrt(((selected - selected.mean()) ** 2).mean()))
        ordered = np.sort(selected)
        for q, got in ((5, stats.p5), (25, stats.p25), (50, stats.median), (75, stats.p75), (95, stats.p95)):
            position = q / 100.0 * (ordered.size - 1)                  # Hyndman-Fan type 7
            low = int(math.floor(position))
            expected = ordered[low] + (position - low) * (ordered[min(low + 1, ordered.size - 1)] - ordered[low])
            assert got == pytest.approx(expected)
        assert (stats.min, stats.max) == (ordered[0], ordered[-1])
        assert stats.units == "HU" and stats.peak is None


def test_peak_of_a_uniform_sphere_larger_than_one_ml_is_its_value():
    # 12 mm radius sphere (7.2 mL) of SUV 4 in SUV 1 background, 1 mm voxels.
    z, y, x = np.mgrid[0:40, 0:40, 0:40]
    inside = (z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 <= 12 ** 2
    values = np.where(inside, 4.0, 1.0)
    stats = region_statistics(_image(values), _image(inside.astype(np.uint8)), with_peak=True)
    assert stats.peak == pytest.approx(4.0, abs=1e-9)
    # every voxel centre within 1 mL radius of the reported centre lies in the hot sphere
    center = np.asarray(stats.peak_center_lps)[::-1]
    near = (z - center[0]) ** 2 + (y - center[1]) ** 2 + (x - center[2]) ** 2 <= ONE_ML_RADIUS_MM ** 2
    assert inside[near].all() and inside[tuple(center.astype(int))]


def _brute_force_peak(values, lesion, spacing_xyz):
    """Mean over all voxels whose centre is within the 1 mL radius, for every lesion voxel (loops)."""
    spacing = np.asarray(spacing_xyz[::-1])
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in values.shape], indexing="ij"), axis=-1) * spacing
    best, best_index = -np.inf, None
    for index in zip(*np.nonzero(lesion)):
        distance = np.sqrt(((grid - grid[index]) ** 2).sum(axis=-1))
        mean = values[distance <= ONE_ML_RADIUS_MM].mean()
        if mean > best + 1e-12:
            best, best_index = mean, index
    return best, best_index


@pytest.mark.parametrize("spacing, corner", [((2.0, 2.0, 2.0), (6, 6, 6)), ((2.0, 2.5, 3.0), (0, 5, 7))])
def test_peak_of_a_small_hot_cube_matches_brute_force(spacing, corner):
    rng = np.random.default_rng(3)
    values = np.zeros((12, 14, 16))
    z, y, x = corner
    values[z:z + 2, y:y + 2, x:x + 3] = rng.uniform(5.0, 10.0, size=(2, 2, 3))
    lesion = values > 0
    lesion[z + 1, y, x] = True
    expected, index = _brute_force_peak(values, lesion, spacing)
    stats = region_statistics(_image(values, spacing), _image(lesion.astype(np.uint8), spacing), with_peak=True)
    assert stats.peak == pytest.approx(expected, rel=1e-9)
    assert stats.peak_center_lps == pytest.approx(tuple(i * s for i, s in zip(index[::-1], spacing)))


def test_empty_label_is_an_input_error():
    mask = _image(np.ones((3, 3, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="mask label 2 has no voxels in lesion.nii.gz"):
        region_statistics(_image(np.zeros((3, 3, 3))), mask, label=2, mask_name="lesion.nii.gz")


def test_statistics_refuse_a_mask_on_another_grid():
    with pytest.raises(InputError, match="not on the image grid"):
        region_statistics(_image(np.zeros((3, 3, 3))), _image(np.ones((3, 3, 3), np.uint8), spacing=(2, 2, 2)))


def test_align_mask_same_grid_within_tolerance_is_unchanged():
    image = _image(np.zeros((4, 5, 6)), spacing=(2.0, 2.0, 3.0))
    mask = _image(np.ones((4, 5, 6), np.uint8), spacing=(2.0, 2.0, 3.0), origin=(1e-4, 0.0, -1e-4))
    aligned, warnings = align_mask(mask, image)
    assert aligned is mask and warnings == []


def test_align_mask_resamples_an_overlapping_grid_nearest_neighbour():
    image = _image(np.zeros((20, 20, 20)))                       # 1 mm grid, centres at 0..19
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2, 2, 2] = 3
    mask = _image(labels, spacing=(2.0, 2.0, 2.0), origin=(0.5, 0.5, 0.5))   # 2 mm voxel 2 covers 4-5 mm
    aligned, warnings = align_mask(mask, image)
    array = sitk.GetArrayFromImage(aligned)
    assert len(warnings) == 1 and "resampled nearest-neighbour" in warnings[0]
    assert set(np.unique(array)) == {0, 3}
    assert np.array_equal(np.argwhere(array == 3), np.argwhere(np.pad(np.ones((2, 2, 2)), ((4, 14),) * 3)))
    assert region_statistics(image, aligned, label=3).voxel_count == 8


def test_align_mask_without_overlap_names_both_grids():
    image = _image(np.zeros((10, 10, 10)))
    mask = _image(np.ones((10, 10, 10), np.uint8), origin=(100.0, 0.0, 0.0))
    with pytest.raises(InputError, match=r"do not overlap.*mask grid size \(10, 10, 10\).*origin \(100, 0, 0\)"):
        align_mask(mask, image)
