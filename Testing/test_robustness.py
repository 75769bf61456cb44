"""Feature robustness (issue 15, section 3): perturbations, ICC(1,1) against the published Shrout & Fleiss
example, shape features of noiseless spheres, and what each perturbation does to a known mask."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.radiomics import build_extractor, run_extractor
from StandardSegLib.robustness.icc import icc_1_1
from StandardSegLib.robustness.perturbations import PerturbationSettings, estimate_noise_sd, perturb
from StandardSegLib.robustness.study import Lesion, RobustnessSettings, perturbation_study

SHAPE = {"setting": {"label": 1, "binWidth": 25}, "imageType": {"Original": {}},
         "featureClass": {"shape": ["MeshVolume", "SurfaceArea", "Maximum3DDiameter", "MajorAxisLength"]}}


def sphere(radius_mm: float, size: int = 48, spacing: float = 1.0, value: float = 100.0,
           noise_sd: float = 0.0, seed: int = 0) -> tuple[sitk.Image, sitk.Image]:
    """A sphere of ``value`` on zero (plus optional Gaussian noise) and its mask, centred, isotropic voxels."""
    axis = (np.arange(size) - (size - 1) / 2) * spacing
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    inside = x ** 2 + y ** 2 + z ** 2 <= radius_mm ** 2
    values = inside * value + np.random.default_rng(seed).normal(0, noise_sd, inside.shape) if noise_sd else inside * value
    image, mask = sitk.GetImageFromArray(values.astype(np.float32)), sitk.GetImageFromArray(inside.astype(np.uint8))
    for item in (image, mask):
        item.SetSpacing((spacing,) * 3)
    return image, mask


def test_icc_matches_shrout_fleiss_published_example():
    """Shrout & Fleiss (Psychol Bull 1979) Table 2: 6 targets x 4 judges, ICC(1,1) = .17; the 95 % CI
    [-0.13, 0.72] is pingouin's documented output for the same data."""
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    result = icc_1_1(ratings[None])
    assert round(float(result.icc[0]), 2) == 0.17
    assert (round(float(result.lower[0]), 2), round(float(result.upper[0]), 2)) == (-0.13, 0.72)


def test_icc_of_identical_repeats_is_one_and_of_pure_noise_about_zero():
    targets = np.arange(1.0, 9.0)
    identical = np.repeat(targets[None, :, None], 5, axis=2)
    noise = np.random.default_rng(1).normal(size=(200, 8, 5))
    assert icc_1_1(identical).icc[0] == 1.0
    assert abs(float(np.mean(icc_1_1(noise).icc))) < 0.05


def test_volume_adaptation_hits_the_drawn_volume_change():
    image, mask = sphere(10.0)
    settings = PerturbationSettings.from_spec("volume", volume_fraction=0.2)
    rng = np.random.default_rng(3)
    original = int(sitk.GetArrayViewFromImage(mask).sum())
    for _ in range(3):
        perturbed = perturb(image, mask, settings, rng)
        count = int(sitk.GetArrayViewFromImage(perturbed.mask).sum())
        expected = original * (1 + perturbed.drawn["volume_change"])
        assert abs(count - expected) <= 0.5


def test_noise_estimate_recovers_the_added_noise():
    image, _ = sphere(15.0, size=64, noise_sd=7.0)
    assert estimate_noise_sd(image) == pytest.approx(7.0, rel=0.05)


def test_rotation_and_translation_move_the_mask_rigidly():
    image, mask = sphere(10.0)
    settings = PerturbationSettings.from_spec("RT", rotation_deg=15, translation_fraction=0.5)
    perturbed = perturb(image, mask, settings, np.random.default_rng(0))
    moved = sitk.GetArrayViewFromImage(perturbed.mask).astype(bool)
    original = sitk.GetArrayViewFromImage(mask).astype(bool)
    assert abs(int(moved.sum()) - int(original.sum())) < 0.03 * original.sum()  # a sphere keeps its volume
    assert 2 * (moved & original).sum() / (moved.sum() + original.sum()) > 0.9  # and moved by < a voxel


def test_unknown_perturbation_is_named():
    with pytest.raises(InputError, match="'shear'"):
        PerturbationSettings.from_spec("rotation,shear")


def test_shape_features_of_noiseless_spheres_are_robust():
    """Five spheres of 6-14 mm radius, rotated, translated and noised 4 times: a sphere's shape does not change
    under these, so volume, surface, diameter and axis length have ICC(1,1) ~ 1. Adapting the volume (+-10 %) and
    randomising the contour do change the shape: the ICC drops, less than the between-sphere spread."""
    extractor = build_extractor(SHAPE, "test")
    lesions = [Lesion(f"sphere {radius}", *sphere(radius)) for radius in (6, 8, 10, 12, 14)]

    def extract(image, mask, name):
        return run_extractor(extractor, image, mask, label=1, source="test", mask_name=name)

    rigid = RobustnessSettings(perturbation=PerturbationSettings.from_spec("RTN"), repetitions=4, seed=7)
    result = perturbation_study(lesions, rigid, extract, "test")
    icc = {feature.name: feature.icc for feature in result.features}
    assert set(result.robust_features) == set(icc)
    assert min(icc.values()) > 0.995
    again = perturbation_study(lesions, rigid, extract, "test")  # the seed fixes every draw
    assert [feature.icc for feature in again.features] == [feature.icc for feature in result.features]
    every = perturbation_study(lesions, RobustnessSettings(repetitions=4, seed=7), extract, "test")
    assert all(0.9 < feature.icc < icc[feature.name] for feature in every.features)
