"""Benchmark: header-only reading (``scan_series``, ``read_image_record``) against loading the pixels.

Writes a 600-slice CT series (512 x 512 int16, uncompressed, ~300 MB) to a temporary folder, then times
1. ``scan_series`` (group files by series, headers only),
2. ``read_image_record`` (scan + slice ordering + geometry checks + record, headers only),
3. the baseline: SimpleITK ``ImageSeriesReader`` reading the same files' pixels (GDCM), and
4. for information, ``load_image`` (pydicom per-slice decode + per-slice rescale).
Each timing is the best of ``REPEATS`` runs (files are in the page cache after the first write, so this
measures parsing, not the disk). Prints times and the ratios baseline / header-only (target: >= 5x).

Run: ``.venv/bin/python benchmarks/bench_header_scan.py``
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from StandardSegLib.imaging import load_image, read_image_record, scan_series

SLICES = 600
MATRIX = 512
REPEATS = 3


def write_ct_series(folder: Path) -> None:
    """One CT series with realistic header content; file names shuffled so order must come from positions."""
    rng = np.random.default_rng(0)
    plane = rng.integers(-1000, 2000, size=(MATRIX, MATRIX), dtype=np.int16).tobytes()
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k, label in enumerate(rng.permutation(SLICES)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", "Bench", "Model"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesDescription, ds.ConvolutionKernel, ds.KVP, ds.XRayTubeCurrent = "bench", "B30f", 120, 200
        ds.SliceThickness, ds.InstanceNumber = 1.0, int(label) + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-250.0, -250.0, -300.0 + k * 1.0]
        ds.PixelSpacing = [0.976562, 0.976562]
        ds.Rows = ds.Columns = MATRIX
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = plane
        ds.save_as(folder / f"IM{label:05d}", enforce_file_format=True)


def best_time(function: Callable[[], object]) -> float:
    """Best of REPEATS runs (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(function, number=1, repeat=REPEATS))


def itk_series_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_ct_series(folder)
        assert len(scan_series(folder)) == 1
        scan = best_time(lambda: scan_series(folder))
        record = best_time(lambda: read_image_record(folder))
        baseline = best_time(lambda: itk_series_read(folder))
        loaded = best_time(lambda: load_image(folder))
    print(f"{SLICES} slices {MATRIX}x{MATRIX} int16, best of {REPEATS}")
    print(f"  scan_series                 {scan:7.3f} s")
    print(f"  read_image_record           {record:7.3f} s")
    print(f"  SimpleITK ImageSeriesReader {baseline:7.3f} s   (baseline)")
    print(f"  load_image (for reference)  {loaded:7.3f} s")
    print(f"  ratio baseline / scan_series       {baseline / scan:6.1f}x  (target >= 5x)")
    print(f"  ratio baseline / read_image_record {baseline / record:6.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
