"""The guided demo: generate a synthetic PET/CT study, run the pipeline on it, write a report bundle.

The pipeline is a list of named steps; each takes the ``DemoContext`` and returns an updated copy. New
steps (load, image check, SUV, measure ...) slot into ``DEMO_STEPS`` between "generate" and
"write bundle". ``run_demo`` records when each step ran; the bundle lists them with the SHA-256 of every
input file, the software versions and the truth, so a report can be traced back to its exact inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from StandardSegLib import __version__
from StandardSegLib.cli.output import to_jsonable
from StandardSegLib.errors import InputError
from StandardSegLib.phantom import StudyFiles, StudyOptions, SyntheticStudy, generate_study, write_study
from StandardSegLib.progress import ProgressCallback, report

STUDY_DIR_NAME = "study"
SUMMARY_SCHEMA = "standardseg.demo-summary/1"


@dataclass(frozen=True)
class StepRecord:
    """When one pipeline step ran (ISO 8601 local times with offset)."""

    name: str
    started_at: str
    finished_at: str
    duration_s: float


@dataclass(frozen=True)
class DemoContext:
    """State handed from step to step. Steps return a new context (``dataclasses.replace``)."""

    out_dir: Path
    seed: int
    overwrite: bool
    started_at: dt.datetime
    progress: Optional[ProgressCallback] = None
    study: Optional[SyntheticStudy] = None
    study_files: Optional[StudyFiles] = None
    steps: tuple[StepRecord, ...] = ()
    report_dir: Optional[Path] = None

    @property
    def study_dir(self) -> Path:
        return self.out_dir / STUDY_DIR_NAME


Step = Callable[[DemoContext], DemoContext]


def check_study_dir(study_dir: Path, overwrite: bool) -> None:
    """Refuse to touch an existing study unless ``overwrite``; even then only one that looks like ours."""
    if not study_dir.exists():
        return
    if not overwrite:
        raise InputError(f"{study_dir} already exists: pass --overwrite to replace it, or choose another --out")
    if not (study_dir / "truth.json").is_file():
        raise InputError(f"{study_dir} exists but is not a StandardSeg demo study (no truth.json): "
                         "not replacing it; remove it yourself or choose another --out")


def generate(context: DemoContext) -> DemoContext:
    """Generate the synthetic study and write it to OUT/study (built in a hidden folder, then moved in)."""
    check_study_dir(context.study_dir, context.overwrite)
    study = generate_study(StudyOptions(seed=context.seed),
                           progress=lambda f, m: report(context.progress, 0.5 * f, m))
    context.out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".study-", dir=context.out_dir))
    try:
        files = write_study(study, staging / STUDY_DIR_NAME,
                            progress=lambda f, m: report(context.progress, 0.5 + 0.5 * f, m))
        if context.study_dir.exists():
            context.study_dir.rename(staging / "replaced")
        (staging / STUDY_DIR_NAME).rename(context.study_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return replace(context, study=study, study_files=files.moved_to(context.study_dir))


def write_bundle(context: DemoContext) -> DemoContext:
    """Write OUT/report-<timestamp>/summary.json atomically (temporary folder renamed into place)."""
    if context.study_files is None:
        raise RuntimeError("demo step 'write bundle' needs the study: the 'generate' step must run before it")
    now = dt.datetime.now().astimezone()
    summary = {
        "schema": SUMMARY_SCHEMA,
        "command": "standardseg demo",
        "seed": context.seed,
        "started_at": context.started_at.isoformat(),
        "finished_at": now.isoformat(),
        "software": software_versions(),
        "inputs": [{"path": path.relative_to(context.out_dir).as_posix(), "sha256": sha256_of(path)}
                   for path in context.study_files.all_files()],
        "truth": json.loads(context.study_files.truth_json.read_text(encoding="utf-8")),
        "steps": [*map(asdict, context.steps), {"name": "write bundle", "started_at": now.isoformat()}],
    }
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=context.out_dir))
    try:
        text = json.dumps(to_jsonable(summary), indent=2, allow_nan=False) + "\n"
        (staging / "summary.json").write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; the report is meant to be shared
        report_dir = _free_report_dir(context.out_dir, now)
        os.rename(staging, report_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return replace(context, report_dir=report_dir)


#: The pipeline, in order. The lead inserts load / image check / SUV / measure steps before "write bundle".
DEMO_STEPS: tuple[tuple[str, Step], ...] = (
    ("generate", generate),
    ("write bundle", write_bundle),
)


def run_demo(out_dir: Path, seed: int = 0, overwrite: bool = False, progress: Optional[ProgressCallback] = None,
             steps: tuple[tuple[str, Step], ...] = DEMO_STEPS) -> DemoContext:
    """Run ``steps`` in order; step i reports progress in [i/n, (i+1)/n]. Returns the final context."""
    out_dir = Path(out_dir)
    StudyOptions(seed=seed)  # validate before any work or output
    check_study_dir(out_dir / STUDY_DIR_NAME, overwrite)
    context = DemoContext(out_dir=out_dir, seed=seed, overwrite=overwrite,
                          started_at=dt.datetime.now().astimezone())
    for index, (name, step) in enumerate(steps):
        def scaled(fraction: float, message: str, index: int = index, name: str = name) -> None:
            report(progress, (index + fraction) / len(steps), f"{name}: {message}")

        started = dt.datetime.now().astimezone()
        report(scaled, 0.0, "started")
        context = step(replace(context, progress=scaled))
        finished = dt.datetime.now().astimezone()
        record = StepRecord(name=name, started_at=started.isoformat(), finished_at=finished.isoformat(),
                            duration_s=round((finished - started).total_seconds(), 3))
        context = replace(context, steps=context.steps + (record,), progress=None)
    report(progress, 1.0, "done")
    return context


def software_versions() -> dict[str, str]:
    """Versions of the software that produced the numbers (architecture.md: report provenance)."""
    import numpy
    import pydicom
    import SimpleITK

    return {"standardseg": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "SimpleITK": SimpleITK.Version_VersionString(), "pydicom": pydicom.__version__}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _free_report_dir(out_dir: Path, when: dt.datetime) -> Path:
    """OUT/report-YYYYMMDD-HHMMSS, with -2, -3 ... appended if a run in the same second already took it."""
    base = out_dir / f"report-{when:%Y%m%d-%H%M%S}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
