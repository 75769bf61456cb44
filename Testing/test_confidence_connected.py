"""Confidence connected run step by step (``region_growing.confidence_connected``) against ITK's own
ConfidenceConnectedImageFilter, the second implementation: the same mask, mean and variance on the real
CT and MR of the three sarcoma patients (crops around the seed, 4.5 and 2.5 x SD), on integer pixels, with
several seeds and a seed at the image corner (ITK's zero-flux neighbourhood). Then the cap: a leak stops
re-growing once its region exceeds the maximum, and the engine writes it flagged, without post-processing.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.protocols import load_library
from StandardSegLib.segmentation import segment
from StandardSegLib.segmentation.region_growing import ConfidenceParameters, confidence_connected
from real_sts import PATIENTS, PROTOCOLS, load_case, passing_verdict


def itk_filter(image, seeds, parameters):
    grower = sitk.ConfidenceConnectedImageFilter()
    grower.SetSeedList([list(seed) for seed in seeds])
    grower.SetMultiplier(parameters.multiplier)
    grower.SetNumberOfIterations(parameters.iterations)
    grower.SetInitialNeighborhoodRadius(parameters.initial_radius)
    grower.SetReplaceValue(1)
    mask = grower.Execute(image)
    return sitk.GetArrayFromImage(mask), grower.GetMean(), grower.GetVariance()


def assert_same_as_itk(image, seeds, parameters):
    expected, mean, variance = itk_filter(image, seeds, parameters)
    growth = confidence_connected(image, seeds, parameters)
    found = sitk.GetArrayFromImage(growth.mask)
    assert expected.sum() > 0
    assert np.array_equal(found != 0, expected != 0), f"{np.count_nonzero((found != 0) != (expected != 0))} voxels differ"
    assert growth.mean == pytest.approx(mean, rel=1e-12)
    assert growth.variance == pytest.approx(variance, rel=1e-9)
    assert not growth.stopped_at_cap


def seed_crop(case, half_size=(40, 40, 12)):
    """The real image around the case's seed (a leak in the whole image takes ITK seconds per run)."""
    image = case.image
    seed = image.TransformPhysicalPointToIndex(case.seed_lps)
    start = [max(0, s - h) for s, h in zip(seed, half_size)]
    size = [min(n, s + h + 1) - b for s, h, n, b in zip(seed, half_size, image.GetSize(), start)]
    return sitk.RegionOfInterest(image, size, start), tuple(s - b for s, b in zip(seed, start))


@pytest.mark.parametrize("patient", PATIENTS)
@pytest.mark.parametrize("modality", ["CT", "MR_T1"])
@pytest.mark.parametrize("multiplier", [2.5, 4.5])
def test_same_mask_mean_and_variance_as_itk_on_real_ct_and_mr(patient, modality, multiplier):
    crop, seed = seed_crop(load_case(patient, modality))
    assert_same_as_itk(crop, [seed], ConfidenceParameters(multiplier=multiplier, iterations=4, initial_radius=1))


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_same_as_itk_with_several_seeds_integer_pixels_and_a_corner_seed(radius):
    crop, seed = seed_crop(load_case("STS_002", "CT"))
    integer = sitk.Cast(sitk.Round(crop), sitk.sitkInt16)
    corner = (0, 0, 0)
    second = tuple(min(s + 3, n - 1) for s, n in zip(seed, crop.GetSize()))
    parameters = ConfidenceParameters(multiplier=2.5, iterations=3, initial_radius=radius)
    seeds = [seed, second] if radius == 0 else [seed, second, corner]
    assert_same_as_itk(integer, seeds, parameters)
    assert_same_as_itk(crop, seeds, parameters)


def test_region_above_the_cap_stops_re_estimating():
    crop, seed = seed_crop(load_case("STS_001", "CT"))
    parameters = ConfidenceParameters(multiplier=4.5, iterations=4, initial_radius=1)
    full = confidence_connected(crop, [seed], parameters)
    first_growth = confidence_connected(crop, [seed], ConfidenceParameters(4.5, 0, 1))
    first_count = int(sitk.GetArrayViewFromImage(first_growth.mask).sum())
    capped = confidence_connected(crop, [seed], parameters, max_voxels=first_count - 1)
    assert capped.stopped_at_cap and capped.iterations == 0
    assert np.array_equal(sitk.GetArrayFromImage(capped.mask), sitk.GetArrayFromImage(first_growth.mask))
    assert full.iterations == 4 and not full.stopped_at_cap
    assert not confidence_connected(crop, [seed], parameters, max_voxels=crop.GetNumberOfPixels()).stopped_at_cap


def test_engine_writes_a_capped_leak_flagged_and_not_post_processed():
    """STS_001 CT: ITK's multiplier 4.5 floods muscle and fat (the issue's 3.6 L). The leak stops at the
    protocol's maximum lesion volume and is written with its flags; the steps say post-processing was skipped."""
    case = load_case("STS_001", "CT")
    protocol = load_library().get(PROTOCOLS["CT"])
    result = segment(case.image, protocol=protocol, verdict=passing_verdict(protocol), method="confidence-connected",
                     units=case.units, seeds_lps=[case.seed_lps], parameters={"multiplier": 4.5})
    provenance = result.provenance
    assert {"growth_capped", "volume_above_max"} <= {flag.code for flag in provenance.flags}
    assert provenance.volume_mm3 / 1000.0 > protocol.document["segmentation"]["max_lesion_volume_ml"]
    assert provenance.details["iterations_done"] < 4
    assert [step.name for step in provenance.steps[1:]] == [
        "post-processing skipped: the region outgrew the maximum lesion volume"]


def test_a_uniform_region_grows_over_exactly_its_value():
    """A seed in a constant region (variance 0): the range is that value, so the growth keeps the region and
    stops at the first other value (ITK's filter stops re-estimating there too)."""
    values = np.full((12, 12, 12), 0.1, dtype=np.float32)
    values[:, :, 6:] = 0.3
    image = sitk.GetImageFromArray(values)
    parameters = ConfidenceParameters(multiplier=2.5, iterations=4, initial_radius=1)
    growth = confidence_connected(image, [(2, 5, 5)], parameters)
    assert np.array_equal(sitk.GetArrayFromImage(growth.mask) != 0, values == np.float32(0.1))
    assert_same_as_itk(image, [(2, 5, 5)], parameters)
