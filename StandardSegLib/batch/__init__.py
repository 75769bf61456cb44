"""Cohort batch runs on Dask (issue 14): ``standardseg batch MANIFEST -o DIR``.

- ``manifest``: read and check a YAML or CSV manifest up front (``read_manifest`` -> ``BatchCase``s);
- ``case_task``: one case on a worker, the same ``run_session`` as ``standardseg run`` (``run_case``);
- ``resume``: whether a finished bundle still answers its job (``stale_reason``);
- ``runner``: the cases on a LocalCluster or an existing scheduler (``run_batch``, ``ClusterSpec``);
- ``cohort`` / ``cohort_qc`` / ``cohort_html`` / ``outputs``: cohort.csv, cohort.parquet, cohort.html, batch.json.
"""

from StandardSegLib.batch.case_task import DONE, FAILED, PARTIAL, SKIPPED, CaseResult
from StandardSegLib.batch.manifest import BatchCase, read_manifest
from StandardSegLib.batch.outputs import write_batch_outputs
from StandardSegLib.batch.runner import BatchRun, ClusterSpec, run_batch

__all__ = ["BatchCase", "BatchRun", "CaseResult", "ClusterSpec", "DONE", "FAILED", "PARTIAL", "SKIPPED",
           "read_manifest", "run_batch", "write_batch_outputs"]
