"""``features`` measures in the units ``run`` uses, refuses absurd grey-level counts, and third-party
warnings stay off the terminal (issue 11 §2).

Independent references: the OncoRay SUV digital reference object DRO_2_0 (stored in Bq/mL) has SUVbw minimum
0.20, median 1.00 and maximum 4.00 inside its mask (published with the object); pyradiomics' own
``binImage`` gives the number of grey levels the refusal estimates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main

DATA = Path(__file__).resolve().parent / "Data"
DRO = DATA / "suv_dro" / "DRO_2_0"
NEMA_PET = DATA / "real" / "nema_iec" / "pet_recon_1"
STS_PET = DATA / "real" / "sts" / "STS_001" / "PET" / "image"
TEXTURE = {"setting": {"binWidth": 0.25}, "imageType": {"Original": {}},
           "featureClass": {"firstorder": ["Minimum", "Median", "Maximum"], "glcm": ["JointEnergy"]}}


def run_cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(value) for value in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def centre_sphere_mask(series: Path, diameter_mm: float, path: Path) -> Path:
    from StandardSegLib.imaging import load_image
    from StandardSegLib.roi import SphereROI, shape_mask

    image = load_image(series).image
    centre = image.TransformContinuousIndexToPhysicalPoint([(size - 1) / 2.0 for size in image.GetSize()])
    sitk.WriteImage(shape_mask(image, SphereROI(tuple(centre), diameter_mm)), str(path))
    return path


@pytest.fixture
def texture_params(tmp_path: Path) -> Path:
    path = tmp_path / "texture.yaml"
    path.write_text(yaml.safe_dump(TEXTURE))
    return path


def test_features_of_a_bq_per_ml_pet_are_in_suvbw_like_run(capsys, texture_params):
    """The 0.25 SUV bin width with GLCM on DRO_2_0 (Bq/mL, ~2e4 at the maximum) was a MemoryError."""
    code, out, err = run_cli(capsys, "features", DRO / "PT", "--mask", DRO / "mask" / "DRO_mask.nii.gz",
                             "--params", texture_params, "--json")
    assert code == 0 and err == ""
    output = json.loads(out)
    assert output["units"] == "SUVbw"
    features = output["features"]
    assert [round(features[f"original_firstorder_{name}"], 2) for name in ("Minimum", "Median", "Maximum")] == \
        [0.20, 1.00, 4.00]


def test_features_under_a_pet_protocol_refuse_pet_without_suv(capsys, tmp_path):
    mask = centre_sphere_mask(NEMA_PET, 40.0, tmp_path / "sphere.nrrd")
    code, out, err = run_cli(capsys, "features", NEMA_PET, "--mask", mask, "--protocol", "fdg-pet-ct-oncology")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "fdg-pet-ct-oncology computes features in SUVbw" in err and "Units (0054,1001) is missing" in err


def test_too_many_grey_levels_is_one_line_before_pyradiomics(capsys, tmp_path, texture_params):
    """NEMA PET kept in its stored activity values (Bq/mL up to ~4e4, no Units, so no SUV) with the SUV bin
    width, over the whole phantom."""
    from StandardSegLib.imaging import load_image

    image = load_image(NEMA_PET).image
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    mask.CopyInformation(image)
    sitk.WriteImage(mask, str(tmp_path / "all.nrrd"))
    mask = tmp_path / "all.nrrd"
    code, out, err = run_cli(capsys, "features", NEMA_PET, "--mask", mask, "--params", texture_params)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "grey levels, more than 1000" in err and "binWidth 0.25" in err


@pytest.mark.parametrize("width, low, high", [(0.25, 0.2, 249.0), (0.25, 0.2, 250.1), (25, -1000, 3000),
                                               (25, -1013, 24000), (3, -7.5, 2991.0)])
def test_grey_level_estimate_equals_pyradiomics_discretisation(width, low, high):
    from radiomics.imageoperations import binImage

    from StandardSegLib.errors import InputError
    from StandardSegLib.radiomics.grey_levels import MAX_GREY_LEVELS, check_grey_levels

    values = np.linspace(low, high, 60).reshape(3, 4, 5)
    image = sitk.GetImageFromArray(values)
    mask = sitk.GetImageFromArray(np.ones(values.shape, np.uint8))
    expected = int(binImage(values, binWidth=width)[0].max())  # pyradiomics' highest discretised level
    settings = {"binWidth": width}
    if expected > MAX_GREY_LEVELS:
        with pytest.raises(InputError, match=f"give {expected} grey levels, more than {MAX_GREY_LEVELS}"):
            check_grey_levels(settings, {"glcm": []}, image, mask, 1, "m", "s")
    else:
        check_grey_levels(settings, {"glcm": []}, image, mask, 1, "m", "s")
    check_grey_levels(settings, {"firstorder": []}, image, mask, 1, "m", "s")  # no texture matrix: never refused


def test_inspect_real_ge_pet_keeps_pydicom_warnings_in_json(capsys):
    code, out, err = run_cli(capsys, "inspect", STS_PET, "--json")
    assert code == 0 and err == ""
    assert any(warning.startswith("pydicom: The value length (18) exceeds the maximum length of 16 allowed "
                                  "for VR SH") for warning in json.loads(out)["warnings"])
    code, out, err = run_cli(capsys, "inspect", STS_PET)
    assert code == 0 and err == "" and "pydicom" not in out


def test_real_ge_pet_terminal_is_clean_on_success_and_one_line_on_error(tmp_path):
    """As a user sees it: a separate process, real stderr."""
    mask = centre_sphere_mask(STS_PET, 30.0, tmp_path / "sphere.nrrd")
    command = [sys.executable, "-c", "import sys; from StandardSegLib.cli import main; sys.exit(main())"]
    measured = subprocess.run([*command, "measure", str(STS_PET), "--mask", str(mask), "--units", "SUVbw",
                               "--json"], capture_output=True, text=True, check=False)
    assert measured.returncode == 0 and measured.stderr == ""
    assert any("VR SH" in warning for warning in json.loads(measured.stdout)["warnings"])
    failed = subprocess.run([*command, "measure", str(STS_PET), "--mask", str(tmp_path / "absent.nrrd")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.splitlines() == [f"standardseg: error: mask file {tmp_path / 'absent.nrrd'} does not exist"]
