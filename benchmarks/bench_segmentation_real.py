"""Benchmark on the three real soft-tissue-sarcoma patients (issue 12): per method, the segment's volume
and Dice against the expert GTV (RTSTRUCT), its plausibility flags, and the time of one ``segment`` call
(seed to full-size mask). Prints the README's Markdown table; asserts nothing.

Targets: <= 0.5 s per PET method, <= 1 s per CT/MR method with the protocol's size cap. Baseline of the same
run: one whole-image numpy threshold plus a face-connected component labelling (SimpleITK) on that image,
the least any seeded method over the whole image costs; the ratio column is time / baseline.
Cases, seeds and the PET background shell: ``Testing/real_sts.py``.

Run: ``.venv/bin/python benchmarks/bench_segmentation_real.py``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Testing"))

from real_sts import PATIENTS, PROTOCOLS, dice, load_case, passing_verdict  # noqa: E402

from StandardSegLib.errors import InputError  # noqa: E402
from StandardSegLib.protocols import load_library  # noqa: E402
from StandardSegLib.segmentation import segment  # noqa: E402

#: Methods timed per modality (grow-from-seeds needs background seeds painted by a reader; manual is not a method).
METHODS = {"PET": ("pet-percent-max", "pet-a50", "pet-a50p", "pet-suv", "pet-percist", "pet-vote"),
           "CT": ("confidence-connected",), "MR_T1": ("confidence-connected",)}
TARGET_S = {"PET": 0.5, "CT": 1.0, "MR_T1": 1.0}


def baseline_seconds(image: sitk.Image) -> float:
    started = time.perf_counter()
    array = sitk.GetArrayViewFromImage(image)
    above = sitk.GetImageFromArray((array >= float(np.median(array))).astype(np.uint8))
    sitk.ConnectedComponent(above, False)
    return time.perf_counter() - started


def run_case(patient: str, modality: str, method: str, repeats: int = 3) -> dict:
    case = load_case(patient, modality)
    protocol = load_library().get(PROTOCOLS[modality])
    times, result, refusal = [], None, None
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            result = segment(case.image, protocol=protocol, verdict=passing_verdict(protocol), method=method,
                             units=case.units, seeds_lps=[case.seed_lps], background=case.background)
        except InputError as error:
            refusal = str(error)
        times.append(time.perf_counter() - started)
    row = {"patient": patient, "modality": modality, "method": method, "gtv_ml": case.gtv_ml,
           "seconds": min(times), "baseline": baseline_seconds(case.image)}
    if result is None:
        return {**row, "refusal": refusal}
    provenance = result.provenance
    return {**row, "volume_ml": provenance.volume_mm3 / 1000.0, "dice": dice(result.mask, case.gtv),
            "flags": [flag.code for flag in provenance.flags]}


def main() -> None:
    print("| patient | image | method | GTV mL | segment mL | Dice | flags | time s (target) | x baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for modality in ("PET", "CT", "MR_T1"):
        for patient in PATIENTS:
            for method in METHODS[modality]:
                row = run_case(patient, modality, method)
                timing = f"{row['seconds']:.2f} ({TARGET_S[modality]:g})"
                ratio = f"{row['seconds'] / row['baseline']:.1f}"
                if "refusal" in row:
                    print(f"| {patient} | {modality} | {method} | {row['gtv_ml']:.0f} | refused | - | "
                          f"{row['refusal'][:90]}... | {timing} | {ratio} |")
                    continue
                print(f"| {patient} | {modality} | {method} | {row['gtv_ml']:.0f} | {row['volume_ml']:.1f} | "
                      f"{row['dice']:.2f} | {', '.join(row['flags']) or '-'} | {timing} | {ratio} |")


if __name__ == "__main__":
    main()
