"""Benchmark: ``standardseg batch`` on 12 cases, sequential vs 2 Dask worker processes (issue 14: aim >= 1.7x).

Cases: the three real STS patients (FDG PET, ``Testing/Data/real/sts``, the expert GTV read from the RTSTRUCT,
gate overridden for the crop) and nine cases on one generated demo study (two NEMA spheres each), all with
radiomics. Timed in the same run, each from scratch into a new folder:

- bare: ``run_session`` called once per case in this process (the baseline: what ``standardseg run`` does);
- batch, 1 worker: ``run_batch`` on a LocalCluster with one worker process (sequential through the batch layer);
- batch, 2 workers: the same with two worker processes.

Printed: wall times, the speed-up of 2 workers over 1 worker and over bare calls, the batch layer's overhead
(1 worker vs bare) in total, its fixed part (an empty batch: cluster start and stop, cohort outputs) and the rest
per case (worker imports, sending cases, resume checks), how many cases ran at once, and each worker's peak
resident memory. On a machine shared with other work the speed-up falls:
check ``uptime``'s load average first.

Run: ``.venv/bin/python benchmarks/bench_batch.py``
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
import time
import warnings
from pathlib import Path

from StandardSegLib.batch import BatchCase, BatchRun, ClusterSpec, run_batch, write_batch_outputs
from StandardSegLib.demo import demo_session
from StandardSegLib.operators import OperatorRegistry
from StandardSegLib.phantom import generate_study, write_study
from StandardSegLib.session import Session, run_session

STS = Path(__file__).resolve().parent.parent / "Testing" / "Data" / "real" / "sts"
PATIENTS = ("STS_001", "STS_002", "STS_003")
DEMO_CASES = 9
OPERATOR = "Bench Reader"
TARGET_SPEEDUP = 1.7


def build_cases(folder: Path) -> list[BatchCase]:
    registry = folder / "operators.json"
    OperatorRegistry.open(registry).add(OPERATOR, dt.date.today() - dt.timedelta(days=10))
    study = generate_study()
    files = write_study(study, folder / "study")
    demo = dataclasses.replace(demo_session(study, files, folder), operator=OPERATOR, registry=registry.name)
    spheres = demo.lesions[2:]  # the 17-37 mm spheres: what a reader seeds; the 10 and 13 mm ones are near the PSF
    cases = [BatchCase(f"demo-{number}", dataclasses.replace(
        demo, lesions=(spheres[number % 4], spheres[(number + 1) % 4])), "synthetic") for number in range(DEMO_CASES)]
    for patient in PATIENTS:
        document = {"schema": "standardseg.session/1", "image": {"path": str(STS / patient / "PET" / "image")},
                    "protocol": {"id": "fdg-pet-ct-oncology"}, "operator": {"name": OPERATOR, "registry": registry.name},
                    "override": "IBSI STS crop: no liver",
                    "lesions": [{"name": "gtv", "mask": {"path": str(STS / patient / "PET" / "mask" / "RS.dcm"),
                                                         "roi": "GTV_Mass_PET"}}]}
        cases.append(BatchCase(patient.lower(), Session.from_dict(document, folder), "sts"))
    return cases


def timed_batch(cases: list[BatchCase], out: Path, workers: int, manifest: Path) -> tuple[float, BatchRun]:
    start = time.perf_counter()
    run = run_batch(cases, out, ClusterSpec(workers=workers))
    write_batch_outputs(run, cases, manifest)
    return time.perf_counter() - start, run


def main() -> None:
    warnings.simplefilter("ignore")  # pydicom/highdicom header warnings quote patient names: keep them off the screen
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        cases = build_cases(folder)
        manifest = folder / "manifest.yaml"
        manifest.write_text("# cases built in memory by the benchmark\n[]\n", encoding="utf-8")
        print(f"{len(cases)} cases ({DEMO_CASES} generated, {len(PATIENTS)} real STS), radiomics on")

        (folder / "bare").mkdir()
        start = time.perf_counter()
        for case in cases:
            run_session(case.session, folder / "bare" / case.case_id)
        bare = time.perf_counter() - start
        fixed, _ = timed_batch([], folder / "empty", 1, manifest)
        one, _ = timed_batch(cases, folder / "batch1", 1, manifest)
        two, run = timed_batch(cases, folder / "batch2", 2, manifest)

        print(f"bare run_session calls   {bare:7.1f} s  ({bare / len(cases):.2f} s/case)")
        print(f"batch, 1 worker          {one:7.1f} s")
        print(f"batch, 2 workers         {two:7.1f} s")
        print(f"speed-up 2 workers vs 1 worker  {one / two:.2f}x   vs bare calls {bare / two:.2f}x  "
              f"(aim >= {TARGET_SPEEDUP}x)")
        print(f"batch-layer overhead (1 worker - bare)  {one - bare:+.1f} s total ({(one - bare) / bare:+.0%}): "
              f"fixed {fixed:.1f} s (an empty batch: cluster start and stop, outputs), "
              f"{(one - bare - fixed) / len(cases):+.2f} s/case beyond it (worker imports, transfer, resume check)")
        in_workers = sum(result.seconds for result in run.results)
        print(f"2 workers: cases' time inside the workers {in_workers:.1f} s = {in_workers / two:.2f} cases running at "
              "once on average (2 = both workers always busy)")
        peaks: dict[str, float] = {}
        for result in run.results:
            peaks[result.worker] = max(peaks.get(result.worker, 0.0), result.peak_rss_mb or 0.0)
        for number, (worker, peak) in enumerate(sorted(peaks.items()), start=1):
            cases_run = sum(result.worker == worker for result in run.results)
            print(f"worker {number}: {cases_run} cases, peak resident memory {peak:.0f} MiB")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        for result in run.results:
            if result.status == "failed":
                print(f"failed: {result.case_id}: {result.reason}")


if __name__ == "__main__":
    main()
