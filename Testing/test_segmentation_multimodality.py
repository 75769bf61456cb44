"""Multi-modality reference: a known rigid shift between CT and PET of the synthetic study is recovered
by the Mattes-MI registration; images sharing a FrameOfReferenceUID are only resampled."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.phantom import StudyOptions, generate_study
from StandardSegLib.segmentation import onto_primary_grid

SHIFT_MM = (3.5, -2.0, 1.5)


@pytest.fixture(scope="module")
def study():
    # 3 mm CT voxels keep the registration under a second; the PET is the default 4 mm, 6 mm FWHM.
    return generate_study(StudyOptions(ct_pixel_spacing_mm=3.0, ct_slice_thickness_mm=3.0))


def test_known_rigid_shift_is_recovered_within_1_mm(study):
    pet = sitk.Cast(study.pet_suv, sitk.sitkFloat32)
    # PET content moved by SHIFT_MM on an unchanged grid: moved(p) = pet(p - shift), so the transform from
    # CT (primary) points to PET points is p -> p + shift. Centre alignment alone cannot find it.
    moved = sitk.Resample(pet, pet, sitk.TranslationTransform(3, [-v for v in SHIFT_MM]), sitk.sitkLinear, 0.0)
    resampled, alignment = onto_primary_grid(moved, study.ct_hu, "1.2.3.pet", "1.2.3.ct")
    assert alignment.same_frame_of_reference is False and alignment.method.startswith("rigid registration")
    error = np.subtract(alignment.translation_mm, SHIFT_MM)
    assert np.linalg.norm(error) <= 1.0, alignment
    assert max(abs(a) for a in alignment.rotation_rad) < np.radians(1.0)
    assert alignment.final_metric < 0 and alignment.to_dict()["transform"] == "Euler3DTransform"
    assert resampled.GetSize() == study.ct_hu.GetSize() and resampled.GetSpacing() == study.ct_hu.GetSpacing()
    # After alignment the PET inside the CT's 37 mm sphere is what the unshifted PET gives there (within the
    # extra smoothing of interpolating twice).
    in_sphere = sitk.GetArrayFromImage(study.lesion_labels_ct) == 6
    unshifted = sitk.Resample(pet, study.ct_hu, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    expected = sitk.GetArrayViewFromImage(unshifted)[in_sphere].mean()
    assert sitk.GetArrayViewFromImage(resampled)[in_sphere].mean() == pytest.approx(expected, rel=0.05)


def test_same_frame_of_reference_is_resampled_without_registration(study):
    resampled, alignment = onto_primary_grid(study.pet_suv, study.ct_hu, "1.2.3", "1.2.3")
    assert alignment.same_frame_of_reference and alignment.translation_mm == (0.0, 0.0, 0.0)
    assert alignment.final_metric is None
    expected = sitk.Resample(study.pet_suv, study.ct_hu, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    assert np.array_equal(sitk.GetArrayViewFromImage(resampled), sitk.GetArrayViewFromImage(expected))
