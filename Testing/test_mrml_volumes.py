"""Volume node <-> SimpleITK conversion against files read independently by SimpleITK."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
import vtk

pytestmark = pytest.mark.mrml


def _oblique_image() -> sitk.Image:
    rng = np.random.default_rng(1)
    image = sitk.GetImageFromArray(rng.integers(-1000, 1000, size=(6, 7, 8)).astype(np.int16))
    angle = math.radians(25)
    image.SetDirection((math.cos(angle), 0.0, math.sin(angle), 0.0, 1.0, 0.0, -math.sin(angle), 0.0, math.cos(angle)))
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((12.5, -30.0, 47.0))
    return image


def _assert_same(actual: sitk.Image, expected: sitk.Image) -> None:
    assert np.array_equal(sitk.GetArrayFromImage(actual), sitk.GetArrayFromImage(expected))
    assert actual.GetSpacing() == pytest.approx(expected.GetSpacing(), abs=1e-6)
    assert actual.GetOrigin() == pytest.approx(expected.GetOrigin(), abs=1e-6)
    assert actual.GetDirection() == pytest.approx(expected.GetDirection(), abs=1e-9)


def test_volume_loaded_by_slicer_converts_back_to_the_file(mrml_context, tmp_path):
    from StandardSegLib.mrml.volumes import image_from_volume_node

    path = tmp_path / "oblique.nrrd"
    sitk.WriteImage(_oblique_image(), str(path))
    node = mrml_context.load_volume(path)
    _assert_same(image_from_volume_node(node), sitk.ReadImage(str(path)))
    # and Slicer's own RAS origin is the LPS origin with x and y negated
    assert node.GetOrigin() == pytest.approx((-12.5, 30.0, 47.0))


def test_round_trip_through_a_new_node(mrml_context, tmp_path):
    from StandardSegLib.mrml.volumes import image_from_volume_node, volume_node_from_image

    image = _oblique_image()
    node = volume_node_from_image(mrml_context.scene, image, "roundtrip")
    _assert_same(image_from_volume_node(node), image)
    # a physical point maps to the same voxel in both conventions
    index = (3, 4, 2)
    lps = np.array(image.TransformIndexToPhysicalPoint(index))
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    ras = matrix.MultiplyPoint((*index, 1.0))
    assert ras[:3] == pytest.approx((-lps[0], -lps[1], lps[2]))


def test_volume_source_files_lists_the_series(mrml_context, synthetic_study_files):
    from StandardSegLib.mrml.volumes import volume_source_files

    first = sorted(synthetic_study_files.pet_dicom)[0]
    node = mrml_context.load_volume(first)
    files = {str(path) for path in synthetic_study_files.pet_dicom}
    assert set(volume_source_files(node)) == files
    nrrd = mrml_context.load_volume(synthetic_study_files.ct_nrrd)
    assert volume_source_files(nrrd) == [str(synthetic_study_files.ct_nrrd)]


class _DicomDatabase:
    """The one ctkDICOMDatabase call the lookup uses (``fileForInstance``), over files indexed with pydicom."""

    def __init__(self, files):
        import pydicom

        self.files = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): str(path) for path in files}

    def fileForInstance(self, uid: str) -> str:  # noqa: N802 - the database's own method name
        return self.files.get(uid, "")


def test_volume_source_files_from_dicom_instance_uids(mrml_context, synthetic_study_files):
    """A volume from Slicer's DICOM module: its instance UIDs looked up in the DICOM database give the slices,
    not the storage node (which may be a temporary copy); an instance the database lacks is named."""
    import pydicom

    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.volumes import DICOM_INSTANCE_UIDS_ATTRIBUTE, volume_source_files

    node = mrml_context.load_volume(synthetic_study_files.ct_nrrd)
    pet = sorted(synthetic_study_files.pet_dicom)
    uids = [str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in pet]
    node.SetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE, " ".join(uids))
    database = _DicomDatabase(pet)
    assert volume_source_files(node, database) == [str(path) for path in pet]
    del database.files[uids[3]]
    with pytest.raises(InputError, match=uids[3]):
        volume_source_files(node, database)
    assert volume_source_files(node) == [str(synthetic_study_files.ct_nrrd)]  # no database: the storage node
