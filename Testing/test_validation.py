"""Validation metrics against analytic overlaps: concentric spheres, shifted boxes, a resampled reference."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.validation import compare_masks


def _mask(array: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing)
    return image


def _ball(shape: tuple[int, int, int], radius_voxels: float) -> np.ndarray:
    grid = np.indices(shape) - (np.asarray(shape)[:, None, None, None] - 1) / 2.0
    return (grid ** 2).sum(axis=0) <= radius_voxels ** 2


def test_concentric_balls_dice_and_hausdorff():
    """Inner ball inside the outer: Dice = 2|inner| / (|inner| + |outer|); Hausdorff = the radius gap."""
    inner, outer = _ball((61, 61, 61), 12), _ball((61, 61, 61), 20)
    result = compare_masks(_mask(inner, (2.0, 2.0, 2.0)), _mask(outer, (2.0, 2.0, 2.0)), "inner", "outer")
    assert result.dice == pytest.approx(2 * inner.sum() / (inner.sum() + outer.sum()), rel=1e-12)
    assert result.jaccard == pytest.approx(inner.sum() / outer.sum(), rel=1e-12)
    # Analytic continuum value 2 r1^3 / (r1^3 + r2^3) within voxelisation error.
    assert result.dice == pytest.approx(2 * 12 ** 3 / (12 ** 3 + 20 ** 3), rel=0.02)
    assert result.hausdorff_mm == pytest.approx(2.0 * 8, abs=2.0 * 1.0)
    assert result.volume_ml == pytest.approx(inner.sum() * 8 / 1000.0)
    assert result.volume_difference_percent == pytest.approx(100.0 * (inner.sum() - outer.sum()) / outer.sum())


def test_shifted_boxes():
    a = np.zeros((20, 20, 20), bool)
    b = np.zeros_like(a)
    a[5:15, 5:15, 5:15] = True
    b[5:15, 5:15, 8:18] = True  # shifted 3 voxels in x
    result = compare_masks(_mask(a), _mask(b), "a", "b")
    assert result.dice == pytest.approx(2 * 700 / 2000)
    assert result.hausdorff_mm == pytest.approx(3.0)


def test_reference_label_and_grid_note():
    a = np.zeros((10, 10, 10), np.uint8)
    a[2:5, 2:5, 2:5] = 1
    labels = np.zeros_like(a)
    labels[2:5, 2:5, 2:5] = 2
    labels[6:9, 6:9, 6:9] = 1
    reference = _mask(labels)
    reference.SetOrigin((0.25, 0.0, 0.0))  # a quarter voxel off: resampled, and the note says so
    result = compare_masks(_mask(a), reference, "a", "labels.nrrd", reference_label=2)
    assert result.dice == pytest.approx(1.0)
    assert any("labels.nrrd" in note for note in result.notes)


def test_empty_mask_is_refused_by_name():
    empty = np.zeros((5, 5, 5), bool)
    full = np.ones((5, 5, 5), bool)
    with pytest.raises(InputError, match="'nothing'"):
        compare_masks(_mask(empty), _mask(full), "nothing", "full")
