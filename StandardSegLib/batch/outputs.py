"""The batch's own outputs in DIR: cohort.csv, cohort.parquet, cohort.html and batch.json (provenance).

They are derived from the case bundles, so each run of a batch (``--resume`` included) rewrites them over the
whole cohort; batch.json keeps the list of earlier runs. Each file is written to a temporary name and renamed
into place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from StandardSegLib.batch.case_task import CASES_DIR, DONE, FAILED, PARTIAL, SKIPPED
from StandardSegLib.batch.cohort import (COHORT_CSV, COHORT_PARQUET, CaseReport, cohort_csv, cohort_rows,
                                         load_case_reports, write_cohort_parquet)
from StandardSegLib.batch.cohort_html import COHORT_HTML, cohort_html
from StandardSegLib.batch.runner import BATCH_JSON
from StandardSegLib.files import atomic_write, sha256_of
from StandardSegLib.jsonable import to_jsonable

if TYPE_CHECKING:
    from StandardSegLib.batch.manifest import BatchCase
    from StandardSegLib.batch.runner import BatchRun

SCHEMA_ID = "standardseg.batch/1"
_BATCH_DISTRIBUTIONS = ("dask", "distributed", "pyarrow")


def write_batch_outputs(run: "BatchRun", cases: Sequence["BatchCase"], manifest: Path) -> tuple[Path, ...]:
    """Write the cohort outputs and batch.json for ``run``; returns their paths."""
    sites = {case.case_id: case.site for case in cases}
    reports = load_case_reports(run.out_dir, run.results, sites)
    rows = list(cohort_rows(reports))
    provenance = _provenance(run, reports, manifest, sha256_of(manifest))
    targets = {name: run.out_dir / name for name in (COHORT_CSV, COHORT_PARQUET, COHORT_HTML, BATCH_JSON)}
    _replace(targets[COHORT_CSV], lambda path: path.write_text(cohort_csv(rows), encoding="utf-8"))
    _replace(targets[COHORT_PARQUET], lambda path: write_cohort_parquet(rows, path))
    _replace(targets[COHORT_HTML], lambda path: path.write_text(cohort_html(reports, rows, provenance),
                                                                encoding="utf-8"))
    _replace(targets[BATCH_JSON], lambda path: path.write_text(json.dumps(provenance, indent=2, allow_nan=False)
                                                               + "\n", encoding="utf-8"))
    return tuple(targets.values())


def _provenance(run: "BatchRun", reports: Sequence[CaseReport], manifest: Path, manifest_sha256: str) -> dict[str, Any]:
    from StandardSegLib.report import software_versions

    counts = {status: run.count(status) for status in (DONE, PARTIAL, SKIPPED, FAILED)}
    this_run = {"started_at": run.started_at.isoformat(timespec="seconds"),
                "finished_at": run.finished_at.isoformat(timespec="seconds"), "counts": counts}
    return to_jsonable({
        "schema": SCHEMA_ID,
        "manifest": {"path": Path(os.path.relpath(manifest.absolute(), run.out_dir)).as_posix(),
                     "sha256": manifest_sha256},
        **this_run,
        "complete": run.complete,
        "cluster": run.cluster.describe(),
        "software": software_versions(*_BATCH_DISTRIBUTIONS),
        "cases": [_case_entry(report) for report in reports],
        "outputs": [COHORT_CSV, COHORT_PARQUET, COHORT_HTML, BATCH_JSON],
        "runs": [*_earlier_runs(run.out_dir / BATCH_JSON), this_run],
    })


def _case_entry(report: CaseReport) -> dict[str, Any]:
    result, document = report.result, report.document
    entry: dict[str, Any] = {"case": result.case_id, "site": report.site, "status": result.status,
                             "reason": result.reason, "seconds": result.seconds, "log": result.log,
                             "bundle": f"{CASES_DIR}/{result.case_id}" if document else None}
    if document is not None:
        entry["protocol"] = document["protocol"]
        entry["gate"] = document["gate"]["overall"]
        entry["lesions"] = len(document["segments"])
        entry["failures"] = document.get("failures", [])
    return entry


def _earlier_runs(path: Path) -> list[Any]:
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
    except (ValueError, OSError, AttributeError):
        return []  # an unreadable earlier batch.json only loses the history, never the results


def _replace(target: Path, write: Callable[[Path], None]) -> None:
    atomic_write(target, target.suffix, write)
