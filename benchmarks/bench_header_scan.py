"""Benchmark: header-only reading (``scan_series``, ``read_image_record``) against loading the pixels.

Writes a 600-slice CT series (512 x 512 int16, uncompressed, ~300 MB) to a temporary folder, then times
1. ``scan_series`` (group files by series, headers only),
2. ``read_image_record`` (scan + slice ordering + geometry checks + record, headers only),
3. the baseline: SimpleITK ``ImageSeriesReader`` reading the same files' pixels (GDCM), and, for information,
4. ``load_image`` (pydicom per-slice decode + per-slice rescale) and
5. 1 and 2 with python-gdcm switched off, i.e. every header parsed by pydicom (the path before GDCM's scanner).
Each timing is the best of ``REPEATS`` runs (files are in the page cache after the first write, so this
measures parsing, not the disk). Prints times and the ratios baseline / header-only (target: >= 5x).
``--varying`` gives every slice its own AcquisitionTime, XRayTubeCurrent and CTDIvol, as a dose-modulated
helical CT does (the record then compares those values slice by slice).

Run: ``.venv/bin/python benchmarks/bench_header_scan.py [--varying]``
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import timeit
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from StandardSegLib.imaging import dicom_scan, load_image, read_image_record, scan_series

SLICES = 600
MATRIX = 512
REPEATS = 3


def write_ct_series(folder: Path, varying: bool = False) -> None:
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
        if varying:
            ds.AcquisitionDate, ds.AcquisitionTime = "20240102", f"1015{k // 60:02d}.{k % 60:02d}0000"
            ds.XRayTubeCurrent, ds.CTDIvol = 150 + k % 97, 8.0 + (k % 13) / 10
        ds.PixelData = plane
        ds.save_as(folder / f"IM{label:05d}", enforce_file_format=True)


def best_time(function: Callable[[], object]) -> float:
    """Best of REPEATS runs (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(function, number=1, repeat=REPEATS))


def itk_series_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@contextlib.contextmanager
def without_gdcm() -> Iterator[None]:
    """Every header parsed by pydicom, as when python-gdcm is not installed."""
    saved, dicom_scan.gdcm = dicom_scan.gdcm, None
    try:
        yield
    finally:
        dicom_scan.gdcm = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--varying", action="store_true", help="per-slice acquisition time, tube current, CTDIvol")
    varying = parser.parse_args().varying
    if dicom_scan.gdcm is None:
        print("python-gdcm is not installed: header scans fall back to pydicom (run ./run.sh setup)")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_ct_series(folder, varying)
        assert len(scan_series(folder)) == 1
        assert read_image_record(folder).number_of_slices == SLICES
        scan = best_time(lambda: scan_series(folder))
        record = best_time(lambda: read_image_record(folder))
        baseline = best_time(lambda: itk_series_read(folder))
        loaded = best_time(lambda: load_image(folder))
        with without_gdcm():
            scan_pydicom = best_time(lambda: scan_series(folder))
            record_pydicom = best_time(lambda: read_image_record(folder))
    print(f"{SLICES} slices {MATRIX}x{MATRIX} int16{', per-slice values' if varying else ''}, best of {REPEATS}")
    print(f"  scan_series                 {scan:7.3f} s   (pydicom only: {scan_pydicom:.3f} s)")
    print(f"  read_image_record           {record:7.3f} s   (pydicom only: {record_pydicom:.3f} s)")
    print(f"  SimpleITK ImageSeriesReader {baseline:7.3f} s   (baseline)")
    print(f"  load_image (for reference)  {loaded:7.3f} s")
    print(f"  ratio baseline / scan_series       {baseline / scan:6.1f}x  (target >= 5x; "
          f"pydicom only {baseline / scan_pydicom:.1f}x)")
    print(f"  ratio baseline / read_image_record {baseline / record:6.1f}x  (target >= 5x; "
          f"pydicom only {baseline / record_pydicom:.1f}x)")


if __name__ == "__main__":
    main()
