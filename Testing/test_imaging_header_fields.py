"""The one-pass distinct-value lookup used by the series ordering and record checks, against a per-slice loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from StandardSegLib.imaging.header_fields import distinct_values_by_tag


def _write_pet_slice(path: Path, syntax: str, position_mm: float = 0.0, slope: float = 1.0) -> Path:
    """A small PET slice with nested sequences (written with undefined length) before the pixel data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = "PT", "1.2.3.4", "scan test"
    ds.ImageComments = "x" * 900  # pushes the grid attributes well past small prefixes
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    item = pydicom.Dataset()
    item.Radiopharmaceutical, item.RadionuclideHalfLife, item.RadionuclideTotalDose = "FDG", 6586.2, 3.7e8
    item.RadionuclideCodeSequence = Sequence([code])
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0.0, 0.0, position_mm]
    ds.PixelSpacing, ds.Rows, ds.Columns = [2.0, 2.0], 4, 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_distinct_values_by_tag_keeps_first_holder_of_each_stored_value(tmp_path):
    slopes = [1.0, 2.0, 1.0, 3.0, 2.0]
    datasets = [pydicom.dcmread(_write_pet_slice(tmp_path / f"s{k}.dcm", ExplicitVRLittleEndian, float(k), slope),
                                stop_before_pixels=True) for k, slope in enumerate(slopes)]
    datasets[1].RescaleSlope  # decoded on slice 1 only: no longer equal to slice 4's stored b"2.0"
    tags = [0x00281053, 0x00200032, 0x00280010, 0x00181030]  # slope, position, rows, ProtocolName (absent)
    found = distinct_values_by_tag(datasets, tags)
    # an extra holder for the decoded copy is harmless (callers decode and compare holders); a missing one is not
    assert found[0x00281053] == [datasets[0], datasets[1], datasets[3], datasets[4]]
    assert [float(ds.ImagePositionPatient[2]) for ds in found[0x00200032]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert found[0x00280010] == [datasets[0]]
    assert found[0x00181030] == [datasets[0]]  # absent everywhere: one "missing" value
