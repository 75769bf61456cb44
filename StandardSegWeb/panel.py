"""The guided panel's behaviour, independent of the page: one reader's ``GuidedSession`` on trame-slicer's scene,
with the clicks the reader makes in the slice views turned into ROIs and seeds.

Clicks: the panel observes left button press and release on each slice view's interactor; a release where the
press was (a click, not a drag) while placing puts the point at the RAS position under the cursor (the slice
node's XY-to-RAS). Not Slicer's markups place mode: that mode moves a preview control point with every mouse
move, so each move modified the point list and re-rendered all four views (CPU rendering, 50-300 ms each), and a
click made while the mouse moved waited behind those renders. The same code runs under the web page
(remote-controlled views) and in the tests (offscreen views and interactor events), so a simulated click
exercises exactly what a browser click does.

Every session action goes through ``GuidedSession`` (architecture.md: one session, many front ends); the panel
only converts RAS (Slicer) to LPS (library) and shapes results for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    from trame_slicer.core import SlicerApp

    from StandardSegLib.mrml.guided_session import GuidedSession, SceneWork
    from StandardSegLib.operators import TrainingStatus
    from StandardSegLib.progress import ProgressCallback
    from StandardSegLib.report.bundle import BundleResult

#: What a click can place: the gate's two ROI spheres (their centres) and the current lesion's seeds.
PLACE_TARGETS = ("lesion", "background", "seed", "background-seed")
#: Point lists of the seed targets (several clicks each): lesion seeds, and background seeds for grow-from-seeds.
SEED_LISTS = {"seed": "StandardSeg seeds", "background-seed": "StandardSeg background seeds"}
#: Background seeds are drawn blue (lesion seeds keep the markups default).
_BACKGROUND_SEED_COLOR = (0.2, 0.5, 1.0)
#: A press and release at most this far apart (display pixels) is a click; farther apart, a drag (pan, zoom...).
CLICK_TOLERANCE_PX = 3
#: Priority of the panel's click observers: before the views' interactor styles (priority 0).
_CLICK_PRIORITY = 1.0
#: Folder names a study folder may hold its PET (the values image) and CT (the anatomy) series under.
_PET_FOLDERS = ("PT", "PET")
_CT_FOLDERS = ("CT",)
#: PET over CT: the PET's opacity in the slice views and its colour table (one of Slicer's default PET tables).
PET_OPACITY = 0.5
PET_COLOR_NODE_ID = "vtkMRMLPETProceduralColorNodePET-Heat"
#: Segment Editor effects (the protocol's ``editor_effects`` names) trame-slicer implements, by its class name.
EDITOR_EFFECTS = {"Paint": "SegmentationEffectPaint", "Erase": "SegmentationEffectErase",
                  "Draw": "SegmentationEffectDraw", "Scissors": "SegmentationEffectScissors",
                  "Islands": "SegmentationEffectIslands", "Smoothing": "SegmentationEffectSmoothing",
                  "Threshold": "SegmentationEffectThreshold", "Logical operators": "SegmentationEffectLogicalOperators"}


@dataclass(frozen=True)
class StudyInputs:
    """The image the session measures and, optionally, a CT shown under it."""

    image: Path
    anatomy: Optional[Path] = None

    @classmethod
    def from_folder(cls, path: Path) -> "StudyInputs":
        """``path`` itself, or a study folder holding PT|PET and CT series folders (each optionally with an
        ``image`` subfolder, as in Testing/Data/real/sts): PET measured, CT shown beneath it."""
        path = Path(path)
        if not path.exists():
            raise InputError(f"study {path} does not exist")
        pet = _series_folder(path, _PET_FOLDERS)
        if pet is None:
            return cls(image=path)
        return cls(image=pet, anatomy=_series_folder(path, _CT_FOLDERS))


def _series_folder(path: Path, names: tuple[str, ...]) -> Optional[Path]:
    for name in names:
        folder = path / name
        if folder.is_dir():
            return folder / "image" if (folder / "image").is_dir() else folder
    return None


@dataclass(frozen=True)
class SegmentRow:
    """One segment as the panel lists it: voxel count and plausibility flags beside the name."""

    segment_id: str
    name: str
    method: str
    algorithm_type: str
    voxel_count: int
    volume_ml: float
    flags: tuple[dict[str, Any], ...]
    failure: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.segment_id, "name": self.name, "method": self.method, "type": self.algorithm_type,
                "voxels": self.voxel_count, "volume_ml": round(self.volume_ml, 3), "flags": list(self.flags),
                "failure": self.failure}


class GuidedPanel:
    """The seven steps for one reader on ``slicer_app``'s scene."""

    def __init__(self, slicer_app: "SlicerApp", session: "GuidedSession", study: StudyInputs) -> None:
        self.app = slicer_app
        self.session = session
        self.study = study
        self.anatomy_node: Any = None
        self.roi_diameters_mm: dict[str, float] = {"lesion": 30.0}
        self.listeners: list[Callable[[str], None]] = []  # told "roi" / "seed" after a click was handled
        self._seed_lists: dict[str, Any] = {}  # target -> its point list, made at its first seed
        self._placing: Optional[str] = None
        self._pressed_at: Optional[tuple[int, int]] = None
        self._commands: dict[tuple[int, str], Any] = {}  # (interactor id, event) -> the panel's observer command

    @classmethod
    def open(cls, slicer_app: "SlicerApp", study: StudyInputs, protocol_id: str, operator: str,
             registry: Optional[str] = None, progress: Optional["ProgressCallback"] = None) -> "GuidedPanel":
        """Step 1: a session on the app's scene (injected), the image loaded, the CT beneath it if any."""
        from StandardSegLib.mrml.guided_session import GuidedSession
        from StandardSegLib.mrml.scene import MRMLContext

        context = MRMLContext.on_scene(slicer_app.scene, slicer_app.app_logic)
        session = GuidedSession.start(context, protocol_id, operator, registry=registry)
        panel = cls(slicer_app, session, study)
        session.load_image(study.image, progress=progress)
        if study.anatomy is not None:
            panel.anatomy_node = context.load_volume(_first_file(study.anatomy), "CT anatomy")
        panel.show_volumes()
        panel.watch_clicks()
        return panel

    # --- step 1: protocol and operator -------------------------------------------------------------------

    def protocol_choices(self) -> list[str]:
        """Ids of the library's protocols for the study's modality (a PET study: the PT protocols)."""
        from StandardSegLib.protocols import load_library

        modality = self.session.loaded.record.modality
        return [protocol.id for protocol in load_library().all() if protocol.modality == modality]

    def operator_choices(self, protocol_id: Optional[str] = None) -> list[dict[str, str]]:
        """Every operator of the session's registry with their training under ``protocol_id`` (default: the
        session's protocol), judged by ``protocol_training_status`` as the CLI and the Qt panel do."""
        from StandardSegLib.operators import OperatorRegistry, protocol_training_status
        from StandardSegLib.protocols import load_library

        protocol = load_library().get(protocol_id) if protocol_id else self.session.protocol
        registry = OperatorRegistry.open(self.session.job.registry)
        choices = []
        for name, operator in sorted(registry.operators.items()):
            status = protocol_training_status(operator, protocol)
            label = training_label(status)
            choices.append({"name": name, "title": f"{name} ({label})", "label": label, "verdict": status.verdict,
                            "message": status.message})
        return choices

    def restart(self, protocol_id: str, operator: str) -> None:
        """Step 1 again with another protocol and/or operator: ``GuidedSession.restart`` on the same scene and
        image (refused once the image was checked)."""
        self.stop_placing()
        self.session = self.session.restart(protocol_id, operator, registry=self.session.job.registry)

    # --- views ------------------------------------------------------------------------------------------

    def show_volumes(self, fit: bool = True) -> None:
        """Values volume in every slice view, over the CT when there is one; views fitted to it unless ``fit`` is
        False. Called again after the check: the SUV volume it makes replaces the PET's stored values."""
        values = self.session.values_node
        if self.anatomy_node is not None:
            values.GetDisplayNode().SetAndObserveColorNodeID(PET_COLOR_NODE_ID)
        for view in self.app.view_manager.get_slice_views():
            if self.anatomy_node is not None:
                view.set_background_volume_id(self.anatomy_node.GetID())
                view.set_foreground_volume_id(values.GetID())
                view.set_foreground_opacity(PET_OPACITY)
            else:
                view.set_background_volume_id(values.GetID())
            if fit:
                view.fit_view_to_content()

    def jump_to_hottest(self) -> tuple[float, float, float]:
        """Centre every slice view on the hottest spot of the values (where a PET reader starts looking): the
        centre of the hottest 1 mL sphere away from the image's border (``hot_region.hottest_spot``), so neither a
        noisy voxel nor a hot structure the field of view cuts wins; returns its RAS position."""
        from StandardSegLib.mrml.roi_markups import flip_lps_ras
        from StandardSegLib.segmentation.hot_region import hottest_spot

        session = self.session
        image = session.checked.values_image if session.checked is not None else session.loaded.image
        _peak, centre_lps = hottest_spot(image)
        ras = flip_lps_ras(centre_lps)
        for view in self.app.view_manager.get_slice_views():
            view.get_view_node().JumpSliceByCentering(*ras)
        return ras

    def set_window_level(self, window: float, level: float) -> None:
        """Step 3: the values volume's window/level as the reader types them (its units: SUV once checked). Under
        a held preset the session's hold (``WindowPresetHold``, as in the Qt panel) sees the change and logs a
        setting outside the protocol's range as a deviation, or reverts it (``display.on_change``)."""
        if not (math.isfinite(window) and math.isfinite(level) and window > 0):
            raise InputError(f"window/level: expected a window > 0 and a finite level, found {window:g} / {level:g}")
        display = self.session.values_node.GetDisplayNode()
        display.SetAutoWindowLevel(0)
        display.SetWindowLevel(window, level)

    def window_level(self) -> tuple[float, float]:
        display = self.session.values_node.GetDisplayNode()
        return float(display.GetWindow()), float(display.GetLevel())

    def held_ranges(self) -> str:
        """The held preset's allowed ranges, e.g. "window 4-12, level 2-6 SUVbw" ("" when none is held)."""
        from StandardSegLib.protocols.window import WINDOW_LEVEL

        hold = self.session.hold
        if hold is None:
            return ""
        names = ("window", "level") if hold.preset.form == WINDOW_LEVEL else ("lower", "upper")
        return ", ".join(f"{name} {low:g}-{high:g}" for name, (low, high) in zip(names, hold.preset.ranges)) + \
            f" {hold.preset.unit}"

    def show_surfaces(self) -> None:
        """Segments as closed surfaces in the 3D views (CPU volume rendering would block the event loop)."""
        node = self.session.segmentation_node
        if node is None:
            return
        node.CreateClosedSurfaceRepresentation()
        for view in self.app.view_manager.get_threed_views():
            view.reset_camera()

    # --- clicks -----------------------------------------------------------------------------------------

    def start_placing(self, target: str) -> None:
        """The next click in a slice view places the ``target`` point (PLACE_TARGETS); seeds until stopped."""
        if target not in PLACE_TARGETS:
            raise InputError(f"place: expected one of {', '.join(PLACE_TARGETS)}, found {target!r}")
        self._placing = target

    def stop_placing(self) -> None:
        self._placing = None

    @property
    def placing(self) -> Optional[str]:
        return self._placing

    def watch_clicks(self) -> None:
        """Observe left clicks in every slice view (see the module docstring)."""
        for view in self.app.view_manager.get_slice_views():
            interactor = view.interactor()
            for event in ("LeftButtonPressEvent", "LeftButtonReleaseEvent"):
                tag = interactor.AddObserver(event, lambda caller, name, view=view: self._on_button(view, name),
                                             _CLICK_PRIORITY)
                self._commands[id(interactor), event] = interactor.GetCommand(tag)

    def _on_button(self, view: Any, event: str) -> None:
        interactor = view.interactor()
        self._commands[id(interactor), event].SetAbortFlag(int(self._placing is not None))  # placing: not the style's
        if self._placing is None:
            return
        position = tuple(interactor.GetEventPosition())
        if event == "LeftButtonPressEvent":
            self._pressed_at = position
            return
        pressed, self._pressed_at = self._pressed_at, None
        if pressed is None or max(abs(a - b) for a, b in zip(pressed, position)) > CLICK_TOLERANCE_PX:
            return
        ras = view.get_view_node().GetXYToRAS().MultiplyPoint((float(position[0]), float(position[1]), 0.0, 1.0))
        self._place(self._placing, (float(ras[0]), float(ras[1]), float(ras[2])))

    def _place(self, target: str, ras: tuple[float, float, float]) -> None:
        if target in SEED_LISTS:
            self._seed_list(target).AddControlPointWorld(*ras)
        else:
            self.place_roi(target, ras)
            self.stop_placing()
        for listener in self.listeners:
            listener(target)

    def _seed_list(self, target: str) -> Any:
        if target not in self._seed_lists:
            node = self.session.context.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", SEED_LISTS[target])
            node.CreateDefaultDisplayNodes()
            node.GetDisplayNode().SetVisibility3D(False)  # a click then re-renders the slice views only
            if target == "background-seed":
                node.GetDisplayNode().SetSelectedColor(*_BACKGROUND_SEED_COLOR)
            self._seed_lists[target] = node
        return self._seed_lists[target]

    def place_roi(self, role: str, ras: tuple[float, float, float]) -> Any:
        """Step 2: the ``role`` ROI sphere centred at ``ras``; the background diameter is the protocol's."""
        from StandardSegLib.mrml.roi_markups import flip_lps_ras

        return self.session.place_roi(role, flip_lps_ras(ras), self.roi_diameters_mm.get(role))

    def roi_centres_ras(self) -> dict[str, tuple[float, float, float]]:
        from StandardSegLib.mrml.roi_markups import flip_lps_ras, sphere_from_markup

        return {role: flip_lps_ras(sphere_from_markup(node).center_lps) for role, node in self.session.roi_nodes.items()}

    def seeds_ras(self, target: str = "seed") -> list[tuple[float, float, float]]:
        """The points clicked for ``target`` ("seed", or "background-seed" for grow-from-seeds), RAS mm."""
        node = self._seed_lists.get(target)
        return [] if node is None else [_position_ras(node, index) for index in range(node.GetNumberOfControlPoints())]

    def clear_seeds(self) -> None:
        """Remove the lesion and background seeds (after a segment was made from them)."""
        for node in self._seed_lists.values():
            node.RemoveAllControlPoints()

    # --- steps 2-7 --------------------------------------------------------------------------------------

    def check(self, reference_tissue: Optional[str] = None, progress: Optional["ProgressCallback"] = None) -> list[dict[str, Any]]:
        """Step 2: the gate with the ROIs as placed; returns the table rows (id, verdict, rule, message)."""
        return self.check_work(reference_tissue).run(progress)

    def check_work(self, reference_tissue: Optional[str] = None) -> "SceneWork[list[dict[str, Any]]]":
        """``check`` as the session's ``SceneWork`` (compute off the scene's thread, apply on it); the SUV volume
        the check makes is shown on apply."""
        return self._gate_shown(self.session.check_work(reference_tissue))

    def override_work(self, reason: str) -> "SceneWork[list[dict[str, Any]]]":
        """Step 2's override (a written reason) as a ``SceneWork``, like ``check_work``."""
        return self._gate_shown(self.session.override_work(reason))

    def _gate_shown(self, work: "SceneWork[Any]") -> "SceneWork[list[dict[str, Any]]]":
        from StandardSegLib.mrml.guided_session import SceneWork

        def apply(computed: Any) -> list[dict[str, Any]]:
            work.apply(computed)
            self.show_volumes(fit=False)
            return self.gate_rows()

        return SceneWork(work.compute, apply)

    def gate_rows(self) -> list[dict[str, Any]]:
        gate = self.session.gate
        if gate is None:
            return []
        return [{"id": item.id, "kind": item.kind, "verdict": item.verdict, "severity": item.severity,
                 "rule": item.rule, "message": item.message} for item in gate.verdict.items]

    def segment(self, name: str, method: Optional[str] = None,
                progress: Optional["ProgressCallback"] = None) -> SegmentRow:
        """Step 5: segment ``name`` with ``method`` from the seeds clicked so far (which are then cleared); the
        background seeds clicked are grow-from-seeds' background (Slicer's GrowCut needs both)."""
        return self.segment_work(name, method).run(progress)

    def segment_work(self, name: str, method: Optional[str] = None) -> "SceneWork[SegmentRow]":
        """``segment`` as the session's ``SceneWork``: the seeds read now; on apply the segment, its surface and
        the seeds cleared."""
        from StandardSegLib.mrml.guided_session import SceneWork
        from StandardSegLib.mrml.roi_markups import flip_lps_ras

        seeds = self.seeds_ras()
        if not seeds:
            raise InputError(f"lesion '{name}': click at least one seed in a slice view first")
        background = [flip_lps_ras(seed) for seed in self.seeds_ras("background-seed")]
        work = self.session.segment_work(name, [flip_lps_ras(seed) for seed in seeds], method or None,
                                         background_seeds_lps=background)

        def apply(computed: Any) -> SegmentRow:
            segment_id = work.apply(computed)
            self.clear_seeds()
            self.show_surfaces()
            return next(row for row in self.segment_rows() if row.segment_id == segment_id)

        return SceneWork(work.compute, apply)

    def segment_rows(self) -> list[SegmentRow]:
        failures = self.session.segment_failures()
        rows = []
        for segment_id, name, made in self.session.segments():
            provenance = made.provenance
            rows.append(SegmentRow(segment_id, name, provenance.method, provenance.algorithm_type,
                                   provenance.voxel_count, provenance.volume_mm3 / 1000.0,
                                   tuple(flag.to_dict() for flag in getattr(provenance, "flags", ())),
                                   failures.get(segment_id, "")))
        for failed in self.session.failed_lesions():  # a method that failed: no segment, the reason beside them
            rows.append(SegmentRow(f"failed:{failed['name']}", failed["name"], failed["method"], "failed", 0, 0.0, (),
                                   f"{failed['stage']}: {failed['reason']}"))
        return rows

    def editor_effects(self) -> list[str]:
        """The protocol's editor effects the browser panel offers (those trame-slicer implements)."""
        return [name for name in self.session.protocol.document["segmentation"].get("editor_effects", [])
                if name in EDITOR_EFFECTS]

    def activate_effect(self, name: str, segment_id: str) -> None:
        """Edit ``segment_id`` with the Segment Editor effect ``name`` (clicks/drags in the views); the session
        records the changes as MANUAL steps when it next reads the segment (``GuidedSession.segments``)."""
        import trame_slicer.segmentation as effects

        allowed = self.editor_effects()
        if name not in allowed:
            raise InputError(f"editor effect '{name}': not allowed by protocol {self.session.protocol.id} "
                             f"(allowed: {', '.join(allowed)})")
        node = self.session.segmentation_node
        if node is None or node.GetSegmentation().GetSegment(segment_id) is None:
            raise InputError(f"editor effect '{name}': no segment '{segment_id}' to edit; segment a lesion first")
        self.stop_placing()
        editor = self.app.segmentation_editor
        if editor.active_segmentation_node is not node:
            editor.set_active_segmentation(node, self.session.values_node)
        editor.set_active_segment_id(segment_id)
        editor.set_active_effect_type(getattr(effects, EDITOR_EFFECTS[name]))

    def deactivate_effect(self) -> None:
        self.app.segmentation_editor.deactivate_effect()

    def export(self, out_dir: Path, progress: Optional["ProgressCallback"] = None) -> Path:
        """Step 7: the report bundle, then a zip of it beside (what the page offers for download)."""
        return zip_work(self.session.export_report(out_dir, progress=progress)).run()


def zip_work(bundle: "BundleResult") -> "SceneWork[Path]":
    """The bundle's folder zipped beside it: files only, so all of it is ``compute`` (apply returns the zip)."""
    import shutil

    from StandardSegLib.mrml.guided_session import SceneWork

    return SceneWork(lambda _progress: Path(shutil.make_archive(str(Path(bundle.path)), "zip", root_dir=bundle.path)),
                     lambda archive: archive)


def training_label(status: "TrainingStatus") -> str:
    """The word a reader looks for: trained, refresher due (the validity period ran out) or not trained (valid
    dates, but the protocol's agreement check is missing), read off the library's verdict."""
    if status.verdict == "pass":
        return "trained"
    return "refresher due" if status.days_left < 0 else "not trained"


def _position_ras(node: Any, index: int) -> tuple[float, float, float]:
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(index, position)
    return (float(position[0]), float(position[1]), float(position[2]))


def _first_file(folder: Path) -> Path:
    """The archetype of a series folder (Slicer's Volumes logic reads the rest of the series from it)."""
    if folder.is_file():
        return folder
    files = sorted(path for path in folder.iterdir() if path.is_file())
    if not files:
        raise InputError(f"{folder}: expected image files (a DICOM series), found none")
    return files[0]
