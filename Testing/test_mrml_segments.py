"""Segments from the library in a segmentation node: same voxels, provenance tags that survive .seg.nrrd."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.gate import GateVerdict
from StandardSegLib.protocols import load_library
from StandardSegLib.segmentation import segment

pytestmark = pytest.mark.mrml
PROTOCOL = load_library().get("ct-liver-lesion")


def _segment_on(image, seed):
    verdict = GateVerdict(PROTOCOL.id, PROTOCOL.version, PROTOCOL.content_sha256, ())  # no items: a passing gate
    return segment(image, protocol=PROTOCOL, verdict=verdict, method="confidence-connected", units="HU",
                   seeds_lps=[seed], operator="Dr Tags", roi_modality="CT")


def test_segment_keeps_voxels_and_provenance_through_seg_nrrd(mrml_context, synthetic_study_files, tmp_path):
    import slicer

    from StandardSegLib.mrml.segments import PROVENANCE_TAG_KEYS, add_segment_with_provenance, provenance_tags
    from StandardSegLib.mrml.volumes import image_from_volume_node
    from StandardSegLib.phantom import default_layout

    volume = mrml_context.load_volume(synthetic_study_files.ct_nrrd)
    sphere = max(default_layout().spheres, key=lambda s: s.diameter_mm)
    result = _segment_on(image_from_volume_node(volume), sphere.centre_lps_mm)
    expected_tags = result.provenance.tags()
    assert set(expected_tags) <= set(PROVENANCE_TAG_KEYS)

    node = mrml_context.add_segmentation(volume)
    segment_id = add_segment_with_provenance(mrml_context, node, volume, result, "lesion", (1.0, 0.5, 0.0))
    assert provenance_tags(node, segment_id) == expected_tags
    assert provenance_tags(node, segment_id)["DICOM.SegmentAlgorithmType"] == "SEMIAUTOMATIC"

    path = mrml_context.save_segmentation(node, tmp_path / "lesion.seg.nrrd")
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert int((written > 0).sum()) == int(sitk.GetArrayViewFromImage(result.mask).sum()) > 0

    reloaded = mrml_context.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "reloaded")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    mrml_context.scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(reloaded)
    reloaded_id = reloaded.GetSegmentation().GetNthSegmentID(0)
    assert provenance_tags(reloaded, reloaded_id) == expected_tags


def test_segment_on_another_grid_is_refused(mrml_context, synthetic_study_files):
    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.segments import add_segment_with_provenance
    from StandardSegLib.mrml.volumes import image_from_volume_node

    volume = mrml_context.load_volume(synthetic_study_files.ct_nrrd)
    shifted = image_from_volume_node(volume)
    shifted.SetOrigin(tuple(np.asarray(shifted.GetOrigin()) + 7.0))
    from StandardSegLib.phantom import default_layout

    sphere = max(default_layout().spheres, key=lambda s: s.diameter_mm)
    result = _segment_on(shifted, tuple(np.asarray(sphere.centre_lps_mm) + 7.0))
    node = mrml_context.add_segmentation(volume)
    with pytest.raises(InputError, match="not on the grid"):
        add_segment_with_provenance(mrml_context, node, volume, result, "lesion", (1.0, 0.0, 0.0))
