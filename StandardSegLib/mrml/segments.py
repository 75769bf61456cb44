"""Library segments in a segmentation node, with their provenance stored as segment tags.

Provenance is captured where the segment is made (as QuantitativeReporting's algorithm tracker does) and
travels with the segment: the tags are saved in ``.seg.nrrd`` and ``.mrb`` files, and Slicer's DICOM SEG
export reads the ``DICOM.SegmentAlgorithmType`` / ``DICOM.SegmentAlgorithmName`` tags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk
import vtk

from StandardSegLib.errors import InputError
from StandardSegLib.mrml.volumes import set_geometry_from_volume_node, volume_geometry

#: Every tag SegmentProvenance.tags() may write (vtkSegment cannot list its tags from Python, so reading them
#: back needs the names; Testing/test_mrml_segments.py keeps this list in step with tags()).
PROVENANCE_TAG_KEYS = (
    "DICOM.SegmentAlgorithmType", "DICOM.SegmentAlgorithmName", "StandardSeg.method", "StandardSeg.protocol",
    "StandardSeg.protocol_sha256", "StandardSeg.gate", "StandardSeg.units", "StandardSeg.thresholds",
    "StandardSeg.roi_modality", "StandardSeg.operator", "StandardSeg.voxel_count", "StandardSeg.version",
    "StandardSeg.time", "StandardSeg.gate_override_reason",
)


def add_segment_with_provenance(context: Any, segmentation_node: Any, reference_volume: Any, segment: Any,
                                name: str, color: tuple[float, float, float]) -> str:
    """Add ``segment`` (a StandardSegLib Segment on the reference volume's grid) and tag it; returns its id."""
    mask = segment.mask
    if not volume_geometry(reference_volume).matches(mask):
        raise InputError(f"segment '{name}' is not on the grid of volume '{reference_volume.GetName()}': "
                         "segment the image loaded in this volume node")
    segment_id = context.add_segment_from_mask(segmentation_node, sitk.GetArrayViewFromImage(mask), name, color,
                                               reference_volume)
    stored = segmentation_node.GetSegmentation().GetSegment(segment_id)
    for key, value in segment.provenance.tags().items():
        stored.SetTag(key, value)
    return segment_id


def provenance_tags(segmentation_node: Any, segment_id: str) -> dict[str, str]:
    """The provenance tags of one segment (as stored, e.g. after reloading a scene)."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise InputError(f"segmentation '{segmentation_node.GetName()}' has no segment '{segment_id}'")
    tags = {}
    for key in PROVENANCE_TAG_KEYS:
        value = vtk.reference("")  # vtkSegment::GetTag(name, std::string& value) fills an output argument
        if segment.GetTag(key, value):
            tags[key] = str(value)
    return tags


def segment_ids(segmentation_node: Any) -> list[str]:
    """The segment ids of a segmentation node, in display order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegmentID(index) for index in range(segmentation.GetNumberOfSegments())]


def seed_labels_from_segments(segmentation_node: Any, foreground_id: str, background_id: str,
                              reference_volume: Any) -> sitk.Image:
    """The seed image of grow-from-seeds (uint8: 1 foreground, 2 background, 0 unlabelled) from two segments
    painted in the Segment Editor, on ``reference_volume``'s grid. Where both were painted the foreground
    wins, as in Slicer's effect the segment higher in the list (the lesion) has priority."""
    foreground = sitk.GetArrayFromImage(mask_from_segment(segmentation_node, foreground_id, reference_volume))
    background = sitk.GetArrayFromImage(mask_from_segment(segmentation_node, background_id, reference_volume))
    labels = sitk.GetImageFromArray(np.where(foreground > 0, 1, np.where(background > 0, 2, 0)).astype(np.uint8))
    set_geometry_from_volume_node(labels, reference_volume)
    return labels


def mask_from_segment(segmentation_node: Any, segment_id: str, reference_volume: Any) -> sitk.Image:
    """One segment as a binary uint8 mask on ``reference_volume``'s grid (LPS geometry), whatever its
    labelmap's own extent: what the reader drew, voxel by voxel, ready for the library to measure.

    Exported through a temporary labelmap node (``ExportSegmentsToLabelmapNode``), which works on any scene;
    ``slicer.util.arrayFromSegmentBinaryLabelmap`` needs the desktop's global scene.
    """
    import slicer

    scene = reference_volume.GetScene()
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "StandardSeg export")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, reference_volume):
            raise InputError(f"segment '{segment_id}' of '{segmentation_node.GetName()}' could not be exported "
                             f"onto the grid of '{reference_volume.GetName()}'")
        array = slicer.util.arrayFromVolume(labelmap)
        mask = sitk.GetImageFromArray((np.asarray(array) != 0).astype(np.uint8))
    finally:
        scene.RemoveNode(labelmap)
    set_geometry_from_volume_node(mask, reference_volume)
    return mask
