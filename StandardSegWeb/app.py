"""One reader's trame server: the ``GuidedPanel`` behind a page (``page.py``), its state and its actions.

One server process serves one reader: all tabs of a trame server share one scene (measured: a second tab moved
the first tab's seed), so a site runs one server per reader (README, "Browser panel").

The thread rule: every MRML node is created, changed, read and rendered on the event loop's thread (MRML and VTK
are not thread-safe, and a scene changed while the loop renders it races that render). Long work (check,
segmentation, validation, export) is a ``SceneWork`` (``GuidedSession.check_work``...): built on the loop's
thread, where it reads the scene; its ``compute`` - library calls only - runs in a worker thread
(``asyncio.to_thread``) while the loop keeps serving the page and rendering; its ``apply`` puts the result into the
scene back on the loop's thread after the await (``PanelApp.job``). Progress reaches the page through the loop
(``call_soon_threadsafe``). Testing/test_web_threads.py records the thread of every scene change during the jobs.

Errors of the reader's making are shown as the CLI prints them (``standardseg: error: ...``), one line; anything
else as its type and message, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from StandardSegLib.errors import InputError, StandardSegError

if TYPE_CHECKING:
    from trame_server import Server
    from trame_slicer.views import AbstractView

    from StandardSegLib.mrml.guided_session import SceneWork

    from StandardSegWeb.panel import GuidedPanel, StudyInputs

LOG = logging.getLogger(__name__)
REPORTS_ROUTE = "/reports"
#: JPEG quality of the views' frames: trame-rca's still quality, so that a change renders once. With a lower
#: interactive quality every change rendered twice (the still frame is a second CPU render, 50-300 ms a view).
IMAGE_QUALITY = 90
#: A click that places a point re-renders every view showing it (four CPU renders holding the event loop); the
#: page's update (the ROI's position, the seed list) goes out first, the clicked view renders this long after the
#: click, and the other views this much later again, once the clicked view's frame has been sent.
FEEDBACK_LEAD_S = 0.05
OTHER_VIEWS_LAG_S = 0.25
#: Priority of the pause observer on the slice views' interactors: before the panel's click observers.
_PAUSE_PRIORITY = 2.0
STEP_TITLES = ("Study", "Image check", "Display", "Reference tissue", "Segment", "Validate", "Report")


class PanelApp:
    """The server side of the page: trame state <-> ``GuidedPanel``."""

    def __init__(self, server: "Server", study: "StudyInputs", protocol_id: str, operator: str,
                 registry: Optional[str], out_dir: Path) -> None:
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories
        from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

        from StandardSegWeb.panel import GuidedPanel

        self.server = server
        self.out_dir = Path(out_dir).absolute()
        self.exports = 0
        server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        register_rca_factories(self.slicer_app.view_manager, server, interactive_quality=IMAGE_QUALITY)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, server)
        views = Layout(LayoutDirection.Horizontal, [
            Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view()]),
            Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.sagittal_view(), ViewLayoutDefinition.threed_view()]),
        ])
        self.layout_manager.register_layout("panel", views)
        self.layout_manager.set_layout("panel")
        self.panel: GuidedPanel = GuidedPanel.open(self.slicer_app, study, protocol_id, operator, registry)
        self.panel.listeners.append(self._on_click)
        for view in self.slicer_app.view_manager.get_slice_views():
            view.interactor().AddObserver("LeftButtonReleaseEvent", self._pause_views_for_feedback, _PAUSE_PRIORITY)
        self._init_state()

    # --- state ------------------------------------------------------------------------------------------

    def _init_state(self) -> None:
        self.server.state.update({
            "trame__title": "StandardSeg", "step": 0, "step_titles": list(STEP_TITLES), "error": "", "busy": False,
            "progress": 0, "progress_text": "", "placing": "",
            "study_text": f"{self.panel.session.volume_node.GetName()}" + (" over CT" if self.panel.anatomy_node else ""),
            "protocols": self.panel.protocol_choices(),
            "lesion_diameter": self.panel.roi_diameters_mm["lesion"], "rois": {},
            "gate_rows": [], "gate_overall": "", "override_reason": "",
            "preset_held": "", "deviations": 0, "window_level": [], "held_ranges": "", "values_units": "",
            "window_input": None, "level_input": None,
            "reference_text": "", "lesion_name": "lesion-1",
            "seeds": [], "background_seeds": [], "hottest": [], "segments": [], "effect": "", "effect_segment": "",
            "reference_path": "", "reference_roi": "", "validation": [],
            "report_url": "", "bundle_url": "", "reader_locked": False,
        })
        self._session_state()

    def _session_state(self) -> None:
        """What the protocol and operator decide: step 1's choices and training, presets, methods, effects."""
        session = self.panel.session
        protocol = session.protocol
        self.server.state.update({
            "protocol_text": f"{protocol.id} v{protocol.version}", "protocol": protocol.id,
            "operator": session.operator.name, "operators": self.panel.operator_choices(),
            "training": session.training.to_dict(),
            "organs": list(protocol.window_presets), "organ": protocol.default_window_preset.organ,
            "methods": session.allowed_methods(), "method": protocol.default_segmentation_method,
            "effects": self.panel.editor_effects(), "status": session.status(),
        })

    def _refresh(self) -> None:
        """Everything the page shows from the session, after an action."""
        session = self.panel.session
        state = self.server.state
        gate = session.gate
        state.gate_rows = self.panel.gate_rows()
        state.gate_overall = gate.verdict.overall if gate is not None else ""
        state.rois = {role: [round(value, 1) for value in ras] for role, ras in self.panel.roi_centres_ras().items()}
        reference = session.reference
        state.reference_text = (f"{reference.name}: mean {reference.mean:.3g} {reference.units}, SD {reference.sd:.3g} "
                                f"({reference.voxel_count} voxels)" if reference is not None else "")
        state.preset_held = session.preset_organ or ""
        state.deviations = len(session.deviations)
        state.window_level = [round(value, 3) for value in self.panel.window_level()]
        state.held_ranges = self.panel.held_ranges()
        state.values_units = session.checked.units if session.checked is not None else "stored values"
        state.seeds = [[round(value, 1) for value in ras] for ras in self.panel.seeds_ras()]
        state.background_seeds = [[round(value, 1) for value in ras] for ras in self.panel.seeds_ras("background-seed")]
        state.segments = [row.to_dict() for row in self.panel.segment_rows()]
        state.validation = session.validation
        state.placing = self.panel.placing or ""
        state.status = session.status()
        state.reader_locked = session.checked is not None

    def _on_click(self, _target: str) -> None:
        with self.server.state:
            self._refresh()

    def _pause_views_for_feedback(self, interactor: Any, _event: str) -> None:
        """Before a placing click is handled: views render only after the page's update, the clicked one first
        (``FEEDBACK_LEAD_S``, ``OTHER_VIEWS_LAG_S``); without this the update and the clicked view's frame waited
        behind all four renders (measured 0.3-0.6 s on 2 loaded cores)."""
        if self.panel.placing is None:
            return
        views: list[AbstractView] = self.slicer_app.view_manager.get_views()
        for view in views:
            view.set_render_blocked(True)
        clicked = [view for view in views if view.interactor() is interactor]
        others = [view for view in views if view.interactor() is not interactor]
        loop = asyncio.get_event_loop()
        loop.call_later(FEEDBACK_LEAD_S, _resume_rendering, clicked)
        loop.call_later(FEEDBACK_LEAD_S + OTHER_VIEWS_LAG_S, _resume_rendering, others)

    # --- actions ----------------------------------------------------------------------------------------

    def action(self, function: Callable[[], Any]) -> None:
        """Run a quick action on the loop's thread, the error (if any) shown as one line."""
        state = self.server.state
        state.error = ""
        try:
            function()
        except StandardSegError as error:
            state.error = f"standardseg: error: {error}"
        except Exception as error:  # noqa: BLE001 - shown in the page, logged with its traceback
            LOG.exception("panel action failed")
            state.error = f"standardseg: internal error: {type(error).__name__}: {error}"
        self._refresh()

    async def job(self, message: str, prepare: Callable[[], "SceneWork[Any]"]) -> Any:
        """Long work by the thread rule (module docstring): ``prepare()`` here on the loop's thread (it reads the
        scene, and refuses at once what cannot start), its ``compute`` in a worker thread while the page keeps
        answering and shows progress, its ``apply`` back here. Returns apply's result, None when it failed (the
        error is on the page)."""
        state = self.server.state
        loop = asyncio.get_running_loop()

        def progress(fraction: float, text: str) -> None:
            loop.call_soon_threadsafe(self._show_progress, fraction, text)

        with state:
            state.error, state.busy, state.progress, state.progress_text = "", True, 0, message
        result = None
        try:
            work = prepare()
            computed = await asyncio.to_thread(work.compute, progress)
            result = work.apply(computed)
        except StandardSegError as error:
            state.error = f"standardseg: error: {error}"
        except Exception as error:  # noqa: BLE001
            LOG.exception("panel job failed")
            state.error = f"standardseg: internal error: {type(error).__name__}: {error}"
        finally:
            with state:
                state.busy = False
                self._refresh()
        return result

    def _show_progress(self, fraction: float, text: str) -> None:
        with self.server.state as state:
            state.progress = round(100 * fraction)
            state.progress_text = text

    def choose_protocol(self, protocol_id: str) -> None:
        """Step 1: the operators' training shown under ``protocol_id`` before the reader applies the choice."""
        self.action(lambda: self.server.state.update({"operators": self.panel.operator_choices(protocol_id)}))

    def restart(self) -> None:
        """Step 1: the session re-opened with the chosen protocol and operator (before the image check only)."""
        state = self.server.state

        def restart() -> None:
            try:
                self.panel.restart(state.protocol, state.operator)
            finally:
                self._session_state()  # the session's own choice again when the restart was refused

        self.action(restart)

    def jump_to_hottest(self) -> None:
        def jump() -> None:
            self.server.state.hottest = [round(value, 1) for value in self.panel.jump_to_hottest()]

        self.action(jump)

    def place(self, target: str) -> None:
        self.action(lambda: self.panel.start_placing(target))

    def stop_placing(self) -> None:
        self.action(self.panel.stop_placing)

    def set_lesion_diameter(self, value: Any) -> None:
        self.action(lambda: self.panel.roi_diameters_mm.__setitem__("lesion", float(value)))

    async def check(self) -> None:
        await self.job("image check", self.panel.check_work)

    async def override(self) -> None:
        reason = self.server.state.override_reason
        await self.job("gate override", lambda: self.panel.override_work(reason))

    def hold_preset(self) -> None:
        self.action(lambda: self.panel.session.hold_window_preset(self.server.state.organ))

    def set_window_level(self) -> None:
        state = self.server.state
        self.action(lambda: self.panel.set_window_level(_number(state.window_input, "window"),
                                                        _number(state.level_input, "level")))

    async def segment(self) -> None:
        state = self.server.state
        name, method = state.lesion_name, state.method
        if await self.job(f"segmenting {name}", lambda: self.panel.segment_work(name, method)):
            with state:
                state.lesion_name = _next_name(name)

    def edit(self) -> None:
        state = self.server.state
        self.action(lambda: self.panel.activate_effect(state.effect, state.effect_segment))

    def stop_editing(self) -> None:
        self.action(self.panel.deactivate_effect)

    async def validate(self) -> None:
        path, roi = self.server.state.reference_path, (self.server.state.reference_roi or "").strip()
        await self.job("validation", lambda: self.panel.session.validate_work(Path(path), reference_roi=roi or None))

    async def export(self) -> None:
        from StandardSegWeb.panel import zip_work

        self.exports += 1
        target = self.out_dir / f"report-{self.exports}"
        bundle = await self.job("report export", lambda: self.panel.session.export_work(target))
        if bundle is None:
            return
        archive = await self.job("bundle zip", lambda: zip_work(bundle))
        if archive is not None:
            with self.server.state as state:
                state.report_url = f"{REPORTS_ROUTE}/{target.name}/report.html"
                state.bundle_url = f"{REPORTS_ROUTE}/{archive.name}"


def _resume_rendering(views: list["AbstractView"]) -> None:
    for view in views:
        view.set_render_blocked(False)


def _number(value: Any, what: str) -> float:
    """A number typed in the page (a string or None when the field is empty or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a number, found {value!r}") from None


def _next_name(name: str) -> str:
    """lesion-1 -> lesion-2 (the next lesion's default name)."""
    stem, _, number = name.rpartition("-")
    return f"{stem}-{int(number) + 1}" if stem and number.isdigit() else f"{name}-2"
