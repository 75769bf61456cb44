"""Accuracy table of every segmentation method on the NEMA spheres (10-37 mm) of the synthetic study.

CT: partial-volume sampled, white noise 10 HU, not blurred (lesion 120 HU in 40 HU soft tissue). PET: 6 mm
FWHM Gaussian PSF, 4 mm voxels, 10 % noise, 4:1 and 10:1 sphere-to-background. Reference: the analytic
sphere volume 4/3 pi r^3 (independent of any voxelisation). Background for A50P/contrast: mean of a 30 mm
sphere of uniform soft tissue measured with ``region_statistics``; PERCIST uses the liver reference sphere.
The table is printed (``pytest -s`` or the test log); the asserted targets are those of issue 5.
"""

from __future__ import annotations

import math

import pytest

from StandardSegLib.errors import InputError
from StandardSegLib.gate import GateVerdict
from StandardSegLib.gate.reference_tissue import reference_measurement
from StandardSegLib.measure import region_statistics
from StandardSegLib.phantom import StudyOptions, generate_study
from StandardSegLib.protocols import Protocol
from StandardSegLib.roi import SphereROI, shape_mask
from StandardSegLib.segmentation import segment
from protocol_variants import protocol_with

#: Uniform soft tissue away from the spheres and the liver (checked by the mean below).
BACKGROUND_CENTRE_LPS = (-40.0, -60.0, -20.0)


def passing_verdict(protocol: Protocol) -> GateVerdict:
    return GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())


def _ct_protocol(study) -> Protocol:
    midpoint = (study.truth.ct_hu["lesion"] + study.truth.ct_hu["background"]) / 2.0
    band = {"lower": midpoint, "upper": 1000.0}
    return protocol_with("ct-liver-lesion", {
        "threshold": band, "region-grow": band, "confidence-connected": {"multiplier": 4.5, "iterations": 4},
        "grow-from-seeds": {}})


PET_METHODS = {
    "pet-percent-max": {"percent": 41}, "pet-suv": {"suv": 2.5}, "pet-a50p": {}, "pet-percist": {},
    "pet-contrast": {"a": 0.5, "b": 0.5},  # illustrative coefficients, not a scanner calibration
    "pet-vote": {"methods": ["pet-percent-max", "pet-suv", "pet-a50p"], "min_votes": 2},
    "grow-from-seeds": {}}


def _background_seeds(centre, radius_mm, spacing_mm):
    distance = radius_mm + max(6.0, 2.0 * spacing_mm)
    return [tuple(c + distance * sign * (axis == k) for k, c in enumerate(centre))
            for axis in range(3) for sign in (1, -1)]


def _volume_errors(study, image, units, protocol, method, background, parameters=None):
    """Signed volume error (%) per sphere, or None where the method refuses (seed below threshold, leak to the cap)."""
    errors = []
    for sphere in study.truth.spheres:
        try:
            result = segment(image, protocol=protocol, verdict=passing_verdict(protocol), method=method, units=units,
                             seeds_lps=[sphere.centre_lps_mm], parameters=parameters,
                             background_seeds_lps=_background_seeds(sphere.centre_lps_mm, sphere.diameter_mm / 2,
                                                                    image.GetSpacing()[0]),
                             background=background)
            errors.append(100.0 * (result.provenance.volume_mm3 / sphere.volume_mm3 - 1.0))
        except InputError as error:
            # the two refusals a low-contrast sphere may meet: nothing passes, or the segment ran to the size cap
            assert "no voxel connected to the seed" in str(error) or "blocking flag(s): growth_capped" in str(error)
            errors.append(None)
    return errors


def _reference(image, centre, diameter_mm, name):
    stats = region_statistics(image, shape_mask(image, SphereROI(centre, diameter_mm)), units="SUVbw")
    return reference_measurement({"name": name}, stats, f"{diameter_mm:g} mm sphere")


@pytest.fixture(scope="module")
def table(synthetic_study):
    studies = {4.0: synthetic_study, 10.0: generate_study(StudyOptions(contrast_ratio=10.0))}
    assert synthetic_study.truth.options.contrast_ratio == 4.0
    rows = {}
    ct_protocol = _ct_protocol(synthetic_study)
    for method in ct_protocol.segmentation_methods:
        rows[("CT", "-", method)] = _volume_errors(synthetic_study, synthetic_study.ct_hu, "HU", ct_protocol, method,
                                                   None)
    rows[("CT", "-", "confidence-connected x2.5")] = _volume_errors(
        synthetic_study, synthetic_study.ct_hu, "HU", ct_protocol, "confidence-connected", None, {"multiplier": 2.5})
    pet_protocol = protocol_with("fdg-pet-ct-oncology", PET_METHODS)
    for contrast, study in studies.items():
        background = _reference(study.pet_suv, BACKGROUND_CENTRE_LPS, 30.0, "soft tissue")
        liver = _reference(study.pet_suv, study.truth.liver_reference_centre_lps_mm, 30.0, "liver")
        assert background.mean == pytest.approx(study.truth.pet_suv["background"], rel=0.05)
        for method in PET_METHODS:
            rows[("PET", f"{contrast:g}:1", method)] = _volume_errors(
                study, study.pet_suv, "SUVbw", pet_protocol, method, liver if method == "pet-percist" else background)
    diameters = [s.diameter_mm for s in synthetic_study.truth.spheres]
    return diameters, rows


def test_print_accuracy_table(table, capsys):
    diameters, rows = table
    lines = ["volume error (%) vs 4/3 pi r^3; '-' = no voxel above threshold at the seed",
             f"{'image':5} {'contrast':8} {'method':28}" + "".join(f"{d:>8g}mm" for d in diameters)]
    for (modality, contrast, method), errors in rows.items():
        cells = "".join(f"{'-':>10}" if e is None else f"{e:>+10.1f}" for e in errors)
        lines.append(f"{modality:5} {contrast:8} {method:28}{cells}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(len(errors) == len(diameters) for errors in rows.values())


def test_ct_midpoint_threshold_within_3_percent_for_spheres_17mm_and_up(table):
    diameters, rows = table
    for diameter, error in zip(diameters, rows[("CT", "-", "threshold")]):
        if diameter >= 17:
            assert abs(error) <= 3.0, (diameter, error)


def test_region_grow_equals_threshold_kept_connected(table):
    # Same range, same face connectivity, same seed: two implementations must agree exactly.
    _, rows = table
    assert rows[("CT", "-", "region-grow")] == rows[("CT", "-", "threshold")]


@pytest.mark.parametrize("method", ["pet-a50p", "pet-percent-max"])
def test_pet_a50p_and_41_percent_within_15_percent_at_10_to_1_for_spheres_22mm_and_up(table, method):
    diameters, rows = table
    for diameter, error in zip(diameters, rows[("PET", "10:1", method)]):
        if diameter >= 22:
            assert error is not None and abs(error) <= 15.0, (diameter, error)


def test_fixed_suv_overestimates_hot_spheres_as_expected(table):
    # SUV 2.5 is far below half of a 10:1 sphere, so the blurred edge is cut wide: volumes are too large.
    diameters, rows = table
    assert all(e is not None and e > 20.0 for d, e in zip(diameters, rows[("PET", "10:1", "pet-suv")]) if d >= 22)
    assert math.isfinite(rows[("PET", "4:1", "pet-percent-max")][-1])
