"""The guided demo: generate a synthetic PET/CT study, run the pipeline on it, write a report bundle.

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
from StandardSegLib.roi import shape_mask

STUDY_DIR_NAME = "study"
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
    protocol: Any = None  # the Protocol followed
    gate: Any = None  # GateEvaluation
    operator: Any = None  # the demo reader (Operator) and their TrainingStatus
    training: Any = None
    suv_image: Any = None  # the PET in SUV units, which the lesions were measured on
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
    training = training_status(operator, int(rule["validity_days"]), rule["on_expiry"])
    evaluation = evaluate_gate(
        protocol, loaded,
        lesion=RoiInput(shape_mask(loaded.image, lesion), f"lesion {lesion.describe()}"),
        background=RoiInput(shape_mask(loaded.image, liver), f"liver {liver.describe()}"),
        training=training)
    evaluation.verdict.require_segmentation_allowed()
    return replace(context, pet=loaded, protocol=protocol, gate=evaluation, operator=operator, training=training)


def segment_lesions(context: DemoContext) -> DemoContext:
    """Segment every lesion with the protocol's default method, seeded at its centre, and measure it
    (measurements, ratios to the liver reference, radiomics with the protocol's pyradiomics settings).

    This is what a reader does with one click per lesion. Each result carries its provenance and is compared
    with the lesion's analytic volume (4/3 pi r^3) from the generator's truth, so the demo shows the method's
    volume error next to the voxel count the consensus asks to report (rec. 8).
    """
    from StandardSegLib.lesion_measurements import measure_lesion, reference_ratios
    from StandardSegLib.radiomics import build_extractor, protocol_parameters, run_extractor
    from StandardSegLib.report import LesionReport
    from StandardSegLib.roi import SphereROI
    from StandardSegLib.segmentation import segment
    from StandardSegLib.suv import apply_suv

    if context.gate is None or context.gate.suv is None:
        raise RuntimeError("demo step 'segment lesions' needs the SUV conversion of the 'image check' step")
    protocol = context.protocol
    suv_image = apply_suv(context.pet.image, context.gate.suv)
    units = context.gate.suv.suv_type
    method = protocol.default_segmentation_method
    reference = context.gate.reference
    radiomics_parameters, radiomics_source = protocol_parameters(protocol)
    extractor = build_extractor(radiomics_parameters, radiomics_source)
    lesions, reports = [], []
    spheres = context.study.layout.spheres
    for number, sphere in enumerate(spheres):
        report(context.progress, number / len(spheres), f"sphere {sphere.sphere_id}")
        name = f"sphere-{sphere.sphere_id}"
        analytic_mm3 = 4.0 / 3.0 * math.pi * (sphere.diameter_mm / 2.0) ** 3
        entry = {"lesion": name, "diameter_mm": sphere.diameter_mm, "method": method,
                 "analytic_volume_mm3": analytic_mm3}
        seed = _hottest_point(suv_image, SphereROI(sphere.centre_lps_mm, sphere.diameter_mm))
        try:
            result = segment(suv_image, protocol=protocol, verdict=context.gate.verdict, method=method, units=units,
                             seeds_lps=[seed], background=context.gate.reference, operator=DEMO_OPERATOR,
                             roi_modality="PT")
        except InputError as error:  # e.g. a small sphere lost in noise: reported, not hidden
            lesions.append({**entry, "segmented": False, "reason": str(error)})
            continue
        measured = measure_lesion(suv_image, result.mask, 1, units, mask_name=name)
        ratios = (reference_ratios(measured, reference.name, reference.mean, reference.units)
                  if reference is not None else None)
        lesions.append({**entry, "segmented": True,
                        "volume_error_percent": 100.0 * (measured.volume_voxels_mm3 - analytic_mm3) / analytic_mm3,
                        "measurements": measured.to_dict(), "provenance": result.provenance.to_dict()})
        features = run_extractor(extractor, suv_image, result.mask, label=1, source=radiomics_source, mask_name=name)
        reports.append(LesionReport(name=name, segment=result, measurements=measured, reference_ratios=ratios,
                                    radiomics=features))
    return replace(context, lesions=tuple(lesions), reports=tuple(reports), suv_image=suv_image)


def _hottest_point(image: Any, sphere: Any) -> tuple[float, float, float]:
    """Centre (LPS mm) of the hottest voxel inside ``sphere``: where a reader clicks to seed a lesion."""
    import numpy as np
    import SimpleITK as sitk

    inside = sitk.GetArrayViewFromImage(shape_mask(image, sphere)) > 0
    values = np.where(inside, sitk.GetArrayViewFromImage(image), -np.inf)
    k, j, i = np.unravel_index(int(np.argmax(values)), values.shape)
    return image.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))


def _require(context: DemoContext, step: str) -> None:
    if context.study_files is None or context.study is None:
        raise RuntimeError(f"demo step '{step}' needs the study: the 'generate' step must run before it")


def write_bundle(context: DemoContext) -> DemoContext:
    """Write the full report bundle to OUT/report-<timestamp> (atomically, see ``StandardSegLib.report``).

    The demo's own context (seed, truth, per-lesion comparison with the analytic volumes, pipeline steps)
    goes into report.json's ``context``; input paths are relative to OUT.
    """
    from StandardSegLib.report import write_report_bundle

    now = dt.datetime.now().astimezone()
    result = write_report_bundle(report_inputs(context, now), _free_report_dir(context.out_dir, now),
                                 progress=context.progress)
    return replace(context, report_dir=result.path)


def report_inputs(context: DemoContext, now: dt.datetime) -> Any:
    """The ``ReportInputs`` of a demo run that went through "segment lesions" (``now``: bundle start)."""
    from StandardSegLib.report import ReportInputs

    _require(context, "write bundle")
    if context.gate is None or context.suv_image is None:
        raise RuntimeError("demo step 'write bundle' needs the 'image check' and 'segment lesions' steps")
    demo = {
        "command": "standardseg demo",
        "seed": context.seed,
        "truth": json.loads(context.study_files.truth_json.read_text(encoding="utf-8")),
        "lesions": list(context.lesions),
        "steps": [*map(asdict, context.steps), {"name": "write bundle", "started_at": now.isoformat()}],
    }
    return ReportInputs(
        loaded=context.pet, values_image=context.suv_image, units=context.gate.suv.suv_type,
        protocol=context.protocol, gate=context.gate, lesions=context.reports,
        input_files={path.relative_to(context.out_dir).as_posix(): path for path in context.study_files.all_files()},
        started_at=context.started_at, operator=context.operator, training=context.training,
        context=to_jsonable(demo))


#: The pipeline, in order.
DEMO_STEPS: tuple[tuple[str, Step], ...] = (
    ("generate", generate),
    ("image check", image_check),
    ("segment lesions", segment_lesions),
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


def _free_report_dir(out_dir: Path, when: dt.datetime) -> Path:
    """OUT/report-YYYYMMDD-HHMMSS, with -2, -3 ... appended if a run in the same second already took it."""
    base = out_dir / f"report-{when:%Y%m%d-%H%M%S}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
