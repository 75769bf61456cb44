"""NRRD / NIfTI / MetaImage loading and JSON sidecars, checked against images written in the test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.imaging import load_image, read_image_record
from StandardSegLib.imaging.header_fields import gaussian_fwhm_mm, reconstruction_iterations_subsets

DATA = Path(__file__).resolve().parent / "Data"
OBLIQUE = (0.8660254037844387, 0.5, 0.0, -0.5, 0.8660254037844387, 0.0, 0.0, 0.0, 1.0)


def _written(path: Path, pixel_type=sitk.sitkInt16) -> tuple[sitk.Image, np.ndarray]:
    dtype = sitk.GetArrayFromImage(sitk.Image(1, 1, pixel_type)).dtype
    values = (np.arange(4 * 5 * 6).reshape(4, 5, 6) - 60).astype(dtype)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((-12.5, 30.0, 7.25))
    image.SetDirection(OBLIQUE)
    sitk.WriteImage(image, str(path))
    return image, values


@pytest.mark.parametrize("name", ["ct.nrrd", "ct.nii.gz", "ct.nii", "ct.mha", "ct.nhdr", "ct.mhd"])
def test_round_trip_keeps_values_and_geometry(tmp_path, name):
    original, values = _written(tmp_path / name)
    loaded = load_image(tmp_path / name)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image), values.astype(np.float32))
    assert loaded.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(loaded.image.GetSpacing(), original.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(loaded.image.GetOrigin(), original.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(loaded.image.GetDirection(), OBLIQUE, atol=1e-6)
    record = loaded.record
    assert record.matrix == (5, 6, 4)  # rows (y), columns (x), slices (z)
    assert record.pixel_spacing_mm == pytest.approx((0.9, 0.7))
    assert record.spacing_between_slices_mm == pytest.approx(2.5)
    assert record.orientation == pytest.approx(OBLIQUE[0:9:3] + OBLIQUE[1:9:3], abs=1e-6)
    assert record.modality is None and loaded.datasets == ()
    assert loaded.source_files[0] == tmp_path / name
    if name.endswith((".nhdr", ".mhd")):  # detached header: the pixel file is an input too
        assert len(loaded.source_files) == 2 and loaded.source_files[1].is_file()


def test_sidecar_fields_reach_record_and_dataset(tmp_path):
    _written(tmp_path / "pet.nii.gz")
    sidecar = {
        "Modality": "PT", "PatientWeight": 72.5, "PatientSex": "F", "Units": "BQML", "DecayCorrection": "START",
        "ReconstructionMethod": "OSEM3D 3i24s", "ConvolutionKernel": "XYZGAUSS5.00",
        "RadiopharmaceuticalInformationSequence": [{
            "Radiopharmaceutical": "FDG", "RadionuclideTotalDose": 3.5e8, "RadionuclideHalfLife": 6586.2,
            "RadiopharmaceuticalStartDateTime": "20240301093000"}],
        "PatientName": "Doe^Jane", "kvp": 100, "scatter_correction_method": "model based",
    }
    (tmp_path / "pet.json").write_text(json.dumps(sidecar))
    loaded = load_image(tmp_path / "pet.nii.gz")
    record = loaded.record
    assert record.modality == "PT" and record.patient_weight_kg == 72.5 and record.units == "BQML"
    assert (record.reconstruction_iterations, record.reconstruction_subsets) == (3, 24)
    assert record.reconstruction_filter_fwhm_mm == 5.0
    assert record.half_life_s == 6586.2 and record.total_dose_bq == 3.5e8
    assert record.injection_datetime == "2024-03-01T09:30:00"
    assert record.kvp == 100.0 and record.scatter_correction_method == "model based"
    assert "Doe" not in json.dumps(record.to_dict())
    assert record.to_dict(include_identifiers=True)["identifiers"] == {"PatientName": "Doe^Jane"}
    (dataset,) = loaded.datasets
    assert float(dataset.PatientWeight) == 72.5
    assert float(dataset.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose) == 3.5e8
    assert tmp_path / "pet.json" in loaded.source_files


def test_bids_sidecar_times_are_converted_to_ms(tmp_path):
    _written(tmp_path / "t2.nii.gz")
    (tmp_path / "t2.json").write_text(json.dumps({"Modality": "MR", "EchoTime": 0.08, "RepetitionTime": 3.2,
                                                  "MagneticFieldStrength": 3, "ConversionSoftware": "dcm2niix"}))
    record = read_image_record(tmp_path / "t2.nii.gz")
    assert record.echo_time_ms == pytest.approx(80.0) and record.repetition_time_ms == pytest.approx(3200.0)
    assert record.magnetic_field_strength_t == 3.0
    assert any("BIDS" in warning for warning in record.warnings)
    assert any("ConversionSoftware" in warning for warning in record.warnings)  # not a DICOM keyword


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('["Modality"]', "JSON object"),
    ('{"PatientWeight": "heavy"}', "PatientWeight"),
    ('{"kvp": "high"}', "kvp must be a number"),
    ('{"RadiopharmaceuticalInformationSequence": 5}', "list of objects"),
])
def test_bad_sidecar_is_an_input_error_naming_it(tmp_path, content, message):
    _written(tmp_path / "img.nrrd")
    (tmp_path / "img.json").write_text(content)
    before = hashlib.sha256((tmp_path / "img.json").read_bytes()).hexdigest()
    with pytest.raises(InputError, match=message) as error:
        read_image_record(tmp_path / "img.nrrd")
    assert "img.json" in str(error.value)
    assert hashlib.sha256((tmp_path / "img.json").read_bytes()).hexdigest() == before


def test_corrupt_image_file_is_an_input_error(tmp_path):
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="broken.nii.gz"):
        load_image(tmp_path / "broken.nii.gz")


@pytest.mark.parametrize("text, expected", [
    ("OSEM3D 3i24s", (3, 24)), ("PSF+TOF 4i21s", (4, 21)), ("OSEM 2 iterations 16 subsets", (2, 16)),
    ("3D-RAMLA", (None, None)), (None, (None, None)),
])
def test_iterations_and_subsets_are_parsed(text, expected):
    assert reconstruction_iterations_subsets(text) == expected


def test_gaussian_fwhm_is_parsed():
    assert gaussian_fwhm_mm(["XYZGAUSS4.00"]) == 4.0
    assert gaussian_fwhm_mm(["All-pass", "Gaussian 6 mm"]) == 6.0
    assert gaussian_fwhm_mm(["B30f"]) is None


def test_ibsi_digital_phantom_loads_with_2mm_spacing():
    loaded = load_image(DATA / "ibsi_digital_phantom" / "image.nii.gz")
    assert loaded.image.GetSpacing() == (2.0, 2.0, 2.0)
    assert loaded.image.GetSize() == (5, 4, 4)  # IBSI 1: 5 x 4 x 4 voxels
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "ibsi_digital_phantom" / "image.nii.gz")))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image), reference)
