"""One case of a batch, as a Dask worker runs it: skip if finished, else ``run_session`` into DIR/cases/<id>.

The pipeline is ``StandardSegLib.session.run_session``, the same code path as ``standardseg run``. Whatever
goes wrong in a case is caught here and returned as a failed ``CaseResult`` (one-line reason; traceback and the
warnings the case raised in ``DIR/logs/<id>.log``), so one bad case never stops the cohort and nothing is
printed on the terminal from a worker.

A worker that dies mid-case (killed, out of memory) never leaves a bundle behind: ``run_session`` writes it in
a hidden staging folder renamed into place at the end. The staging folder a killed worker leaves is removed
before the case is tried again; Dask reschedules a task whose worker died (``distributed.scheduler.
allowed-failures`` times, 3 by default) before it reports ``KilledWorker``.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import sys
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from StandardSegLib.errors import StandardSegError

if TYPE_CHECKING:
    from StandardSegLib.batch.manifest import BatchCase
    from StandardSegLib.progress import ProgressCallback

CASES_DIR, LOGS_DIR = "cases", "logs"
DONE, PARTIAL, SKIPPED, FAILED = "done", "partial", "skipped", "failed"
#: Test-only fault injection: the worker running this case id exits (``os._exit``) while writing its bundle,
#: once per batch folder, so the tests can show a killed worker leaves no partial bundle and the case is retried.
EXIT_IN_CASE_VARIABLE = "STANDARDSEG_BATCH_TEST_EXIT_IN_CASE"
#: Fraction of ``run_session``'s progress from which its bundle is being written (0.8 + 0.2 x bundle progress).
_WRITING_BUNDLE = 0.9
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


@dataclass(frozen=True)
class CaseResult:
    """What became of one case. ``reason`` is one line (failed: why; partial: the failed lesions; a re-run:
    why the earlier bundle was stale). ``peak_rss_mb`` is the worker process's peak resident memory so far."""

    case_id: str
    status: str
    reason: Optional[str] = None
    seconds: float = 0.0
    worker: Optional[str] = None
    peak_rss_mb: Optional[float] = None
    log: Optional[str] = None  # relative to the batch folder


def run_case(case: "BatchCase", out_dir: Path) -> CaseResult:
    """Run (or skip) ``case`` into ``out_dir/cases/<case id>``; never raises for the case's own errors."""
    from StandardSegLib.batch.resume import stale_reason

    started = time.perf_counter()
    cases_dir = out_dir / CASES_DIR
    target = cases_dir / case.case_id
    _remove_staging(cases_dir, case.case_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rerun = stale_reason(case, target) if target.exists() else None
            if target.exists() and rerun is None:
                return _result(case, SKIPPED, started)
            status, reason = _run(case, target, out_dir, overwrite=target.exists())
            if rerun is not None:
                reason = "; ".join(filter(None, (f"re-run: {rerun}", reason)))
        except Exception as error:  # failure isolation: any error of one case is that case's result
            log = _write_log(out_dir, case.case_id, traceback.format_exc(), caught)
            return _result(case, FAILED, started, _one_line(error, log), log)
        log = _write_log(out_dir, case.case_id, None, caught)
        return _result(case, status, started, reason, log)


def _run(case: "BatchCase", target: Path, out_dir: Path, overwrite: bool) -> tuple[str, Optional[str]]:
    from StandardSegLib.session import bundle_failures, run_session

    result = run_session(case.session, target, overwrite=overwrite, progress=_exit_hook(case.case_id, out_dir))
    failures = bundle_failures(result.path)
    if not failures:
        return DONE, None
    return PARTIAL, "; ".join(f"lesion {item['name']} ({item['stage']}): {item['reason']}" for item in failures)


def _result(case: "BatchCase", status: str, started: float, reason: Optional[str] = None,
            log: Optional[str] = None) -> CaseResult:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    peak_mb = peak_kb / (1 << 20) if sys.platform == "darwin" else peak_kb / 1024
    return CaseResult(case.case_id, status, reason, round(time.perf_counter() - started, 3),
                      f"{socket.gethostname()}:{os.getpid()}", round(peak_mb, 1), log)


def _remove_staging(cases_dir: Path, case_id: str) -> None:
    """Remove the hidden staging folders (``.<id>.partial-*``) a killed worker left for this case."""
    for staging in cases_dir.glob(f".{case_id}.partial-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _one_line(error: Exception, log: Optional[str]) -> str:
    if isinstance(error, StandardSegError):
        return str(error).splitlines()[0]
    first = (str(error).splitlines() or [""])[0]
    return f"internal error {type(error).__name__}: {first} (traceback in {log})"


def _write_log(out_dir: Path, case_id: str, trace: Optional[str], caught: Sequence[warnings.WarningMessage]) -> \
        Optional[str]:
    """Write the case's warnings and traceback to ``logs/<id>.log``; returns its path relative to ``out_dir``,
    None when there is nothing to write."""
    lines = list(_warning_lines(caught))
    if not lines and not trace:
        return None
    relative = f"{LOGS_DIR}/{case_id}.log"
    (out_dir / relative).write_text("\n".join([*lines, *([trace] if trace else [])]) + "\n", encoding="utf-8")
    return relative


def _warning_lines(caught: Sequence[warnings.WarningMessage]) -> Iterator[str]:
    """Each data warning once, with its count; quoted values blanked (pydicom quotes header values, e.g. the
    patient's name, in its warnings: identifiers never go to a log). Warnings about library APIs are left out."""
    counts = Counter(_QUOTED.sub('"..."', f"{item.category.__name__}: {item.message}") for item in caught
                     if not issubclass(item.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)))
    for text, count in counts.items():
        yield f"warning: {text}" + (f" ({count} times)" if count > 1 else "")


def _exit_hook(case_id: str, out_dir: Path) -> Optional["ProgressCallback"]:
    """The test-only fault (``EXIT_IN_CASE_VARIABLE``) as a progress callback; None when not asked for."""
    if os.environ.get(EXIT_IN_CASE_VARIABLE) != case_id:
        return None
    marker = out_dir / LOGS_DIR / f".exited-in-{case_id}"

    def exit_once(fraction: float, message: str) -> None:
        if fraction < _WRITING_BUNDLE:
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(70)  # no clean-up at all, as a killed process

    return exit_once
