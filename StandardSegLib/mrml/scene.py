"""An MRML scene with the module logics StandardSeg needs, headless (slicer-core) or in the Slicer app.

``MRMLContext.headless()`` bootstraps Slicer's core exactly as measured in design/architecture.md
("Headless Slicer core"): an application logic with default colour nodes, then the Colors, Volumes,
Segmentations, SubjectHierarchy and Markups logics registered in that order. Without the Segmentations
logic a segment cannot hold a binary labelmap. ``MRMLContext.from_slicer_app()`` wraps the running
desktop application's scene and logics instead, and ``MRMLContext.on_scene()`` any other scene with its
application logic (the web panel's, which trame-slicer creates).

Coordinates: Slicer works in RAS; DICOM/ITK/NRRD files in LPS. Geometry is always taken from the volume
node's IJK-to-RAS matrix, never recomputed here.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from StandardSegLib.errors import InputError


@dataclass
class MRMLContext:
    """Owns (or borrows) an MRML scene and the module logics working on it."""

    scene: Any
    application_logic: Any
    colors_logic: Any
    volumes_logic: Any
    segmentations_logic: Any
    subject_hierarchy_logic: Any
    markups_logic: Any

    @classmethod
    def headless(cls) -> "MRMLContext":
        """A fresh scene on slicer-core, bootstrapped in the order architecture.md prescribes.

        The application logic does not own the module logics registered with it: this object keeps every
        one of them alive (a Colors logic collected early makes volume loading lose its colour table).
        """
        scene = slicer.vtkMRMLScene()
        app = slicer.vtkSlicerApplicationLogic()
        app.SetMRMLScene(scene)
        app.GetColorLogic().SetMRMLScene(scene)
        app.GetColorLogic().AddDefaultColorNodes()
        app.SetSliceLogics(vtk.vtkCollection())
        app.SetViewLogics(vtk.vtkCollection())
        return cls.on_scene(scene, app)

    @classmethod
    def on_scene(cls, scene: Any, application_logic: Any) -> "MRMLContext":
        """A context on a scene and application logic made elsewhere (e.g. trame-slicer's ``SlicerApp``, which
        creates its own): the module logics already registered with the application logic under Slicer's
        names are used as they are, the missing ones are registered, in architecture.md's order.
        """
        if application_logic.GetMRMLScene() is not scene:
            raise InputError("MRML context: the application logic works on another scene than the one given")
        logics = {}
        for name, logic_class in (("Colors", slicer.vtkMRMLColorLogic),
                                  ("Volumes", slicer.vtkSlicerVolumesLogic),
                                  ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
                                  ("SubjectHierarchy", slicer.vtkSlicerSubjectHierarchyModuleLogic),
                                  ("Markups", slicer.vtkSlicerMarkupsLogic)):
            logic = application_logic.GetModuleLogic(name)
            if logic is None:
                logic = logic_class()
                logic.SetMRMLScene(scene)
                logic.SetMRMLApplicationLogic(application_logic)
                application_logic.SetModuleLogic(name, logic)
            logics[name] = logic
        return cls(scene=scene, application_logic=application_logic, colors_logic=logics["Colors"],
                   volumes_logic=logics["Volumes"], segmentations_logic=logics["Segmentations"],
                   subject_hierarchy_logic=logics["SubjectHierarchy"], markups_logic=logics["Markups"])

    @classmethod
    def from_slicer_app(cls) -> "MRMLContext":
        """The running Slicer application's scene and logics (desktop only; not testable headless)."""
        modules = slicer.modules
        return cls(scene=slicer.mrmlScene, application_logic=slicer.app.applicationLogic(),
                   colors_logic=modules.colors.logic(), volumes_logic=modules.volumes.logic(), segmentations_logic=modules.segmentations.logic(),
                   subject_hierarchy_logic=modules.subjecthierarchy.logic(), markups_logic=modules.markups.logic())

    def load_volume(self, path: Path | str, name: str | None = None) -> Any:
        """Load an image file or the first file of a DICOM series as a vtkMRMLScalarVolumeNode."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"volume file {path} does not exist")
        node = self.volumes_logic.AddArchetypeVolume(str(path), name or path.name.split(".")[0])
        if node is None:
            raise InputError(f"{path}: Slicer's Volumes logic could not read it as an image volume")
        return node

    def add_segmentation(self, reference_volume: Any, name: str = "Segmentation") -> Any:
        """A segmentation node whose labelmap geometry is that of ``reference_volume``."""
        node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        node.CreateDefaultDisplayNodes()
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
        return node

    def add_segment_from_mask(self, segmentation_node: Any, mask: np.ndarray, name: str,
                              color: tuple[float, float, float], reference_volume: Any = None) -> str:
        """Add a segment whose binary labelmap is ``mask`` (numpy (k, j, i), nonzero = inside).

        ``mask`` is aligned voxel by voxel to ``reference_volume`` (default: the segmentation's reference
        geometry volume), as ``slicer.util.arrayFromVolume`` returns it; the labelmap takes that volume's
        IJK-to-RAS matrix. Returns the new segment id.
        """
        if reference_volume is None:
            reference_volume = segmentation_node.GetNodeReference(
                slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
        if reference_volume is None:
            raise InputError(f"segment '{name}': segmentation '{segmentation_node.GetName()}' has no reference "
                             "volume; pass reference_volume or create it with add_segmentation(volume)")
        dimensions = reference_volume.GetImageData().GetDimensions()
        if mask.shape != tuple(reversed(dimensions)):
            raise InputError(f"segment '{name}': mask shape {mask.shape} does not match the reference volume "
                             f"'{reference_volume.GetName()}' (expected {tuple(reversed(dimensions))}, k-j-i order)")
        labelmap = slicer.vtkOrientedImageData()
        labelmap.SetDimensions(dimensions)
        ijk_to_ras = vtk.vtkMatrix4x4()
        reference_volume.GetIJKToRASMatrix(ijk_to_ras)
        labelmap.SetImageToWorldMatrix(ijk_to_ras)
        scalars = numpy_support.numpy_to_vtk((mask != 0).astype(np.uint8).ravel(), deep=True,
                                             array_type=vtk.VTK_UNSIGNED_CHAR)
        labelmap.GetPointData().SetScalars(scalars)
        segment_id = segmentation_node.GetSegmentation().AddEmptySegment("", name, list(color))
        ok = self.segmentations_logic.SetBinaryLabelmapToSegment(
            labelmap, segmentation_node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
        if not ok:
            segmentation_node.GetSegmentation().RemoveSegment(segment_id)
            raise InputError(f"segment '{name}': Slicer refused the labelmap")
        return segment_id

    def save_segmentation(self, segmentation_node: Any, path: Path | str) -> Path:
        """Write ``segmentation_node`` as ``.seg.nrrd`` atomically (temporary file, then ``os.replace``).

        The labelmap keeps the reference volume's full extent (no cropping), so its voxels line up with
        the image's.
        """
        path = Path(path)
        if not path.name.endswith(".seg.nrrd"):
            raise InputError(f"segmentation file {path}: expected a name ending in .seg.nrrd")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name[:-9]}-", suffix=".seg.nrrd", dir=path.parent)
        os.close(handle)
        try:
            storage = segmentation_node.CreateDefaultStorageNode()
            storage.SetCropToMinimumExtent(False)
            storage.SetFileName(temporary)
            if not storage.WriteData(segmentation_node):
                raise InputError(f"segmentation file {path}: Slicer could not write it")
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return path
