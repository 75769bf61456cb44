"""Write small synthetic single-frame DICOM series (CT, MR, PT) with pydicom, for tests.

Every slice is placed exactly: position_k = origin + k · slice_spacing · (row × column), so a test knows
the true geometry independently of the loader. Stored values, rescale slope/intercept (scalar or per
slice), extra header keywords (for all slices or per slice) and the file-name order are all controllable.

    series = write_series(tmp_path / "ct", modality="CT", shape=(4, 6, 5), shuffle_seed=1)
    series.files[k]        # file of spatial slice k
    series.positions_mm[k] # its ImagePositionPatient
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}


@dataclass(frozen=True)
class SyntheticSeries:
    """What was written, indexed by spatial slice (k = 0 is the first along the normal)."""

    directory: Path
    files: tuple[Path, ...]
    positions_mm: np.ndarray  # (slices, 3)
    stored: np.ndarray  # (slices, rows, columns) stored integers
    slopes: tuple[float, ...]
    intercepts: tuple[float, ...]
    series_instance_uid: str
    orientation: tuple[float, ...]

    @property
    def real_values(self) -> np.ndarray:
        """Stored × slope + intercept, slice by slice (what a correct loader returns)."""
        slopes = np.asarray(self.slopes)[:, None, None]
        intercepts = np.asarray(self.intercepts)[:, None, None]
        return self.stored * slopes + intercepts


def gradient_values(shape: tuple[int, int, int]) -> np.ndarray:
    """Stored values 100·k + 10·row + column: each voxel says where it is (k = spatial slice index)."""
    rows, columns, slices = shape
    k, r, c = np.meshgrid(np.arange(slices), np.arange(rows), np.arange(columns), indexing="ij")
    return (100 * k + 10 * r + c).astype(np.int16)


def write_series(directory: Path, *, modality: str = "CT", shape: tuple[int, int, int] = (4, 6, 5),
                 pixel_spacing_mm: tuple[float, float] = (0.8, 0.7), slice_spacing_mm: float = 2.5,
                 orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
                 origin_mm: Sequence[float] = (-10.0, -20.0, 30.0), stored: Optional[np.ndarray] = None,
                 slope: float | Sequence[float] = 1.0, intercept: float | Sequence[float] = 0.0,
                 header: Optional[Mapping[str, Any]] = None,
                 per_slice: Optional[Mapping[int, Mapping[str, Any]]] = None,
                 shuffle_seed: Optional[int] = None, series_uid: Optional[str] = None,
                 study_uid: Optional[str] = None, prefix: str = "slice") -> SyntheticSeries:
    """Write one series of ``shape`` = (rows, columns, slices) into ``directory`` and describe it.

    ``header``: keywords set on every slice (e.g. ``{"KVP": 120}``; a value of None deletes the attribute).
    ``per_slice``: {spatial index: keywords} applied after ``header`` (e.g. to misplace one slice).
    ``shuffle_seed``: permute file names and InstanceNumber so neither follows spatial order.
    """
    rows, columns, slices = shape
    directory.mkdir(parents=True, exist_ok=True)
    values = gradient_values(shape) if stored is None else np.asarray(stored)
    slopes = _per_slice(slope, slices)
    intercepts = _per_slice(intercept, slices)
    cosines = np.asarray(orientation, dtype=float)
    normal = np.cross(cosines[:3], cosines[3:])
    positions = np.asarray(origin_mm, dtype=float) + np.outer(np.arange(slices) * slice_spacing_mm, normal)
    labels = np.arange(slices)
    if shuffle_seed is not None:
        labels = np.random.default_rng(shuffle_seed).permutation(slices)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    files = []
    for k in range(slices):
        dataset = _slice(modality, values[k], pixel_spacing_mm, cosines, positions[k], slopes[k], intercepts[k])
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.FrameOfReferenceUID = frame_uid
        dataset.InstanceNumber = int(labels[k]) + 1
        dataset.SliceThickness = slice_spacing_mm
        for keyword, value in {**(header or {}), **((per_slice or {}).get(k, {}))}.items():
            if value is not None:
                setattr(dataset, keyword, value)
            elif keyword in dataset:
                delattr(dataset, keyword)
        path = directory / f"{prefix}_{labels[k]:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        files.append(path)
    return SyntheticSeries(directory, tuple(files), positions, values, slopes, intercepts, series_uid,
                           tuple(float(v) for v in cosines))


def _per_slice(value: float | Sequence[float], slices: int) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        return (float(value),) * slices
    if len(value) != slices:
        raise ValueError(f"expected one value per slice ({slices}), got {len(value)}")
    return tuple(float(v) for v in value)


def _slice(modality: str, plane: np.ndarray, pixel_spacing_mm: tuple[float, float], cosines: np.ndarray,
           position: np.ndarray, slope: float, intercept: float) -> pydicom.Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = modality
    dataset.Manufacturer = "StandardSeg test factory"
    dataset.PatientName = "Test^Synthetic"
    dataset.PatientID = "SYNTH-001"
    dataset.ImageOrientationPatient = [round(float(v), 10) for v in cosines]
    dataset.ImagePositionPatient = [round(float(v), 6) for v in position]
    dataset.PixelSpacing = list(pixel_spacing_mm)
    dataset.Rows, dataset.Columns = plane.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    signed = plane.dtype.kind == "i"
    dataset.PixelRepresentation = 1 if signed else 0
    dataset.RescaleSlope = f"{slope:.10g}"
    dataset.RescaleIntercept = f"{intercept:.10g}"
    dataset.PixelData = plane.astype(np.int16 if signed else np.uint16).tobytes()
    return dataset
