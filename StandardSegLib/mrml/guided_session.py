"""The guided session on an MRML scene: architecture.md's seven steps, driven by the Slicer module, the
Python console and the tests alike.

1. study: the image is read twice, on purpose - by Slicer's Volumes logic (what the reader sees) and by
   ``StandardSegLib.imaging`` (headers, exact per-slice rescale, SUV). The two must agree on the grid, or
   the session refuses the image: a lesion drawn on one grid must be measured on the same voxels.
2. check: the protocol's gate with lesion/background ROIs placed as markups (a reader can move them);
   an override needs a written reason.
3. display: the protocol's window preset applied and held (``WindowPresetHold``).
4. reference: the reference tissue (e.g. the PERCIST liver sphere) measured by the gate.
5. segment: library methods into one segmentation node (provenance as segment tags) and the Segment Editor.
6. validate: agreement with reference segmentations.
7. report: the bundle, exported from what the scene holds at that moment, plus ``.mrb`` save/resume.

For PET the values lesions are measured and shown on are SUV: the session adds an SUV volume node (from the
library's exact conversion) and works on it, so window presets, thresholds and measurements share units.

The state is one session document (``document()``, stored in the scene by ``save_scene``), so a saved scene
is enough to resume; library segments are re-run on resume and must reproduce their recorded voxel count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, Sequence, TypeVar

import numpy as np
import pydicom
import SimpleITK as sitk
import vtk

from StandardSegLib.errors import InputError
from StandardSegLib.progress import ProgressCallback, progress_part, report
from StandardSegLib.roi import SphereROI

if TYPE_CHECKING:
    from StandardSegLib.session import LesionJob

STEPS = ("study", "check", "display", "reference", "segment", "validate", "report")
SCENE_SESSION_SCHEMA = "standardseg.scene-session/1"
#: Segment colours (RGB 0-1), cycled; distinct enough for a handful of lesions side by side.
SEGMENT_COLORS = ((0.90, 0.30, 0.20), (0.20, 0.60, 0.90), (0.95, 0.75, 0.10), (0.40, 0.80, 0.35),
                  (0.70, 0.40, 0.85), (0.95, 0.50, 0.70))
ROI_ROLES = ("lesion", "background")
#: Relative agreement required between Slicer's and the library's voxel values (float32 rounding).
_VALUE_TOLERANCE = 1e-5
_SEGMENT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
#: Segment tag holding "stage: reason" when the segment's measurement or radiomics failed at report export.
FAILURE_TAG = "StandardSeg.failure"
_Result = TypeVar("_Result")


@dataclasses.dataclass(frozen=True)
class SceneWork(Generic[_Result]):
    """A long session step split by thread. Built on the scene's thread (reading the scene is part of building
    it); ``compute(progress)`` makes library calls only - no MRML node is created, changed or read - so a front end
    may run it in a worker thread while its event loop keeps rendering; ``apply(computed)`` puts the outcome into
    the scene and must run on the scene's thread again. ``run`` does both in turn (one-thread callers: the Qt
    panel, the console, the tests). MRML and VTK objects are not thread-safe, and a scene changed off the thread
    that renders it races that render."""

    compute: Callable[[Optional[ProgressCallback]], Any]
    apply: Callable[[Any], _Result]

    def run(self, progress: Optional[ProgressCallback] = None) -> _Result:
        return self.apply(self.compute(progress))


@dataclasses.dataclass(frozen=True)
class FailedLesion:
    """A lesion whose method refused or failed (e.g. "no voxel connected to the seed passes ...", a blocking
    plausibility flag): no segment exists for it, so the session keeps the attempt to list it beside the
    segments and name it in report.json ``failures``, as ``run`` does for a job's lesion, until the same name
    is segmented."""

    lesion: LesionJob  # name, seeds, method and parameters as tried
    method: str  # the method that ran (the protocol's default when the lesion named none)
    reason: str  # one line
    stage: str = "segment"

    def failure(self) -> dict[str, str]:
        """The report.json ``failures`` entry."""
        return {"name": self.lesion.name, "stage": self.stage, "reason": self.reason}

    def to_dict(self) -> dict[str, Any]:
        """The failure with what was tried (method, seeds): a row of the segment lists and the saved scene."""
        return {**self.failure(), "method": self.method, "lesion": self.lesion.to_dict()}


class GuidedSession:
    """One reader's session on one image under one protocol. Create it with :meth:`start` or :meth:`resume`."""

    def __init__(self, context: Any, job: Any, protocol: Any, operator: Any, training: Any) -> None:
        self.context = context
        self.job = job  # StandardSegLib.session.Session: image, protocol, operator, ROIs, lesions
        self.protocol = protocol
        self.operator = operator
        self.training = training
        self.loaded: Any = None  # LoadedImage
        self.volume_node: Any = None
        self.values_node: Any = None
        self.checked: Any = None  # session.CheckedImage
        self.roi_nodes: dict[str, Any] = {}
        self.segmentation_node: Any = None
        self.hold: Any = None
        self.preset_organ: Optional[str] = None
        self.validation: list[dict[str, Any]] = []
        self.bundle: Any = None
        self._past_deviations: list[dict[str, Any]] = []
        self._values_are_suv = False
        self._library_segments: dict[str, tuple[Any, Any]] = {}  # segment id -> (LesionJob, Segment)
        self._failed_lesions: dict[str, FailedLesion] = {}  # lesion name -> its last failed attempt

    # --- 1. study ---------------------------------------------------------------------------------------

    @classmethod
    def start(cls, context: Any, protocol_id: str, operator_name: Optional[str] = None, *,
              registry: Optional[str] = None, operator: Any = None) -> "GuidedSession":
        """A session for ``protocol_id`` read by ``operator_name`` from ``registry`` (default: the user's
        operator registry), or by ``operator`` (an ``Operator`` object, e.g. the demo's reader)."""
        from StandardSegLib.session import Session, pinned_protocol, resolve_operator

        name = operator.name if operator is not None else operator_name
        if not name:
            raise InputError("operator: expected the name of a trained operator (see 'standardseg operators list')")
        job = Session(base_dir=Path.cwd(), image="", protocol_id=protocol_id, operator=name, lesions=(),
                      registry=str(Path(registry).absolute()) if registry else None)
        protocol = pinned_protocol(job)
        operator = operator or resolve_operator(job)
        return cls(context, job, protocol, operator, _training(protocol, operator))

    def restart(self, protocol_id: str, operator_name: str, registry: Optional[str] = None) -> "GuidedSession":
        """This study under another protocol and/or operator, on the same scene: a new session (``start``) that
        takes over the loaded image (not read again) and the ROIs placed so far (the background sphere gets the
        new protocol's reference-tissue diameter). Only before the image check: the gate, the SUV volume and
        every segment depend on both, so afterwards the reader starts a new session from the study."""
        self._require("study", self.loaded is not None, "load an image first")
        if self.checked is not None:
            raise InputError(f"protocol/operator: fixed once the image was checked (under {self.protocol.id}, "
                             f"by {self.operator.name}); start a new session to change them")
        session = GuidedSession.start(self.context, protocol_id, operator_name, registry=registry)
        self.stop_hold()
        session.loaded, session.volume_node, session.values_node = self.loaded, self.volume_node, self.values_node
        session.job = dataclasses.replace(session.job, base_dir=self.job.base_dir, image=self.job.image,
                                          series_uid=self.job.series_uid, inputs=self.job.inputs)
        session.roi_nodes = self.roi_nodes
        session._past_deviations = self.deviations  # logged under the former preset: kept, never dropped
        if "background" in session.roi_nodes:
            from StandardSegLib.mrml.roi_markups import sphere_from_markup

            session.place_roi("background", sphere_from_markup(session.roi_nodes["background"]).center_lps)
        return session

    def load_image(self, path: str | Path, series_uid: Optional[str] = None,
                   progress: Optional[ProgressCallback] = None) -> Any:
        """Load a DICOM folder/file or an image file through Slicer's Volumes logic and the library.

        A folder with several series needs ``series_uid`` (the error lists them). Returns the volume node.
        """
        from StandardSegLib.imaging import load_image

        loaded = load_image(path, series_uid=series_uid, progress=progress_part(progress, 0.0, 0.7))
        report(progress, 0.7, "loading into the scene")
        name = _volume_name(loaded, Path(path))
        if loaded.record.source_format.startswith("dicom"):
            files = vtk.vtkStringArray()
            for file in loaded.source_files:
                files.InsertNextValue(str(Path(file).absolute()))
            node = self.context.volumes_logic.AddArchetypeVolume(files.GetValue(0), name, 0, files)
        else:
            node = self.context.volumes_logic.AddArchetypeVolume(str(Path(path).absolute()), name)
        if node is None:
            raise InputError(f"{path}: Slicer's Volumes logic could not read it as an image volume")
        self._attach(node, loaded, Path(path).absolute(), series_uid or _series_uid(loaded))
        report(progress, 1.0, "image loaded")
        return node

    def use_volume(self, volume_node: Any, progress: Optional[ProgressCallback] = None) -> Any:
        """Work on a volume already in the scene (e.g. loaded by Slicer's DICOM module): the library reads
        the files behind it (``volume_source_files``) and both readings must agree."""
        import slicer

        from StandardSegLib.imaging import load_image
        from StandardSegLib.mrml.volumes import volume_source_files

        files = [Path(name) for name in volume_source_files(volume_node, getattr(slicer, "dicomDatabase", None))]
        series_uid = _dicom_series_uid(files[0])
        path = files[0].parent if series_uid else files[0]
        loaded = load_image(path, series_uid=series_uid, progress=progress)
        self._attach(volume_node, loaded, path.absolute(), series_uid)
        return volume_node

    def _attach(self, node: Any, loaded: Any, path: Path, series_uid: Optional[str]) -> None:
        from StandardSegLib.files import sha256_of

        if self.loaded is not None:
            raise InputError(f"{path}: this session already works on {self.job.image}; one session is one image "
                             "(start a new session for another)")
        _require_same_grid(node, loaded.image, path)
        self.loaded, self.volume_node, self.values_node = loaded, node, node
        if not _same_values(node, loaded.image):
            # e.g. per-slice rescale slopes Slicer's reader rounded: measure and show the library's values.
            self.values_node = self._values_volume(loaded.image, f"{node.GetName()} (rescaled)")
        files = dict.fromkeys(Path(file).absolute() for file in loaded.source_files)
        self.job = dataclasses.replace(self.job, base_dir=path.parent, image=str(path), series_uid=series_uid,
                                       inputs={str(file): sha256_of(file) for file in files})

    def _values_volume(self, image: sitk.Image, name: str) -> Any:
        from StandardSegLib.mrml.volumes import volume_node_from_image

        return volume_node_from_image(self.context.scene, image, name)

    # --- 2. image check ---------------------------------------------------------------------------------

    def place_roi(self, role: str, center_lps: Sequence[float], diameter_mm: Optional[float] = None,
                  reference_tissue: Optional[str] = None) -> Any:
        """Place (or move) the ``role`` ROI ("lesion" or "background") as a sphere markup; returns the node.

        The background sphere's diameter defaults to the protocol's reference tissue (e.g. 30 mm liver).
        """
        from StandardSegLib.mrml.roi_markups import DIAMETER_ATTRIBUTE, add_sphere_markup, flip_lps_ras

        if role not in ROI_ROLES:
            raise InputError(f"ROI role: expected one of {', '.join(ROI_ROLES)}, found {role!r}")
        if diameter_mm is None:
            diameter_mm = self._default_diameter(role, reference_tissue)
        sphere = SphereROI(tuple(float(value) for value in center_lps), float(diameter_mm))
        node = self.roi_nodes.get(role)
        if node is None:
            node = add_sphere_markup(self.context.scene, sphere, f"StandardSeg {role} ROI", role)
            self.roi_nodes[role] = node
        else:
            node.SetNthControlPointPositionWorld(0, *flip_lps_ras(sphere.center_lps))
            node.SetAttribute(DIAMETER_ATTRIBUTE, f"{sphere.diameter_mm:g}")
        return node

    def _default_diameter(self, role: str, reference_tissue: Optional[str]) -> float:
        """The protocol's reference-tissue sphere diameter (the named tissue, else the first listed)."""
        entries = self.protocol.reference_tissue
        if role == "background" and entries:
            entry = (next((item for item in entries if item["name"] == reference_tissue), None)
                     if reference_tissue else entries[0])
            if entry is not None and "diameter_mm" in entry:
                return float(entry["diameter_mm"])
        raise InputError(f"{role} ROI: expected a diameter in mm (the protocol {self.protocol.id} sets none)")

    def check_image(self, reference_tissue: Optional[str] = None,
                    progress: Optional[ProgressCallback] = None) -> Any:
        """Run the protocol's gate on the loaded image with the ROIs as the markups stand now."""
        return self.check_work(reference_tissue).run(progress)

    def check_work(self, reference_tissue: Optional[str] = None) -> SceneWork[Any]:
        """``check_image`` as a ``SceneWork``: the ROIs read now, the gate computed, the SUV volume added on apply."""
        from StandardSegLib.mrml.roi_markups import sphere_from_markup
        from StandardSegLib.session import RoiSpec, evaluate_image

        self._require("study", self.loaded is not None, "load an image first")
        rois = {}
        for role, node in self.roi_nodes.items():
            sphere = sphere_from_markup(node)
            rois[role] = RoiSpec(sphere=(*sphere.center_lps, sphere.diameter_mm))
        job = dataclasses.replace(self.job, lesion_roi=rois.get("lesion"), background_roi=rois.get("background"),
                                  reference_tissue=reference_tissue or self.job.reference_tissue)
        operator, loaded = self.operator, self.loaded

        def compute(progress: Optional[ProgressCallback]) -> Any:
            report(progress, 0.1, "image check")
            checked = evaluate_image(job, operator=operator, loaded=loaded)
            report(progress, 1.0, f"gate {checked.gate.verdict.overall}")
            return checked

        def apply(checked: Any) -> Any:
            self.job = job
            self._set_checked(checked)
            return checked.gate

        return SceneWork(compute, apply)

    def override_gate(self, reason: str) -> Any:
        """Allow segmentation despite a failed gate; the reason and the operator go into every segment and
        the report."""
        return self.override_work(reason).run()

    def override_work(self, reason: str) -> SceneWork[Any]:
        """``override_gate`` as a ``SceneWork`` (the check again, with the reason)."""
        if not reason or not reason.strip():
            raise InputError("gate override: expected a written reason, found none")
        self._require("check", self.checked is not None, "check the image first")
        self.job = dataclasses.replace(self.job, override=reason.strip())
        return self.check_work()

    def _set_checked(self, checked: Any) -> None:
        """Keep the check; the first successful SUV conversion of this image gets its SUV volume (ROIs moving
        later do not change the conversion, so the volume is made once per image)."""
        self.checked = checked
        if checked.gate.suv is not None and not self._values_are_suv:
            self._replace_values_node(checked.values_image, f"{self.volume_node.GetName()} {checked.units}")
            self._values_are_suv = True

    def _replace_values_node(self, image: sitk.Image, name: str) -> None:
        if self.values_node is not self.volume_node:
            self.context.scene.RemoveNode(self.values_node)
        self.values_node = self._values_volume(image, name)
        if self.segmentation_node is not None:
            self.segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(self.values_node)

    @property
    def gate(self) -> Any:
        """The latest ``GateEvaluation`` (None before the check)."""
        return self.checked.gate if self.checked is not None else None

    # --- 3. display -------------------------------------------------------------------------------------

    def hold_window_preset(self, organ: Optional[str] = None) -> Any:
        """Apply the protocol's preset for ``organ`` (default: the protocol's first) to the values volume and
        hold it as the protocol's ``display.on_change`` says (revert, or log deviations)."""
        from StandardSegLib.mrml.window_hold import WindowPresetHold

        self._require("study", self.values_node is not None, "load an image first")
        organ = organ or self.protocol.default_window_preset.organ
        presets = self.protocol.window_presets
        if organ not in presets:
            raise InputError(f"window preset: expected one of {', '.join(presets)} ({self.protocol.id}), found {organ!r}")
        preset = presets[organ]
        suv_factor = None
        if preset.unit == "SUVbw":
            if self.checked is None or self.checked.units != "SUVbw":
                raise InputError(f"window preset '{organ}' is in SUVbw: check the image first so the SUV volume "
                                 "exists (and the SUV conversion passed)")
            suv_factor = 1.0  # the values volume already holds SUV
        self.stop_hold()
        self.hold = WindowPresetHold(self.values_node, preset, self.protocol.display["on_change"], suv_factor)
        self.preset_organ = organ
        return self.hold

    def stop_hold(self) -> None:
        """Stop watching the window/level (deviations recorded so far are kept)."""
        if self.hold is not None:
            self.hold.stop()
            self._past_deviations += [deviation.to_dict() for deviation in self.hold.deviations]
            self.hold = None

    @property
    def deviations(self) -> list[dict[str, Any]]:
        """Every window/level deviation recorded in this session, oldest first."""
        current = [deviation.to_dict() for deviation in self.hold.deviations] if self.hold else []
        return self._past_deviations + current

    # --- 4. reference tissue ----------------------------------------------------------------------------

    @property
    def reference(self) -> Any:
        """The reference-tissue measurement of the latest check (``ReferenceMeasurement``), or None."""
        return self.checked.gate.reference if self.checked is not None else None

    # --- 5. segment -------------------------------------------------------------------------------------

    def allowed_methods(self) -> list[str]:
        """The library's semi-automatic methods this protocol allows (manual work is the Segment Editor's)."""
        from StandardSegLib.segmentation import allowed_methods
        from StandardSegLib.segmentation.registry import MANUAL_METHOD

        return [method for method in allowed_methods(self.protocol) if method != MANUAL_METHOD]

    def ensure_segmentation_node(self) -> Any:
        """The session's segmentation node (created on the values volume's grid when first needed)."""
        self._require("study", self.values_node is not None, "load an image first")
        if self.segmentation_node is None:
            self.segmentation_node = self.context.add_segmentation(self.values_node, "StandardSeg lesions")
        return self.segmentation_node

    def segment_lesion(self, name: str, seeds_lps: Sequence[Sequence[float]] = (), method: Optional[str] = None,
                       parameters: Optional[dict[str, Any]] = None,
                       background_seeds_lps: Sequence[Sequence[float]] = (),
                       seeds_mask: Optional[str | Path] = None,
                       progress: Optional[ProgressCallback] = None) -> str:
        """Segment one lesion with a library method from its seeds (LPS mm) and/or a grow-from-seeds seeds
        file (e.g. from :meth:`seeds_from_segments`); returns the segment id.

        When the method refuses or fails, the error is raised (the reader sees it at once) and the attempt is
        kept in :meth:`failed_lesions` until a segment of that name succeeds."""
        return self.segment_work(name, seeds_lps, method, parameters, background_seeds_lps, seeds_mask).run(progress)

    def segment_work(self, name: str, seeds_lps: Sequence[Sequence[float]] = (), method: Optional[str] = None,
                     parameters: Optional[dict[str, Any]] = None,
                     background_seeds_lps: Sequence[Sequence[float]] = (),
                     seeds_mask: Optional[str | Path] = None) -> SceneWork[str]:
        """``segment_lesion`` as a ``SceneWork``: the method runs in ``compute``, the segment is added on apply."""
        from StandardSegLib.mrml.segments import add_segment_with_provenance
        from StandardSegLib.session import LesionJob, lesion_segment

        self._require("check", self.checked is not None, "check the image first")
        if not seeds_lps and seeds_mask is None:
            raise InputError(f"lesion '{name}': expected at least one seed point or a seeds mask")
        node = self.ensure_segmentation_node()
        if node.GetSegmentation().GetSegmentIdBySegmentName(name):
            raise InputError(f"lesion '{name}': the segmentation already has a segment with that name")
        lesion = LesionJob(name=_segment_name(name), seeds=tuple(tuple(map(float, seed)) for seed in seeds_lps),
                           method=method, background_seeds=tuple(tuple(map(float, s)) for s in background_seeds_lps),
                           parameters=dict(parameters or {}),
                           seeds_mask=str(Path(seeds_mask).absolute()) if seeds_mask is not None else None)
        job, checked = self.job, self.checked

        def compute(progress: Optional[ProgressCallback]) -> Any:
            report(progress, 0.1, f"segmenting {name}")
            try:
                result = lesion_segment(job, checked, lesion)
            except InputError as error:  # a refusal; a cancel (Terminated) or a failed gate is no lesion's failure
                method_run = lesion.method or self.protocol.default_segmentation_method
                self._failed_lesions[lesion.name] = FailedLesion(lesion, method_run, str(error).splitlines()[0])
                raise
            report(progress, 1.0, f"{name}: {result.provenance.voxel_count} voxels")
            return result

        def apply(result: Any) -> str:
            self._failed_lesions.pop(lesion.name, None)
            color = SEGMENT_COLORS[node.GetSegmentation().GetNumberOfSegments() % len(SEGMENT_COLORS)]
            segment_id = add_segment_with_provenance(self.context, node, self.values_node, result, name, color)
            self._library_segments[segment_id] = (lesion, result)
            return segment_id

        return SceneWork(compute, apply)

    def failed_lesions(self) -> list[dict[str, Any]]:
        """The lesions whose method failed and that no segment replaced since, for the segment lists: name,
        stage, reason, method, and the lesion as tried (``lesion``: seeds, parameters)."""
        return [failed.to_dict() for failed in self._unresolved_failures()]

    def _unresolved_failures(self) -> list[FailedLesion]:
        """The failed attempts whose lesion name no segment of the scene holds: a segment drawn by hand in the
        Segment Editor under that name resolves the failure as a method's success does."""
        from StandardSegLib.mrml.segments import segment_ids

        names: set[str] = set()
        if self.segmentation_node is not None:
            segmentation = self.segmentation_node.GetSegmentation()
            names = {_segment_name(segmentation.GetSegment(segment_id).GetName())
                     for segment_id in segment_ids(self.segmentation_node)}
        return [failed for name, failed in self._failed_lesions.items() if name not in names]

    def seeds_from_segments(self, foreground_id: str, background_id: str, path: str | Path,
                            overwrite: bool = False) -> Path:
        """Write two segments painted in the Segment Editor (lesion, background) as a grow-from-seeds seeds
        file (1 lesion, 2 background) and remove them from the segmentation, as Slicer's Grow from seeds
        replaces its seed segments by the result; pass the file to ``segment_lesion(seeds_mask=...)``. The
        file is an input of the session (hashed in its record), so a rerun grows the same segment."""
        from StandardSegLib.files import atomic_write
        from StandardSegLib.mrml.segments import seed_labels_from_segments
        from StandardSegLib.segmentation.mask_files import mask_suffix

        node = self.ensure_segmentation_node()
        path = Path(path).absolute()
        if path.exists() and not overwrite:
            raise InputError(f"{path} exists; pass overwrite=True to replace it")
        labels = seed_labels_from_segments(node, foreground_id, background_id, self.values_node)
        atomic_write(path, mask_suffix(path), lambda temporary: sitk.WriteImage(labels, str(temporary), True))
        for segment_id in (foreground_id, background_id):
            node.GetSegmentation().RemoveSegment(segment_id)
        return path

    @staticmethod
    def seeds_from_markup(markups_node: Any) -> tuple[tuple[float, float, float], ...]:
        """The control points of a markups node as LPS seeds (markups are RAS)."""
        from StandardSegLib.mrml.roi_markups import flip_lps_ras

        seeds = []
        for index in range(markups_node.GetNumberOfControlPoints()):
            ras = [0.0, 0.0, 0.0]
            markups_node.GetNthControlPointPositionWorld(index, ras)
            seeds.append(flip_lps_ras(tuple(ras)))
        return tuple(seeds)

    def segments(self) -> list[tuple[str, str, Any]]:
        """(segment id, lesion name, Segment) for every segment the scene holds now.

        A library segment the reader changed in the Segment Editor keeps its method's provenance with the
        changes appended as MANUAL steps; a segment drawn by hand starts MANUAL (QuantitativeReporting's
        idea: provenance follows the edits).
        """
        return self._segments_from(self._segment_masks())

    def _segment_masks(self) -> list[tuple[str, str, sitk.Image]]:
        """(segment id, lesion name, mask on the values grid) of every segment: the scene read, nothing else."""
        from StandardSegLib.mrml.segments import mask_from_segment, segment_ids

        if self.segmentation_node is None:
            return []
        segmentation = self.segmentation_node.GetSegmentation()
        return [(segment_id, _segment_name(segmentation.GetSegment(segment_id).GetName()),
                 mask_from_segment(self.segmentation_node, segment_id, self.values_node))
                for segment_id in segment_ids(self.segmentation_node)]

    def _segments_from(self, masks: Sequence[tuple[str, str, sitk.Image]]) -> list[tuple[str, str, Any]]:
        """``segments`` from masks read off the scene (library calls only: may run off the scene's thread)."""
        from StandardSegLib.segmentation import edit_to_match
        from StandardSegLib.session import LesionJob, lesion_segment

        result = []
        for segment_id, name, mask in masks:
            _lesion, made = self._library_segments.get(segment_id) or (
                None, lesion_segment(self.job, self.checked, LesionJob(name=name)))
            result.append((segment_id, name, edit_to_match(made, mask, "Slicer Segment Editor")))
        return result

    # --- 6. validate ------------------------------------------------------------------------------------

    def validate(self, reference: Any, reference_label: Optional[int] = None,
                 reference_roi: Optional[str] = None) -> list[dict[str, Any]]:
        """Agreement of each segment with a reference: a segmentation node (segments matched by name) or a
        mask file (compared with every segment; ``reference_label`` picks one label), e.g. an expert RTSTRUCT
        (``reference_roi`` names its ROI; contours placed on the session's image by geometry)."""
        return self.validate_work(reference, reference_label, reference_roi).run()

    def validate_work(self, reference: Any, reference_label: Optional[int] = None,
                      reference_roi: Optional[str] = None) -> SceneWork[list[dict[str, Any]]]:
        """``validate`` as a ``SceneWork``: segments (and a reference segmentation node) read now, compared in
        ``compute``."""
        from StandardSegLib.imaging import read_mask_file
        from StandardSegLib.mrml.segments import mask_from_segment
        from StandardSegLib.validation import compare_masks

        masks = self._segment_masks()
        if not masks:
            raise InputError("validation: the session has no segment yet")
        references: dict[str, tuple[sitk.Image, str]] = {}  # lesion name -> mask, name (a segmentation node)
        if not isinstance(reference, (str, Path)):
            for _segment_id, name, _mask in masks:
                reference_id = reference.GetSegmentation().GetSegmentIdBySegmentName(name)
                if reference_id:
                    references[name] = (mask_from_segment(reference, reference_id, self.values_node),
                                        f"{reference.GetName()}/{name}")
            if not references:
                raise InputError(f"validation: no segment of the session has a namesake in '{reference.GetName()}'")
        loaded = self.loaded

        def compute(_progress: Optional[ProgressCallback]) -> list[dict[str, Any]]:
            results = []
            for _segment_id, name, made in self._segments_from(masks):
                if isinstance(reference, (str, Path)):
                    reference_mask = read_mask_file(Path(reference), loaded.image, reference_roi, loaded.datasets)
                    reference_name = Path(reference).name + (f"/{reference_roi}" if reference_roi else "")
                elif name in references:
                    reference_mask, reference_name = references[name]
                else:
                    continue
                results.append(compare_masks(made.mask, reference_mask, name, reference_name,
                                             reference_label).to_dict())
            return results

        def apply(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
            self.validation = results
            return results

        return SceneWork(compute, apply)

    # --- 7. report --------------------------------------------------------------------------------------

    def export_report(self, out_dir: str | Path, *, overwrite: bool = False, deidentify: bool = False,
                      radiomics: bool = True, progress: Optional[ProgressCallback] = None) -> Any:
        """Write the report bundle (plus session.json) from what the scene holds now; returns the BundleResult.

        A segment whose measurement or radiomics fails does not stop the others: it is flagged in the segment
        list with the reason (``segment_failures``) and named in report.json ``failures``; a segment without
        measurements is left out of the bundle (radiomics failures keep their measurements). A lesion whose
        method failed (``failed_lesions``) is named there too, with stage ``segment``, and kept in session.json
        as tried, so ``report --session`` fails it again rather than dropping it.
        """
        return self.export_work(out_dir, overwrite=overwrite, deidentify=deidentify, radiomics=radiomics).run(progress)

    def export_work(self, out_dir: str | Path, *, overwrite: bool = False, deidentify: bool = False,
                    radiomics: bool = True) -> SceneWork[Any]:
        """``export_report`` as a ``SceneWork``: segments read now; measured and written in ``compute``; each
        segment's failure flag shown on apply (then the error, if nothing could be measured)."""
        from StandardSegLib.session import lesion_outcome, radiomics_extractor, recorded_session, write_session_bundle

        started = dt.datetime.now().astimezone()
        self._require("check", self.checked is not None, "check the image first")
        self.checked.gate.verdict.require_segmentation_allowed()
        target = Path(out_dir).absolute()
        masks = self._segment_masks()
        if not masks:
            raise InputError("report: the session has no segment; segment at least one lesion first")
        unresolved = self._unresolved_failures()
        display = {"preset": self.preset_organ, "deviations": self.deviations}

        def compute(progress: Optional[ProgressCallback]) -> _Export:
            segments = self._segments_from(masks)
            empty = [name for _id, name, made in segments if made.provenance.voxel_count == 0]
            if empty:
                raise InputError(f"report: segment(s) {', '.join(empty)} are empty; remove them or draw them first")
            extractor = radiomics_extractor(self.protocol) if radiomics else None
            reports, lesions, shown = [], [], {}
            failures = [failed.failure() for failed in unresolved]
            for number, (segment_id, name, made) in enumerate(segments):
                report(progress, 0.6 * number / len(segments), f"measuring {name}")
                outcome = lesion_outcome(self.checked, name, made, extractor)
                shown[segment_id] = outcome.failure()
                if outcome.error:
                    failures.append(outcome.failure())
                if outcome.report is not None:
                    reports.append(outcome.report)
                    lesions.append(self._lesion_record(segment_id, name, made, target))
            if not reports:
                return _Export(shown, None, InputError("report: no segment could be measured: " + "; ".join(
                    f"{failure['name']} ({failure['stage']}): {failure['reason']}" for failure in failures)))
            lesions += [failed.lesion for failed in unresolved]
            seeds_files = [lesion.seeds_mask for lesion in lesions if lesion.seeds_mask]  # inputs, unlike the masks
            recorded = recorded_session(dataclasses.replace(self.job, lesions=(), radiomics=radiomics), self.checked,
                                        extra_inputs=seeds_files)
            recorded = dataclasses.replace(recorded, lesions=tuple(lesions))
            context = {"validation": self.validation} if self.validation else {}
            bundle = write_session_bundle(recorded, self.checked, reports, target, started_at=started,
                                          overwrite=overwrite, deidentify=deidentify, context=context,
                                          display=display, failures=failures,
                                          progress=progress_part(progress, 0.6, 1.0))
            return _Export(shown, bundle, None)

        def apply(export: _Export) -> Any:
            segmentation = self.segmentation_node.GetSegmentation()
            for segment_id, failure in export.failures.items():
                _show_failure(segmentation.GetSegment(segment_id), failure)
            if export.error is not None:
                raise export.error
            self.bundle = export.bundle
            return export.bundle

        return SceneWork(compute, apply)

    def segment_failures(self) -> dict[str, str]:
        """Segment id -> "stage: reason" for each segment whose last report export failed (for the panel)."""
        if self.segmentation_node is None:
            return {}
        from StandardSegLib.mrml.segments import segment_ids

        failures = {}
        for segment_id in segment_ids(self.segmentation_node):
            value = vtk.reference("")  # vtkSegment::GetTag(name, std::string& value) fills an output argument
            if self.segmentation_node.GetSegmentation().GetSegment(segment_id).GetTag(FAILURE_TAG, value):
                failures[segment_id] = str(value)
        return failures

    def _lesion_record(self, segment_id: str, name: str, made: Any, target: Path) -> Any:
        """The job line for one exported segment: its method and seeds, plus the bundle's mask when the
        reader drew or changed it (so ``standardseg report --session`` reproduces the same segment)."""
        from StandardSegLib.report.bundle import SEGMENTS_DIR
        from StandardSegLib.session import LesionJob

        lesion, original = self._library_segments.get(segment_id) or (LesionJob(name=name), None)
        edited = original is None or len(made.provenance.steps) != len(original.provenance.steps)
        mask = str(target / SEGMENTS_DIR / f"{name}.seg.nrrd") if edited else None
        return dataclasses.replace(lesion, name=name, mask=mask)

    def save_scene(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the whole scene as ``.mrb`` with the session document inside (``scene_bundle``)."""
        from StandardSegLib.mrml.scene_bundle import save_bundle, store_session

        store_session(self.context.scene, self.document())
        return save_bundle(self.context, path, overwrite=overwrite)

    def document(self) -> dict[str, Any]:
        """The session state as JSON: the job (``standardseg.session/1``) plus what lives only in the scene."""
        return {
            "schema": SCENE_SESSION_SCHEMA,
            "session": self.job.to_dict() if self.job.image else None,  # lesions: see library_segments
            "nodes": {"volume": _node_id(self.volume_node), "values": _node_id(self.values_node),
                      "segmentation": _node_id(self.segmentation_node),
                      "rois": {role: node.GetID() for role, node in self.roi_nodes.items()}},
            "window_preset": self.preset_organ,
            "deviations": self.deviations,
            "library_segments": {segment_id: {"lesion": lesion.to_dict(), "provenance": made.provenance.to_dict()}
                                 for segment_id, (lesion, made) in self._library_segments.items()},
            "failed_lesions": self.failed_lesions(),
            "validation": self.validation,
        }

    @classmethod
    def resume(cls, context: Any, mrb_path: str | Path, unpack_dir: str | Path) -> "GuidedSession":
        """Load a saved scene and continue its session: inputs must be unchanged (SHA-256), the gate is
        evaluated again from the stored ROIs, and every library segment is re-run and must reproduce its
        recorded voxel count before its recorded provenance is trusted."""
        from StandardSegLib.mrml.scene_bundle import load_bundle
        from StandardSegLib.segmentation import Segment, SegmentProvenance
        from StandardSegLib.session import LesionJob, Session, lesion_segment

        document = load_bundle(context, mrb_path, unpack_dir)
        if not document or document.get("schema") != SCENE_SESSION_SCHEMA or not document.get("session"):
            raise InputError(f"{mrb_path}: expected a scene saved by a StandardSeg session, found no session in it")
        job = Session.from_dict(document["session"], Path.cwd(), f"{mrb_path}: session")
        job.check_inputs()
        session = cls.start(context, job.protocol_id, job.operator, registry=job.registry)
        nodes = document["nodes"]
        session.job = dataclasses.replace(job, lesions=())
        session.volume_node = _scene_node(context, nodes["volume"], mrb_path)
        session.loaded = _reload(job)
        _require_same_grid(session.volume_node, session.loaded.image, Path(job.image))
        session.values_node = _scene_node(context, nodes["values"], mrb_path)
        session.roi_nodes = {role: _scene_node(context, node_id, mrb_path) for role, node_id in nodes["rois"].items()}
        session.checked = _evaluate(session)
        session._values_are_suv = session.checked.gate.suv is not None
        if nodes["segmentation"]:
            session.segmentation_node = _scene_node(context, nodes["segmentation"], mrb_path)
        for segment_id, stored in document["library_segments"].items():
            lesion = LesionJob.from_dict(stored["lesion"])
            remade = lesion_segment(session.job, session.checked, lesion)
            provenance = SegmentProvenance.from_dict(stored["provenance"])
            if remade.provenance.voxel_count != provenance.voxel_count:
                raise InputError(f"{mrb_path}: segment '{lesion.name}' re-ran to {remade.provenance.voxel_count} "
                                 f"voxels, the session recorded {provenance.voxel_count}; results would differ")
            session._library_segments[segment_id] = (lesion, Segment(remade.mask, provenance))
        for stored in document.get("failed_lesions", []):  # scenes saved before failures were kept have none
            session._failed_lesions[stored["name"]] = FailedLesion(LesionJob.from_dict(stored["lesion"]),
                                                                   stored["method"], stored["reason"], stored["stage"])
        session._past_deviations = list(document["deviations"])
        session.preset_organ = document["window_preset"]
        session.validation = list(document["validation"])
        return session

    # --- progress through the steps ---------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        """Each step's state: "done", "todo" or "blocked" (an earlier step must be done first)."""
        gate_ok = self.checked is not None and self.checked.gate.verdict.allows_segmentation
        has_segments = bool(self.segmentation_node is not None
                            and self.segmentation_node.GetSegmentation().GetNumberOfSegments())
        done = {
            "study": self.loaded is not None,
            "check": gate_ok,
            "display": self.preset_organ is not None,
            "reference": gate_ok and (not self.protocol.reference_tissue or self.reference is not None),
            "segment": has_segments,
            "validate": bool(self.validation),
            "report": self.bundle is not None,
        }
        needs = {"study": (), "check": ("study",), "display": ("study",), "reference": ("check",),
                 "segment": ("check",), "validate": ("segment",), "report": ("segment",)}
        return {step: "done" if done[step] else ("todo" if all(done[need] for need in needs[step]) else "blocked")
                for step in STEPS}

    def _require(self, step: str, condition: bool, what: str) -> None:
        if not condition:
            raise InputError(f"step '{step}' is not done: {what}")


# --- helpers ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Export:
    """What ``export_work`` computed: each segment's failure (None: measured), the bundle, or why there is none."""

    failures: dict[str, Optional[dict[str, str]]]
    bundle: Any
    error: Optional[InputError]


def _show_failure(segment: Any, failure: Optional[dict[str, str]]) -> None:
    """Show a failed lesion beside its segment: Slicer's "flagged" segment status (the status column of the
    Segment Editor's list) and the reason in the ``StandardSeg.failure`` tag; a later success clears both."""
    import slicer

    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if failure is None:
        if segment.HasTag(FAILURE_TAG):
            segment.RemoveTag(FAILURE_TAG)
            logic.SetSegmentStatus(segment, logic.NotStarted)
        return
    segment.SetTag(FAILURE_TAG, f"{failure['stage']}: {failure['reason']}")
    logic.SetSegmentStatus(segment, logic.Flagged)


def _training(protocol: Any, operator: Any, day: Optional[dt.date] = None) -> Any:
    from StandardSegLib.operators import protocol_training_status

    return protocol_training_status(operator, protocol, today=day)


def _volume_name(loaded: Any, path: Path) -> str:
    record = loaded.record
    if record.modality and record.series_description:
        return f"{record.modality} {record.series_description}"
    return path.name.split(".")[0] or "image"


def _series_uid(loaded: Any) -> Optional[str]:
    """The series UID a DICOM source was read from (None for NRRD/NIfTI, even with a sidecar)."""
    record = loaded.record
    return record.series_instance_uid if record.source_format.startswith("dicom") else None


def _dicom_series_uid(path: Path) -> Optional[str]:
    """The series UID of a DICOM file, None for other formats (NRRD, NIfTI ...)."""
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
    except (pydicom.errors.InvalidDicomError, OSError):
        return None
    return str(dataset.SeriesInstanceUID) if "SeriesInstanceUID" in dataset else None


def _segment_name(name: str) -> str:
    """A segment name usable as a file name and in the session schema (``[A-Za-z0-9][A-Za-z0-9_.-]*``)."""
    cleaned = _SEGMENT_NAME.sub("_", name.strip()).strip("_.-")
    return cleaned or "segment"


def _node_id(node: Any) -> Optional[str]:
    return node.GetID() if node is not None else None


def _scene_node(context: Any, node_id: str, source: Any) -> Any:
    node = context.scene.GetNodeByID(node_id)
    if node is None:
        raise InputError(f"{source}: the session names node {node_id}, which the scene does not hold")
    return node


def _reload(job: Any) -> Any:
    from StandardSegLib.imaging import load_image

    return load_image(job.resolve(job.image), series_uid=job.series_uid)


def _evaluate(session: GuidedSession) -> Any:
    from StandardSegLib.session import evaluate_image

    return evaluate_image(session.job, operator=session.operator, loaded=session.loaded)


def _require_same_grid(node: Any, loaded: sitk.Image, path: Path) -> None:
    """Slicer's and the library's reading of one image must share the voxel grid."""
    from StandardSegLib.mrml.volumes import volume_geometry

    geometry = volume_geometry(node)
    if not geometry.matches(loaded):
        raise InputError(f"{path}: Slicer's volume '{node.GetName()}' ({geometry.describe()}) and StandardSeg's "
                         f"reading (size {loaded.GetSize()}, origin {tuple(round(v, 3) for v in loaded.GetOrigin())}) "
                         "differ in geometry; measurements would not match the display")


def _same_values(node: Any, loaded: sitk.Image) -> bool:
    """The node's voxels equal the library's (within float32 rounding), compared slice by slice so a large CT
    needs no extra full-size copy."""
    import slicer

    seen = slicer.util.arrayFromVolume(node)
    expected = sitk.GetArrayViewFromImage(loaded)
    scale = max(float(np.max(np.abs(expected))), 1.0)
    return all(np.allclose(seen[k], expected[k], rtol=_VALUE_TOLERANCE, atol=_VALUE_TOLERANCE * scale)
               for k in range(expected.shape[0]))
