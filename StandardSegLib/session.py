"""Sessions: a job (what to segment, how) and what running it recorded, in one file format.

A ``JOB.yaml`` and a bundle's ``session.json`` follow the same schema (``Resources/Schemas/
session.schema.json``, ``standardseg.session/1``): image, protocol, operator, gate ROIs, lesions with their
method, seeds and parameters. A session additionally pins the protocol's version and content hash, the
SHA-256 of every input file, when it was created and with which software, so ``standardseg report
--session`` can regenerate the same bundle - or refuse when anything it was computed from has changed.

The pipeline (image check, segmentation, measurement, bundle) lives here once; ``standardseg run``,
``standardseg report --session`` and the demo (``StandardSegLib.demo``) all go through it.
Relative paths in a session file resolve against the file's folder; ``session.json`` in a bundle stores
them relative to the bundle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import SimpleITK as sitk
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from StandardSegLib.errors import InputError, StandardSegError
from StandardSegLib.files import sha256_of
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.progress import ProgressCallback, report
from StandardSegLib.protocols.messages import describe_value, format_path
from StandardSegLib.resources import resource_path

SCHEMA_ID = "standardseg.session/1"
SESSION_JSON = "session.json"

Point = tuple[float, float, float]
#: How a path is written out (e.g. made relative to a bundle).
PathStyle = Callable[[str], str]


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(resource_path("Schemas", "session.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


@dataclass(frozen=True)
class RoiSpec:
    """A gate or lesion ROI: a sphere (centre LPS mm, diameter mm), a box (two opposite corners, LPS mm;
    lesion ROIs only) or a mask file (``label`` in it; ``mask_roi`` names the ROI of an RTSTRUCT)."""

    sphere: Optional[tuple[float, float, float, float]] = None
    mask: Optional[str] = None
    label: int = 1
    box: Optional[tuple[float, ...]] = None
    mask_roi: Optional[str] = None

    def to_dict(self, paths: "PathStyle") -> dict[str, Any]:
        if self.sphere is not None:
            return {"sphere": list(self.sphere)}
        if self.box is not None:
            return {"box": list(self.box)}
        return {"mask": _mask_document(self.mask, self.mask_roi, paths),
                **({"label": self.label} if self.label != 1 else {})}


@dataclass(frozen=True)
class LesionJob:
    """One lesion to segment: ``method`` None means the protocol's default method.

    ``mask`` (with ``label``) is the final segment drawn or corrected by hand (e.g. in Slicer's Segment
    Editor): with seeds, the method runs first and the mask's differences are recorded as manual edits;
    without seeds the lesion is manual from the start; ``mask_roi`` names the ROI when the mask file is an
    RTSTRUCT (JOB.yaml ``mask: {path, roi}``, e.g. an expert contour). ``seeds_mask`` is a painted seed label file for
    grow-from-seeds (1 foreground, 2 background), with or instead of the seed points. ``voi`` is the
    lesion ROI that bounds the method (sphere, box or mask; without it the VOI adapts around the seeds).
    """

    name: str
    seeds: tuple[Point, ...] = ()
    method: Optional[str] = None
    background_seeds: tuple[Point, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    mask: Optional[str] = None
    label: int = 1
    seeds_mask: Optional[str] = None
    voi: Optional[RoiSpec] = None
    mask_roi: Optional[str] = None

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> "LesionJob":
        """A lesion of a validated session document."""
        return cls(name=item["name"], method=item.get("method"),
                   seeds=tuple(tuple(map(float, seed)) for seed in item.get("seeds", ())),
                   background_seeds=tuple(tuple(map(float, seed)) for seed in item.get("background_seeds", ())),
                   parameters=dict(item.get("parameters", {})), mask=_mask_path(item.get("mask")),
                   mask_roi=_mask_roi(item.get("mask")), label=int(item.get("label", 1)),
                   seeds_mask=item.get("seeds_mask"), voi=_roi_spec(item.get("voi")))

    def to_dict(self, paths: Optional["PathStyle"] = None) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name}
        if self.seeds or not (self.mask or self.seeds_mask):
            document["seeds"] = [list(seed) for seed in self.seeds]
        if self.seeds_mask:
            document["seeds_mask"] = (paths or str)(self.seeds_mask)
        if self.method:
            document["method"] = self.method
        if self.background_seeds:
            document["background_seeds"] = [list(seed) for seed in self.background_seeds]
        if self.parameters:
            document["parameters"] = dict(self.parameters)
        if self.mask:
            document["mask"] = _mask_document(self.mask, self.mask_roi, paths or str)
            if self.label != 1:
                document["label"] = self.label
        if self.voi:
            document["voi"] = self.voi.to_dict(paths or str)
        return document


@dataclass(frozen=True)
class Session:
    """A parsed, validated job or session. ``base_dir`` is where relative paths resolve."""

    base_dir: Path
    image: str
    protocol_id: str
    operator: str
    lesions: tuple[LesionJob, ...]
    series_uid: Optional[str] = None
    anatomy: Optional[str] = None  # a CT/MR of the same frame of reference, shown under the image in the report
    anatomy_series_uid: Optional[str] = None
    protocol_version: Optional[str] = None
    protocol_sha256: Optional[str] = None
    registry: Optional[str] = None
    lesion_roi: Optional[RoiSpec] = None
    background_roi: Optional[RoiSpec] = None
    reference_tissue: Optional[str] = None
    override: Optional[str] = None
    radiomics: bool = True
    deidentify: bool = False
    inputs: Mapping[str, str] = field(default_factory=dict)  # path as written -> SHA-256
    created_at: Optional[str] = None
    software: Mapping[str, Optional[str]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Session":
        """Read a JOB.yaml or session.json (JSON is YAML) and validate it; errors name the file and key."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError(f"{path}: expected a job or session file, found no such file") from None
        except (IsADirectoryError, UnicodeDecodeError, OSError) as error:
            raise InputError(f"{path}: cannot read the job or session file ({error})") from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(error, "problem", None) or "unreadable YAML"
            raise InputError(f"{path}: {where}invalid YAML/JSON: {problem}") from None
        return cls.from_dict(document, path.parent, str(path))

    @classmethod
    def from_dict(cls, document: Any, base_dir: Path, label: str = "session") -> "Session":
        """Validate ``document`` against the session schema and build the ``Session``."""
        error = best_match(_validator().iter_errors(document))
        if error is not None:
            raise InputError(f"{label}: {_describe(error)}")
        names = [item["name"] for item in document["lesions"]]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise InputError(f"{label}: lesions: expected unique names, found '{duplicate}' "
                             f"{names.count(duplicate)} times")
        rois = document.get("rois", {})
        return cls(
            base_dir=Path(base_dir), image=document["image"]["path"], series_uid=document["image"].get("series_uid"),
            anatomy=document.get("anatomy", {}).get("path"),
            anatomy_series_uid=document.get("anatomy", {}).get("series_uid"),
            protocol_id=document["protocol"]["id"], protocol_version=document["protocol"].get("version"),
            protocol_sha256=document["protocol"].get("sha256"), operator=document["operator"]["name"],
            registry=document["operator"].get("registry"),
            lesion_roi=_roi_spec(rois.get("lesion")), background_roi=_roi_spec(rois.get("background")),
            reference_tissue=document.get("reference_tissue"), override=document.get("override"),
            lesions=tuple(LesionJob.from_dict(item) for item in document["lesions"]),
            radiomics=document.get("radiomics", True), deidentify=document.get("deidentify", False),
            inputs=dict(document.get("inputs", {})), created_at=document.get("created_at"),
            software=dict(document.get("software", {})))

    def resolve(self, path: str) -> Path:
        """The absolute, normalised path of a path written in the session."""
        return Path(os.path.normpath(self.base_dir.absolute() / path))

    def to_dict(self, paths: Optional[PathStyle] = None) -> dict[str, Any]:
        """The session document; ``paths`` rewrites each path (default: as written)."""
        paths = paths or (lambda text: text)
        document: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "image": {"path": paths(self.image), **({"series_uid": self.series_uid} if self.series_uid else {})},
            "protocol": {"id": self.protocol_id,
                         **{key: value for key, value in (("version", self.protocol_version),
                                                          ("sha256", self.protocol_sha256)) if value}},
            "operator": {"name": self.operator, **({"registry": paths(self.registry)} if self.registry else {})},
        }
        if self.anatomy:
            document["anatomy"] = {"path": paths(self.anatomy),
                                   **({"series_uid": self.anatomy_series_uid} if self.anatomy_series_uid else {})}
        rois = {role: spec.to_dict(paths) for role, spec in (("lesion", self.lesion_roi),
                                                             ("background", self.background_roi)) if spec}
        if rois:
            document["rois"] = rois
        for key in ("reference_tissue", "override"):
            if getattr(self, key):
                document[key] = getattr(self, key)
        document["lesions"] = [lesion.to_dict(paths) for lesion in self.lesions]
        document["radiomics"] = self.radiomics
        document["deidentify"] = self.deidentify
        if self.inputs:
            document["inputs"] = {paths(key): value for key, value in self.inputs.items()}
        if self.created_at:
            document["created_at"] = self.created_at
        if self.software:
            document["software"] = dict(self.software)
        return to_jsonable(document)

    def check_inputs(self) -> None:
        """Refuse (``InputError``) when a recorded input file is missing or its SHA-256 changed."""
        for written, expected in self.inputs.items():
            path = self.resolve(written)
            if not path.is_file():
                raise InputError(f"input {written}: expected the file the session recorded (sha256 "
                                 f"{expected[:12]}...), found no file at {path}")
            found = sha256_of(path)
            if found != expected:
                raise InputError(f"input {written} has changed since the session: expected sha256 "
                                 f"{expected[:12]}..., found {found[:12]}...")


def _roi_spec(document: Optional[Mapping[str, Any]]) -> Optional[RoiSpec]:
    if document is None:
        return None
    sphere, box = document.get("sphere"), document.get("box")
    return RoiSpec(sphere=tuple(map(float, sphere)) if sphere is not None else None,
                   mask=_mask_path(document.get("mask")), mask_roi=_mask_roi(document.get("mask")),
                   label=int(document.get("label", 1)), box=tuple(map(float, box)) if box is not None else None)


def _mask_path(value: Any) -> Optional[str]:
    """The path of a session mask: written as a path, or as ``{path, roi}`` for an RTSTRUCT."""
    return value["path"] if isinstance(value, Mapping) else value


def _mask_roi(value: Any) -> Optional[str]:
    return value.get("roi") if isinstance(value, Mapping) else None


def _mask_document(path: str, roi: Optional[str], paths: PathStyle) -> Any:
    return {"path": paths(path), "roi": roi} if roi else paths(path)


def read_session_mask(session: Session, path: str, roi: Optional[str], loaded: Any,
                      warnings: Optional[list[str]] = None) -> sitk.Image:
    """A mask file of the session (voxel mask, or one ROI of an RTSTRUCT rasterised onto ``loaded``'s image
    by geometry, its frame of reference checked against ``loaded``'s headers; its warnings appended to
    ``warnings``)."""
    from StandardSegLib.imaging import read_mask_file

    return read_mask_file(session.resolve(path), loaded.image, roi, loaded.datasets, warnings=warnings)


_TYPE_NAMES = {"array": "a list", "object": "a mapping", "boolean": "true or false", "string": "a text",
               "number": "a number", "integer": "a whole number"}


def _describe(error: Any) -> str:
    """One line for a schema error: key path, what was expected, what was found."""
    where = format_path(error.absolute_path)
    if error.validator == "required":
        missing = next(key for key in error.validator_value if key not in error.instance)
        return f"{where}: expected key '{missing}', found none"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{where}: expected only the keys {sorted(error.schema.get('properties', {}))}, found {unknown}"
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        expected = error.schema.get("title") or " or ".join(_TYPE_NAMES.get(kind, kind) for kind in kinds)
        return f"{where}: expected {expected}, found {describe_value(error.instance)}"
    if error.validator == "const":
        return f"{where}: expected {error.validator_value!r}, found {describe_value(error.instance)}"
    title = error.schema.get("title")
    if title:
        return f"{where}: expected {title}, found {describe_value(error.instance)}"
    return f"{where}: {error.message}"


# --- the pipeline ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedImage:
    """The loaded image after the gate allowed segmentation, in the units lesions are measured in."""

    loaded: Any  # LoadedImage
    protocol: Any  # Protocol
    gate: Any  # GateEvaluation
    operator: Any  # Operator
    training: Any  # TrainingStatus
    values_image: sitk.Image  # SUV for convertible PET, else the stored real-world values
    units: str
    anatomy: Any = None  # LoadedImage of the session's anatomy (CT/MR under a PET in the report), or None


#: Exit status of ``run`` / ``report --session`` when the bundle was written but some lesion failed.
PARTIAL_EXIT_STATUS = 4
#: Where a lesion can fail: its method, its measurement, its radiomics (report.json ``failures[].stage``).
FAILURE_STAGES = ("segment", "measure", "radiomics")


@dataclass(frozen=True)
class LesionOutcome:
    """One lesion of the job: its report, and why and where (``stage``, one of ``FAILURE_STAGES``) it failed.

    A lesion whose method or measurement failed has no report; one whose radiomics failed keeps its report
    (segment and measurements) without radiomics.
    """

    name: str
    report: Any = None  # LesionReport
    error: Optional[str] = None
    stage: Optional[str] = None

    def failure(self) -> Optional[dict[str, str]]:
        """The report.json ``failures`` entry, or None when the lesion completed."""
        return {"name": self.name, "stage": self.stage or "segment", "reason": self.error} if self.error else None


def pinned_protocol(session: Session, library: Any = None) -> Any:
    """The session's protocol from the library; a pinned version or hash that differs is refused."""
    from StandardSegLib.protocols import load_library

    protocol = (library or load_library()).get(session.protocol_id)
    for what, pinned, found in (("version", session.protocol_version, protocol.version),
                                ("sha256", session.protocol_sha256, protocol.content_sha256)):
        if pinned and pinned != found:
            raise InputError(f"protocol {session.protocol_id}: the session pins {what} {pinned}, the library has "
                             f"{found} ({protocol.source_path}); results would not be comparable")
    return protocol


def resolve_operator(session: Session) -> Any:
    """The session's operator from its registry (or the default registry)."""
    from StandardSegLib.operators import OperatorRegistry

    registry = session.resolve(session.registry) if session.registry else None
    return OperatorRegistry.open(registry).get(session.operator)


def check_image(session: Session, *, operator: Any = None, loaded: Any = None,
                progress: Optional[ProgressCallback] = None) -> CheckedImage:
    """``evaluate_image`` that raises ``GateFailedError`` when the gate blocks segmentation (no override)."""
    checked = evaluate_image(session, operator=operator, loaded=loaded, progress=progress)
    checked.gate.verdict.require_segmentation_allowed()
    return checked


def evaluate_image(session: Session, *, operator: Any = None, loaded: Any = None,
                   progress: Optional[ProgressCallback] = None) -> CheckedImage:
    """Load the image and run the protocol's gate with the session's ROIs and operator.

    ``operator`` (an ``Operator``) replaces the registry lookup (an in-memory reader, e.g. in tests); ``loaded`` (a
    ``LoadedImage`` of ``session.image``) saves reading the image again (Slicer's guided session). Training is
    judged on the session's creation day when it has one, so a regenerated report states what held then.
    A failed gate is returned, not raised: an interactive reader sees every item before deciding.
    """
    from StandardSegLib.gate import evaluate_gate
    from StandardSegLib.imaging import load_image
    from StandardSegLib.operators import protocol_training_status
    from StandardSegLib.suv import apply_suv

    protocol = pinned_protocol(session)
    operator = operator or resolve_operator(session)
    day = dt.datetime.fromisoformat(session.created_at).date() if session.created_at else None
    training = protocol_training_status(operator, protocol, today=day)
    loaded = loaded or load_image(session.resolve(session.image), series_uid=session.series_uid, progress=progress)
    evaluation = evaluate_gate(protocol, loaded, lesion=_roi_input(session, loaded, session.lesion_roi, "lesion"),
                               background=_roi_input(session, loaded, session.background_roi, "background"),
                               reference_name=session.reference_tissue, training=training)
    if session.override:
        evaluation = dataclasses.replace(evaluation,
                                         verdict=evaluation.verdict.with_override(operator.name, session.override))
    if evaluation.suv is not None:
        values_image, units = apply_suv(loaded.image, evaluation.suv), evaluation.suv.suv_type
    else:
        values_image, units = loaded.image, evaluation.units
    return CheckedImage(loaded=loaded, protocol=protocol, gate=evaluation, operator=operator, training=training,
                        values_image=values_image, units=units,
                        anatomy=load_anatomy(session, loaded, progress) if session.anatomy else None)


def load_anatomy(session: Session, loaded: Any, progress: Optional[ProgressCallback] = None) -> Any:
    """The session's anatomical image (``anatomy``: a CT or MR shown in grey under a PET in report.html; never
    measured). Another FrameOfReferenceUID than the image's is refused: the fusion would put the lesion on the
    wrong anatomy. Without one on either side (NRRD, NIfTI) the physical coordinates are trusted."""
    from StandardSegLib.imaging import load_image

    anatomy = load_image(session.resolve(session.anatomy), series_uid=session.anatomy_series_uid, progress=progress)
    ours, theirs = loaded.record.frame_of_reference_uid, anatomy.record.frame_of_reference_uid
    if ours and theirs and ours != theirs:
        raise InputError(f"anatomy {session.anatomy}: expected the image's frame of reference (FrameOfReferenceUID "
                         "(0020,0052)), found another one; give a CT or MR acquired with this image")
    return anatomy


def _roi_input(session: Session, loaded: Any, spec: Optional[RoiSpec], role: str) -> Any:
    from StandardSegLib.gate import RoiInput
    from StandardSegLib.roi import SphereROI, shape_mask

    if spec is None:
        return None
    if spec.sphere is not None:
        sphere = SphereROI(tuple(spec.sphere[:3]), spec.sphere[3])
        return RoiInput(shape_mask(loaded.image, sphere), f"{role} {sphere.describe()}", shape=sphere)
    return RoiInput(read_session_mask(session, spec.mask, spec.mask_roi, loaded),
                    f"{role} mask {Path(spec.mask).name}", spec.label)


def segment_lesions(session: Session, checked: CheckedImage,
                    progress: Optional[ProgressCallback] = None) -> tuple[LesionOutcome, ...]:
    """Segment and measure every lesion of the session (measurements, ratios to the reference tissue and,
    when ``session.radiomics``, radiomics with the protocol's pyradiomics settings).

    Lesions are isolated: one whose method, measurement or radiomics fails (a ``StandardSegError``, e.g. no
    voxel above threshold, or pyradiomics refusing a 2-voxel segment) is returned with the stage and reason
    and the others still run; callers decide what a failure means for them.
    """
    radiomics = radiomics_extractor(checked.protocol) if session.radiomics else None
    outcomes = []
    for number, lesion in enumerate(session.lesions):
        report(progress, number / len(session.lesions), f"lesion {lesion.name}")
        try:
            result = lesion_segment(session, checked, lesion)
        except StandardSegError as error:
            outcomes.append(LesionOutcome(lesion.name, error=str(error), stage="segment"))
            continue
        outcomes.append(lesion_outcome(checked, lesion.name, result, radiomics))
    report(progress, 1.0, "lesions done")
    return tuple(outcomes)


def lesion_segment(session: Session, checked: CheckedImage, lesion: LesionJob) -> Any:
    """The ``Segment`` of one lesion: its method from its seeds, then edits up to its ``mask`` if it has one."""
    from StandardSegLib.segmentation import edit_to_match, segment
    from StandardSegLib.segmentation.grow_from_seeds import read_seeds_mask
    from StandardSegLib.segmentation.registry import MANUAL_METHOD

    seeded = lesion.seeds or lesion.seeds_mask
    method = (lesion.method or checked.protocol.default_segmentation_method) if seeded else MANUAL_METHOD
    seeds_mask = None
    if lesion.seeds_mask:
        seeds_mask, _ = read_seeds_mask(session.resolve(lesion.seeds_mask), checked.values_image)
    result = segment(checked.values_image, protocol=checked.protocol, verdict=checked.gate.verdict, method=method,
                     units=checked.units, seeds_lps=lesion.seeds, background_seeds_lps=lesion.background_seeds,
                     seeds_mask=seeds_mask, roi=_lesion_roi(session, lesion.voi, checked.loaded),
                     parameters=lesion.parameters, background=checked.gate.reference, operator=checked.operator.name,
                     roi_modality=checked.loaded.record.modality or "unknown")
    if lesion.mask:
        mask_name = Path(lesion.mask).name + (f" ROI {lesion.mask_roi}" if lesion.mask_roi else "")
        notes: list[str] = []
        mask = read_session_mask(session, lesion.mask, lesion.mask_roi, checked.loaded, notes)
        result = edit_to_match(result, mask, mask_name, lesion.label, notes=notes)
    return result


def _lesion_roi(session: Session, spec: Optional[RoiSpec], loaded: Any) -> Any:
    """A lesion's ``voi`` as the engine's lesion ROI: SphereROI, BoxROI or a 0/1 mask image."""
    from StandardSegLib.roi import BoxROI, SphereROI

    if spec is None:
        return None
    if spec.sphere is not None:
        return SphereROI(tuple(spec.sphere[:3]), spec.sphere[3])
    if spec.box is not None:
        return BoxROI(tuple(spec.box[:3]), tuple(spec.box[3:]))
    return read_session_mask(session, spec.mask, spec.mask_roi, loaded) == spec.label


def radiomics_extractor(protocol: Any) -> tuple[Any, Any]:
    """(pyradiomics extractor, parameter source) built once from the protocol's radiomics settings."""
    from StandardSegLib.radiomics import build_extractor, protocol_parameters

    parameters, source = protocol_parameters(protocol)
    return build_extractor(parameters, source), source


def lesion_outcome(checked: CheckedImage, name: str, result: Any,
                   radiomics: Optional[tuple[Any, Any]] = None) -> LesionOutcome:
    """Measure one segment (``LesionReport``): lesion measurements, reference-tissue ratios, radiomics if an
    extractor is given (``radiomics_extractor``). A failed measurement leaves no report (stage ``measure``);
    failed radiomics keep the report without radiomics (stage ``radiomics``), as do radiomics refused for a
    segment flagged as a leak (``flags.LEAK_FLAGS``)."""
    from StandardSegLib.lesion_measurements import measure_lesion, reference_ratios
    from StandardSegLib.report import LesionReport

    reference = checked.gate.reference
    try:
        measured = measure_lesion(checked.values_image, result.mask, 1, checked.units, mask_name=name)
        ratios = (reference_ratios(measured, reference.name, reference.mean, reference.units)
                  if reference is not None else None)
    except StandardSegError as error:
        return LesionOutcome(name, error=str(error), stage="measure")
    measured_report = LesionReport(name=name, segment=result, measurements=measured, reference_ratios=ratios)
    if radiomics is None:
        return LesionOutcome(name, measured_report)
    from StandardSegLib.segmentation.flags import LEAK_FLAGS

    leak = [flag.code for flag in result.provenance.flags if flag.code in LEAK_FLAGS]
    if leak:
        return LesionOutcome(name, measured_report, stage="radiomics",
                             error=f"radiomics not computed: the segment is flagged {', '.join(leak)} (a leak; its "
                                   "features would describe the tissue it ran into)")
    from StandardSegLib.normalisation.protocol_step import values_for_radiomics
    from StandardSegLib.radiomics import run_extractor
    from StandardSegLib.robustness.study import reported_features

    extractor, source = radiomics
    try:
        image, normalisation = values_for_radiomics(checked)
        features = run_extractor(extractor, image, result.mask, label=1, source=source, mask_name=name)
        features = reported_features(dataclasses.replace(
            features, normalisation=normalisation.to_dict() if normalisation else None), checked.protocol)
    except StandardSegError as error:
        return LesionOutcome(name, measured_report, error=str(error), stage="radiomics")
    return LesionOutcome(name, dataclasses.replace(measured_report, radiomics=features))


def recorded_session(session: Session, checked: CheckedImage, extra_inputs: Sequence[Path] = ()) -> Session:
    """``session`` with what this run recorded: pinned protocol, input hashes, creation time, software.

    A hash the session already holds is reused (it was taken when the file was read, or checked by
    ``check_inputs``), so every input is read once per run.
    """
    from StandardSegLib.report import software_versions

    anatomy = checked.anatomy.source_files if checked.anatomy is not None else ()
    return dataclasses.replace(
        session, protocol_version=checked.protocol.version, protocol_sha256=checked.protocol.content_sha256,
        inputs=_hashed(session, (*checked.loaded.source_files, *anatomy, *_mask_files(session), *extra_inputs)),
        created_at=session.created_at or dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        software=software_versions())


def current_inputs(session: Session) -> dict[str, str]:
    """The input files a run of ``session`` would read now (absolute path -> SHA-256), found from headers only:
    what ``recorded_session`` records, without loading pixels or running anything (``batch --resume``)."""
    from StandardSegLib.imaging import image_source_files

    images = image_source_files(session.resolve(session.image), session.series_uid)
    anatomy = (image_source_files(session.resolve(session.anatomy), session.anatomy_series_uid) if session.anatomy
               else ())
    return _hashed(session, (*images, *anatomy, *_mask_files(session)))


def _mask_files(session: Session) -> list[Path]:
    """Every mask file the job names: the gate ROI masks and each lesion's mask, seed mask and VOI mask."""
    rois = (spec.mask for spec in (session.lesion_roi, session.background_roi) if spec is not None and spec.mask)
    lesions = (path for lesion in session.lesions
               for path in (lesion.mask, lesion.seeds_mask, lesion.voi and lesion.voi.mask) if path)
    return [session.resolve(path) for path in (*rois, *lesions)]


def _hashed(session: Session, files: Sequence[str | os.PathLike]) -> dict[str, str]:
    """Absolute path -> SHA-256 of each distinct file, reusing a hash ``session`` already holds."""
    unique = dict.fromkeys(Path(os.path.normpath(Path(path).absolute())) for path in files)
    return {str(path): session.inputs.get(str(path)) or sha256_of(path) for path in unique}


def session_report_inputs(session: Session, checked: CheckedImage, lesions: Sequence[Any], relative_to: Path, *,
                          started_at: dt.datetime, context: Optional[Mapping[str, Any]] = None,
                          display: Optional[Mapping[str, Any]] = None,
                          failures: Sequence[Mapping[str, str]] = ()) -> Any:
    """The ``ReportInputs`` of a recorded session; input paths are written relative to ``relative_to``.

    The session's recorded hashes are reused, so no input is read twice. ``display`` carries what the viewer
    recorded: ``{"preset": organ, "deviations": [...]}`` (Slicer's guided session).
    """
    from StandardSegLib.report import ReportInputs
    from StandardSegLib.report.inputs import Anatomy

    names = {path: _relative(path, Path(relative_to).absolute()) for path in session.inputs}
    display = display or {}
    return ReportInputs(
        loaded=checked.loaded, values_image=checked.values_image, units=checked.units, protocol=checked.protocol,
        gate=checked.gate, lesions=tuple(lesions), input_files={name: Path(path) for path, name in names.items()},
        input_sha256={names[path]: digest for path, digest in session.inputs.items()},
        started_at=started_at, operator=checked.operator, training=checked.training,
        window_deviations=tuple(display.get("deviations", ())), window_preset_organ=display.get("preset"),
        context=to_jsonable(dict(context or {})), failures=tuple(failures),
        anatomy=(Anatomy(checked.anatomy.image, checked.anatomy.record.modality or "unknown")
                 if checked.anatomy is not None else None))


def write_session_bundle(session: Session, checked: CheckedImage, lesions: Sequence[Any], target: str | os.PathLike,
                         *, started_at: dt.datetime, overwrite: bool = False, deidentify: bool = False,
                         context: Optional[Mapping[str, Any]] = None, display: Optional[Mapping[str, Any]] = None,
                         failures: Sequence[Mapping[str, str]] = (), progress: Optional[ProgressCallback] = None) -> Any:
    """Write the report bundle (``StandardSegLib.report``) plus ``session.json``, atomically, to ``target``.

    ``session`` must be a recorded session (``recorded_session``): its ``inputs`` are the files hashed into
    report.json (paths relative to the bundle's parent folder) and session.json (relative to the bundle).
    De-identified, session.json leaves out the series UID (regenerating then needs a single-series folder).
    ``failures`` are the lesions that failed (``LesionOutcome.failure``), stated in report.json.
    """
    from StandardSegLib.report import write_report_bundle

    target = Path(target).absolute()
    inputs = session_report_inputs(session, checked, lesions, target.parent, started_at=started_at,
                                   context={**(context or {}), "session_file": SESSION_JSON}, display=display,
                                   failures=failures)
    document = (deidentified_session(session) if deidentify
                else session.to_dict(paths=lambda text: _relative(session.resolve(text), target)))
    return write_report_bundle(inputs, target, overwrite=overwrite, deidentify=deidentify, progress=progress,
                               extra_files={SESSION_JSON: json.dumps(document, indent=2) + "\n"})


def deidentified_session(session: Session) -> dict[str, Any]:
    """session.json of a de-identified bundle: no series UID and no paths (folder and file names are often
    patient IDs). Each input keeps its SHA-256 under the pseudonym report.json uses; every other path (image
    folder, registry) reads ``REMOVED``, so such a session documents the run but cannot be re-run. It is also
    what ``batch --resume`` compares: the job with each input named by its content."""
    from StandardSegLib.report.deidentify import REMOVED, pseudonymous_path

    names = {str(session.resolve(path)): pseudonymous_path(digest) for path, digest in session.inputs.items()}
    stored = dataclasses.replace(session, series_uid=None, anatomy_series_uid=None, deidentify=True)
    return stored.to_dict(paths=lambda text: names.get(str(session.resolve(text)), REMOVED))


def _relative(path: str | os.PathLike, start: Path) -> str:
    """``path`` relative to ``start`` in POSIX form (a report never states absolute machine paths)."""
    return Path(os.path.relpath(Path(path).absolute(), start)).as_posix()


def run_session(session: Session, out_dir: str | os.PathLike, overwrite: bool = False,
                deidentify: Optional[bool] = None, progress: Optional[ProgressCallback] = None) -> Any:
    """Run ``session`` end to end and write its bundle to ``out_dir``; returns the ``BundleResult``.

    A recorded session (one with input hashes) is first checked against its inputs. A lesion that fails
    (method, measurement or radiomics) does not stop the others: the bundle is written with the rest and
    report.json ``failures`` names it, its stage and the reason (``bundle_failures``; the CLI then exits with
    ``PARTIAL_EXIT_STATUS``). Only when no lesion could be measured at all is nothing written (``InputError``
    naming each lesion's reason). ``deidentify`` None follows the session's own ``deidentify``.
    """
    started = dt.datetime.now().astimezone()
    target = Path(out_dir).absolute()
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists: pass --overwrite to replace it (the old bundle is kept), "
                         "or choose another folder")
    session.check_inputs()
    checked = check_image(session, progress=lambda f, m: report(progress, 0.3 * f, f"image check: {m}"))
    outcomes = segment_lesions(session, checked, progress=lambda f, m: report(progress, 0.3 + 0.5 * f, m))
    if not any(outcome.report for outcome in outcomes):
        raise InputError("no lesion could be measured: " + "; ".join(f"lesion {outcome.name} ({outcome.stage}): "
                                                                     f"{outcome.error}" for outcome in outcomes))
    recorded_files = [session.resolve(path) for path in session.inputs]
    recorded = recorded_session(session, checked, extra_inputs=recorded_files)
    # A lesion mask stored beside the session (a bundle's own segments/) belongs to the session, not its inputs.
    masks = {str(session.resolve(lesion.mask)) for lesion in session.lesions if lesion.mask}
    new = sorted(set(recorded.inputs) - set(map(str, recorded_files)) - masks)
    if recorded_files and new:
        raise InputError(f"image {session.image}: the session recorded {len(recorded_files)} input file(s), "
                         f"found new file(s) read now, e.g. {new[0]}")
    return write_session_bundle(recorded, checked, [outcome.report for outcome in outcomes if outcome.report], target,
                                started_at=started, overwrite=overwrite,
                                failures=[failure for failure in map(LesionOutcome.failure, outcomes) if failure],
                                deidentify=session.deidentify if deidentify is None else deidentify,
                                progress=lambda f, m: report(progress, 0.8 + 0.2 * f, m))


def bundle_failures(bundle: str | os.PathLike) -> list[dict[str, str]]:
    """The failed lesions a written bundle's report.json states (``[]`` for none, or for a bundle written
    before report.json had ``failures``)."""
    from StandardSegLib.report.bundle import REPORT_JSON

    document = json.loads((Path(bundle) / REPORT_JSON).read_text(encoding="utf-8"))
    return list(document.get("failures", []))
