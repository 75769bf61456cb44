"""The guided demo: generate a synthetic PET/CT study, run the pipeline on it, write a report bundle.

The pipeline itself is ``StandardSegLib.session`` (shared with ``standardseg run``): the demo builds the
job a reader would write for its study (``demo_session``) and adds its truth comparison to the report.

The pipeline is a list of named steps; each takes the ``DemoContext`` and returns an updated copy. New
steps (load, image check, SUV, measure ...) slot into ``DEMO_STEPS`` between "generate" and
"write bundle". ``run_demo`` records when each step ran; the report bundle (``StandardSegLib.report``) lists
them with the SHA-256 of every input file, the software versions and the truth, so a report can be traced
back to its exact inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.errors import InputError
from StandardSegLib.phantom import StudyFiles, StudyOptions, SyntheticStudy, generate_study, write_study
from StandardSegLib.progress import ProgressCallback, report
from StandardSegLib.roi import SphereROI, shape_mask

STUDY_DIR_NAME = "study"
#: The SOP the demo follows, and its trained reader, kept in an operator registry inside the generated study
#: (never in the user's own registry), so the bundle's session.json can be regenerated later.
DEMO_PROTOCOL_ID = "fdg-pet-ct-oncology"
DEMO_OPERATOR = "Demo Reader"
DEMO_OPERATOR_TRAINED_DAYS_AGO = 30
DEMO_REGISTRY_NAME = "operators.json"


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
    scene_path: Optional[Path] = None  # OUT/<report name>.mrb: the same session as a Slicer scene
    session: Any = None  # the demo's job (StandardSegLib.session.Session)
    checked: Any = None  # its CheckedImage: loaded PET, protocol, gate, operator, SUV image
    lesions: tuple[dict, ...] = ()  # per-lesion comparison with the truth (demo context of the report)
    reports: tuple[Any, ...] = ()  # LesionReport per segmented lesion, for the bundle

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
        write_demo_registry(staging / STUDY_DIR_NAME)
        if context.study_dir.exists():
            context.study_dir.rename(staging / "replaced")
        (staging / STUDY_DIR_NAME).rename(context.study_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return replace(context, study=study, study_files=files.moved_to(context.study_dir))


def write_demo_registry(study_dir: Path) -> Path:
    """The demo reader (trained ``DEMO_OPERATOR_TRAINED_DAYS_AGO`` days ago) in ``study_dir``'s own registry."""
    from StandardSegLib.operators import OperatorRegistry

    path = Path(study_dir) / DEMO_REGISTRY_NAME
    trained_on = dt.date.today() - dt.timedelta(days=DEMO_OPERATOR_TRAINED_DAYS_AGO)
    OperatorRegistry.open(path).add(DEMO_OPERATOR, trained_on)
    return path


def demo_session(study: SyntheticStudy, study_files: StudyFiles, base_dir: Path) -> Any:
    """The job a reader would write for the generated study (``StandardSegLib.session``).

    ROIs follow the protocol: the liver reference sphere (PERCIST 30 mm) and a lesion sphere on the largest
    NEMA sphere. Each sphere is a lesion segmented with the protocol's default method, seeded at its hottest
    voxel - where a reader clicks. Radiomics use the protocol's pyradiomics settings. The study's CT is the
    anatomy under the PET in the report's figures.
    """
    from StandardSegLib.session import LesionJob, RoiSpec, Session

    layout = study.layout
    largest = max(layout.spheres, key=lambda sphere: sphere.diameter_mm)
    liver = layout.liver_reference
    lesions = tuple(
        LesionJob(name=f"sphere-{sphere.sphere_id}",
                  seeds=(_hottest_point(study.pet_suv, SphereROI(sphere.centre_lps_mm, sphere.diameter_mm)),))
        for sphere in layout.spheres)
    registry = (study_files.root / DEMO_REGISTRY_NAME).relative_to(base_dir).as_posix()
    return Session(base_dir=base_dir, image=study_files.pet_dicom[0].parent.relative_to(base_dir).as_posix(),
                   anatomy=study_files.ct_dicom[0].parent.relative_to(base_dir).as_posix(),
                   protocol_id=DEMO_PROTOCOL_ID, operator=DEMO_OPERATOR, registry=registry, lesions=lesions,
                   lesion_roi=RoiSpec(sphere=(*largest.centre_lps_mm, largest.diameter_mm)),
                   background_roi=RoiSpec(sphere=(*liver.centre_lps_mm, liver.diameter_mm)))


def image_check(context: DemoContext) -> DemoContext:
    """Load the PET DICOM series and run the protocol's gate, as a reader would before segmenting.

    The operator is a demo reader trained 30 days ago, from the study's own registry. A failing gate stops
    the demo (exit 3).
    """
    from StandardSegLib.session import check_image

    _require(context, "image check")
    session = demo_session(context.study, context.study_files, context.out_dir)
    checked = check_image(session, progress=context.progress)
    return replace(context, session=session, checked=checked)


def segment_lesions(context: DemoContext) -> DemoContext:
    """Segment and measure every sphere (``StandardSegLib.session.segment_lesions``) and compare each with
    its analytic volume (4/3 pi r^3) from the generator's truth, so the demo shows the method's volume error
    next to the voxel count the consensus asks to report (rec. 8). A sphere that cannot be segmented (e.g. a
    small sphere lost in noise) is reported with the reason, not hidden.
    """
    from StandardSegLib.session import segment_lesions as segment_session_lesions

    if context.checked is None:
        raise RuntimeError("demo step 'segment lesions' needs the 'image check' step")
    outcomes = segment_session_lesions(context.session, context.checked, progress=context.progress)
    method = context.checked.protocol.default_segmentation_method
    lesions = []
    for sphere, outcome in zip(context.study.layout.spheres, outcomes):
        analytic_mm3 = 4.0 / 3.0 * math.pi * (sphere.diameter_mm / 2.0) ** 3
        entry = {"lesion": outcome.name, "diameter_mm": sphere.diameter_mm, "method": method,
                 "analytic_volume_mm3": analytic_mm3}
        if outcome.report is None:
            lesions.append({**entry, "segmented": False, "reason": outcome.error})
            continue
        measured = outcome.report.measurements
        lesions.append({**entry, "segmented": True,
                        "volume_error_percent": 100.0 * (measured.volume_voxels_mm3 - analytic_mm3) / analytic_mm3,
                        "measurements": measured.to_dict(),
                        "provenance": outcome.report.segment.provenance.to_dict()})
    reports = tuple(outcome.report for outcome in outcomes if outcome.report is not None)
    return replace(context, lesions=tuple(lesions), reports=reports)


def _hottest_point(image: Any, sphere: Any) -> tuple[float, float, float]:
    """Centre (LPS mm) of the hottest voxel inside ``sphere``: where a reader clicks to seed a lesion."""
    import numpy as np
    import SimpleITK as sitk

    inside = sitk.GetArrayFromImage(shape_mask(image, sphere)) > 0
    values = np.where(inside, sitk.GetArrayViewFromImage(image), -np.inf)
    k, j, i = np.unravel_index(int(np.argmax(values)), values.shape)
    return tuple(float(value) for value in image.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))


def _require(context: DemoContext, step: str) -> None:
    if context.study_files is None or context.study is None:
        raise RuntimeError(f"demo step '{step}' needs the study: the 'generate' step must run before it")


def write_bundle(context: DemoContext) -> DemoContext:
    """Write the full report bundle with its session.json to OUT/report-<timestamp> (atomically).

    The demo's own context (seed, truth, per-lesion comparison with the analytic volumes, pipeline steps)
    goes into report.json's ``context``; input paths (every study file) are relative to OUT.
    """
    from StandardSegLib.session import write_session_bundle

    now = dt.datetime.now().astimezone()
    _require_segmented(context)
    result = write_session_bundle(_recorded(context), context.checked, context.reports,
                                  _free_report_dir(context.out_dir, now), started_at=context.started_at,
                                  context=_demo_context(context, now), progress=context.progress)
    return replace(context, report_dir=result.path)


def report_inputs(context: DemoContext, now: dt.datetime) -> Any:
    """The ``ReportInputs`` of a demo run that went through "segment lesions" (``now``: bundle start)."""
    from StandardSegLib.session import session_report_inputs

    _require_segmented(context)
    return session_report_inputs(_recorded(context), context.checked, context.reports, context.out_dir,
                                 started_at=context.started_at, context=_demo_context(context, now))


def _require_segmented(context: DemoContext) -> None:
    _require(context, "write bundle")
    if context.checked is None or context.session is None:
        raise RuntimeError("demo step 'write bundle' needs the 'image check' and 'segment lesions' steps")


def _recorded(context: DemoContext) -> Any:
    """The demo's session with every study file (CT, NRRD, truth too) as a hashed input."""
    from StandardSegLib.session import recorded_session

    return recorded_session(context.session, context.checked, extra_inputs=context.study_files.all_files())


def _demo_context(context: DemoContext, now: dt.datetime) -> dict[str, Any]:
    return to_jsonable({
        "command": "standardseg demo",
        "seed": context.seed,
        "truth": json.loads(context.study_files.truth_json.read_text(encoding="utf-8")),
        "lesions": list(context.lesions),
        "steps": [*map(asdict, context.steps), {"name": "write bundle", "started_at": now.isoformat()}],
    })


def slicer_scene(context: DemoContext) -> DemoContext:
    """Replay the job as a reader in Slicer would (``StandardSegLib.mrml``, headless on slicer-core) and save
    the scene - SUV volume in the protocol's window, ROI markups, segments with provenance tags, the session
    inside - as OUT/<report name>.mrb, to open in 3D Slicer beside the report.

    Skipped with a message when slicer-core is not installed (``pip install standardseg[mrml]``).
    """
    try:
        from StandardSegLib.mrml.scene import MRMLContext
    except ImportError:
        report(context.progress, 1.0, "skipped: slicer-core is not installed")
        return context
    from StandardSegLib.mrml.scene_demo import replay_job

    if context.session is None or context.report_dir is None:
        raise RuntimeError("demo step 'slicer scene' needs the 'image check' and 'write bundle' steps")
    scene = MRMLContext.headless()
    try:
        session, _segment_ids = replay_job(scene, context.session, context.progress)
        path = session.save_scene(context.out_dir / f"{context.report_dir.name}.mrb")
    finally:
        scene.scene.Clear(True)
    return replace(context, scene_path=path)


#: The pipeline, in order.
DEMO_STEPS: tuple[tuple[str, Step], ...] = (
    ("generate", generate),
    ("image check", image_check),
    ("segment lesions", segment_lesions),
    ("write bundle", write_bundle),
    ("slicer scene", slicer_scene),
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


def _free_report_dir(out_dir: Path, when: dt.datetime) -> Path:
    """OUT/report-YYYYMMDD-HHMMSS, with -2, -3 ... appended if a run in the same second already took it."""
    base = out_dir / f"report-{when:%Y%m%d-%H%M%S}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
