"""``standardseg demo [--out DIR] [--seed N] [--overwrite]``: the guided demo on a synthetic PET/CT study.

Writes OUT/study/ (CT and PET DICOM series, NRRD volumes, truth.json), runs the pipeline and prints the
report folder as the last line of stdout, so scripts can pick it up with ``tail -n 1``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the guided demo on a generated PET/CT study",
        description="Generate a synthetic FDG PET/CT study with known truth (NEMA spheres as lesions, "
        "liver reference region) as real DICOM, run the guided pipeline on it and write a report folder. "
        "The report folder's path is the last line printed.")
    parser.add_argument("--out", default="standardseg-demo", metavar="DIR",
                        help="output folder (default: ./standardseg-demo)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="random seed for image noise and DICOM UIDs (default: 0; same seed, same files)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/study folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    context = run_demo(Path(args.out), seed=args.seed, overwrite=args.overwrite, progress=TerminalProgress(sys.stderr))
    print(f"study:  {context.study_dir}")
    for record in context.steps:
        print(f"step:   {record.name} ({record.duration_s:.1f} s)")
    if context.checked is not None:
        verdict = context.checked.gate.verdict
        reference = context.checked.gate.reference
        print(f"gate:   {verdict.overall.upper()} for {verdict.protocol_id} v{verdict.protocol_version} "
              f"({sum(item.verdict == 'pass' for item in verdict.items)}/{len(verdict.items)} items pass)")
        if reference is not None:
            print(f"liver:  SUV mean {reference.mean:.2f}, SD {reference.sd:.2f} ({reference.voxel_count} voxels)")
    for lesion in context.lesions:
        if not lesion["segmented"]:
            print(f"lesion: {lesion['lesion']} ({lesion['diameter_mm']:g} mm): not segmented: {lesion['reason']}")
            continue
        measured = lesion["measurements"]
        uptake = measured["uptake"]
        print(f"lesion: {lesion['lesion']} ({lesion['diameter_mm']:g} mm, {lesion['method']}): "
              f"{measured['voxel_count']} voxels, {uptake['mtv_ml']:.2f} mL "
              f"({lesion['volume_error_percent']:+.0f} % vs analytic), SUVmax {uptake['suv_max']:.2f}, "
              f"SUVpeak {uptake['suv_peak']:.2f}, TLG {uptake['tlg_suv_ml']:.1f}")
    if context.scene_path is not None:
        print(f"scene:  {context.scene_path} (open in 3D Slicer: the same session, segments with provenance)")
    print(context.report_dir)
    return 0
