"""Small RTSTRUCT files for tests: closed planar contours in LPS written with pydicom, nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from StandardSegLib.rtstruct import RTSTRUCT_SOP_CLASS_UID

FRAME = generate_uid()


def write_structure_set(path: Path, rois: dict[str, list[np.ndarray]], frame: str = FRAME,
                        referenced: tuple[str, ...] = ()) -> Path:
    """A minimal RTSTRUCT: each ROI a list of (N x 3) LPS contours (CLOSED_PLANAR)."""
    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS_UID
    dataset.SOPClassUID = RTSTRUCT_SOP_CLASS_UID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.Modality = "RTSTRUCT"
    referenced_series = pydicom.Dataset()
    referenced_series.SeriesInstanceUID = generate_uid()
    study = pydicom.Dataset()
    study.RTReferencedSeriesSequence = [referenced_series]
    frame_item = pydicom.Dataset()
    frame_item.FrameOfReferenceUID = frame
    frame_item.RTReferencedStudySequence = [study]
    dataset.ReferencedFrameOfReferenceSequence = [frame_item]
    dataset.StructureSetROISequence, dataset.ROIContourSequence = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = pydicom.Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame
        dataset.StructureSetROISequence.append(roi)
        item = pydicom.Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            contour = pydicom.Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [f"{value:.6f}" for value in np.ravel(points)]
            if referenced:
                image = pydicom.Dataset()
                image.ReferencedSOPInstanceUID = referenced[0]
                contour.ContourImageSequence = [image]
            item.ContourSequence.append(contour)
        dataset.ROIContourSequence.append(item)
    dataset.save_as(path, enforce_file_format=True)
    return path


def sphere_contours(image: sitk.Image, centre: np.ndarray, radius: float, vertices: int = 256) -> list[np.ndarray]:
    """Circles of the sphere in the image's slice planes (axes from the image's direction)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    u, v, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    contours = []
    for k in range(image.GetSize()[2]):
        plane = np.asarray(image.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(k))))
        offset = float(np.dot(plane - centre, normal))
        if abs(offset) >= radius:
            continue
        r = np.sqrt(radius ** 2 - offset ** 2)
        middle = centre + offset * normal
        contours.append(middle + r * (np.outer(np.cos(angles), u) + np.outer(np.sin(angles), v)))
    return contours


def grid(size=(64, 64, 40), spacing=(1.0, 1.0, 2.0), origin=(-31.7, -30.2, -39.0), direction=None) -> sitk.Image:
    """An empty image: the grid contours are placed on."""
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image
