"""DICOM loading: ordering, geometry, per-slice rescale and errors, on synthetic series and real files.

Expected numbers come from the factory's own placement of every slice (position_k = origin + k·Δ·normal)
or are read independently from the file with pydicom, never from the loader.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from dicom_factory import write_series
from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.imaging import load_image, read_image_record, scan_series

DATA = Path(__file__).resolve().parent / "Data"


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _physical(image: sitk.Image, index: tuple[int, int, int]) -> np.ndarray:
    return np.array(image.TransformIndexToPhysicalPoint(index))


# --- pydicom's real test files -------------------------------------------------------------------------

def test_ct_small_record_matches_pydicom():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    record = read_image_record(path)
    assert record.modality == "CT"
    assert record.kvp == float(ds.KVP) == 120.0
    assert record.convolution_kernel == (str(ds.ConvolutionKernel),)
    assert record.slice_thickness_mm == float(ds.SliceThickness)
    assert record.tube_current_ma == float(ds.XRayTubeCurrent)
    assert record.exposure_mas == float(ds.Exposure)
    assert record.reconstruction_diameter_mm == pytest.approx(float(ds.ReconstructionDiameter))
    assert record.manufacturer == ds.Manufacturer
    assert record.pixel_spacing_mm == tuple(float(v) for v in ds.PixelSpacing)
    assert record.matrix == (ds.Rows, ds.Columns, 1)
    assert record.acquisition_datetime == "1997-04-30T11:29:36"  # AcquisitionDate 19970430, Time 112936
    assert "PatientName" not in str(record.to_dict())
    assert dict(record.identifiers)["PatientID"] == ds.PatientID
    assert record.to_dict(include_identifiers=True)["identifiers"]["PatientID"] == ds.PatientID


def test_ct_small_loads_with_geometry_and_hounsfield_units():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    loaded = load_image(path)
    assert loaded.image.GetSize() == (ds.Columns, ds.Rows, 1)
    assert loaded.image.GetOrigin() == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert loaded.image.GetSpacing() == pytest.approx([*map(float, ds.PixelSpacing[::-1]), float(ds.SliceThickness)])
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded.image)[0], expected)
    assert loaded.image.GetPixelID() == sitk.sitkFloat32
    assert loaded.source_files == (Path(path),)
    assert "PixelData" not in loaded.datasets[0]


def test_mr_small_record_matches_pydicom():
    path = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    record = read_image_record(path)
    assert record.modality == "MR"
    assert record.repetition_time_ms == float(ds.RepetitionTime) == 4000.0
    assert record.echo_time_ms == float(ds.EchoTime) == 240.0
    assert record.flip_angle_deg == float(ds.FlipAngle)
    assert record.scanning_sequence == (str(ds.ScanningSequence),)
    assert record.mr_acquisition_type == ds.MRAcquisitionType
    assert record.magnetic_field_strength_t is None and "MagneticFieldStrength" not in ds
    assert record.slice_thickness_mm == float(ds.SliceThickness)
    assert record.patient_weight_kg == float(ds.PatientWeight)
    loaded = load_image(path)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded.image)[0], ds.pixel_array)


# --- synthetic series ----------------------------------------------------------------------------------

def test_shuffled_files_load_in_spatial_order(tmp_path):
    series = write_series(tmp_path / "ct", shape=(4, 6, 7), shuffle_seed=3, intercept=-1024)
    assert [f.name for f in sorted(series.files)] != [f.name for f in series.files]  # names not in order
    loaded = load_image(series.directory)
    values = sitk.GetArrayFromImage(loaded.image)
    np.testing.assert_array_equal(values, series.real_values)
    assert np.all(np.diff(values[:, 0, 0]) == 100)  # the stored gradient along z, in spatial order
    assert loaded.source_files == series.files
    for k, dataset in enumerate(loaded.datasets):
        assert [float(v) for v in dataset.ImagePositionPatient] == pytest.approx(series.positions_mm[k])
    assert loaded.record.spacing_between_slices_mm == pytest.approx(2.5)
    assert loaded.record.matrix == (4, 6, 7)


def test_oblique_series_geometry(tmp_path):
    angle = np.deg2rad(30)
    row = (np.cos(angle), np.sin(angle), 0.0)
    column = (0.0, 0.0, -1.0)  # coronal-ish oblique
    series = write_series(tmp_path / "obl", modality="MR", shape=(5, 4, 6), orientation=row + column,
                          pixel_spacing_mm=(1.5, 0.9), slice_spacing_mm=3.0, origin_mm=(12.0, -7.5, 40.0),
                          shuffle_seed=0)
    image = load_image(series.directory).image
    normal = np.cross(row, column)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction[:, 0], row, atol=1e-9)
    np.testing.assert_allclose(direction[:, 1], column, atol=1e-9)
    np.testing.assert_allclose(direction[:, 2], normal, atol=1e-9)
    assert image.GetSpacing() == pytest.approx((0.9, 1.5, 3.0))
    for k in range(6):
        np.testing.assert_allclose(_physical(image, (0, 0, k)), series.positions_mm[k], atol=1e-5)
        # column index 3, row index 4 of slice k: position + 3·0.9·row + 4·1.5·column (PS3.3 C.7.6.2.1.1)
        expected = series.positions_mm[k] + 3 * 0.9 * np.array(row) + 4 * 1.5 * np.array(column)
        np.testing.assert_allclose(_physical(image, (3, 4, k)), expected, atol=1e-5)


def test_per_slice_rescale_slope_is_applied(tmp_path):
    slopes = [0.5, 1.25, 2.0, 3.5]
    series = write_series(tmp_path / "pt", modality="PT", shape=(3, 3, 4), slope=slopes, shuffle_seed=1)
    values = sitk.GetArrayFromImage(load_image(series.directory).image)
    for k, slope in enumerate(slopes):
        np.testing.assert_allclose(values[k], series.stored[k] * slope, rtol=1e-6)
    assert values[3, 2, 2] == pytest.approx((300 + 20 + 2) * 3.5)


def test_mixed_folder_lists_every_series(tmp_path):
    ct = write_series(tmp_path / "mixed" / "a", modality="CT", header={"SeriesDescription": "venous"})
    mr = write_series(tmp_path / "mixed" / "b", modality="MR", shape=(4, 6, 3), header={"SeriesDescription": "T2"})
    summaries = {s.series_instance_uid: s for s in scan_series(tmp_path / "mixed")}
    assert set(summaries) == {ct.series_instance_uid, mr.series_instance_uid}
    assert summaries[mr.series_instance_uid].number_of_files == 3
    with pytest.raises(DicomError) as error:
        load_image(tmp_path / "mixed")
    message = str(error.value)
    for expected in (ct.series_instance_uid, mr.series_instance_uid, "venous", "T2", "CT", "MR", "--series"):
        assert expected in message
    chosen = load_image(tmp_path / "mixed", series_uid=mr.series_instance_uid)
    assert chosen.record.modality == "MR" and chosen.image.GetSize() == (6, 4, 3)


def test_varying_header_values_are_flagged(tmp_path):
    series = write_series(tmp_path / "ct", header={"KVP": 120, "XRayTubeCurrent": 200},
                          per_slice={2: {"XRayTubeCurrent": 310}})
    record = read_image_record(series.directory)
    assert record.kvp == 120.0 and record.tube_current_ma == 200.0
    assert record.varies_across_slices == ("tube_current_ma",)


@pytest.mark.parametrize("name, kwargs, expected", [
    ("missing slice", {"delete": 2}, ["non-uniform slice spacing", "5 mm", "median 2.5"]),
    ("mixed orientation", {"per_slice": {1: {"ImageOrientationPatient": [1, 0, 0, 0, 0.9950042, 0.0998334]}}},
     ["mixed ImageOrientationPatient"]),
    ("duplicate position", {"per_slice": {3: {"ImagePositionPatient": [-10.0, -20.0, 35.0]}}},
     ["duplicate slice position", "[-10.0, -20.0, 35.0]"]),
    ("mixed matrix", {"per_slice": {1: {"PixelSpacing": [0.8, 0.75]}}}, ["mixed PixelSpacing", "0.75"]),
    ("uneven spacing", {"per_slice": {4: {"ImagePositionPatient": [-10.0, -20.0, 40.1]}}},
     ["non-uniform slice spacing"]),
    ("gantry tilt", {"per_slice": {k: {"ImagePositionPatient": [-10.0, -20.0 + 0.4 * k, 30 + 2.5 * k]}
                                   for k in range(5)}}, ["not stacked along the slice normal"]),
])
def test_irregular_series_is_refused_without_touching_files(tmp_path, name, kwargs, expected):
    delete = kwargs.pop("delete", None)
    series = write_series(tmp_path / "s", shape=(4, 6, 5), **kwargs)
    if delete is not None:
        series.files[delete].unlink()
    before = _hashes(series.directory)
    with pytest.raises(DicomError) as error:
        load_image(series.directory)
    for text in expected:
        assert text in str(error.value), (name, str(error.value))
    assert "\n" not in str(error.value)
    assert _hashes(series.directory) == before


def test_truncated_pixel_data_names_the_file(tmp_path):
    series = write_series(tmp_path / "s", shape=(8, 8, 3))
    victim = series.files[1]
    victim.write_bytes(victim.read_bytes()[:-40])
    before = _hashes(series.directory)
    assert read_image_record(series.directory).number_of_slices == 3  # headers are intact
    with pytest.raises(DicomError, match=victim.name):
        load_image(series.directory)
    assert _hashes(series.directory) == before


def test_truncated_header_names_the_file(tmp_path):
    series = write_series(tmp_path / "s", shape=(8, 8, 3))
    victim = series.files[0]
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(DicomError, match=f"{victim.name}.*unreadable"):
        load_image(series.directory)


def test_non_dicom_files_are_skipped_with_a_warning(tmp_path):
    series = write_series(tmp_path / "s", shape=(4, 4, 3))
    (series.directory / "notes.txt").write_text("not an image\n")
    (series.directory / "thumbnail.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    loaded = load_image(series.directory)
    assert loaded.image.GetSize() == (4, 4, 3)
    assert any("notes.txt" in w for w in loaded.record.warnings)
    assert any("thumbnail.png" in w for w in loaded.record.warnings)


def test_folder_of_only_non_dicom_and_empty_folder(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("hello")
    with pytest.raises(DicomError, match="no DICOM files found"):
        load_image(tmp_path / "junk")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomError, match="empty"):
        scan_series(tmp_path / "empty")


def test_missing_path_and_unknown_extension(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nowhere.nii.gz")
    odd = tmp_path / "image.xyz"
    odd.write_text("plain text")
    with pytest.raises(InputError, match="unknown file type"):
        load_image(odd)


def test_non_image_dicom_file_is_refused():
    with pytest.raises(DicomError, match="no image"):
        load_image(get_testdata_file("rtplan.dcm"))


def test_multiframe_file_is_refused_clearly():
    with pytest.raises(DicomError, match="multi-frame"):
        load_image(get_testdata_file("rtdose.dcm"))


def test_header_reads_do_not_decode_pixels(tmp_path, monkeypatch):
    series = write_series(tmp_path / "s", shape=(4, 4, 3))
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(lambda self: pytest.fail("pixels decoded")))
    assert read_image_record(series.directory).number_of_slices == 3


# --- vendored reference data (Testing/Data) -----------------------------------------------------------------------------

def test_suv_dro_series_matches_its_mask_geometry():
    folder = DATA / "suv_dro" / "DRO_0_0"
    loaded = load_image(folder / "PT")
    mask = sitk.ReadImage(str(folder / "mask" / "DRO_mask.nii.gz"))
    assert loaded.image.GetSize() == mask.GetSize() == (256, 256, 20)
    np.testing.assert_allclose(loaded.image.GetSpacing(), mask.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(loaded.image.GetOrigin(), mask.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(loaded.image.GetDirection(), mask.GetDirection(), atol=1e-6)
    first = pydicom.dcmread(sorted((folder / "PT").iterdir())[0])
    assert loaded.record.reconstruction_method == first.ReconstructionMethod == "PSF+TOF 4i5s"
    assert (loaded.record.reconstruction_iterations, loaded.record.reconstruction_subsets) == (4, 5)
    assert loaded.record.half_life_s == 6586.2 and loaded.record.units == "BQML"
    assert loaded.record.injection_datetime == "2025-01-01T10:00:00"
    # the parent folder also holds an RTSTRUCT and a NIfTI mask: the one image series is chosen
    from_parent = load_image(folder)
    assert from_parent.record.series_instance_uid == loaded.record.series_instance_uid
    assert any("RTSTRUCT" in w for w in from_parent.record.warnings)

