"""Synthetic PET DICOM headers and series for tests, every attribute controllable.

``pet_series(3, PatientWeight=80, per_slice={"RescaleSlope": [1, 2, 4]}, radiopharmaceutical={...})``
returns one pydicom Dataset per slice. A keyword set to ``None`` removes the attribute, so a test can
build "weight missing" as ``PatientWeight=None``. Defaults follow the OncoRay DRO_0_0 happy path (F-18,
BQML, START, injection one hour before the series, 70 kg) with sex M and 370 MBq.
``write_series`` adds pixel data and writes files that any DICOM reader can load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PositronEmissionTomographyImageStorage, generate_uid

F18_HALF_LIFE_S = 6586.2

DEFAULT_SLICE = {
    "Modality": "PT",
    "Manufacturer": "Synthetic",
    "SeriesDate": "20250101", "SeriesTime": "110000",
    "AcquisitionDate": "20250101", "AcquisitionTime": "110000",
    "StudyDate": "20250101", "StudyTime": "110000",
    "PatientName": "SYNTHETIC^PET", "PatientID": "SYN001",
    "PatientSex": "M", "PatientSize": "1.75", "PatientWeight": "70",
    "SliceThickness": "4", "PixelSpacing": ["4", "4"],
    "ActualFrameDuration": "300000", "FrameReferenceTime": "150000",
    "CorrectedImage": ["NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"],
    "RescaleIntercept": "0", "RescaleSlope": "1",
    "Units": "BQML", "DecayCorrection": "START",
    "ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"],
}

DEFAULT_RADIOPHARMACEUTICAL = {
    "Radiopharmaceutical": "FDG",
    "RadiopharmaceuticalStartTime": "100000",
    "RadiopharmaceuticalStartDateTime": "20250101100000",
    "RadionuclideTotalDose": "370000000",
    "RadionuclideHalfLife": str(F18_HALF_LIFE_S),
}

F18_CODE = {"CodeValue": "C-111A1", "CodingSchemeDesignator": "SRT", "CodeMeaning": "^18^Fluorine"}


def _apply(target: pydicom.Dataset, values: Mapping[str, Any]) -> None:
    for keyword, value in values.items():
        if value is None:
            if keyword in target:
                delattr(target, keyword)
        else:
            setattr(target, keyword, value)


def pet_series(n_slices: int = 3, *, per_slice: Optional[Mapping[str, Sequence[Any]]] = None,
               radiopharmaceutical: Optional[Mapping[str, Any]] = None,
               radionuclide_code: Optional[Mapping[str, str]] = F18_CODE,
               spacing_mm: float = 4.0, **attributes: Any) -> list[pydicom.Dataset]:
    """``n_slices`` PET slice headers; ``attributes`` apply to all, ``per_slice`` lists one value per slice."""
    series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for index in range(n_slices):
        ds = pydicom.Dataset()
        _apply(ds, DEFAULT_SLICE)
        ds.SOPClassUID = PositronEmissionTomographyImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.StudyInstanceUID = study_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = ["0", "0", str(index * spacing_mm)]
        item = pydicom.Dataset()
        _apply(item, DEFAULT_RADIOPHARMACEUTICAL)
        if radionuclide_code is not None:
            code = pydicom.Dataset()
            _apply(code, radionuclide_code)
            item.RadionuclideCodeSequence = [code]
        _apply(item, radiopharmaceutical or {})
        ds.RadiopharmaceuticalInformationSequence = [item]
        _apply(ds, attributes)
        _apply(ds, {keyword: values[index] for keyword, values in (per_slice or {}).items()})
        datasets.append(ds)
    return datasets


def add_private(ds: pydicom.Dataset, group: int, creator: Optional[str], offset: int, vr: str, value: Any) -> None:
    """Put a private element at (group,10xx); ``creator=None`` writes it without its private creator."""
    if creator is None:
        ds.add_new(pydicom.tag.Tag(group, 0x1000 + offset), vr, value)
    else:
        ds.private_block(group, creator, create=True).add_new(offset, vr, value)


def add_philips_factors(ds: pydicom.Dataset, suv_factor: Optional[float] = None,
                        activity_factor: Optional[float] = None,
                        creator: Optional[str] = "Philips PET Private Group") -> None:
    if suv_factor is not None:
        add_private(ds, 0x7053, creator, 0x00, "DS", str(suv_factor))
    if activity_factor is not None:
        add_private(ds, 0x7053, creator, 0x09, "DS", str(activity_factor))


def add_ge_scan_datetime(ds: pydicom.Dataset, value: str, creator: Optional[str] = "GEMS_PETD_01") -> None:
    add_private(ds, 0x0009, creator, 0x0D, "DT", value)


def write_series(datasets: Sequence[pydicom.Dataset], stored: np.ndarray, directory: Path) -> list[Path]:
    """Write ``datasets`` with pixel data ``stored[k]`` (int16, rows x columns) as files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (ds, pixels) in enumerate(zip(datasets, stored)):
        ds = pydicom.Dataset(ds)
        pixels = np.ascontiguousarray(pixels, dtype=np.int16)
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = pixels.tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = directory / f"slice_{index:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
