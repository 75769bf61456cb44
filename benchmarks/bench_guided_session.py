"""Benchmark: the guided session's load and steps on a 512 x 512 x 400 int16 CT volume (headless slicer-core).

The session reads an image twice on purpose (Slicer's Volumes logic for the display, StandardSegLib for
headers and exact values) and checks that both agree, then hashes the input. The baseline, measured in the
same run, is what Slicer alone does when a reader drops the file: ``AddArchetypeVolume``. Also timed: the
gate, one confidence-connected segment into the segmentation node, and the report export from the scene
(no radiomics). Memory: resident-set growth of the process per step, against the volume's own size (int16).

No target is set by an issue; the ratio says what the double reading costs a reader.
Run: ``.venv/bin/python benchmarks/bench_guided_session.py``
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from StandardSegLib.mrml.guided_session import GuidedSession
from StandardSegLib.mrml.scene import MRMLContext
from StandardSegLib.operators import Operator

SHAPE_ZYX = (400, 512, 512)
SPACING_XYZ = (0.8, 0.8, 1.5)
LESION_DIAMETER_MM = 30.0
REPEATS = 3


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _write_volume(folder: Path) -> tuple[Path, tuple[float, float, float]]:
    rng = np.random.default_rng(0)
    values = rng.normal(40.0, 10.0, size=SHAPE_ZYX).astype(np.int16)
    center = np.array(SHAPE_ZYX) // 2
    zz, yy, xx = np.ogrid[:SHAPE_ZYX[0], :SHAPE_ZYX[1], :SHAPE_ZYX[2]]
    spacing_zyx = SPACING_XYZ[::-1]
    inside = (((zz - center[0]) * spacing_zyx[0]) ** 2 + ((yy - center[1]) * spacing_zyx[1]) ** 2
              + ((xx - center[2]) * spacing_zyx[2]) ** 2) <= (LESION_DIAMETER_MM / 2.0) ** 2
    values[inside] += 80
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(SPACING_XYZ)
    (folder / "input").mkdir()
    path = folder / "input" / "ct.nrrd"
    sitk.WriteImage(image, str(path))
    return path, image.TransformIndexToPhysicalPoint(tuple(int(v) for v in center[::-1]))


def _best(run) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    reader = Operator("Benchmark Reader", "reader", dt.date.today() - dt.timedelta(days=1))
    with tempfile.TemporaryDirectory() as folder:
        path, centre = _write_volume(Path(folder))
        volume_mb = np.prod(SHAPE_ZYX) * 2 / 1e6

        def slicer_only() -> None:
            context = MRMLContext.headless()
            context.load_volume(path)
            context.scene.Clear(True)

        def session_load() -> None:
            context = MRMLContext.headless()
            GuidedSession.start(context, "ct-liver-lesion", operator=reader).load_image(path)
            context.scene.Clear(True)

        baseline = _best(slicer_only)
        loading = _best(session_load)
        print(f"volume: {SHAPE_ZYX[::-1]} int16 ({volume_mb:.0f} MB), best of {REPEATS}")
        print(f"load   Slicer only (AddArchetypeVolume)   {baseline:6.2f} s")
        print(f"load   guided session (both readings)     {loading:6.2f} s   ratio {loading / baseline:.2f}x")

        context = MRMLContext.headless()
        session = GuidedSession.start(context, "ct-liver-lesion", operator=reader)
        steps = []
        before = _rss_mb()
        for name, step in (
                ("load", lambda: session.load_image(path)),
                ("check + override", lambda: (session.check_image(), session.override_gate("benchmark: NRRD"))),
                ("segment (confidence-connected)",
                 lambda: session.segment_lesion("lesion", [centre], method="confidence-connected")),
                ("export report", lambda: session.export_report(Path(folder) / "report", radiomics=False))):
            start = time.perf_counter()
            step()
            steps.append((name, time.perf_counter() - start, _rss_mb() - before))
        for name, seconds, grown in steps:
            print(f"step   {name:32s} {seconds:6.2f} s   RSS +{grown:6.0f} MB ({grown / volume_mb:.1f}x the volume)")
        context.scene.Clear(True)


if __name__ == "__main__":
    main()
