"""Bounded VOI and plausibility guards (issue 12) on synthetic images whose answers are known here:
statistics from the seed's hot region (not from hot tissue elsewhere), the SUVpeak a method used equal to
the one measured on its segment (``StandardSegLib.measure``), A50 against numpy, scale-free methods in
Bq/mL, lesion ROIs clipped at the image edge, the size cap on a leak and every flag code."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.gate import GateVerdict
from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
from StandardSegLib.measure import region_statistics
from StandardSegLib.protocols import USER, Protocol, load_library, validate_document
from StandardSegLib.roi import SphereROI, shape_mask
from StandardSegLib.segmentation import SegmentProvenance, segment
from StandardSegLib.segmentation.flags import FLAG_CODES
from protocol_variants import protocol_with

PET = {"pet-percent-max": {"percent": 41}, "pet-suv": {"suv": 2.5}, "pet-a50": {}, "pet-a50p": {},
       "pet-vote": {"methods": ["pet-percent-max", "pet-suv", "pet-a50p"], "min_votes": 2}}
BACKGROUND = ReferenceMeasurement("liver", "test", "SUVbw", 100, 10.0, mean=1.0, sd=0.1, median=1.0)


def protocol_like(base: str, methods: dict, **segmentation) -> Protocol:
    document = load_library().get(base).to_dict()
    document["segmentation"].update(methods=methods, default_method=next(iter(methods)), **segmentation)
    validate_document(document, f"{base} (test copy)")
    return Protocol.from_document(document, f"{base}-test.yaml", USER)


def verdict_for(protocol):
    return GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())


def image_from(array, spacing=(2.0, 2.0, 2.0)):
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    return image


def ball(shape, centre_xyz, radius_mm, spacing=2.0):
    z, y, x = np.indices(shape) * spacing
    cx, cy, cz = centre_xyz
    return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius_mm ** 2


@pytest.fixture(scope="module")
def pet_protocol():
    return protocol_with("fdg-pet-ct-oncology", PET)


@pytest.fixture(scope="module")
def lesion_and_far_hot_spot():
    """Background 1; a smooth lesion (max 8 at (40, 40, 40) mm) and, 70 mm away and not connected above
    a quarter of 8, a small hot spot of 25 (like STS_001's injection site beside its sarcoma)."""
    z, y, x = np.indices((50, 50, 70)) * 2.0
    array = 1.0 + 7.0 * np.exp(-((x - 40) ** 2 + (y - 40) ** 2 + (z - 40) ** 2) / (2 * 6.0 ** 2))
    array[ball(array.shape, (110.0, 40.0, 40.0), 5.0)] = 25.0
    return image_from(array), array


def run(image, protocol, method, seed=(40.0, 40.0, 40.0), **kwargs):
    arguments = dict(protocol=protocol, verdict=verdict_for(protocol), method=method, units="SUVbw",
                     seeds_lps=[seed], background=BACKGROUND)
    return segment(image, **{**arguments, **kwargs})


# --- statistics come from the lesion the seed is in ---------------------------------------------------------

def test_percent_max_takes_the_max_of_the_seeds_hot_region(lesion_and_far_hot_spot, pet_protocol):
    image, array = lesion_and_far_hot_spot
    result = run(image, pet_protocol, "pet-percent-max")
    lesion_max = array[:, :, :50].max()  # the lesion half, computed here
    assert result.provenance.details["max"] == pytest.approx(lesion_max)
    assert result.provenance.details["max_lps"] == pytest.approx((40.0, 40.0, 40.0))
    assert result.provenance.thresholds["lower"] == pytest.approx(0.41 * lesion_max)
    assert result.provenance.voxel_count == np.count_nonzero(array[:, :, :50] >= 0.41 * lesion_max)
    assert result.provenance.flags == ()


def test_a50_is_background_plus_half_of_max_minus_background(lesion_and_far_hot_spot, pet_protocol):
    image, array = lesion_and_far_hot_spot
    result = run(image, pet_protocol, "pet-a50")
    expected = BACKGROUND.mean + 0.5 * (array[:, :, :50].max() - BACKGROUND.mean)
    assert result.provenance.thresholds["lower"] == pytest.approx(expected)
    assert result.provenance.voxel_count == np.count_nonzero(array[:, :, :50] >= expected)


@pytest.mark.parametrize("method", ["pet-a50p", "pet-vote"])
def test_the_suv_peak_a_method_used_is_the_suv_peak_of_its_segment(method, pet_protocol):
    """Uneven uptake (noise on a plateau): the 1 mL peak of the segment, measured independently by
    ``region_statistics`` on the whole image, is the number the threshold was computed from."""
    rng = np.random.default_rng(3)
    array = 1.0 + rng.normal(0.0, 0.2, (40, 40, 40))
    lesion = ball(array.shape, (40.0, 40.0, 40.0), 16.0)
    array[lesion] += 6.0 + rng.normal(0.0, 1.5, lesion.sum())
    image = image_from(array)
    result = run(image, pet_protocol, method)
    peak_key = "peak" if method == "pet-a50p" else "pet-a50p.peak"
    measured = region_statistics(image, result.mask, with_peak=True).peak
    assert result.provenance.details[peak_key] == pytest.approx(measured, rel=1e-9)
    assert result.provenance.details["statistics_consistent"] is True
    if method == "pet-a50p":
        assert result.provenance.thresholds["lower"] == pytest.approx(0.5 * (measured + BACKGROUND.mean))


def test_a_refusal_names_the_value_where_it_was_taken_and_the_voi(pet_protocol):
    """A seed on a warm shoulder (3) of a hot core (25): 41 % of the core's max excludes the seed."""
    array = np.ones((30, 30, 30))
    array[ball(array.shape, (30.0, 30.0, 30.0), 14.0)] = 3.0
    array[ball(array.shape, (30.0, 30.0, 30.0), 4.0)] = 25.0
    with pytest.raises(InputError) as refused:
        run(image_from(array), pet_protocol, "pet-percent-max", seed=(30.0, 30.0, 18.0))
    message = str(refused.value)
    assert "max 25 SUVbw at (" in message and "mm LPS" in message and "VOI " in message
    assert "value at seed(s): 3 SUVbw" in message and "\n" not in message


# --- scale-free methods ---------------------------------------------------------------------------------------

def test_scale_free_methods_run_in_bq_per_ml_and_suv_thresholds_refuse(lesion_and_far_hot_spot, pet_protocol):
    image, array = lesion_and_far_hot_spot
    activity = image * 5000.0  # Bq/mL of a phantom without weight or dose
    background = ReferenceMeasurement("phantom-background", "test", "BQML", 100, 10.0, 5000.0, 500.0, 5000.0)
    for method in ("pet-percent-max", "pet-a50", "pet-a50p"):
        in_bq = run(activity, pet_protocol, method, units="BQML", background=background)
        in_suv = run(image, pet_protocol, method)
        assert in_bq.provenance.units == "BQML"
        assert in_bq.provenance.thresholds["lower"] == pytest.approx(5000.0 * in_suv.provenance.thresholds["lower"],
                                                                     rel=1e-5)
        assert np.array_equal(sitk.GetArrayViewFromImage(in_bq.mask), sitk.GetArrayViewFromImage(in_suv.mask))
    with pytest.raises(InputError, match="pet-suv works in SUV .* the image is in BQML"):
        run(activity, pet_protocol, "pet-suv", units="BQML", background=background)
    with pytest.raises(InputError, match="member pet-suv works in SUV and the image is in BQML"):
        run(activity, pet_protocol, "pet-vote", units="BQML", background=background)


# --- lesion ROI -------------------------------------------------------------------------------------------------

def test_lesion_roi_bounds_the_method_and_its_statistics(pet_protocol):
    """A lesion (8) bridged to a hotter neighbour (20): without a ROI the neighbour's max sets a threshold
    above the lesion, and the refusal says where that max was; a sphere around the lesion keeps both the max
    and the mask inside it."""
    array = np.ones((30, 30, 60))
    array[ball(array.shape, (30.0, 30.0, 30.0), 10.0)] = 8.0
    array[ball(array.shape, (80.0, 30.0, 30.0), 10.0)] = 20.0
    array[14:17, 14:17, 18:37] = np.maximum(array[14:17, 14:17, 18:37], 6.0)  # bridge above a quarter of 8
    image = image_from(array)
    with pytest.raises(InputError, match=r"from max 20 SUVbw at \(80\.0, 30\.0, \d+\.0\) mm LPS"):
        run(image, pet_protocol, "pet-percent-max", seed=(30.0, 30.0, 30.0))
    sphere = SphereROI((30.0, 30.0, 30.0), 30.0)
    bounded = run(image, pet_protocol, "pet-percent-max", seed=(30.0, 30.0, 30.0), roi=sphere)
    inside = sitk.GetArrayFromImage(shape_mask(image, sphere)) > 0
    mask = sitk.GetArrayViewFromImage(bounded.mask) > 0
    assert bounded.provenance.details["max"] == 8.0 and not (mask & ~inside).any()
    assert [flag.code for flag in bounded.provenance.flags] == ["touches_voi_border"]  # the bridge leaves it
    assert bounded.provenance.details["lesion_roi"] == sphere.describe()
    assert mask.sum() == np.count_nonzero(inside & (array >= 0.41 * 8.0))


def test_a_lesion_sphere_past_the_image_edge_is_clipped_with_a_warning(lesion_and_far_hot_spot, pet_protocol):
    image, array = lesion_and_far_hot_spot
    sphere = SphereROI((40.0, 40.0, 10.0), 60.0)  # reaches 20 mm below z = 0
    result = run(image, pet_protocol, "pet-percent-max", roi=sphere)
    assert any("clipped to the image" in warning for warning in result.provenance.details["warnings"])
    mask = sitk.GetArrayViewFromImage(result.mask) > 0
    inside = ball(array.shape, (40.0, 40.0, 10.0), 30.0)
    assert not (mask & ~inside).any()
    assert mask.sum() == np.count_nonzero(inside & (array >= 0.41 * array[inside].max()))
    with pytest.raises(InputError, match="extends outside the image"):  # a reference ROI is not clipped
        shape_mask(image, sphere)
    with pytest.raises(InputError, match=r"seed \(40, 40, 80\) mm LPS lies outside the lesion ROI sphere"):
        run(image, pet_protocol, "pet-percent-max", seed=(40.0, 40.0, 80.0), roi=sphere)


# --- guards ---------------------------------------------------------------------------------------------------

def test_a_leak_stops_at_the_size_cap_and_is_flagged():
    """Uniform tissue: region growing fills whatever it is given. The lung-nodule protocol's cap (14.1 mL,
    a 30 mm sphere) stops the VOI growth within its diameter plus the 10 mm VOI margin of the seed."""
    protocol = protocol_like("ct-lung-nodule", {"region-grow": {"lower": 50, "upper": 150}})
    image = image_from(np.full((80, 80, 80), 100.0), spacing=(1.0, 1.0, 1.0))
    result = segment(image, protocol=protocol, verdict=verdict_for(protocol), method="region-grow", units="HU",
                     seeds_lps=[(40.0, 40.0, 40.0)])
    codes = [flag.code for flag in result.provenance.flags]
    assert "growth_capped" in codes and "volume_above_max" in codes
    assert all(size <= 2 * (30 + 10) + 1 for size in result.provenance.voi["size"])
    assert not any(flag.blocking for flag in result.provenance.flags)


def test_threshold_outside_the_value_range_and_image_border_are_flagged():
    protocol = protocol_like("ct-liver-lesion", {"region-grow": {"lower": -500, "upper": 1000}})
    rng = np.random.default_rng(0)
    image = image_from(100.0 + rng.normal(0.0, 5.0, (12, 12, 12)), spacing=(1.0, 1.0, 1.0))
    result = segment(image, protocol=protocol, verdict=verdict_for(protocol), method="region-grow", units="HU",
                     seeds_lps=[(6.0, 6.0, 6.0)])
    flags = {flag.code: flag.message for flag in result.provenance.flags}
    assert set(flags) == {"threshold_outside_value_range", "touches_image_border"}
    message = flags["threshold_outside_value_range"]
    assert "lower -500" in message and "upper 1000" in message


@pytest.fixture(scope="module")
def hot_core_in_warm_region():
    """A 2-voxel core of 20 inside a warm 40 mm region of 6 (above a quarter of 20), background 1."""
    array = np.ones((30, 30, 30))
    array[ball(array.shape, (30.0, 30.0, 30.0), 20.0)] = 6.0
    array[15, 15, 15:17] = 20.0
    return image_from(array)


def test_a_sliver_of_a_large_hot_region_is_flagged(hot_core_in_warm_region, pet_protocol):
    result = run(hot_core_in_warm_region, pet_protocol, "pet-percent-max", seed=(30.0, 30.0, 30.0))
    assert result.provenance.voxel_count == 2
    flags = {flag.code: flag for flag in result.provenance.flags}
    assert set(flags) == {"much_smaller_than_hot_region", "near_empty"}
    assert "under 10% of the hot region" in flags["much_smaller_than_hot_region"].message
    document = result.provenance.to_dict()
    assert [flag["code"] for flag in document["flags"]] == list(flags)
    assert SegmentProvenance.from_dict(document).flags == result.provenance.flags
    assert result.provenance.tags()["StandardSeg.flags"] == "much_smaller_than_hot_region;near_empty"


def test_a_protocol_can_make_a_flag_blocking(hot_core_in_warm_region):
    protocol = protocol_like("fdg-pet-ct-oncology", {"pet-percent-max": {"percent": 41}},
                             blocking_flags=["near_empty"])
    with pytest.raises(InputError, match="blocking flag.*near_empty: the segment has only 2 voxel"):
        run(hot_core_in_warm_region, protocol, "pet-percent-max", seed=(30.0, 30.0, 30.0))


def test_every_built_in_protocol_states_a_maximum_lesion_volume():
    for protocol in load_library().all():
        if protocol.origin != USER:
            assert protocol.document["segmentation"]["max_lesion_volume_ml"] > 0, protocol.id
    assert len(FLAG_CODES) == len(set(FLAG_CODES)) == 7


# --- through a job: the lesion ROI and the flags reach the bundle -----------------------------------------------

def test_a_job_lesion_voi_bounds_the_segment_and_its_flag_reaches_json_and_csv(tmp_path, synthetic_study_files,
                                                                              registry, capsys):
    """A box half as wide as the largest synthetic sphere cuts it: the segment fills the box and is flagged
    touches_voi_border (and threshold_outside_value_range: 41 % of the max is below every voxel of the box);
    the flags are in report.json and in every measurements.csv row of that segment."""
    import csv
    import json

    import yaml

    from StandardSegLib.cli import main
    from StandardSegLib.phantom import default_layout

    layout = default_layout()
    sphere = max(layout.spheres, key=lambda s: s.diameter_mm)
    half = sphere.diameter_mm / 4.0
    box = [c - half for c in sphere.centre_lps_mm] + [c + half for c in sphere.centre_lps_mm]
    job = {"schema": "standardseg.session/1", "image": {"path": str(synthetic_study_files.pet_dicom[0].parent)},
           "protocol": {"id": "fdg-pet-ct-oncology"}, "operator": {"name": "Dr Demo", "registry": str(registry)},
           "rois": {"lesion": {"sphere": [*sphere.centre_lps_mm, sphere.diameter_mm]},
                    "background": {"sphere": [*layout.liver_reference.centre_lps_mm, 30.0]}},
           "lesions": [{"name": "cut", "seeds": [list(sphere.centre_lps_mm)], "voi": {"box": box}}],
           "radiomics": False}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(path), "-o", str(tmp_path / "bundle")]) == 0, capsys.readouterr().err
    bundle = tmp_path / "bundle"
    segment_document = json.loads((bundle / "report.json").read_text())["segments"][0]
    codes = [flag["code"] for flag in segment_document["flags"]]
    assert codes == ["touches_voi_border", "threshold_outside_value_range"]
    size = segment_document["provenance"]["voi"]["size"]  # voxel centres inside the box, 4 mm voxels
    assert all((n - 1) * 4.0 <= 2 * half for n in size)
    assert segment_document["measurements"]["voxel_count"] == int(np.prod(size))
    rows = list(csv.DictReader((bundle / "measurements.csv").open(encoding="utf-8")))
    assert rows and {row["flags"] for row in rows} == {"touches_voi_border;threshold_outside_value_range"}
    assert json.loads((bundle / "session.json").read_text())["lesions"][0]["voi"] == {"box": box}
