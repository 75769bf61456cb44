"""Write a SimpleITK volume as a real single-frame DICOM series (CT Image or PET Image Storage).

Geometry tags come from the image (LPS, as DICOM): ImagePositionPatient of each slice, ImageOrientation-
Patient from the direction cosines, PixelSpacing as (row spacing, column spacing) = (y, x), SliceThickness
and SpacingBetweenSlices = z spacing. Pixels are signed int16 with a rescale:
- CT: slope 1, intercept -1024 (stored = HU + 1024, as many scanners write).
- PT: a per-slice RescaleSlope chosen so the slice maximum uses the int16 range, intercept 0 (a PET image
  must have intercept 0; design/standards.md §2). Quantisation error <= slope / 2 per voxel.
UIDs are deterministic for a given seed (``pydicom.uid.generate_uid`` with an entropy source), so
re-running the demo reproduces byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import SimpleITK as sitk
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, PositronEmissionTomographyImageStorage,
                         generate_uid)
from pydicom.valuerep import DSfloat

from StandardSegLib.errors import InputError
from StandardSegLib.progress import ProgressCallback, track

SOP_CLASS_UIDS = {"CT": CTImageStorage, "PT": PositronEmissionTomographyImageStorage}
#: CT stored value = HU - CT_RESCALE_INTERCEPT.
CT_RESCALE_INTERCEPT = -1024.0
INT16_MAX = np.iinfo(np.int16).max


def deterministic_uid(seed: int, *parts: str) -> str:
    """A valid UID derived from the seed and the parts (same inputs, same UID)."""
    return generate_uid(entropy_srcs=["StandardSeg", str(seed), *parts])


def decimal_string(value: float) -> DSfloat:
    """A DICOM DS (at most 16 characters) for ``value``; read it back with ``float()``."""
    return DSfloat(float(value), auto_format=True)


def write_dicom_series(volume: sitk.Image, out_dir: Path, modality: str, header: Mapping[str, Any], *,
                       seed: int = 0, progress: Optional[ProgressCallback] = None) -> list[Path]:
    """Write ``volume`` (CT in HU or PET in Bq/mL) as one DICOM file per slice into ``out_dir``.

    ``header`` maps DICOM keywords to values (patient, study, equipment, acquisition, PET isotope...);
    the writer adds the SOP class, UIDs not given in ``header`` (SeriesInstanceUID, SOPInstanceUID and,
    if absent, StudyInstanceUID and FrameOfReferenceUID), geometry, pixel module and rescale. Returns the
    file paths in slice order (increasing z index).
    """
    if modality not in SOP_CLASS_UIDS:
        raise InputError(f"DICOM writer: modality must be one of {sorted(SOP_CLASS_UIDS)}, found {modality!r}")
    if volume.GetDimension() != 3 or volume.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"DICOM writer: expected a 3D scalar volume, found {volume.GetDimension()}D with "
                         f"{volume.GetNumberOfComponentsPerPixel()} component(s)")
    unknown = sorted(keyword for keyword in header if tag_for_keyword(keyword) is None)
    if unknown:
        raise InputError(f"DICOM writer: header keys are not DICOM keywords: {', '.join(unknown)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"DICOM writer: output folder {out_dir} is not empty (refusing to mix series)")
    out_dir.mkdir(parents=True, exist_ok=True)

    values = sitk.GetArrayFromImage(volume).astype(np.float64)
    series = _series_dataset(volume, modality, header, seed)
    paths = []
    for k in track(range(values.shape[0]), values.shape[0], f"writing {modality} DICOM", progress):
        dataset = _slice_dataset(series, volume, values[k], k, modality)
        path = out_dir / f"{modality}_{k + 1:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _series_dataset(volume: sitk.Image, modality: str, header: Mapping[str, Any], seed: int) -> Dataset:
    """Attributes shared by every slice of the series."""
    series = Dataset()
    for keyword, value in header.items():
        setattr(series, keyword, value)
    series.Modality = modality
    series.SOPClassUID = SOP_CLASS_UIDS[modality]
    series_number = str(header.get("SeriesNumber", 1))
    if "StudyInstanceUID" not in series:
        series.StudyInstanceUID = deterministic_uid(seed, "study")
    if "FrameOfReferenceUID" not in series:
        series.FrameOfReferenceUID = deterministic_uid(seed, "frame-of-reference")
    if "SeriesInstanceUID" not in series:
        series.SeriesInstanceUID = deterministic_uid(seed, series.StudyInstanceUID, modality, series_number)
    direction = np.asarray(volume.GetDirection(), dtype=float).reshape(3, 3)
    spacing = volume.GetSpacing()
    series.ImageOrientationPatient = [decimal_string(v) for v in (*direction[:, 0], *direction[:, 1])]
    series.PixelSpacing = [decimal_string(spacing[1]), decimal_string(spacing[0])]
    series.SliceThickness = decimal_string(spacing[2])
    series.SpacingBetweenSlices = decimal_string(spacing[2])
    series.Rows, series.Columns = volume.GetSize()[1], volume.GetSize()[0]
    series.SamplesPerPixel = 1
    series.PhotometricInterpretation = "MONOCHROME2"
    series.BitsAllocated = 16
    series.BitsStored = 16
    series.HighBit = 15
    series.PixelRepresentation = 1
    if modality == "PT":
        series.NumberOfSlices = volume.GetSize()[2]
    return series


def _slice_dataset(series: Dataset, volume: sitk.Image, values: np.ndarray, k: int, modality: str) -> Dataset:
    dataset = Dataset()
    dataset.update(series)
    dataset.SOPInstanceUID = generate_uid(entropy_srcs=[series.SeriesInstanceUID, str(k)])
    dataset.InstanceNumber = k + 1
    position = volume.TransformIndexToPhysicalPoint((0, 0, k))
    dataset.ImagePositionPatient = [decimal_string(v) for v in position]
    normal = np.asarray(volume.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
    dataset.SliceLocation = decimal_string(float(np.dot(normal, position)))
    if modality == "PT":
        dataset.ImageIndex = k + 1
    stored, slope, intercept = _quantise(values, modality)
    dataset.RescaleSlope = slope
    dataset.RescaleIntercept = intercept
    dataset.PixelData = stored.astype("<i2").tobytes()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    return dataset


def _quantise(values: np.ndarray, modality: str) -> tuple[np.ndarray, DSfloat, DSfloat]:
    """int16 stored values with the (slope, intercept) as written, so that stored*slope+intercept ~ values."""
    if modality == "CT":
        slope, intercept = decimal_string(1.0), decimal_string(CT_RESCALE_INTERCEPT)
    else:
        peak = float(np.abs(values).max())
        # Quantise with the slope exactly as the DS string stores it, so readers recover the same numbers.
        slope, intercept = decimal_string(peak / INT16_MAX if peak > 0 else 1.0), decimal_string(0.0)
    stored = np.rint((values - float(intercept)) / float(slope))
    return np.clip(stored, np.iinfo(np.int16).min, INT16_MAX).astype(np.int16), slope, intercept
