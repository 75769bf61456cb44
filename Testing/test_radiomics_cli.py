"""``standardseg features`` end to end: pyradiomics parameter files used unchanged, protocol settings, output
formats, and one-line errors (exit 2) for bad parameter files and inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main

DATA = Path(__file__).resolve().parent / "Data"
PHANTOM = DATA / "ibsi_digital_phantom"
PARAMETERS = {"setting": {"binWidth": 1, "label": 1}, "imageType": {"Original": {}},
              "featureClass": {"shape": None, "firstorder": []}}


def run_cli(capsys, *argv):
    code = main(["features", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def file_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def direct(parameters, image, mask, label=None) -> dict:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    output = RadiomicsFeatureExtractor(parameters).execute(image, mask, label=label)
    return {key: float(value) for key, value in output.items() if not key.startswith("diagnostics_")}


@pytest.fixture
def params_file(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(PARAMETERS))
    return path


def test_json_equals_direct_pyradiomics_and_leaves_inputs_unchanged(capsys, params_file):
    image, mask = PHANTOM / "image.nii.gz", PHANTOM / "mask.nii.gz"
    before = file_hash(image, mask, params_file)
    code, out, err = run_cli(capsys, image, "--mask", mask, "--params", params_file, "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["features"] == direct(str(params_file), str(image), str(mask))
    assert result["features"]["original_shape_VoxelVolume"] == 592.0
    assert result["ibsi"]["original_shape_MeshVolume"] == {"family": "Morphological features",
                                                           "name": "volume (mesh)", "code": "RNU0"}
    assert result["settings"]["binWidth"] == 1 and result["label"] == 1
    assert result["parameters_source"] == str(params_file)
    assert {d["id"] for d in result["ibsi_deviations"]} == {"bin-edges-at-zero", "kurtosis-not-excess",
                                                             "pca-population-covariance"}
    assert set(result) == {"feature_set", "features", "ibsi", "ibsi_deviations", "settings", "image_types", "feature_classes",
                           "label", "parameters_source", "pyradiomics_version", "diagnostics", "units", "warnings"}
    assert result["units"] == "stored (image file)"
    assert file_hash(image, mask, params_file) == before


def test_text_output_and_json_parameter_file(capsys, tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps(PARAMETERS))
    code, out, _ = run_cli(capsys, PHANTOM / "image.nii.gz", "--mask", PHANTOM / "mask.nii.gz", "--params", path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["feature", "value", "IBSI"]
    row = next(line for line in lines if line.startswith("original_shape_VoxelVolume "))
    assert row.split() == ["original_shape_VoxelVolume", "592", "YEKZ", "volume", "(voxel", "counting)"]
    assert any(line.startswith("IBSI deviation (kurtosis-not-excess)") for line in lines)


def synthetic(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    values = rng.normal(100, 20, size=(10, 30, 30)).astype(np.float32)
    labels = np.zeros(values.shape, np.uint8)
    labels[3:7, 8:20, 10:22] = 1
    labels[1:5, 20:28, 2:10] = 3
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(labels)
    for item in (image, mask):
        item.SetSpacing((1.0, 1.0, 3.0))
    mask.SetOrigin((0.0, 0.0, 1e-5))  # within the grid tolerance, beyond pyradiomics' default 1e-6 check
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    return tmp_path / "image.nrrd", tmp_path / "mask.nrrd"


def test_protocol_settings_and_label(capsys, tmp_path):
    image, mask = synthetic(tmp_path)
    code, out, err = run_cli(capsys, image, "--mask", mask, "--protocol", "pet-nema-iec-phantom", "--label", "3",
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["label"] == 3 and result["settings"]["resampledPixelSpacing"] == [4, 4, 4]
    assert result["parameters_source"].startswith("protocol pet-nema-iec-phantom version ")
    from StandardSegLib.protocols import load_library

    reference_mask = sitk.ReadImage(str(mask))
    reference_mask.SetOrigin((0.0, 0.0, 0.0))  # what the CLI does for a mask on the grid within tolerance
    expected = direct(load_library().get("pet-nema-iec-phantom").radiomics, sitk.ReadImage(str(image)),
                      reference_mask, label=3)
    assert result["features"] == expected


def test_mask_on_another_grid_is_resampled_with_a_warning(capsys, tmp_path, params_file):
    image, mask = synthetic(tmp_path)
    coarse = sitk.Resample(sitk.ReadImage(str(mask)), [15, 15, 10], sitk.Transform(), sitk.sitkNearestNeighbor,
                           (0.0, 0.0, 0.0), (2.0, 2.0, 3.0))
    sitk.WriteImage(coarse, str(tmp_path / "coarse.nrrd"))
    code, out, _ = run_cli(capsys, image, "--mask", tmp_path / "coarse.nrrd", "--params", params_file, "--json")
    assert code == 0
    assert any("resampled nearest-neighbour" in warning for warning in json.loads(out)["warnings"])


@pytest.mark.parametrize("content, expected", [
    ("setting:\n  binWidht: 25\n", "setting.binWidht: unknown key"),
    ("setting:\n  binWidth: -1\n", "setting.binWidth:"),
    ("featureClass:\n  shape: [Volume]\n", "featureClass: Feature Class shape contains unrecognized features"),
    ("setting: {binWidth: 25\n", "invalid YAML"),
    ("just text\n", "expected a mapping with keys"),
])
def test_bad_parameter_file_is_one_line_exit_2(capsys, tmp_path, content, expected):
    image, mask = synthetic(tmp_path)
    params = tmp_path / "bad.yaml"
    params.write_text(content)
    code, out, err = run_cli(capsys, image, "--mask", mask, "--params", params)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"standardseg: error: {params}: ")
    assert expected in err


def test_bad_inputs_exit_2(capsys, tmp_path, params_file):
    image, mask = synthetic(tmp_path)
    code, _, err = run_cli(capsys, image, "--mask", tmp_path / "missing.nrrd", "--params", params_file)
    assert code == 2 and "missing.nrrd does not exist" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, image, "--mask", mask, "--params", tmp_path / "none.yaml")
    assert code == 2 and "none.yaml: expected a pyradiomics parameter file, found no such file" in err
    code, _, err = run_cli(capsys, image, "--mask", mask, "--params", params_file, "--label", "9")
    assert code == 2 and "label 9" in err and "not present" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, image, "--mask", mask, "--protocol", "no-such-protocol")
    assert code == 2 and "unknown protocol id 'no-such-protocol'" in err


def test_dicom_series(capsys, params_file):
    from StandardSegLib.imaging import load_image
    from StandardSegLib.measure import align_mask
    from StandardSegLib.suv import apply_suv, suv_conversion

    series, mask = DATA / "suv_dro" / "DRO_2_0" / "PT", DATA / "suv_dro" / "DRO_2_0" / "mask" / "DRO_mask.nii.gz"
    parameters = {"setting": {"binWidth": 0.25}, "featureClass": {"firstorder": ["Mean", "Maximum", "Entropy"]}}
    params_file.write_text(yaml.safe_dump(parameters))
    code, out, err = run_cli(capsys, series, "--mask", mask, "--params", params_file, "--json")
    assert code == 0, err
    loaded = load_image(series)
    image = apply_suv(loaded.image, suv_conversion(loaded.datasets))  # features are in SUVbw, as in `run`
    aligned, _ = align_mask(sitk.ReadImage(str(mask)), image)
    aligned = sitk.Image(aligned)
    aligned.CopyInformation(image)
    output = json.loads(out)
    assert output["units"] == "SUVbw"
    assert output["features"] == direct(parameters, image, aligned)
