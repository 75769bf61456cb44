"""``standardseg batch MANIFEST -o DIR [--scheduler ADDRESS] [--workers N] [--resume] [--deidentify]``.

Runs a cohort (``StandardSegLib.batch``): every case of the manifest through the same pipeline as ``run``, on a
Dask LocalCluster or an existing scheduler, into ``DIR/cases/<id>/``, then writes cohort.csv, cohort.parquet,
cohort.html and batch.json to DIR. The manifest is checked whole before anything runs. Exit 0 when every case
is complete, 4 when any case or lesion failed (its reason is printed, its traceback is in ``DIR/logs``), 2 for a
bad manifest. DIR is the last line printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from StandardSegLib.cli.progress_bar import TerminalProgress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="run a cohort of jobs on Dask (local processes or a cluster) with a cohort report",
        description="Run every case of MANIFEST (a YAML list of job files or inline jobs, or a CSV with one row "
        "per lesion) through the 'run' pipeline on a Dask LocalCluster (default) or an existing scheduler, writing "
        "DIR/cases/<case>/ bundles and DIR/cohort.csv, cohort.parquet, cohort.html and batch.json. A case that "
        "fails is recorded and the others go on. Exit 0 complete, 4 partial (a case or lesion failed), 2 bad "
        "manifest.")
    parser.add_argument("manifest", metavar="MANIFEST", help="manifest file (.yaml/.yml or .csv)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="batch folder to write")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); its workers must see "
                        "the inputs and DIR at the same paths. Default: a LocalCluster on this machine")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker processes of the LocalCluster (default 2; ignored with --scheduler)")
    parser.add_argument("--memory-limit", default="auto", metavar="SIZE",
                        help="memory limit per LocalCluster worker, e.g. 4GiB (default auto: memory / workers); a "
                        "worker above it is restarted and its case retried")
    parser.add_argument("--resume", action="store_true",
                        help="continue a batch in DIR: finished cases whose job, inputs, protocol and software "
                        "match are skipped, the others run")
    parser.add_argument("--deidentify", action="store_true",
                        help="de-identify every case's bundle (as 'run --deidentify')")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.batch import ClusterSpec, read_manifest, run_batch, write_batch_outputs
    from StandardSegLib.session import PARTIAL_EXIT_STATUS

    manifest = Path(args.manifest)
    cases = read_manifest(manifest)
    cluster = ClusterSpec(scheduler=args.scheduler, workers=args.workers, memory_limit=args.memory_limit)
    batch = run_batch(cases, args.output, cluster, resume=args.resume, deidentify=args.deidentify,
                      progress=TerminalProgress(sys.stderr),
                      on_dashboard=lambda link: print(f"Dask dashboard: {link}", file=sys.stderr, flush=True))
    write_batch_outputs(batch, cases, manifest)
    counts = ", ".join(f"{batch.count(status)} {status}" for status in ("done", "partial", "skipped", "failed"))
    print(f"{len(batch.results)} cases: {counts}")
    for result in batch.results:
        if result.status in ("failed", "partial"):
            print(f"  {result.case_id} {result.status}: {result.reason}")
    print(batch.out_dir)
    return 0 if batch.complete else PARTIAL_EXIT_STATUS
