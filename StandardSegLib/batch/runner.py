"""Run a cohort on Dask: a LocalCluster by default, or any running scheduler - the same code either way.

Each case is one task (``case_task.run_case``) on a worker process with one thread (the pipeline's libraries,
SimpleITK and pyradiomics, hold the GIL or use their own threads, so processes are what scale). With a
LocalCluster each worker has a memory limit (``memory_limit``, Dask's "auto" = the machine's memory / workers);
a worker that exceeds it is restarted by its nanny and its case rescheduled. With ``scheduler`` the workers
are whoever joined it (``dask scheduler`` / ``dask worker ADDRESS``); they must see the inputs and the output
folder at the same paths (a shared file system) and have the same StandardSeg installed.

The output folder holds ``cases/<id>/`` (one report bundle per case), ``logs/`` (per-case warnings and
tracebacks) and, once the batch ends, the cohort outputs (``cohort_outputs``). A folder that already holds a
batch is only continued with ``resume``: finished cases whose job, inputs, protocol and software still match
are skipped (``resume.stale_reason``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence

from StandardSegLib.batch.case_task import CASES_DIR, DONE, FAILED, LOGS_DIR, PARTIAL, SKIPPED, CaseResult, run_case
from StandardSegLib.errors import InputError
from StandardSegLib.progress import report

if TYPE_CHECKING:
    from distributed import Client, Future

    from StandardSegLib.batch.manifest import BatchCase
    from StandardSegLib.progress import ProgressCallback

BATCH_JSON = "batch.json"


@dataclass(frozen=True)
class ClusterSpec:
    """Where cases run: ``scheduler`` address (an existing cluster) or a LocalCluster of ``workers`` processes."""

    scheduler: Optional[str] = None
    workers: int = 2
    memory_limit: str = "auto"

    def describe(self) -> dict[str, object]:
        if self.scheduler:
            return {"kind": "existing scheduler"}
        return {"kind": "LocalCluster", "workers": self.workers, "threads_per_worker": 1,
                "memory_limit": self.memory_limit}


@dataclass(frozen=True)
class BatchRun:
    """The results of every case, in manifest order, and when the batch ran."""

    out_dir: Path
    results: tuple[CaseResult, ...]
    started_at: dt.datetime
    finished_at: dt.datetime
    cluster: ClusterSpec

    def count(self, status: str) -> int:
        return sum(result.status == status for result in self.results)

    @property
    def complete(self) -> bool:
        """Every case has a bundle with every lesion (done now or skipped as finished before)."""
        return all(result.status in (DONE, SKIPPED) for result in self.results)


def prepare_output(out_dir: Path, resume: bool) -> None:
    """Create DIR/cases and DIR/logs; a folder holding an earlier batch is continued only with ``resume``."""
    earlier = (out_dir / BATCH_JSON).exists() or (out_dir / CASES_DIR).exists()
    if earlier and not resume:
        raise InputError(f"{out_dir} holds an earlier batch: pass --resume to continue it (finished cases whose "
                         "inputs, protocol and software match are skipped), or choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: expected an output folder, found a file")
    if out_dir.is_dir() and not earlier and any(out_dir.iterdir()):
        raise InputError(f"{out_dir}: expected a new or empty output folder, found other files in it")
    (out_dir / CASES_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / LOGS_DIR).mkdir(exist_ok=True)


def run_batch(cases: Sequence["BatchCase"], out_dir: str | Path, cluster: ClusterSpec = ClusterSpec(), *,
              resume: bool = False, deidentify: bool = False, progress: Optional["ProgressCallback"] = None,
              on_dashboard: Optional[Callable[[str], None]] = None) -> BatchRun:
    """Run every case on the cluster; returns when all have finished, failed or been skipped.

    ``deidentify`` de-identifies every case's bundle (as ``run --deidentify``). ``on_dashboard`` receives the
    Dask dashboard's address once the cluster is up. ``progress`` gets (fraction of cases finished,
    "done, failed, skipped, ETA").
    """
    _check_cluster(cluster)
    out_dir = Path(out_dir).absolute()
    prepare_output(out_dir, resume)
    if deidentify:
        cases = [dataclasses.replace(case, session=dataclasses.replace(case.session, deidentify=True))
                 for case in cases]
    started = dt.datetime.now().astimezone()
    results: dict[str, CaseResult] = {}
    with _client(cluster) as client:
        if on_dashboard is not None and client.dashboard_link:
            on_dashboard(client.dashboard_link)
        batch_key = uuid.uuid4().hex[:8]
        futures = {client.submit(run_case, case, out_dir, key=f"standardseg-case-{case.case_id}-{batch_key}",
                                 pure=False): case for case in cases}
        _collect(client, futures, results, progress)
    return BatchRun(out_dir, tuple(results[case.case_id] for case in cases), started,
                    dt.datetime.now().astimezone(), cluster)


def _collect(client: "Client", futures: dict["Future", "BatchCase"], results: dict[str, CaseResult],
             progress: Optional["ProgressCallback"]) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    clock = time.monotonic()
    report(progress, 0.0, f"0/{len(futures)} cases")
    for future in as_completed(futures):
        case = futures[future]
        try:
            result = future.result()
        except KilledWorker:
            result = CaseResult(case.case_id, FAILED, "the workers running it died repeatedly (memory limit "
                                "exceeded, or killed); see the Dask worker logs")
        except Exception as error:  # e.g. the job could not be sent to a worker: that case fails, not the batch
            result = CaseResult(case.case_id, FAILED, f"Dask could not run it: {type(error).__name__}: {error}")
        future.release()
        results[case.case_id] = result
        report(progress, len(results) / len(futures), progress_message(results.values(), len(futures),
                                                                      time.monotonic() - clock))


def progress_message(results: Iterable[CaseResult], total: int, elapsed_s: float) -> str:
    """"12/40 cases: 10 done, 1 partial, 1 failed, 0 skipped, ETA 3m05s" (ETA from the mean time per case)."""
    finished = list(results)
    counts = {status: sum(result.status == status for result in finished) for status in (DONE, PARTIAL, FAILED,
                                                                                           SKIPPED)}
    left = total - len(finished)
    eta = _duration(elapsed_s / len(finished) * left) if finished and left else "-"
    text = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(finished)}/{total} cases: {text}, ETA {eta}"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


@contextmanager
def _client(cluster: ClusterSpec) -> Iterator["Client"]:
    """A Dask client on the given scheduler, or on a new LocalCluster closed afterwards."""
    from distributed import Client, LocalCluster

    if cluster.scheduler:
        try:
            client = Client(cluster.scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise InputError(f"--scheduler {cluster.scheduler}: expected a running Dask scheduler, found none "
                             f"({error})") from None
        with client:
            yield client
        return
    # Worker and scheduler log lines (a restarted worker, a busy dashboard port) stay off the terminal:
    # what matters is in each case's result and log.
    with LocalCluster(n_workers=cluster.workers, threads_per_worker=1, processes=True,
                      memory_limit=cluster.memory_limit, silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def _check_cluster(cluster: ClusterSpec) -> None:
    """At least one worker; a memory limit of ``auto`` or a size Dask reads (``dask.utils.parse_bytes``)."""
    from dask.utils import parse_bytes

    if cluster.scheduler:
        return
    if cluster.workers < 1:
        raise InputError(f"--workers: expected at least 1, found {cluster.workers}")
    if cluster.memory_limit == "auto":
        return
    try:
        parse_bytes(cluster.memory_limit)
    except (ValueError, TypeError):
        raise InputError(f"--memory-limit: expected a size such as 4GiB or 'auto', found '{cluster.memory_limit}'") \
            from None
