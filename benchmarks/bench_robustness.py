"""Benchmark: a feature-robustness study on the real STS_001 PET GTV (issue 15: the real-data run < 1 min).

Timed in the same run, on the image and mask already loaded (SUVbw, the expert GTV from the RTSTRUCT), with the
protocol fdg-pet-ct-msk-sarcoma's pyradiomics settings (88 features):

- baseline: N + 1 plain pyradiomics extractions of the unperturbed lesion (what the features alone cost);
- study: ``perturbation_study`` with N = 10 repetitions of every perturbation (RTNVC).

Printed: both times, the ratio study / baseline (the perturbations' own cost: crop, rigid resampling, noise
estimate, distance maps, paste back) and the study time against the 60 s target. Loading the DICOM series and
the RTSTRUCT is outside both (about 8 s here). Check ``uptime`` first on a shared machine.

Run: ``.venv/bin/python benchmarks/bench_robustness.py``
"""

from __future__ import annotations

import time
from pathlib import Path

from StandardSegLib.cli.features_cmd import mask_on_image_grid, read_image
from StandardSegLib.imaging import read_mask_file
from StandardSegLib.protocols import load_library
from StandardSegLib.radiomics import build_extractor, protocol_parameters, run_extractor
from StandardSegLib.robustness.study import Lesion, RobustnessSettings, perturbation_study

PET = Path(__file__).resolve().parent.parent / "Testing" / "Data" / "real" / "sts" / "STS_001" / "PET"
PROTOCOL = "fdg-pet-ct-msk-sarcoma"
TARGET_SECONDS = 60.0


def main() -> None:
    protocol = load_library().get(PROTOCOL)
    image, _, _, headers = read_image(PET / "image", protocol)
    mask, _ = mask_on_image_grid(read_mask_file(PET / "mask" / "RS.dcm", image, "GTV_Mass_PET", headers), image, "RS")
    parameters, source = protocol_parameters(protocol)
    extractor = build_extractor(parameters, source)
    settings = RobustnessSettings.from_protocol(protocol)

    def extract(image, mask, name):
        return run_extractor(extractor, image, mask, label=1, source=source, mask_name=name)

    started = time.perf_counter()
    for _ in range(settings.repetitions + 1):
        extract(image, mask, "unperturbed")
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    result = perturbation_study([Lesion("gtv", image, mask)], settings, extract, source)
    study = time.perf_counter() - started
    print(f"baseline: {settings.repetitions + 1} plain extractions {baseline:.1f} s")
    print(f"study: {settings.repetitions} x {settings.perturbation.code}, {len(result.features)} features, "
          f"{len(result.robust_features)} robust: {study:.1f} s")
    print(f"ratio study / baseline: {study / baseline:.2f}; target {TARGET_SECONDS:.0f} s: "
          f"{'met' if study < TARGET_SECONDS else 'MISSED'}")


if __name__ == "__main__":
    main()
