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
from typing import Any, Callable, Optional

from StandardSegLib import __version__
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.errors import InputError
from StandardSegLib.phantom import StudyFiles, StudyOptions, SyntheticStudy, generate_study, write_study
from StandardSegLib.progress import ProgressCallback, report

STUDY_DIR_NAME = "study"
SUMMARY_SCHEMA = "standardseg.demo-summary/2"
#: The SOP the demo follows, and its (in-memory, never persisted) trained reader.
DEMO_PROTOCOL_ID = "fdg-pet-ct-oncology"
DEMO_OPERATOR = "Demo Reader"
DEMO_OPERATOR_TRAINED_DAYS_AGO = 30


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
    pet: Any = None  # LoadedImage of the PET series
    gate: Any = None  # GateEvaluation
    lesions: tuple[dict, ...] = ()  # per-lesion measurements

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


def image_check(context: DemoContext) -> DemoContext:
    """Load the PET DICOM series and run the protocol's gate, as a reader would before segmenting.

    ROIs follow the protocol: the liver reference sphere (PERCIST 30 mm) and a lesion sphere on the largest
    NEMA sphere; the operator is a demo reader trained 30 days ago. A failing gate stops the demo (exit 3).
    """
    from StandardSegLib.gate import RoiInput, evaluate_gate
    from StandardSegLib.imaging import load_image
    from StandardSegLib.operators import Operator, training_status
    from StandardSegLib.protocols import load_library
    from StandardSegLib.roi import SphereROI, shape_mask

    _require(context, "image check")
    loaded = load_image(context.study_files.pet_dicom[0].parent, progress=context.progress)
    protocol = load_library().get(DEMO_PROTOCOL_ID)
    layout = context.study.layout
    lesion_shape = max(layout.spheres, key=lambda sphere: sphere.diameter_mm)
    lesion = SphereROI(lesion_shape.centre_lps_mm, lesion_shape.diameter_mm)
    liver = SphereROI(layout.liver_reference.centre_lps_mm, layout.liver_reference.diameter_mm)
    operator = Operator(DEMO_OPERATOR, "reader", dt.date.today() - dt.timedelta(days=DEMO_OPERATOR_TRAINED_DAYS_AGO))
    rule = protocol.operator_training
    evaluation = evaluate_gate(
        protocol, loaded,
        lesion=RoiInput(shape_mask(loaded.image, lesion), f"lesion {lesion.describe()}"),
        background=RoiInput(shape_mask(loaded.image, liver), f"liver {liver.describe()}"),
        training=training_status(operator, int(rule["validity_days"]), rule["on_expiry"]))
    evaluation.verdict.require_segmentation_allowed()
    return replace(context, pet=loaded, gate=evaluation)


def measure_lesions(context: DemoContext) -> DemoContext:
    """SUV statistics of every lesion inside its reference (truth) label map on the PET grid.

    The segmentation engine is not part of the code base yet, so the regions are the generator's label
    maps, labelled as such in the report; voxel counts and volumes are reported per the consensus (rec. 8).
    """
    import SimpleITK as sitk

    from StandardSegLib.measure import region_statistics
    from StandardSegLib.suv import apply_suv

    if context.gate is None or context.gate.suv is None:
        raise RuntimeError("demo step 'measure lesions' needs the SUV conversion of the 'image check' step")
    suv_image = apply_suv(context.pet.image, context.gate.suv)
    labels = sitk.ReadImage(str(context.study_files.lesions_pet_nrrd))
    lesions = []
    for sphere in context.study.layout.spheres:
        stats = region_statistics(suv_image, labels, sphere.sphere_id, units=context.gate.suv.suv_type,
                                  with_peak=True, mask_name=context.study_files.lesions_pet_nrrd.name)
        lesions.append({"lesion": f"sphere-{sphere.sphere_id}", "diameter_mm": sphere.diameter_mm,
                        "roi": "reference label map from the generator (segmentation engine: not yet built)",
                        "statistics": stats.to_dict()})
    return replace(context, lesions=tuple(lesions))


def _require(context: DemoContext, step: str) -> None:
    if context.study_files is None or context.study is None:
        raise RuntimeError(f"demo step '{step}' needs the study: the 'generate' step must run before it")


def write_bundle(context: DemoContext) -> DemoContext:
    """Write OUT/report-<timestamp>/summary.json atomically (temporary folder renamed into place)."""
    _require(context, "write bundle")
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
        "image": context.pet.record.to_dict() if context.pet is not None else None,
        "gate": context.gate.to_dict() if context.gate is not None else None,
        "lesions": list(context.lesions),
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


#: The pipeline, in order. Segmentation, validation and the full report bundle slot in before "write bundle".
DEMO_STEPS: tuple[tuple[str, Step], ...] = (
    ("generate", generate),
    ("image check", image_check),
    ("measure lesions", measure_lesions),
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
