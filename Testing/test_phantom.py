"""The synthetic PET/CT study and its DICOM/NRRD writers, checked against analytic truth.

Expected numbers are computed here independently of the generator: sphere volumes from 4/3 pi r^3, the
PET blur from the closed-form convolution of a uniform ball with a 3D Gaussian, SUV from the written
DICOM headers with the textbook formula, voxel membership by brute force with SimpleITK's own
index-to-physical transform.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import UID

from StandardSegLib.errors import InputError
from StandardSegLib.phantom import (NEMA_SPHERE_DIAMETERS_MM, PetAcquisition, StudyOptions, default_layout,
                                    generate_study, write_study)
from StandardSegLib.phantom.dicom_writer import write_dicom_series

PET_FWHM_MM = 6.0
_erf = np.vectorize(math.erf)


@pytest.fixture(scope="module")
def noise_free_study():
    return generate_study(StudyOptions(ct_noise_sd_hu=0.0, pet_noise_relative_sd=0.0))


def _physical_axes(image):
    """Voxel-centre coordinates along x, y, z (the generator uses identity directions)."""
    assert image.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    return [origin + spacing * np.arange(size)
            for origin, spacing, size in zip(image.GetOrigin(), image.GetSpacing(), image.GetSize())]


def _ball_mask(image, centre, radius_mm):
    x, y, z = _physical_axes(image)
    cx, cy, cz = centre
    distance2 = (x[None, None, :] - cx) ** 2 + (y[None, :, None] - cy) ** 2 + (z[:, None, None] - cz) ** 2
    return distance2 <= radius_mm ** 2


def _blurred_ball(distance_mm, radius_mm, sigma_mm):
    """Uniform ball (value 1) convolved with an isotropic 3D Gaussian, at ``distance_mm`` from its centre."""
    d = np.maximum(distance_mm, 1e-6)
    s2 = math.sqrt(2.0) * sigma_mm
    return (0.5 * (_erf((radius_mm - d) / s2) + _erf((radius_mm + d) / s2))
            - sigma_mm / (d * math.sqrt(2 * math.pi))
            * (np.exp(-(radius_mm - d) ** 2 / (2 * sigma_mm ** 2)) - np.exp(-(radius_mm + d) ** 2 / (2 * sigma_mm ** 2))))


# --- layout ---------------------------------------------------------------------------------------------

def test_layout_has_the_six_nema_spheres_with_clearance():
    layout = default_layout()
    assert [s.diameter_mm for s in layout.spheres] == [10.0, 13.0, 17.0, 22.0, 28.0, 37.0]
    assert NEMA_SPHERE_DIAMETERS_MM == (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
    assert [s.sphere_id for s in layout.spheres] == [1, 2, 3, 4, 5, 6]
    # Sample a 1 mm shell 10 mm around each sphere: all of it must be plain background tissue.
    for sphere in layout.spheres:
        g = np.arange(-sphere.radius_mm - 10, sphere.radius_mm + 10.5, 1.0)
        px, py, pz = (c + g for c in sphere.centre_lps_mm)
        x, y, z = px[None, None, :], py[None, :, None], pz[:, None, None]
        near = ((x - sphere.centre_lps_mm[0]) ** 2 + (y - sphere.centre_lps_mm[1]) ** 2
                + (z - sphere.centre_lps_mm[2]) ** 2) <= (sphere.radius_mm + 10) ** 2
        assert np.all(layout.body.contains(x, y, z)[near])
        assert not np.any((layout.liver.contains(x, y, z) | layout.lungs[0].contains(x, y, z)
                           | layout.lungs[1].contains(x, y, z))[near])
        for other in layout.spheres:
            if other is not sphere:
                gap = math.dist(sphere.centre_lps_mm, other.centre_lps_mm) - sphere.radius_mm - other.radius_mm
                assert gap >= 10.0


def test_liver_reference_sphere_lies_inside_the_liver_with_one_fwhm_margin():
    layout = default_layout()
    ref = layout.liver_reference
    assert ref.diameter_mm == 30.0 and ref.centre_lps_mm[0] < 0  # 3 cm, patient's right (PERCIST)
    g = np.arange(-ref.radius_mm - PET_FWHM_MM, ref.radius_mm + PET_FWHM_MM + 0.5, 1.0)
    px, py, pz = (c + g for c in ref.centre_lps_mm)
    x, y, z = px[None, None, :], py[None, :, None], pz[:, None, None]
    near = ((x - ref.centre_lps_mm[0]) ** 2 + (y - ref.centre_lps_mm[1]) ** 2
            + (z - ref.centre_lps_mm[2]) ** 2) <= (ref.radius_mm + PET_FWHM_MM) ** 2
    assert np.all(layout.liver.contains(x, y, z)[near])


# --- grids and truth --------------------------------------------------------------------------------------

def test_ct_and_pet_share_frame_and_physical_extent(synthetic_study):
    ct, pet = synthetic_study.ct_hu, synthetic_study.pet_suv
    assert ct.GetSpacing() == (1.5, 1.5, 2.0) and ct.GetSize() == (200, 200, 60)
    assert pet.GetSpacing() == (4.0, 4.0, 4.0) and pet.GetSize() == (75, 75, 30)
    for image in (ct, pet):
        low = np.array(image.GetOrigin()) - np.array(image.GetSpacing()) / 2
        high = low + np.array(image.GetSpacing()) * np.array(image.GetSize())
        np.testing.assert_allclose(low, [-150, -150, -60])
        np.testing.assert_allclose(high, [150, 150, 60])
    for labels, grid_of in ((synthetic_study.lesion_labels_ct, ct), (synthetic_study.lesion_labels_pet, pet)):
        assert labels.GetSize() == grid_of.GetSize() and labels.GetOrigin() == grid_of.GetOrigin()


def test_thicker_ct_slices_keep_the_extent():
    study = generate_study(StudyOptions(ct_slice_thickness_mm=5.0, ct_noise_sd_hu=20.0, pet_noise_relative_sd=0.0))
    assert study.ct_hu.GetSize() == (200, 200, 24) and study.ct_hu.GetSpacing()[2] == 5.0
    assert study.truth.options.ct_slice_thickness_mm == 5.0


def test_truth_volumes_are_analytic_and_label_counts_match(synthetic_study):
    truth = synthetic_study.truth
    ct_labels = sitk.GetArrayFromImage(synthetic_study.lesion_labels_ct)
    pet_labels = sitk.GetArrayFromImage(synthetic_study.lesion_labels_pet)
    for sphere in truth.spheres:
        assert sphere.volume_mm3 == pytest.approx(4 / 3 * math.pi * (sphere.diameter_mm / 2) ** 3, rel=1e-12)
        assert sphere.ct_voxel_count == np.count_nonzero(ct_labels == sphere.sphere_id)
        assert sphere.ct_voxel_volume_mm3 == pytest.approx(sphere.ct_voxel_count * 1.5 * 1.5 * 2.0)
        assert sphere.pet_voxel_volume_mm3 == pytest.approx(np.count_nonzero(pet_labels == sphere.sphere_id) * 64.0)
        # Voxel-centre rasterisation converges on the analytic volume: 1.5 x 1.5 x 2 mm voxels give
        # <= 8 % error for the 10 mm sphere and <= 1 % for the 37 mm one.
        tolerance = 0.08 if sphere.diameter_mm < 20 else 0.01
        assert sphere.ct_voxel_volume_mm3 == pytest.approx(sphere.volume_mm3, rel=tolerance)
        assert sphere.suv == 4.0 and sphere.hu == 120.0


@pytest.mark.parametrize("attribute", ["lesion_labels_ct", "lesion_labels_pet"])
def test_label_map_matches_brute_force_voxel_centre_rule(synthetic_study, attribute):
    labels = getattr(synthetic_study, attribute)
    array = sitk.GetArrayFromImage(labels)
    for sphere in synthetic_study.truth.spheres[:2]:
        centre = np.array(sphere.centre_lps_mm)
        low = labels.TransformPhysicalPointToIndex(tuple(centre - (sphere.diameter_mm / 2) - 5))
        high = labels.TransformPhysicalPointToIndex(tuple(centre + (sphere.diameter_mm / 2) + 5))
        for k in range(low[2], high[2] + 1):
            for j in range(low[1], high[1] + 1):
                for i in range(low[0], high[0] + 1):
                    point = np.array(labels.TransformIndexToPhysicalPoint((i, j, k)))
                    inside = np.sum((point - centre) ** 2) <= (sphere.diameter_mm / 2) ** 2
                    assert (array[k, j, i] == sphere.sphere_id) == inside


# --- CT values --------------------------------------------------------------------------------------------

def test_ct_tissue_values_and_noise(synthetic_study):
    ct = sitk.GetArrayFromImage(synthetic_study.ct_hu).astype(np.float64)
    layout = synthetic_study.layout
    liver = _ball_mask(synthetic_study.ct_hu, layout.liver_reference.centre_lps_mm, 15.0)
    fat_free_background = _ball_mask(synthetic_study.ct_hu, (50.0, 0.0, -20.0), 12.0)  # ring centre
    lung = _ball_mask(synthetic_study.ct_hu, layout.lungs[1].centre_lps_mm, 15.0)
    lesion = _ball_mask(synthetic_study.ct_hu, layout.spheres[-1].centre_lps_mm, 15.0)
    air = _ball_mask(synthetic_study.ct_hu, (-140.0, -140.0, 0.0), 8.0)
    for mask, hu in ((liver, 60.0), (fat_free_background, 40.0), (lung, -850.0), (lesion, 120.0), (air, -1000.0)):
        values = ct[mask]
        standard_error = 10.0 / math.sqrt(values.size)
        assert values.mean() == pytest.approx(hu, abs=4 * standard_error)
        assert values.std(ddof=1) == pytest.approx(10.0, rel=0.08)


# --- PET values -------------------------------------------------------------------------------------------

def test_pet_centre_values_match_blurred_ball_convolution(noise_free_study):
    pet = noise_free_study.pet_suv
    array = sitk.GetArrayFromImage(pet)
    sigma = PET_FWHM_MM / (2 * math.sqrt(2 * math.log(2)))
    offsets = (np.arange(8) + 0.5) / 8 - 0.5
    sub = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3) * 4.0
    for sphere in noise_free_study.truth.spheres:
        index = pet.TransformPhysicalPointToIndex(sphere.centre_lps_mm)
        points = np.array(pet.TransformIndexToPhysicalPoint(index)) + sub
        distances = np.linalg.norm(points - sphere.centre_lps_mm, axis=1)
        fraction = _blurred_ball(distances, sphere.diameter_mm / 2, sigma).mean()
        expected = 1.0 + (sphere.suv - 1.0) * fraction
        assert array[index[2], index[1], index[0]] == pytest.approx(expected, rel=0.02), sphere.diameter_mm


def test_pet_blur_conserves_lesion_activity(noise_free_study):
    pet = noise_free_study.pet_suv
    array = sitk.GetArrayFromImage(pet).astype(np.float64)
    for sphere in noise_free_study.truth.spheres:
        region = _ball_mask(pet, sphere.centre_lps_mm, (sphere.diameter_mm / 2) + 10.0)
        excess_suv_mm3 = (array[region] - 1.0).sum() * 64.0
        assert excess_suv_mm3 == pytest.approx((sphere.suv - 1.0) * sphere.volume_mm3, rel=0.02)


def test_pet_reference_regions(noise_free_study):
    pet = noise_free_study.pet_suv
    array = sitk.GetArrayFromImage(pet)
    liver = array[_ball_mask(pet, noise_free_study.layout.liver_reference.centre_lps_mm, 15.0)]
    assert liver.mean() == pytest.approx(2.0, rel=0.005)  # inside the EANM 1.3-3.0 liver QC range
    background = array[_ball_mask(pet, (50.0, 0.0, -20.0), 12.0)]
    assert background.mean() == pytest.approx(1.0, rel=0.005)
    lung = array[_ball_mask(pet, noise_free_study.layout.lungs[0].centre_lps_mm, 10.0)]
    assert lung.mean() == pytest.approx(0.3, rel=0.01)


def test_pet_noise_and_activity_concentration(synthetic_study):
    pet = synthetic_study.pet_suv
    liver = sitk.GetArrayFromImage(pet)[_ball_mask(pet, synthetic_study.layout.liver_reference.centre_lps_mm, 15.0)]
    assert liver.std(ddof=1) / liver.mean() == pytest.approx(0.10, rel=0.2)
    # Bq/mL = SUV x decayed dose / weight in g: 350 MBq, 60 min of F-18 decay, 75 kg.
    bqml_per_suv = 350e6 * 2 ** (-3600 / 6586.2) / 75_000
    np.testing.assert_allclose(sitk.GetArrayFromImage(synthetic_study.pet_bqml),
                               sitk.GetArrayFromImage(pet) * bqml_per_suv, rtol=1e-5)
    assert synthetic_study.truth.pet_acquisition.bqml_per_suv == pytest.approx(bqml_per_suv, rel=1e-12)


def test_contrast_ratio_ten_to_one():
    study = generate_study(StudyOptions(contrast_ratio=10.0, ct_noise_sd_hu=0.0, pet_noise_relative_sd=0.0))
    big = study.truth.spheres[-1]
    assert big.suv == 10.0
    index = study.pet_suv.TransformPhysicalPointToIndex(big.centre_lps_mm)
    assert study.pet_suv[index] == pytest.approx(10.0, rel=0.01)


def test_same_seed_same_images_other_seed_other_noise(synthetic_study):
    again = generate_study(StudyOptions(seed=0))
    other = generate_study(StudyOptions(seed=1))
    for name in ("ct_hu", "pet_suv"):
        first = sitk.GetArrayFromImage(getattr(synthetic_study, name))
        assert np.array_equal(first, sitk.GetArrayFromImage(getattr(again, name)))
        assert not np.array_equal(first, sitk.GetArrayFromImage(getattr(other, name)))


@pytest.mark.parametrize("options", [dict(contrast_ratio=0.0), dict(ct_noise_sd_hu=-1.0),
                                     dict(pet_fwhm_mm=float("nan")), dict(ct_slice_thickness_mm="2"),
                                     dict(seed=-3)])
def test_bad_options_are_refused(options):
    with pytest.raises(InputError, match=next(iter(options))):
        StudyOptions(**options)


# --- DICOM ------------------------------------------------------------------------------------------------

def _read(paths):
    return [pydicom.dcmread(path) for path in paths]


def _dicom_datetime(date: str, time: str) -> dt.datetime:
    return dt.datetime.strptime(date + time.split(".")[0], "%Y%m%d%H%M%S")


def test_pet_dicom_gives_back_suv_with_the_textbook_formula(synthetic_study, synthetic_study_files):
    expected = sitk.GetArrayFromImage(synthetic_study.pet_suv).astype(np.float64)
    datasets = _read(synthetic_study_files.pet_dicom)
    slopes = []
    for k, ds in enumerate(datasets):
        isotope = ds.RadiopharmaceuticalInformationSequence[0]
        injection = dt.datetime.strptime(isotope.RadiopharmaceuticalStartDateTime.split(".")[0], "%Y%m%d%H%M%S")
        elapsed_s = (_dicom_datetime(ds.SeriesDate, ds.SeriesTime) - injection).total_seconds()
        decayed_dose_bq = float(isotope.RadionuclideTotalDose) * 2 ** (-elapsed_s / float(isotope.RadionuclideHalfLife))
        weight_g = float(ds.PatientWeight) * 1000.0
        stored = ds.pixel_array.astype(np.float64)
        activity = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        suv = activity * weight_g / decayed_dose_bq
        bqml_per_suv = decayed_dose_bq / weight_g
        # Quantisation: at most half a stored unit (slope / 2 in Bq/mL), plus float32 rounding.
        tolerance = float(ds.RescaleSlope) / 2 / bqml_per_suv + 1e-5 * expected[k].max()
        assert np.abs(suv - expected[k]).max() <= tolerance
        assert float(ds.RescaleIntercept) == 0.0
        if expected[k].max() > 0:
            assert np.abs(stored).max() == 32767  # each slice uses the int16 range
        slopes.append(float(ds.RescaleSlope))
        assert elapsed_s == 3600.0
    assert len(set(slopes)) > len(slopes) // 2  # per-slice slopes, as scanners write them


def test_pet_header_carries_what_suv_and_qc_need(synthetic_study_files):
    ds = pydicom.dcmread(synthetic_study_files.pet_dicom[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.128" and ds.Modality == "PT"
    assert ds.Units == "BQML" and ds.DecayCorrection == "START"
    assert {"ATTN", "DECY"} <= set(ds.CorrectedImage)
    assert list(ds.SeriesType) == ["WHOLE BODY", "IMAGE"]
    assert float(ds.PatientWeight) == 75.0 and float(ds.PatientSize) == 1.75
    isotope = ds.RadiopharmaceuticalInformationSequence[0]
    assert isotope.Radiopharmaceutical == "Fluorodeoxyglucose"
    assert float(isotope.RadionuclideHalfLife) == 6586.2 and float(isotope.RadionuclideTotalDose) == 350e6
    assert isotope.RadionuclideCodeSequence[0].CodeMeaning == "^18^Fluorine"
    assert isotope.RadiopharmaceuticalStartTime.startswith("093000")
    assert ds.AcquisitionTime == ds.SeriesTime
    # Decay-weighted frame reference time for a 180 s frame of F-18, and the matching decay factor.
    lam = math.log(2) / 6586.2
    reference_s = math.log(lam * 180 / (1 - math.exp(-lam * 180))) / lam
    assert float(ds.FrameReferenceTime) == pytest.approx(reference_s * 1000, rel=1e-9)
    assert float(ds.DecayFactor) == pytest.approx(2 ** (reference_s / 6586.2), rel=1e-9)
    assert 89_000 < float(ds.FrameReferenceTime) < 90_000  # just under half the frame: decay-weighted


def test_ct_dicom_round_trip_and_geometry(synthetic_study, synthetic_study_files):
    expected = sitk.GetArrayFromImage(synthetic_study.ct_hu)
    datasets = _read(synthetic_study_files.ct_dicom)
    for k, ds in enumerate(datasets):
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.abs(hu - expected[k]).max() <= 0.5 + 1e-4
        assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(
            synthetic_study.ct_hu.TransformIndexToPhysicalPoint((0, 0, k)))
        assert ds.InstanceNumber == k + 1
    first = datasets[0]
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and first.Modality == "CT"
    assert [float(v) for v in first.PixelSpacing] == [1.5, 1.5]
    assert float(first.SliceThickness) == 2.0 and float(first.SpacingBetweenSlices) == 2.0
    assert float(first.KVP) == 120.0 and first.ConvolutionKernel == "STANDARD"
    assert first.PatientName == "Demo^Synthetic" and first.PatientID == "DEMO-0001"
    # GDCM (through SimpleITK) reads the series back onto the generator's grid.
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in synthetic_study_files.ct_dicom])
    image = reader.Execute()
    assert image.GetSize() == synthetic_study.ct_hu.GetSize()
    np.testing.assert_allclose(image.GetSpacing(), synthetic_study.ct_hu.GetSpacing())
    np.testing.assert_allclose(image.GetOrigin(), synthetic_study.ct_hu.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(image.GetDirection(), synthetic_study.ct_hu.GetDirection())


def test_uids_link_ct_and_pet_and_files_are_part_10(synthetic_study_files):
    ct = _read(synthetic_study_files.ct_dicom)
    pet = _read(synthetic_study_files.pet_dicom)
    assert {ds.StudyInstanceUID for ds in ct + pet} == {ct[0].StudyInstanceUID}
    assert {ds.FrameOfReferenceUID for ds in ct + pet} == {ct[0].FrameOfReferenceUID}
    assert len({ds.SeriesInstanceUID for ds in ct}) == 1 and len({ds.SeriesInstanceUID for ds in pet}) == 1
    assert ct[0].SeriesInstanceUID != pet[0].SeriesInstanceUID
    sop_uids = [ds.SOPInstanceUID for ds in ct + pet]
    assert len(set(sop_uids)) == len(sop_uids)
    for ds in ct + pet:
        assert UID(ds.SOPInstanceUID).is_valid
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    truth = json.loads(synthetic_study_files.truth_json.read_text())
    assert truth["dicom"]["study_instance_uid"] == ct[0].StudyInstanceUID
    assert truth["dicom"]["pet_series_instance_uid"] == pet[0].SeriesInstanceUID


def test_writing_twice_gives_identical_files(synthetic_study, synthetic_study_files, tmp_path):
    again = write_study(synthetic_study, tmp_path / "study")
    for first, second in zip(synthetic_study_files.all_files(), again.all_files()):
        assert first.relative_to(synthetic_study_files.root) == second.relative_to(again.root)
        assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_nrrd_and_truth_files(synthetic_study, synthetic_study_files):
    files = synthetic_study_files
    for path, image in ((files.ct_nrrd, synthetic_study.ct_hu), (files.pet_suv_nrrd, synthetic_study.pet_suv),
                        (files.lesions_nrrd, synthetic_study.lesion_labels_ct),
                        (files.lesions_pet_nrrd, synthetic_study.lesion_labels_pet)):
        read = sitk.ReadImage(str(path))
        assert np.array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(image))
        np.testing.assert_allclose(read.GetOrigin(), image.GetOrigin())
        np.testing.assert_allclose(read.GetSpacing(), image.GetSpacing())
    truth = json.loads(files.truth_json.read_text())
    assert [s["diameter_mm"] for s in truth["spheres"]] == list(NEMA_SPHERE_DIAMETERS_MM)
    assert truth["spheres"][0]["volume_mm3"] == pytest.approx(4 / 3 * math.pi * 5.0 ** 3)
    assert truth["liver_reference_diameter_mm"] == 30.0
    assert truth["pet_acquisition"]["injection_datetime"] == "2024-01-15T09:30:00"
    assert truth["pet_acquisition"]["half_life_s"] == 6586.2


def test_dicom_writer_refuses_bad_input(tmp_path, synthetic_study):
    small = sitk.Image(4, 4, 2, sitk.sitkFloat32)
    with pytest.raises(InputError, match="modality"):
        write_dicom_series(small, tmp_path / "a", "MR", {})
    with pytest.raises(InputError, match="NotAKeyword"):
        write_dicom_series(small, tmp_path / "b", "CT", {"NotAKeyword": 1})
    with pytest.raises(InputError, match="3D scalar"):
        write_dicom_series(sitk.Image(4, 4, sitk.sitkFloat32), tmp_path / "c", "CT", {})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "other.dcm").write_bytes(b"")
    with pytest.raises(InputError, match="not empty"):
        write_dicom_series(small, tmp_path / "d", "CT", {})
    with pytest.raises(InputError, match="not empty"):
        write_study(synthetic_study, tmp_path / "d")


def test_pet_acquisition_defaults_are_the_header_numbers():
    acquisition = PetAcquisition()
    assert acquisition.injection_datetime == dt.datetime(2024, 1, 15, 9, 30)
    assert acquisition.decayed_dose_bq == pytest.approx(350e6 * 0.5 ** (3600 / 6586.2))
