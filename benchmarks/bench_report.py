"""Benchmark: a one-lesion report bundle (no radiomics) on a 512 x 512 x 400 volume (issue 6 target <= 2 s).

Writes a 512 x 512 x 400 int16 CT-like volume (1 x 1 x 2 mm) as NRRD, loads it, judges it against the
ct-liver-lesion protocol (overridden if the gate fails on a header-less file: the report is what is timed),
measures one 30 mm spherical lesion, then times ``write_report_bundle`` (report.json + schema validation,
measurements.csv, report.html with slice PNG and histogram, segments/*.seg.nrrd; no DICOM SEG/SR because
the source is not DICOM). The baseline, measured in the same run, is the least any bundle writer must do:
SHA-256 of the input file plus writing the compressed mask with SimpleITK. Prints best-of-``REPEATS``
times, the ratio to the baseline and the absolute time against the 2 s target.

Second, report.html for 50 PET lesions (issue 16: fast to open): a 128 x 128 x 200 SUV volume (4 mm, a NIfTI
with a PT sidecar) with 50 spheres of 10-40 mm, and a 256 x 256 x 400 CT (2 mm) of the same space as the
anatomy under the fused views. Times ``report_html`` (per lesion: 3 fused + 3 PET views, histogram; one MIP)
with and without the CT against a baseline from the same run: writing the 50 masks as compressed NRRD, which
every bundle does. Prints the page size and, when Chromium and Playwright are there, the browser's time to
the page's load event.

Run: ``.venv/bin/python benchmarks/bench_report.py``
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from StandardSegLib.gate import evaluate_gate
from StandardSegLib.imaging import load_image
from StandardSegLib.lesion_measurements import measure_lesion
from StandardSegLib.protocols import load_library
from StandardSegLib.report import LesionReport, ReportInputs, build_report, write_report_bundle
from StandardSegLib.report.html import report_html
from StandardSegLib.report.inputs import Anatomy
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


LESIONS = 50
PET_SHAPE_ZYX, PET_SPACING_MM = (200, 128, 128), 4.0
CT_SHAPE_ZYX, CT_SPACING_MM = (400, 256, 256), 2.0


def build_pet(folder: Path) -> ReportInputs:
    """50 spheres (SUV 4-10 over a background of 1) on a whole-body-sized PET grid, measured as SUVbw."""
    rng = np.random.default_rng(1)
    values = rng.normal(1.0, 0.15, size=PET_SHAPE_ZYX).astype(np.float32)
    zz, yy, xx = np.ogrid[:PET_SHAPE_ZYX[0], :PET_SHAPE_ZYX[1], :PET_SHAPE_ZYX[2]]
    centres = [(20 + 36 * (i // 10 % 5), 24 + 20 * (i % 5), 34 + 60 * (i // 5 % 2)) for i in range(LESIONS)]
    radii_mm = rng.uniform(5.0, 20.0, size=LESIONS)
    balls = []
    for (z, y, x), radius in zip(centres, radii_mm):
        ball = ((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) * PET_SPACING_MM ** 2 <= radius ** 2
        values[ball] = rng.uniform(4.0, 10.0)
        balls.append(ball)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((PET_SPACING_MM,) * 3)
    path = folder / "pet.nii.gz"
    sitk.WriteImage(image, str(path))
    (folder / "pet.json").write_text('{"Modality": "PT", "Units": "GML"}', encoding="utf-8")
    loaded = load_image(path)
    protocol = load_library().get("fdg-pet-ct-oncology")
    gate = evaluate_gate(protocol, loaded)
    if not gate.verdict.allows_segmentation:
        gate = dataclasses.replace(gate, verdict=gate.verdict.with_override("benchmark", "synthetic NIfTI volume"))
    lesions = []
    for number, ball in enumerate(balls, start=1):
        mask = sitk.GetImageFromArray(ball.astype(np.uint8))
        mask.CopyInformation(loaded.image)
        count = int(ball.sum())
        provenance = SegmentProvenance(
            method="manual", algorithm_name="benchmark sphere", algorithm_type=MANUAL, parameters={}, seeds_lps=(),
            background_seeds_lps=(), voi=None, thresholds={}, units="SUVbw", roi_modality="PT", alignment=None,
            gate={"protocol_id": protocol.id}, operator=None, steps=(), voxel_count=count,
            volume_mm3=count * PET_SPACING_MM ** 3)
        measured = measure_lesion(loaded.image, mask, 1, "SUVbw", mask_name=f"lesion-{number}")
        lesions.append(LesionReport(name=f"lesion-{number}", segment=Segment(mask, provenance), measurements=measured))
    return ReportInputs(loaded=loaded, values_image=loaded.image, units="SUVbw", protocol=protocol, gate=gate,
                        lesions=tuple(lesions), input_files={"pet.nii.gz": path, "pet.json": folder / "pet.json"},
                        started_at=dt.datetime.now().astimezone())


def ct_anatomy() -> Anatomy:
    """A CT-like volume (air outside a soft-tissue body, bone inside) covering the PET's space."""
    zz, yy, xx = np.ogrid[:CT_SHAPE_ZYX[0], :CT_SHAPE_ZYX[1], :CT_SHAPE_ZYX[2]]
    body = ((yy - 128) / 110.0) ** 2 + ((xx - 128) / 120.0) ** 2 <= 1.0
    values = np.where(body, 40, -1000).astype(np.int16) + np.zeros(CT_SHAPE_ZYX, dtype=np.int16)
    values[:, 100:120, 118:138] = 700
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((CT_SPACING_MM,) * 3)
    image.SetOrigin((-1.0, -1.0, -1.0))
    return Anatomy(image, "CT")


def browser_load_seconds(page: Path) -> float | None:
    """Seconds from navigation to the load event in the operating system's Chromium (None: not available)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if executable is None:
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        tab = browser.new_page()
        start = time.perf_counter()
        tab.goto(page.as_uri(), wait_until="load")
        seconds = time.perf_counter() - start
        browser.close()
    return seconds


def bench_fifty_lesions(folder: Path) -> None:
    (folder / "pet").mkdir()
    inputs = build_pet(folder / "pet")
    fused = dataclasses.replace(inputs, anatomy=ct_anatomy())
    document = build_report(inputs)
    baseline_s = best_time(lambda: [sitk.WriteImage(lesion.segment.mask, str(folder / f"{lesion.name}.nrrd"), True)
                                    for lesion in inputs.lesions])
    pet_s = best_time(report_html, document, inputs)
    fused_s = best_time(report_html, document, fused)
    page = folder / "report.html"
    page.write_text(report_html(document, fused), encoding="utf-8")
    load_s = browser_load_seconds(page)
    print(f"\n{LESIONS} PET lesions, PET {PET_SHAPE_ZYX[::-1]} at {PET_SPACING_MM:g} mm, CT {CT_SHAPE_ZYX[::-1]}")
    print(f"baseline (write {LESIONS} masks, compressed NRRD): {baseline_s:.2f} s")
    print(f"report_html, PET views only: {pet_s:.2f} s  ratio {pet_s / baseline_s:.2f}x baseline "
          f"({pet_s / LESIONS * 1000:.0f} ms per lesion)")
    print(f"report_html, fused over CT:  {fused_s:.2f} s  ratio {fused_s / baseline_s:.2f}x baseline "
          f"({fused_s / LESIONS * 1000:.0f} ms per lesion)")
    print(f"report.html size (fused): {page.stat().st_size / 1e6:.1f} MB"
          + (f"; Chromium load event after {load_s:.2f} s" if load_s is not None else "; no Chromium to time loading"))


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
        del inputs
        bench_fifty_lesions(folder)


if __name__ == "__main__":
    main()
