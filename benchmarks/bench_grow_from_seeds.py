"""Benchmark of grow-from-seeds on the real sarcoma CTs and MRs (issue 17). Prints times and ratios; asserts
nothing.

Per patient and modality: one ``segment(..., method="grow-from-seeds")`` call (seed image from the two
painted segments, best of 3) beside Slicer's Grow from seeds effect on the same segments and extent (the
effect's steps as ``Testing/test_grow_from_seeds_real.py`` writes them: effective extent, margin, constant
pad, merged labelmap, ``vtkImageGrowCutSegment``; best of 3), in the same run. Seeds as in the test: a 5 mm
ball at the expert GTV centroid and six 3 mm balls 10 mm outside the GTV's bounding box. Target: the
library's overhead around Slicer's class stays small (ratio library / effect close to 1). The 256^3
synthetic benchmark is in ``bench_segmentation.py`` (b).

Run: ``.venv/bin/python benchmarks/bench_grow_from_seeds.py``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import SimpleITK as sitk

TESTING = Path(__file__).resolve().parents[1] / "Testing"
sys.path.insert(0, str(TESTING))

from protocol_variants import protocol_with  # noqa: E402
from test_grow_from_seeds_real import (CASES, PROTOCOL, STS, UNITS, dice, painted_segments,  # noqa: E402
                                       seed_points, slicer_effect_mask)

from StandardSegLib.gate import GateVerdict  # noqa: E402
from StandardSegLib.imaging import load_image  # noqa: E402
from StandardSegLib.mrml.scene import MRMLContext  # noqa: E402
from StandardSegLib.mrml.segments import seed_labels_from_segments  # noqa: E402
from StandardSegLib.rtstruct import read_rtstruct_mask  # noqa: E402
from StandardSegLib.segmentation import segment  # noqa: E402


def best_of(count: int, run):
    times, result = [], None
    for _ in range(count):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    context = MRMLContext.headless()
    print(f"{'case':16} {'extent (voxels)':>18} {'library s':>10} {'effect s':>9} {'ratio':>6} {'Dice':>7} "
          f"{'vs GTV':>7}")
    for patient, modality in CASES:
        folder = STS / patient / modality
        image = load_image(folder / "image").image
        gtv = sitk.GetArrayFromImage(read_rtstruct_mask(folder / "mask" / "RS.dcm", image,
                                                        f"GTV_Mass_{modality}")) > 0
        foreground, background = seed_points(image, gtv)
        volume, segmentation, ids = painted_segments(context, image, foreground, background)
        seeds = seed_labels_from_segments(segmentation, ids[0], ids[1], volume)
        protocol = protocol_with(PROTOCOL[modality], {"grow-from-seeds": {}})
        verdict = GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())
        effect_time, (reference, extent) = best_of(3, lambda: slicer_effect_mask(volume, segmentation, ids))
        ours_time, ours = best_of(3, lambda: segment(image, protocol=protocol, verdict=verdict,
                                                     method="grow-from-seeds", units=UNITS[modality],
                                                     seeds_mask=seeds))
        mask = sitk.GetArrayFromImage(ours.mask).astype(bool)
        print(f"{patient + ' ' + modality:16} {str(extent[3:]):>18} {ours_time:10.3f} {effect_time:9.3f} "
              f"{ours_time / effect_time:6.2f} {dice(mask, reference):7.4f} {dice(mask, gtv):7.3f}")
        context.scene.Clear(False)
    print("ratio = library call / Slicer effect on the same extent; Dice = library vs effect; vs GTV = library "
          "vs the expert contour")


if __name__ == "__main__":
    main()
