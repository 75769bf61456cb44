"""Segmentation engine: thresholds checked against values computed here with numpy, barriers that region
growing must respect, post-processing margins against a ball dilation/erosion done here, refusals, manual
edits and the written files (mask + provenance, Slicer .seg.nrrd keys)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import GateFailedError, InputError
from StandardSegLib.gate import GateItem, GateVerdict
from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
from StandardSegLib.measure import PEAK_SPHERE_RADIUS_MM
from StandardSegLib.protocols import load_library
from StandardSegLib.roi import BoxROI, SphereROI, shape_mask
from StandardSegLib.segmentation import (MANUAL, SEMIAUTOMATIC, add_mask, edit_to_match, erase_sphere, paint_sphere,
                                         segment, subtract_mask, write_segment)
from StandardSegLib.segmentation.postprocess import margin
from protocol_variants import protocol_with

ALL_CT = {"threshold": {"lower": 50, "upper": 150}, "region-grow": {"lower": 50, "upper": 150},
          "confidence-connected": {"multiplier": 2.5, "iterations": 2}, "grow-from-seeds": {}, "manual": {}}
ALL_PET = {"pet-percent-max": {"percent": 41, "voi_margin_mm": 3}, "pet-suv": {"suv": 2.5}, "pet-a50p": {},
           "pet-percist": {}, "pet-contrast": {"a": 0.6, "b": 0.3},
           "pet-vote": {"methods": ["pet-percent-max", "pet-suv", "pet-a50p"], "min_votes": 2}}


@pytest.fixture(scope="module")
def ct_protocol():
    return protocol_with("ct-liver-lesion", ALL_CT)


@pytest.fixture(scope="module")
def pet_protocol():
    return protocol_with("fdg-pet-ct-oncology", ALL_PET)


def verdict_for(protocol, items=()):
    return GateVerdict(protocol.id, protocol.version, protocol.content_sha256, tuple(items))


def image_from(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


# --- barriers -------------------------------------------------------------------------------------------------

def walled_volume(hole: bool = False):
    """Two 100-valued halves separated by a one-voxel 0-valued wall at x = 19 (noise SD 5)."""
    rng = np.random.default_rng(1)
    array = 100.0 + rng.normal(0.0, 5.0, (40, 40, 40))
    array[:, :, 19] = 0.0
    if hole:
        array[20, 20, 19] = 100.0
    left = np.zeros(array.shape, bool)
    left[:, :, :19] = True
    right = np.zeros(array.shape, bool)
    right[:, :, 20:] = True
    return image_from(array), left, right


@pytest.mark.parametrize("method", ["region-grow", "threshold", "confidence-connected", "grow-from-seeds"])
def test_region_growing_never_crosses_a_one_voxel_wall(ct_protocol, method):
    image, left, right = walled_volume()
    result = segment(image, protocol=ct_protocol, verdict=verdict_for(ct_protocol), method=method, units="HU",
                     seeds_lps=[(10.0, 20.0, 20.0)], background_seeds_lps=[(30.0, 20.0, 20.0)])
    mask = sitk.GetArrayViewFromImage(result.mask).astype(bool)
    assert not (mask & right).any()
    voi = np.zeros(mask.shape, bool)  # grow-from-seeds keeps Slicer's extent: the seed box + 3 voxels
    start, size = result.provenance.voi["index_start"], result.provenance.voi["size"]
    voi[tuple(slice(a, a + n) for a, n in zip(start[::-1], size[::-1]))] = True
    assert (mask & left).sum() >= 0.95 * (left & voi).sum()
    if method in ("region-grow", "threshold"):  # range [50, 150] holds every left voxel (10 SD away)
        assert np.array_equal(mask, left)


def test_the_wall_test_detects_a_leak():
    protocol = protocol_with("ct-liver-lesion", ALL_CT)
    image, left, right = walled_volume(hole=True)
    result = segment(image, protocol=protocol, verdict=verdict_for(protocol), method="region-grow", units="HU",
                     seeds_lps=[(10.0, 20.0, 20.0)])
    assert (sitk.GetArrayViewFromImage(result.mask).astype(bool) & right).sum() == right.sum()


# --- PET thresholds against numpy --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def blob():
    """A smooth hot spot (peak SUV 10 at voxel (20, 20, 20)) on a background of 1, 2 mm voxels."""
    z, y, x = np.mgrid[0:41, 0:41, 0:41] * 2.0
    array = 1.0 + 9.0 * np.exp(-((x - 40) ** 2 + (y - 40) ** 2 + (z - 40) ** 2) / (2 * 8.0 ** 2))
    return image_from(array, spacing=(2.0, 2.0, 2.0)), array


BACKGROUND = ReferenceMeasurement("liver", "test sphere", "SUVbw", 100, 10.0, mean=1.2, sd=0.15, median=1.2)


def _peak_at_centre(array):
    z, y, x = np.mgrid[0:41, 0:41, 0:41] * 2.0
    inside = (x - 40) ** 2 + (y - 40) ** 2 + (z - 40) ** 2 <= PEAK_SPHERE_RADIUS_MM ** 2
    return array[inside].mean()


@pytest.mark.parametrize("method, expected", [
    ("pet-suv", lambda a: 2.5),
    ("pet-percent-max", lambda a: 0.41 * a.max()),
    ("pet-a50p", lambda a: 0.5 * (_peak_at_centre(a) + BACKGROUND.mean)),
    ("pet-percist", lambda a: 1.5 * BACKGROUND.mean + 2.0 * BACKGROUND.sd),
    ("pet-contrast", lambda a: 0.6 * a[a >= 0.7 * a.max()].mean() + 0.3 * BACKGROUND.mean),
])
def test_pet_threshold_and_volume_match_numpy(blob, pet_protocol, method, expected):
    image, array = blob
    result = segment(image, protocol=pet_protocol, verdict=verdict_for(pet_protocol), method=method, units="SUVbw",
                     seeds_lps=[(40.0, 40.0, 40.0)], background=BACKGROUND, parameters={"voi_margin_mm": 3})
    threshold = expected(array)
    assert result.provenance.thresholds["lower"] == pytest.approx(threshold, rel=1e-6)
    # One convex hot spot: every voxel above threshold is connected to the seed (VOI growth must not cut it).
    assert result.provenance.voxel_count == np.count_nonzero(array >= threshold)
    assert result.provenance.units == "SUVbw" and result.provenance.algorithm_type == SEMIAUTOMATIC


def test_percist_mask_is_the_same_in_sul(blob, pet_protocol):
    """PERCIST asks for SUL (SUVlbm): scaling the image and the liver statistics by LBM/weight (one factor)
    leaves the mask unchanged and scales only the stated threshold."""
    import dataclasses

    image, _array = blob
    lbm_over_weight = 0.72
    sul_background = dataclasses.replace(BACKGROUND, units="SUVlbm", mean=BACKGROUND.mean * lbm_over_weight,
                                         sd=BACKGROUND.sd * lbm_over_weight)
    common = dict(protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-percist",
                  seeds_lps=[(40.0, 40.0, 40.0)])
    in_suv = segment(image, units="SUVbw", background=BACKGROUND, **common)
    in_sul = segment(image * lbm_over_weight, units="SUVlbm", background=sul_background, **common)
    assert np.array_equal(sitk.GetArrayViewFromImage(in_sul.mask), sitk.GetArrayViewFromImage(in_suv.mask))
    assert in_sul.provenance.thresholds["lower"] == pytest.approx(in_suv.provenance.thresholds["lower"] * lbm_over_weight)


def test_pet_vote_is_a_voxelwise_majority(blob, pet_protocol):
    image, array = blob
    result = segment(image, protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-vote",
                     units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)], background=BACKGROUND)
    t = result.provenance.thresholds
    votes = sum((array >= t[f"{m}.lower"]).astype(int) for m in ("pet-percent-max", "pet-suv", "pet-a50p"))
    assert t["pet-suv.lower"] == 2.5 and t["pet-percent-max.lower"] == pytest.approx(0.41 * array.max())
    assert result.provenance.voxel_count == np.count_nonzero(votes >= 2)


def test_voi_box_limits_the_work_and_is_recorded(blob, pet_protocol):
    image, array = blob
    box = BoxROI((30.0, 30.0, 30.0), (50.0, 50.0, 50.0))
    result = segment(image, protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-suv",
                     units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)], box=box)
    assert result.provenance.voi["size"] == [11, 11, 11]
    assert result.provenance.voxel_count == np.count_nonzero(array[15:26, 15:26, 15:26] >= 2.5)


# --- refusals -----------------------------------------------------------------------------------------------

def test_method_not_allowed_names_the_allowed_list(blob):
    protocol = load_library().get("fdg-pet-ct-oncology")
    with pytest.raises(InputError, match=r"'region-grow' is not allowed .*allowed: pet-percent-max, pet-suv, pet-a50p"):
        segment(blob[0], protocol=protocol, verdict=verdict_for(protocol), method="region-grow", units="SUVbw",
                seeds_lps=[(40.0, 40.0, 40.0)])


def test_failed_gate_refuses_until_overridden(blob, pet_protocol):
    failed = GateItem(id="snr", kind="metric", verdict="fail", severity="fail", rule="snr >= 5", message="SNR 2")
    verdict = verdict_for(pet_protocol, [failed])
    arguments = dict(protocol=pet_protocol, method="pet-suv", units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)])
    with pytest.raises(GateFailedError, match="snr: SNR 2"):
        segment(blob[0], verdict=verdict, **arguments)
    result = segment(blob[0], verdict=verdict.with_override("Dr A", "phantom"), **arguments)
    assert result.provenance.gate_override_reason == "phantom"
    assert result.provenance.tags()["StandardSeg.gate_override_reason"] == "phantom"


@pytest.mark.parametrize("changes, message", [
    ({"units": "HU", "method": "pet-suv"}, "works in SUV"),
    ({"parameters": {"percnt": 50}}, r"unknown parameter\(s\) percnt \(method parameters: percent"),
    ({"parameters": {"percent": "abc"}}, "expected a number, found 'abc'"),
    ({"parameters": {"percent": 0}}, r"percent must be in \(0, 100\]"),
    ({"seeds_lps": [(400.0, 0.0, 0.0)]}, r"seed \(400, 0, 0\) mm LPS is outside the image"),
    ({"seeds_lps": []}, "needs at least one seed"),
    ({"seeds_lps": [(2.0, 2.0, 2.0)], "parameters": {"percent": 50}}, "no voxel connected to the seed"),
])
def test_bad_input_is_a_one_line_input_error(blob, pet_protocol, changes, message):
    arguments = dict(protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-percent-max",
                     units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)])
    arguments.update(changes)
    with pytest.raises(InputError, match=message):
        segment(blob[0], **arguments)


def test_contrast_method_needs_protocol_coefficients(blob):
    protocol = protocol_with("fdg-pet-ct-oncology", {"pet-contrast": {}, "manual": {}})
    with pytest.raises(InputError, match="parameter 'a' is required"):
        segment(blob[0], protocol=protocol, verdict=verdict_for(protocol), method="pet-contrast", units="SUVbw",
                seeds_lps=[(40.0, 40.0, 40.0)], background=BACKGROUND)


def test_verdict_of_another_protocol_is_refused(blob, pet_protocol):
    other = load_library().get("fdg-pet-ct-oncology")
    with pytest.raises(InputError, match="gate verdict is for protocol"):
        segment(blob[0], protocol=pet_protocol, verdict=verdict_for(other), method="pet-suv", units="SUVbw",
                seeds_lps=[(40.0, 40.0, 40.0)])


# --- post-processing ------------------------------------------------------------------------------------------

def _ball_offsets(radius_mm, spacing):
    reach = [int(math.floor(radius_mm / s)) for s in spacing]
    return [(dz, dy, dx) for dz in range(-reach[0], reach[0] + 1) for dy in range(-reach[1], reach[1] + 1)
            for dx in range(-reach[2], reach[2] + 1)
            if (dz * spacing[0]) ** 2 + (dy * spacing[1]) ** 2 + (dx * spacing[2]) ** 2 <= radius_mm ** 2 + 1e-9]


def _shifted_any(mask, offsets, pad_value):
    padded = np.pad(mask, 6, constant_values=pad_value)
    out = np.zeros_like(mask) if not pad_value else np.ones_like(mask)
    n = mask.shape
    for dz, dy, dx in offsets:
        view = padded[6 + dz:6 + dz + n[0], 6 + dy:6 + dy + n[1], 6 + dx:6 + dx + n[2]]
        out = (out | view) if not pad_value else (out & view)
    return out


@pytest.mark.parametrize("margin_mm", [2.0, -2.0])
def test_margin_is_a_ball_in_mm_on_anisotropic_voxels(margin_mm):
    spacing_zyx = (2.0, 1.0, 1.0)
    reference = image_from(np.zeros((15, 30, 30)), spacing=spacing_zyx[::-1])
    sphere = shape_mask(reference, SphereROI((15.0, 15.0, 14.0), 16.0))
    array = sitk.GetArrayFromImage(sphere).astype(bool)
    offsets = _ball_offsets(abs(margin_mm), spacing_zyx)
    expected = _shifted_any(array, offsets, pad_value=False if margin_mm > 0 else True)
    result = sitk.GetArrayFromImage(margin(sphere, margin_mm)).astype(bool)
    assert np.array_equal(result, expected)
    assert (result.sum() > array.sum()) == (margin_mm > 0)


def test_postprocessing_steps_are_recorded(blob, pet_protocol):
    result = segment(blob[0], protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-suv",
                     units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)], parameters={"margin_mm": "2", "smoothing_mm": "1"})
    names = [step.name for step in result.provenance.steps]
    assert names == ["pet-suv", "keep components connected to seeds", "fill holes", "margin", "gaussian smoothing"]
    assert result.provenance.steps[-1].voxel_count == result.provenance.voxel_count
    assert result.provenance.parameters["margin_mm"] == 2.0


# --- manual edits and files -----------------------------------------------------------------------------------

def test_manual_edits_are_recorded_and_never_modify_the_input(ct_protocol):
    image = image_from(np.zeros((20, 20, 20)))
    start = segment(image, protocol=ct_protocol, verdict=verdict_for(ct_protocol), method="manual", units="HU")
    painted = paint_sphere(start, (10.0, 10.0, 10.0), 8.0)
    sphere = sitk.GetArrayFromImage(shape_mask(image, SphereROI((10.0, 10.0, 10.0), 8.0))).astype(bool)
    assert painted.provenance.voxel_count == sphere.sum() and start.provenance.voxel_count == 0
    erased = erase_sphere(painted, (10.0, 10.0, 10.0), 4.0)
    small = sitk.GetArrayFromImage(shape_mask(image, SphereROI((10.0, 10.0, 10.0), 4.0))).astype(bool)
    assert erased.provenance.voxel_count == (sphere & ~small).sum()
    other = sitk.Cast(shape_mask(image, SphereROI((4.0, 4.0, 4.0), 4.0)), sitk.sitkUInt8)
    added = add_mask(erased, other, "extra.nrrd")
    removed = subtract_mask(added, other, "extra.nrrd")
    assert added.provenance.voxel_count == erased.provenance.voxel_count + small.sum()
    assert removed.provenance.voxel_count == erased.provenance.voxel_count
    assert [s.algorithm_type for s in removed.provenance.steps] == [MANUAL] * 4
    assert removed.provenance.algorithm_type == MANUAL
    assert sitk.GetArrayViewFromImage(painted.mask).sum() == sphere.sum()  # earlier segments unchanged


def test_edit_to_match_records_only_real_changes(ct_protocol):
    """A mask corrected elsewhere (Segment Editor): added and removed voxels become two MANUAL steps and the
    result equals the target voxel for voxel; an unchanged mask adds no step; ``label`` picks one label."""
    image = image_from(np.zeros((20, 20, 20)))
    start = paint_sphere(segment(image, protocol=ct_protocol, verdict=verdict_for(ct_protocol), method="manual",
                                 units="HU"), (10.0, 10.0, 10.0), 8.0)
    assert edit_to_match(start, start.mask, "same") is start
    wanted = sitk.GetArrayFromImage(start.mask).astype(bool)
    wanted[10] = False  # a reader erased one slice
    wanted[2:4, 2:4, 2:4] = True  # and painted a small block
    labels = np.where(wanted, 3, 0).astype(np.uint8)
    labels[15:18, 15:18, 15:18] = 1  # another label: ignored with label=3
    target = sitk.GetImageFromArray(labels)
    target.CopyInformation(image)
    edited = edit_to_match(start, target, "Slicer Segment Editor", label=3)
    assert np.array_equal(sitk.GetArrayViewFromImage(edited.mask).astype(bool), wanted)
    assert [step.name for step in edited.provenance.steps[-2:]] == ["add mask", "subtract mask"]
    assert {step.algorithm_type for step in edited.provenance.steps[-2:]} == {MANUAL}
    assert edited.provenance.voxel_count == wanted.sum()


def test_written_seg_nrrd_carries_slicer_keys_and_provenance(blob, pet_protocol, tmp_path):
    result = segment(blob[0], protocol=pet_protocol, verdict=verdict_for(pet_protocol), method="pet-percent-max",
                     units="SUVbw", seeds_lps=[(40.0, 40.0, 40.0)], operator="Dr A")
    mask_path, sidecar = write_segment(result, tmp_path / "lesion.seg.nrrd")
    assert sidecar == tmp_path / "lesion.provenance.json"
    written = sitk.ReadImage(str(mask_path))
    assert np.array_equal(sitk.GetArrayViewFromImage(written), sitk.GetArrayViewFromImage(result.mask))
    assert written.GetMetaData("Segment0_LabelValue") == "1" and written.GetMetaData("Segment0_Layer") == "0"
    tags = dict(item.split(":", 1) for item in written.GetMetaData("Segment0_Tags").strip("|").split("|"))
    assert tags["DICOM.SegmentAlgorithmType"] == SEMIAUTOMATIC and tags["StandardSeg.method"] == "pet-percent-max"
    x0, x1, y0, y1, z0, z1 = (int(v) for v in written.GetMetaData("Segment0_Extent").split())
    nonzero = np.argwhere(sitk.GetArrayViewFromImage(written))
    assert (z0, y0, x0) == tuple(nonzero.min(axis=0)) and (z1, y1, x1) == tuple(nonzero.max(axis=0))
    provenance = json.loads(sidecar.read_text())
    assert provenance["method"] == "pet-percent-max" and provenance["operator"] == "Dr A"
    assert provenance["seeds_lps"] == [[40.0, 40.0, 40.0]]
    assert provenance["voxel_count"] == result.provenance.voxel_count
    assert provenance["software"]["StandardSeg"] and provenance["gate"]["protocol_id"] == "fdg-pet-ct-oncology"
    with pytest.raises(InputError, match="exists; use --overwrite"):
        write_segment(result, mask_path)
    with pytest.raises(InputError, match="lesion.provenance.json exists"):  # same stem, same provenance file
        write_segment(result, tmp_path / "lesion.nii.gz")
    write_segment(result, tmp_path / "other.nii.gz")
    assert sitk.ReadImage(str(tmp_path / "other.nii.gz")).GetSize() == result.mask.GetSize()
