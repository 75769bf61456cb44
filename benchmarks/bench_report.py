"""Benchmark: a one-lesion report bundle (no radiomics) on a 512 x 512 x 400 volume (issue 6 target <= 2 s).

Writes a 512 x 512 x 400 int16 CT-like volume (1 x 1 x 2 mm) as NRRD, loads it, judges it against the
ct-liver-lesion protocol (overridden if the gate fails on a header-less file: the report is what is timed),
measures one 30 mm spherical lesion, then times ``write_report_bundle`` (report.json + schema validation,
measurements.csv, report.html with slice PNG and histogram, segments/*.seg.nrrd; no DICOM SEG/SR because
the source is not DICOM). The baseline, measured in the same run, is the least any bundle writer must do:
SHA-256 of the input file plus writing the compressed mask with SimpleITK. Prints best-of-``REPEATS``
times, the ratio to the baseline and the absolute time against the 2 s target.

Run: ``.venv/bin/python benchmarks/bench_report.py``
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from StandardSegLib.gate import evaluate_gate
from StandardSegLib.imaging import load_image
from StandardSegLib.lesion_measurements import measure_lesion
from StandardSegLib.protocols import load_library
from StandardSegLib.report import LesionReport, ReportInputs, write_report_bundle
from StandardSegLib.segmentation import MANUAL, Segment, SegmentProvenance

SHAPE_ZYX = (400, 512, 512)
SPACING_XYZ = (1.0, 1.0, 2.0)
LESION_DIAMETER_MM = 30.0
PROTOCOL_ID = "ct-liver-lesion"
REPEATS = 3
TARGET_S = 2.0


def build(folder: Path) -> ReportInputs:
    rng = np.random.default_rng(0)
    values = rng.normal(40.0, 15.0, size=SHAPE_ZYX).astype(np.int16)
    center = np.array([200, 256, 256])
    zz, yy, xx = np.ogrid[:SHAPE_ZYX[0], :SHAPE_ZYX[1], :SHAPE_ZYX[2]]
    spacing_zyx = SPACING_XYZ[::-1]
    inside = (((zz - center[0]) * spacing_zyx[0]) ** 2 + ((yy - center[1]) * spacing_zyx[1]) ** 2
              + ((xx - center[2]) * spacing_zyx[2]) ** 2) <= (LESION_DIAMETER_MM / 2.0) ** 2
    values[inside] += 60
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(SPACING_XYZ)
    path = folder / "ct.nrrd"
    sitk.WriteImage(image, str(path))
    loaded = load_image(path)
    protocol = load_library().get(PROTOCOL_ID)
    gate = evaluate_gate(protocol, loaded)
    if not gate.verdict.allows_segmentation:
        gate = dataclasses.replace(gate, verdict=gate.verdict.with_override("benchmark", "synthetic NRRD volume"))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(loaded.image)
    count = int(inside.sum())
    provenance = SegmentProvenance(
        method="manual", algorithm_name="benchmark sphere", algorithm_type=MANUAL, parameters={}, seeds_lps=(),
        background_seeds_lps=(), voi=None, thresholds={}, units="HU", roi_modality="CT", alignment=None,
        gate={"protocol_id": protocol.id}, operator=None, steps=(), voxel_count=count,
        volume_mm3=count * float(np.prod(SPACING_XYZ)))
    start = time.perf_counter()
    measured = measure_lesion(loaded.image, mask, 1, "raw", mask_name="benchmark sphere")
    print(f"measure_lesion (not in the bundle time): {time.perf_counter() - start:.2f} s")
    lesion = LesionReport(name="lesion-1", segment=Segment(mask, provenance), measurements=measured)
    return ReportInputs(loaded=loaded, values_image=loaded.image, units="raw", protocol=protocol, gate=gate,
                        lesions=(lesion,), input_files={"ct.nrrd": path}, started_at=dt.datetime.now().astimezone())


def baseline(inputs: ReportInputs, folder: Path) -> None:
    hashlib.sha256(Path(inputs.input_files["ct.nrrd"]).read_bytes()).hexdigest()
    sitk.WriteImage(inputs.lesions[0].segment.mask, str(folder / "mask.nrrd"), True)


def best_time(function, *args) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "input").mkdir()  # bundles may not go into an input folder
        inputs = build(folder / "input")
        counter = iter(range(REPEATS))
        bundle_s = best_time(lambda: write_report_bundle(inputs, folder / f"bundle-{next(counter)}"))
        baseline_s = best_time(baseline, inputs, folder)
    print(f"volume {SHAPE_ZYX[2]}x{SHAPE_ZYX[1]}x{SHAPE_ZYX[0]}, one {LESION_DIAMETER_MM:g} mm lesion")
    print(f"baseline (sha256 of input + write mask): {baseline_s:.3f} s")
    print(f"write_report_bundle:                      {bundle_s:.3f} s  ratio {bundle_s / baseline_s:.2f}x baseline")
    print(f"target <= {TARGET_S:g} s: {'met' if bundle_s <= TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
