"""The image-specification gate: metrics against analytic values, every spec item made to fail, overrides,
operator training, the demo study passing and a degraded copy failing, and CLI error handling."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.cli import main
from StandardSegLib.errors import GateFailedError, InputError
from StandardSegLib.gate import RoiInput, evaluate_gate
from StandardSegLib.gate.quality_metrics import evaluate_metric
from StandardSegLib.gate.spec_checks import SPEC_CHECKS, SpecContext, evaluate_spec
from StandardSegLib.imaging import load_image
from StandardSegLib.measure import region_statistics
from StandardSegLib.operators import Operator, training_status
from StandardSegLib.phantom import PetAcquisition, StudyOptions, default_layout, generate_study, write_study
from StandardSegLib.protocols import load_library
from StandardSegLib.roi import SphereROI, shape_mask

LIBRARY = load_library()
FDG = LIBRARY.get("fdg-pet-ct-oncology")


def _sphere_arg(centre, diameter):
    return ",".join(f"{v:g}" for v in (*centre, diameter))


# --- metrics against analytic values ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def noisy_phantom():
    """Background mean 100 with Gaussian noise sigma 5; a 40 mm lesion of mean 300 with the same noise."""
    rng = np.random.default_rng(7)
    image = sitk.GetImageFromArray(rng.normal(100.0, 5.0, size=(60, 100, 100)).astype(np.float32))
    image.SetSpacing((1.0, 1.0, 1.0))
    image.SetOrigin((-50.0, -50.0, -30.0))
    lesion = shape_mask(image, SphereROI((-20.0, 0.0, 0.0), 40.0))
    background = shape_mask(image, SphereROI((25.0, 0.0, 0.0), 40.0))
    array = sitk.GetArrayFromImage(image)
    array[sitk.GetArrayFromImage(lesion) > 0] += 200.0
    noisy = sitk.GetImageFromArray(array)
    noisy.CopyInformation(image)
    return noisy, region_statistics(noisy, lesion), region_statistics(noisy, background)


@pytest.mark.parametrize("metric, definition, analytic", [
    ("snr", "bg_mean/bg_sd", 100.0 / 5.0),
    ("snr", "lesion_mean/bg_sd", 300.0 / 5.0),
    ("cnr", "(lesion_mean-bg_mean)/bg_sd", (300.0 - 100.0) / 5.0),
    ("tbr", "lesion_mean/bg_mean", 300.0 / 100.0),
    ("snr", "0.655*lesion_mean/air_sd", 0.655 * 300.0 / 5.0),
])
def test_metrics_within_5_percent_of_analytic_values(noisy_phantom, metric, definition, analytic):
    _, lesion, background = noisy_phantom
    item = evaluate_metric(metric, {"definition": definition, "min": 1.0, "severity": "fail"}, lesion, background)
    assert item.measured == pytest.approx(analytic, rel=0.05)
    assert item.verdict == "pass" and item.definition == definition


def test_metric_threshold_and_missing_roi(noisy_phantom):
    _, lesion, background = noisy_phantom
    rule = {"definition": "(lesion_mean-bg_mean)/bg_sd", "min": 100.0, "severity": "warn"}
    assert evaluate_metric("cnr", rule, lesion, background).verdict == "warn"
    missing = evaluate_metric("cnr", dict(rule, severity="fail"), None, background)
    assert missing.verdict == "fail" and "lesion ROI" in missing.message


def test_pet_tbr_uses_suvmax_over_liver_mean_on_the_demo_study(demo_pet):
    """On the unblurred-truth scale: the 37 mm sphere (SUV 4) over the liver (SUV 2)."""
    loaded, layout = demo_pet
    sphere = max(layout.spheres, key=lambda s: s.diameter_mm)
    evaluation = evaluate_gate(
        FDG, loaded,
        lesion=RoiInput(shape_mask(loaded.image, SphereROI(sphere.centre_lps_mm, sphere.diameter_mm)), "lesion"),
        background=RoiInput(shape_mask(loaded.image, SphereROI(layout.liver_reference.centre_lps_mm, 30.0)), "liver"))
    tbr = evaluation.verdict.item("tbr")
    # lesion max = 4 (+ noise 10 % of 4 at the hottest voxel, biased up); liver mean = 2: TBR ~ 2 x (1 + noise)
    assert 1.9 <= tbr.measured <= 2.8
    assert evaluation.reference.mean == pytest.approx(2.0, rel=0.03)
    assert evaluation.reference.sd == pytest.approx(0.2, rel=0.15)  # 10 % relative noise on SUV 2
    snr = evaluation.verdict.item("snr")
    assert snr.measured == pytest.approx(evaluation.reference.mean / evaluation.reference.sd, rel=1e-6)


# --- the demo study passes; a degraded copy fails for the right reasons --------------------------------------

@pytest.fixture(scope="module")
def demo_pet(synthetic_study_files):
    return load_image(synthetic_study_files.pet_dicom[0].parent), default_layout()


def _gate_args(study_dir, layout, registry):
    sphere = max(layout.spheres, key=lambda s: s.diameter_mm)
    return ["check", str(study_dir), "--protocol", "fdg-pet-ct-oncology", "--json",
            f"--lesion-sphere={_sphere_arg(sphere.centre_lps_mm, sphere.diameter_mm)}",
            f"--background-sphere={_sphere_arg(layout.liver_reference.centre_lps_mm, 30.0)}",
            "--operator", "Dr Demo", "--registry", str(registry)]


def test_demo_study_passes_its_gate(synthetic_study_files, registry, capsys):
    layout = default_layout()
    code = main(_gate_args(synthetic_study_files.pet_dicom[0].parent, layout, registry))
    result = json.loads(capsys.readouterr().out)
    assert code == 0, [i for i in result["items"] if i["verdict"] != "pass"]
    assert result["overall"] in ("pass", "warn")
    assert {"snr", "cnr", "tbr"} <= result.keys()
    assert result["tbr"]["definition"] == "lesion_max/bg_mean" and result["tbr"]["verdict"] == "pass"
    assert result["reference_tissue"]["name"] == "liver"
    assert 1.3 <= result["reference_tissue"]["mean"] <= 3.0
    uptake = next(i for i in result["items"] if i["id"] == "uptake_time_window")
    assert uptake["measured"] == pytest.approx(60.0)  # the generator injects 3600 s before the series time


def test_degraded_copy_fails_with_the_right_reasons(tmp_path, registry, capsys):
    degraded = generate_study(StudyOptions(pet_voxel_mm=6.0, pet_noise_relative_sd=0.35, seed=3), PetAcquisition())
    files = write_study(degraded, tmp_path / "degraded")
    code = main(_gate_args(files.pet_dicom[0].parent, default_layout(), registry))
    result = json.loads(capsys.readouterr().out)
    assert code == 3
    failed = {item["id"]: item for item in result["items"] if item["verdict"] == "fail"}
    assert set(failed) == {"slice_thickness_max", "snr"}
    assert failed["slice_thickness_max"]["measured"] == pytest.approx(6.0)
    assert failed["snr"]["measured"] == pytest.approx(1 / 0.35, rel=0.15)
    assert result["allows_segmentation"] is False


# --- every spec item can fail, and says why -----------------------------------------------------------------

def _context(loaded, **record_changes):
    return SpecContext(dataclasses.replace(loaded.record, **record_changes), loaded.datasets)


@pytest.mark.parametrize("rule, changes, fragment", [
    ({"check": "modality", "equals": "CT"}, {}, "modality is PT"),
    ({"check": "slice_thickness_max", "value_mm": 3.0}, {}, "4 mm"),
    ({"check": "pixel_spacing_max", "value_mm": 2.0}, {}, "4 mm"),
    ({"check": "kernel_allowed", "values": ["BONE"]}, {"convolution_kernel": "STANDARD"}, "'STANDARD'"),
    ({"check": "kernel_allowed", "values": ["BONE"]}, {"convolution_kernel": None}, "ConvolutionKernel"),
    ({"check": "reconstruction_allowed", "values": ["FBP"]}, {}, "reconstruction method is"),
    ({"check": "required_tags", "tags": ["PatientWeight", "ContrastBolusAgent"]}, {}, "ContrastBolusAgent"),
    ({"check": "corrected_image", "required": ["ATTN", "DECY"]}, {"corrected_image": ("ATTN",)}, "lacks DECY"),
    ({"check": "field_strength_allowed", "values_t": [3.0]}, {"magnetic_field_strength_t": 1.5}, "1.5 T"),
    ({"check": "sequence_allowed", "values": ["FLAIR"]}, {"sequence_name": "*tse2d1_15"}, "tse2d1_15"),
    ({"check": "suv_convertible"}, {}, "no PET headers"),
    ({"check": "uptake_time_window", "min_min": 70, "max_min": 90}, {}, "60.0 min"),
    ({"check": "body_part", "values": ["EXTREMITY"]}, {}, "BodyPartExamined"),
])
def test_each_spec_item_can_fail_and_says_why(demo_pet, rule, changes, fragment):
    loaded, _ = demo_pet
    rule = dict(rule, severity="fail", source="test rule")
    (item,) = evaluate_spec([rule], _context(loaded, **changes))
    assert item.verdict == "fail", item
    assert fragment in item.message
    assert item.source == "test rule"


def test_every_registered_check_is_exercised_above():
    tested = {"modality", "slice_thickness_max", "pixel_spacing_max", "kernel_allowed", "reconstruction_allowed",
              "required_tags", "corrected_image", "field_strength_allowed", "sequence_allowed", "suv_convertible",
              "uptake_time_window", "body_part"}
    assert set(SPEC_CHECKS) == tested


def test_uptake_time_outside_window_fails(demo_pet):
    loaded, _ = demo_pet
    from StandardSegLib.suv import suv_conversion

    suv = suv_conversion(loaded.datasets)
    context = SpecContext(loaded.record, loaded.datasets, suv)
    (item,) = evaluate_spec([{"check": "uptake_time_window", "min_min": 70, "max_min": 90, "severity": "fail"}],
                            context)
    assert item.verdict == "fail" and item.measured == pytest.approx(60.0) and "60.0 min" in item.message


def test_uptake_time_without_injection_time_cannot_be_checked(demo_pet):
    loaded, _ = demo_pet
    datasets = [copy.deepcopy(ds) for ds in loaded.datasets]
    for ds in datasets:
        for keyword in ("RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime"):
            if keyword in ds.RadiopharmaceuticalInformationSequence[0]:
                delattr(ds.RadiopharmaceuticalInformationSequence[0], keyword)
    (item,) = evaluate_spec([{"check": "uptake_time_window", "min_min": 55, "max_min": 75, "severity": "fail"}],
                            SpecContext(loaded.record, datasets))
    assert item.verdict == "fail" and item.message.startswith("cannot be checked: RadiopharmaceuticalStartDateTime")


# --- overrides and operators -----------------------------------------------------------------------------------

def test_failed_gate_blocks_segmentation_until_overridden(demo_pet):
    loaded, _ = demo_pet
    evaluation = evaluate_gate(FDG, loaded)  # no ROIs: SNR/TBR cannot be measured -> fail
    verdict = evaluation.verdict
    assert verdict.overall == "fail" and not verdict.allows_segmentation
    with pytest.raises(GateFailedError, match="tbr"):
        verdict.require_segmentation_allowed()
    with pytest.raises(InputError, match="reason"):
        verdict.with_override("Dr Demo", "   ")
    overridden = verdict.with_override("Dr Demo", "phantom study, ROIs placed later")
    overridden.require_segmentation_allowed()
    recorded = overridden.to_dict()["override"]
    assert recorded["operator"] == "Dr Demo" and recorded["reason"] == "phantom study, ROIs placed later"
    assert overridden.overall == "fail"  # the override is recorded, the failure is not hidden


@pytest.mark.parametrize("on_expiry, verdict", [("block", "fail"), ("warn", "warn")])
def test_expired_operator_blocks_or_warns(demo_pet, on_expiry, verdict):
    loaded, _ = demo_pet
    status = training_status(Operator("Dr Old", "reader", dt.date.today() - dt.timedelta(days=400)), 365, on_expiry)
    evaluation = evaluate_gate(FDG, loaded, training=status)
    item = evaluation.verdict.item("operator_training")
    assert item.verdict == verdict and "expired" in item.message


def test_cli_override_is_recorded(synthetic_study_files, registry, capsys):
    args = ["check", str(synthetic_study_files.pet_dicom[0].parent), "--protocol", "fdg-pet-ct-oncology",
            "--json", "--operator", "Dr Demo", "--registry", str(registry), "--override", "ROIs not yet placed"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["overall"] == "fail" and result["override"]["reason"] == "ROIs not yet placed"


# --- bad input: one line, exit 2 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, fragment", [
    (["--lesion-sphere", "0,0,900,20"], "outside the image"),
    (["--background-sphere", "0,0,0,0.5"], "no voxel centre"),
    (["--protocol", "no-such-protocol"], "no-such-protocol"),
    (["--lesion-sphere", "1,2,3"], "X,Y,Z,D"),
])
def test_cli_bad_input_exits_2_with_one_line(synthetic_study_files, capsys, extra, fragment):
    args = ["check", str(synthetic_study_files.pet_dicom[0].parent), "--protocol", "fdg-pet-ct-oncology", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_mask_on_a_non_overlapping_grid_exits_2(synthetic_study_files, tmp_path, capsys):
    far = sitk.Image((10, 10, 10), sitk.sitkUInt8) + 1
    far.SetOrigin((5000.0, 5000.0, 5000.0))
    path = tmp_path / "far.nrrd"
    sitk.WriteImage(far, str(path))
    args = ["check", str(synthetic_study_files.pet_dicom[0].parent), "--protocol", "fdg-pet-ct-oncology",
            "--background", str(path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "far.nrrd" in err and "overlap" in err and err.count("\n") == 1 and "Traceback" not in err
