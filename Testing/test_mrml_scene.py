"""The headless MRML scene: volumes load with the right geometry, masks become segments, .seg.nrrd saves.

Slicer works in RAS, files in LPS: a node's origin is the NRRD origin with x and y negated.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError

pytestmark = pytest.mark.mrml


@pytest.fixture(scope="module")
def small_ct(synthetic_study, tmp_path_factory):
    """The synthetic CT (200 x 200 x 60 voxels) as NRRD in a folder of its own, plus the source image."""
    path = tmp_path_factory.mktemp("ct") / "ct.nrrd"
    sitk.WriteImage(synthetic_study.ct_hu, str(path))
    return path, synthetic_study.ct_hu


def _lps_to_ras(point):
    return (-point[0], -point[1], point[2])


def test_headless_scene_has_the_module_logics(mrml_context):
    app = mrml_context.application_logic
    for name in ("Colors", "Volumes", "Segmentations", "SubjectHierarchy", "Markups"):
        assert app.GetModuleLogic(name) is not None, name
    assert mrml_context.scene.GetFirstNodeByClass("vtkMRMLColorTableNode") is not None


def test_volume_geometry_matches_the_nrrd(mrml_context, small_ct):
    import slicer.util

    path, image = small_ct
    node = mrml_context.load_volume(path)
    assert node.GetClassName() == "vtkMRMLScalarVolumeNode"
    assert node.GetImageData().GetDimensions() == image.GetSize()
    np.testing.assert_allclose(node.GetSpacing(), image.GetSpacing())
    np.testing.assert_allclose(node.GetOrigin(), _lps_to_ras(image.GetOrigin()), atol=1e-6)
    assert node.GetDisplayNode().GetColorNodeID()  # the Colors logic is alive and used
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), sitk.GetArrayFromImage(image))


def test_threshold_mask_round_trips_through_seg_nrrd(mrml_context, small_ct, tmp_path):
    import slicer.util

    path, image = small_ct
    volume = mrml_context.load_volume(path)
    array = slicer.util.arrayFromVolume(volume)
    mask = array > 100  # the spheres (120 HU) and noise above 100 HU
    segmentation = mrml_context.add_segmentation(volume, "Lesions")
    segment_id = mrml_context.add_segment_from_mask(segmentation, mask, "hot", (1.0, 0.2, 0.2))
    assert segmentation.GetSegmentation().GetSegment(segment_id).GetName() == "hot"

    saved = mrml_context.save_segmentation(segmentation, tmp_path / "lesions.seg.nrrd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesions.seg.nrrd"]  # no temporary left behind
    read = sitk.ReadImage(str(saved))
    assert read.GetSize() == image.GetSize()
    np.testing.assert_allclose(read.GetSpacing(), image.GetSpacing())
    np.testing.assert_allclose(read.GetOrigin(), image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(read.GetDirection(), image.GetDirection(), atol=1e-9)
    labels = sitk.GetArrayFromImage(read)
    assert np.count_nonzero(labels) == np.count_nonzero(mask)
    assert np.array_equal(labels > 0, mask)


def test_dicom_series_loads_onto_the_same_grid(mrml_context, synthetic_study, synthetic_study_files):
    node = mrml_context.load_volume(synthetic_study_files.ct_dicom[0])
    ct = synthetic_study.ct_hu
    assert node.GetImageData().GetDimensions() == ct.GetSize()
    np.testing.assert_allclose(node.GetSpacing(), ct.GetSpacing())
    np.testing.assert_allclose(node.GetOrigin(), _lps_to_ras(ct.GetOrigin()), atol=1e-4)


def test_bad_inputs_raise_input_error(mrml_context, small_ct, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        mrml_context.load_volume(tmp_path / "missing.nrrd")
    garbage = tmp_path / "garbage.nrrd"
    garbage.write_bytes(b"not an image")
    with pytest.raises(InputError, match="could not read"):
        mrml_context.load_volume(garbage)
    volume = mrml_context.load_volume(small_ct[0])
    segmentation = mrml_context.add_segmentation(volume)
    with pytest.raises(InputError, match="does not match"):
        mrml_context.add_segment_from_mask(segmentation, np.zeros((3, 3, 3), bool), "x", (1.0, 0.0, 0.0))
    with pytest.raises(InputError, match=r"\.seg\.nrrd"):
        mrml_context.save_segmentation(segmentation, tmp_path / "out.nrrd")
