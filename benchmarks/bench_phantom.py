"""Benchmark of the phantom analysis (issue 13): the whole `standardseg phantom` analysis of the vendored IEC
phantom recon (Testing/Data/real/nema_iec/pet_recon_1, 192 x 192 x 89) and its bundle. Target: < 10 s.
Baseline of the same run: loading the image (headers + pixels), the least any analysis of it costs. Also
timed: each stage (locate, background, the per-sphere segments, calibration, bundle). Asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_phantom.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from StandardSegLib.imaging import load_image
from StandardSegLib.phantom_analysis import ActivityArguments, analyse_phantom, write_phantom_bundle
from StandardSegLib.phantom_analysis.background import measure_background
from StandardSegLib.phantom_analysis.locate import locate_phantom
from StandardSegLib.protocols import load_library

NEMA = Path(__file__).resolve().parents[1] / "Testing" / "Data" / "real" / "nema_iec" / "pet_recon_1"
TARGET_S = 10.0


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    protocol = load_library().get("pet-nema-iec-phantom")
    diameters = protocol.document["phantom"]["sphere_inner_diameters_mm"]
    loaded, load_s = timed(lambda: load_image(NEMA))
    location, locate_s = timed(lambda: locate_phantom(loaded.image, diameters))
    _, background_s = timed(lambda: measure_background(loaded.image, location, diameters))
    analysis, analysis_s = timed(lambda: analyse_phantom(loaded, protocol, activity=ActivityArguments(ratio=10.0)))
    with tempfile.TemporaryDirectory() as folder:
        _, bundle_s = timed(lambda: write_phantom_bundle(analysis, Path(folder) / "bundle"))
    whole = load_s + analysis_s + bundle_s
    print(f"image load (baseline)       {load_s:6.2f} s")
    print(f"  locate phantom            {locate_s:6.2f} s")
    print(f"  NEMA background ROIs      {background_s:6.2f} s")
    print(f"analysis (all stages)       {analysis_s:6.2f} s  ({analysis_s / load_s:.1f} x the load)")
    print(f"bundle (json, csv, html)    {bundle_s:6.2f} s")
    print(f"whole phantom analysis      {whole:6.2f} s  ({whole / load_s:.1f} x the load; target < {TARGET_S:g} s: "
          f"{'met' if whole < TARGET_S else 'MISSED'})")


if __name__ == "__main__":
    main()
