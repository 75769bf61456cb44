"""Volume nodes <-> SimpleITK images, so library code runs on what is loaded in the scene.

Slicer stores geometry as an IJK-to-RAS matrix; SimpleITK (like DICOM and NRRD files) uses LPS. The two
differ by negating x and y: ``LPS = diag(-1, -1, 1) . RAS``. Spacing is the length of each matrix column and
the direction the normalised columns, so oblique volumes keep their orientation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from StandardSegLib.errors import InputError
from StandardSegLib.measure import GRID_TOLERANCE

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: Set by Slicer's DICOM scalar volume plugin: the SOP instance UIDs of the loaded slices, space-separated.
DICOM_INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"


@dataclass(frozen=True)
class VolumeGeometry:
    """A volume node's voxel grid in LPS, read from its IJK-to-RAS matrix without touching the voxels."""

    size: tuple[int, int, int]  # i, j, k (SimpleITK order)
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # row-major 3x3

    def matches(self, image: sitk.Image) -> bool:
        """Same grid as ``image`` within the library's grid tolerance (``measure.GRID_TOLERANCE``)."""
        spacing = np.asarray(image.GetSpacing())
        return (tuple(image.GetSize()) == self.size
                and np.allclose(self.spacing, spacing, rtol=GRID_TOLERANCE, atol=0.0)
                and np.allclose(self.origin, image.GetOrigin(), rtol=0.0, atol=GRID_TOLERANCE * spacing.min())
                and np.allclose(self.direction, image.GetDirection(), rtol=0.0, atol=GRID_TOLERANCE))

    def describe(self) -> str:
        return f"size {self.size}, spacing {tuple(round(v, 4) for v in self.spacing)}, " \
               f"origin {tuple(round(v, 3) for v in self.origin)}"


def volume_geometry(volume_node: Any) -> VolumeGeometry:
    """The node's grid: dimensions of its image data, spacing/direction/origin from IJK-to-RAS, in LPS."""
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])
    columns = _RAS_TO_LPS @ ijk_to_ras[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    return VolumeGeometry(size=tuple(int(v) for v in volume_node.GetImageData().GetDimensions()),
                          spacing=tuple(float(value) for value in spacing),
                          origin=tuple(float(value) for value in _RAS_TO_LPS @ ijk_to_ras[:3, 3]),
                          direction=tuple(float(value) for value in (columns / spacing).ravel()))


def image_from_volume_node(volume_node: Any) -> sitk.Image:
    """A SimpleITK copy of a scalar volume node's voxels, with its geometry converted to LPS."""
    image = sitk.GetImageFromArray(np.array(slicer.util.arrayFromVolume(volume_node), copy=True))
    set_geometry_from_volume_node(image, volume_node)
    return image


def set_geometry_from_volume_node(image: sitk.Image, volume_node: Any) -> None:
    """Give ``image`` (same size as the node's voxels) the node's spacing, direction and origin in LPS."""
    geometry = volume_geometry(volume_node)
    image.SetSpacing(geometry.spacing)
    image.SetDirection(geometry.direction)
    image.SetOrigin(geometry.origin)


def volume_node_from_image(scene: Any, image: sitk.Image, name: str, node_class: str = "vtkMRMLScalarVolumeNode") -> Any:
    """A new volume node in ``scene`` holding ``image`` (LPS geometry converted to RAS)."""
    node = scene.AddNewNodeByClass(node_class, name)
    slicer.util.updateVolumeFromArray(node, sitk.GetArrayFromImage(image))
    columns = np.asarray(image.GetDirection(), float).reshape(3, 3) * np.asarray(image.GetSpacing(), float)
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = _RAS_TO_LPS @ columns
    ijk_to_ras[:3, 3] = _RAS_TO_LPS @ np.asarray(image.GetOrigin(), float)
    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, ijk_to_ras[row, column])
    node.SetIJKToRASMatrix(matrix)
    node.CreateDefaultDisplayNodes()
    return node


def volume_source_files(volume_node: Any, dicom_database: Any = None) -> list[str]:
    """The files a volume node was read from (a DICOM series' slices, or one NRRD/NIfTI file), for input hashes.

    A volume Slicer's DICOM module loaded carries its SOP instance UIDs (node attribute ``DICOM.instanceUIDs``);
    with the application's DICOM database (``slicer.dicomDatabase``) they give the exact slice files. Otherwise
    the storage node's file list, which Slicer fills for archetype loads of a series.
    """
    instance_uids = (volume_node.GetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE) or "").split()
    if instance_uids and dicom_database is not None:
        files = [dicom_database.fileForInstance(uid) for uid in instance_uids]
        missing = [uid for uid, name in zip(instance_uids, files) if not name]
        if missing:
            raise InputError(f"volume '{volume_node.GetName()}': the DICOM database has no file for instance "
                             f"{missing[0]} ({len(missing)} of {len(instance_uids)} missing); re-import the series")
        return list(dict.fromkeys(files))
    storage = volume_node.GetStorageNode()
    if storage is None or not storage.GetFileName():
        raise InputError(f"volume '{volume_node.GetName()}' has no storage node: it was not loaded from a file")
    names = [storage.GetFileName()]
    names += [storage.GetNthFileName(index) for index in range(storage.GetNumberOfFileNames())]
    return list(dict.fromkeys(names))  # the archetype is usually also the first of the list
