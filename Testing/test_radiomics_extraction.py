"""Radiomics extraction: values equal a direct pyradiomics call, settings are recorded, pyradiomics' logging
stays off the terminal, parameter errors name the source and key; IBSI mapping and deviations behave."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.errors import InputError
from StandardSegLib.protocols import load_library
from StandardSegLib.radiomics import (PYRADIOMICS_TO_IBSI, applicable_deviations, build_extractor,
                                      extract_features, ibsi_feature, protocol_parameters, read_parameter_file)
from StandardSegLib.radiomics.ibsi_mapping import class_and_feature


def synthetic_ct(tmp_path: Path) -> tuple[Path, Path]:
    """An int16 'CT' (0.8 x 0.8 x 2.5 mm) with a textured ellipsoidal lesion (labels 1) and a second label 2."""
    rng = np.random.default_rng(7)
    shape = (16, 48, 48)
    values = rng.normal(40, 15, size=shape)
    z, y, x = np.indices(shape)
    lesion = ((x - 22) / 10.0) ** 2 + ((y - 24) / 8.0) ** 2 + ((z - 8) / 4.0) ** 2 <= 1
    values[lesion] += 60 + 20 * np.sin(x[lesion] / 2.0)
    labels = lesion.astype(np.uint8)
    labels[2:5, 5:10, 5:12] = 2
    image, mask = sitk.GetImageFromArray(np.round(values).astype(np.int16)), sitk.GetImageFromArray(labels)
    for item in (image, mask):
        item.SetSpacing((0.8, 0.8, 2.5))
        item.SetOrigin((-20.0, 10.0, 5.0))
    image_path, mask_path = tmp_path / "ct.nii.gz", tmp_path / "mask.nii.gz"
    sitk.WriteImage(image, str(image_path))
    sitk.WriteImage(mask, str(mask_path))
    return image_path, mask_path


def direct_pyradiomics(parameters, image_path: Path, mask_path: Path, label=None) -> dict:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    output = RadiomicsFeatureExtractor(parameters).execute(str(image_path), str(mask_path), label=label)
    return {key: value for key, value in output.items() if not key.startswith("diagnostics_")}


@pytest.mark.parametrize("protocol_id", ["ct-liver-lesion", "fdg-pet-ct-oncology"])
def test_values_equal_a_direct_pyradiomics_call(tmp_path, protocol_id):
    image_path, mask_path = synthetic_ct(tmp_path)
    parameters, source = protocol_parameters(load_library().get(protocol_id))
    result = extract_features(sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path)), parameters,
                              source=source)
    direct = direct_pyradiomics(parameters, image_path, mask_path)
    assert list(result.features) == list(direct)
    assert all(result.features[key] == float(value) for key, value in direct.items())  # exact, not approx
    assert len(result.features) > 50
    assert source.startswith(f"protocol {protocol_id} version ")


def test_label_override_and_settings_recorded(tmp_path):
    image_path, mask_path = synthetic_ct(tmp_path)
    parameters = {"setting": {"binWidth": 10, "label": 1, "resampledPixelSpacing": [1, 1, 1],
                              "interpolator": "sitkLinear"},
                  "featureClass": {"firstorder": ["Mean", "Maximum"], "shape": ["VoxelVolume"]}}
    result = extract_features(sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path)), parameters,
                              label=2, source="p.yaml")
    direct = direct_pyradiomics(parameters, image_path, mask_path, label=2)
    assert dict(result.features) == {key: float(value) for key, value in direct.items()}
    assert result.label == 2 and result.settings["label"] == 2
    assert result.settings["binWidth"] == 10 and result.settings["resampledPixelSpacing"] == [1, 1, 1]
    assert result.settings["interpolator"] == "sitkLinear"
    # pyradiomics defaults not in the file are recorded too
    assert result.settings["padDistance"] == 5 and result.settings["normalize"] is False
    assert result.image_types == {"Original": {}}
    assert result.feature_classes == {"firstorder": ["Mean", "Maximum"], "shape": ["VoxelVolume"]}
    assert result.parameters_source == "p.yaml" and result.pyradiomics_version.lstrip("v")[0].isdigit()
    assert {d.id for d in result.deviations()} >= {"grid-alignment", "mask-nearest-neighbour",
                                                   "no-rounding-after-resampling"}
    as_dict = result.to_dict()
    json.dumps(as_dict)  # plain JSON types throughout
    assert as_dict["ibsi"]["original_firstorder_Mean"]["code"] == "Q4LE"


def test_inputs_are_not_modified(tmp_path):
    image_path, mask_path = synthetic_ct(tmp_path)
    image, mask = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path))
    before = (sitk.GetArrayFromImage(image).copy(), sitk.GetArrayFromImage(mask).copy(), image.GetOrigin())
    parameters = {"setting": {"binWidth": 25, "resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkBSpline"},
                  "featureClass": {"firstorder": None}}
    extract_features(image, mask, parameters)
    assert np.array_equal(sitk.GetArrayFromImage(image), before[0])
    assert np.array_equal(sitk.GetArrayFromImage(mask), before[1]) and image.GetOrigin() == before[2]


def test_pyradiomics_logging_is_collected_not_printed(tmp_path, capfd):
    image_path, mask_path = synthetic_ct(tmp_path)
    logger = logging.getLogger("radiomics")
    state = (logger.level, [handler.level for handler in logger.handlers], len(logger.handlers))
    parameters = {"featureClass": {"shape": ["Compactness1"], "glcm": ["SumAverage"]}}
    result = extract_features(sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path)), parameters)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert any("Compactness1 is deprecated" in warning for warning in result.warnings)
    assert any("GLCM is symmetrical" in warning for warning in result.warnings)
    assert (logger.level, [handler.level for handler in logger.handlers], len(logger.handlers)) == state


@pytest.mark.parametrize("parameters, message", [
    ({"setting": {"binWidht": 25}}, "p.yaml: setting.binWidht: unknown key"),
    ({"setting": {"binWidth": "wide"}}, "p.yaml: setting.binWidth: Value 'wide' is not of type 'float'"),
    ({"setting": {"interpolator": "cubic"}}, "p.yaml: setting.interpolator: Interpolator value \"cubic\""),
    ({"featureClass": {"texture": []}}, "p.yaml: featureClass: Feature Class texture is not recognized"),
    ({"featureClass": {"shape": ["Volume"]}}, "p.yaml: featureClass: Feature Class shape contains unrecognized"),
    ({"settings": {"binWidth": 25}}, "p.yaml: settings: unknown key, expected one of setting"),
    ([1, 2], "p.yaml: expected a mapping with keys setting, voxelSetting, imageType, featureClass, found a list"),
])
def test_bad_parameters_name_source_and_key(parameters, message):
    with pytest.raises(InputError) as error:
        build_extractor(parameters, "p.yaml")
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_missing_label_is_an_input_error(tmp_path):
    image_path, mask_path = synthetic_ct(tmp_path)
    with pytest.raises(InputError, match=r"label 5 of m\.nii\.gz with p\.yaml: Label \(5\) not present"):
        extract_features(sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path)), {}, label=5,
                         source="p.yaml", mask_name="m.nii.gz")


def test_parameter_files_yaml_and_json_read_unchanged(tmp_path):
    parameters = {"setting": {"binWidth": 25, "label": 1}, "imageType": {"Original": {}},
                  "featureClass": {"shape": None, "firstorder": []}}
    yaml_path, json_path = tmp_path / "params.yaml", tmp_path / "params.json"
    yaml_path.write_text(yaml.safe_dump(parameters))
    json_path.write_text(json.dumps(parameters))
    assert read_parameter_file(yaml_path) == parameters == read_parameter_file(json_path)


@pytest.mark.parametrize("content, message", [
    ("setting: {binWidth: [}\n", "line 1, column"),
    ("", "found an empty file"),
    ("- 1\n- 2\n", "found a list"),
])
def test_bad_parameter_files(tmp_path, content, message):
    path = tmp_path / "params.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as error:
        read_parameter_file(path)
    assert str(error.value).startswith(str(path))
    with pytest.raises(InputError, match="no such file"):
        read_parameter_file(tmp_path / "missing.yaml")


def test_ibsi_mapping_names_and_filtered_image_types():
    assert class_and_feature("original_shape_MeshVolume") == "shape_MeshVolume"
    assert class_and_feature("wavelet-LLH_firstorder_Mean") == "firstorder_Mean"
    assert class_and_feature("log-sigma-1-0-mm-3D_firstorder_Kurtosis") == "firstorder_Kurtosis"
    assert class_and_feature("diagnostics_Versions_PyRadiomics") is None
    assert ibsi_feature("original_shape_VoxelVolume").code == "YEKZ"
    assert ibsi_feature("original_firstorder_Entropy").family == "Intensity histogram features"
    assert ibsi_feature("original_firstorder_TotalEnergy") is None
    assert ibsi_feature("original_glcm_Contrast") is None
    codes = [feature.code for feature in PYRADIOMICS_TO_IBSI.values()]
    assert len(codes) == len(set(codes)) and all(len(code) == 4 for code in codes)


def test_deviations_depend_on_settings_and_features():
    names = ["original_firstorder_Mean", "original_firstorder_Energy", "original_glcm_Contrast"]
    plain = {"binWidth": 25, "binCount": None, "resampledPixelSpacing": None, "interpolator": "sitkBSpline"}
    assert {d.id for d in applicable_deviations(plain, names)} == {"bin-edges-at-zero"}
    shifted = dict(plain, voxelArrayShift=1000, resampledPixelSpacing=[1, 1, 1])
    assert {d.id for d in applicable_deviations(shifted, names)} == {
        "bin-edges-at-zero", "voxel-array-shift", "grid-alignment", "no-rounding-after-resampling",
        "mask-nearest-neighbour"}
    by_count = dict(plain, binCount=32)
    assert applicable_deviations(by_count, ["original_shape_VoxelVolume"]) == ()
