"""A whole guided session on generated data, on any MRML scene: the Slicer module's self-test runs it in the
desktop application and pytest runs it headless on slicer-core, so both exercise the same code.

The study is the demo's synthetic FDG PET/CT (NEMA spheres, known SUV). The reader places the protocol's
ROIs where the demo job puts them (largest sphere, liver), checks the image, holds the SUV preset, segments
every sphere with the protocol's default method from its hottest voxel, validates against the generator's
truth masks, exports the report from the scene and saves the scene as .mrb.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import SimpleITK as sitk

from StandardSegLib.progress import ProgressCallback, progress_part, report

TRUTH_SEGMENTATION_NAME = "Truth (generator)"


@dataclass(frozen=True)
class SceneDemoResult:
    """What the scene demo made: the session, its study files, report bundle and saved scene."""

    session: Any  # GuidedSession
    study_files: Any  # StudyFiles
    truth: Any  # SyntheticStudy truth
    gate: Any  # GateEvaluation
    segment_ids: tuple[str, ...]
    validation: tuple[dict, ...]
    bundle: Any  # BundleResult
    mrb_path: Path


def run_scene_demo(context: Any, work_dir: str | Path, progress: Optional[ProgressCallback] = None) -> SceneDemoResult:
    """Run the seven steps on ``context`` (an ``MRMLContext``) with files under ``work_dir`` (must be empty)."""
    from StandardSegLib.demo import demo_session, write_demo_registry
    from StandardSegLib.phantom import generate_study, write_study

    work_dir = Path(work_dir)
    report(progress, 0.0, "generating the synthetic PET/CT")
    study = generate_study()
    files = write_study(study, work_dir / "study")
    write_demo_registry(files.root)
    job = demo_session(study, files, work_dir)

    session, segment_ids = replay_job(context, job, progress_part(progress, 0.2, 0.7))
    gate = session.gate

    report(progress, 0.7, "6 validate against the generator's truth")
    truth = _truth_segmentation(context, session, study.lesion_labels_pet, [lesion.name for lesion in job.lesions])
    validation = tuple(session.validate(truth))

    report(progress, 0.8, "7 report and scene")
    bundle = session.export_report(work_dir / "report", radiomics=False)
    mrb_path = session.save_scene(work_dir / "session.mrb")
    report(progress, 1.0, "scene demo done")
    return SceneDemoResult(session=session, study_files=files, truth=study.truth, gate=gate, segment_ids=segment_ids,
                           validation=validation, bundle=bundle, mrb_path=mrb_path)


def replay_job(context: Any, job: Any, progress: Optional[ProgressCallback] = None) -> tuple[Any, tuple[str, ...]]:
    """Steps 1-5 of a job (``StandardSegLib.session.Session`` with sphere ROIs) as a reader would do them in
    Slicer: load, place the ROIs, check, hold the protocol's preset, segment every lesion from its seeds.

    Returns the ``GuidedSession`` and the segment ids. A lesion the method cannot segment is skipped (the
    job's report says why); a failed gate raises ``GateFailedError`` at the first lesion.
    """
    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.guided_session import GuidedSession

    report(progress, 0.0, "1 study: loading the image")
    session = GuidedSession.start(context, job.protocol_id, job.operator,
                                  registry=job.resolve(job.registry) if job.registry else None)
    session.load_image(job.resolve(job.image), series_uid=job.series_uid)
    report(progress, 0.3, "2 image check")
    for role, roi in (("lesion", job.lesion_roi), ("background", job.background_roi)):
        if roi is not None:
            session.place_roi(role, roi.sphere[:3], roi.sphere[3])
    session.check_image(job.reference_tissue)
    if job.override:
        session.override_gate(job.override)
    report(progress, 0.5, "3 display: protocol preset held")
    session.hold_window_preset()
    segment_ids = []
    for number, lesion in enumerate(job.lesions):
        report(progress, 0.6 + 0.4 * number / max(len(job.lesions), 1), f"5 segment: {lesion.name}")
        try:
            segment_ids.append(session.segment_lesion(lesion.name, lesion.seeds, lesion.method,
                                                      dict(lesion.parameters), lesion.background_seeds))
        except InputError:
            continue
    return session, tuple(segment_ids)


def _truth_segmentation(context: Any, session: Any, labels: sitk.Image, names: list[str]) -> Any:
    """A segmentation node with one segment per sphere of the truth label map (label k = sphere-k)."""
    node = context.add_segmentation(session.values_node, TRUTH_SEGMENTATION_NAME)
    array = sitk.GetArrayViewFromImage(labels)
    for name in names:
        label = int(name.rsplit("-", 1)[1])
        context.add_segment_from_mask(node, array == label, name, (0.5, 0.5, 0.5), session.values_node)
    return node
