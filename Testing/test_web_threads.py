"""The browser panel's thread rule (StandardSegWeb/app.py): long work computes in a worker thread, but every scene
change happens on the event loop's thread, the one that renders the views.

A PanelApp (views, page state, no server started) runs the image check, a segmentation from a clicked seed, the
validation and the report export as the page does (``PanelApp.job``) on an asyncio loop; observers on the scene
and on every node record the thread of each NodeAdded/NodeRemoved/Modified event. Before the rule, the check
added its SUV volume and the segmentation its segment from the worker thread: this test fails on that.
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

pytestmark = pytest.mark.mrml
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
pytest.importorskip("slicer", reason="slicer-core is not installed")
pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (pip install .[web])")


class SceneThreads:
    """The thread ident of every node added to, removed from or modified in ``scene``."""

    def __init__(self, scene) -> None:
        import slicer

        self.events: list[tuple[str, int]] = []
        self._watched: set[str] = set()
        for name in ("NodeAddedEvent", "NodeRemovedEvent"):
            scene.AddObserver(getattr(slicer.vtkMRMLScene, name),
                              lambda _scene, _event, name=name: self.events.append((name, threading.get_ident())))
        self.watch_all(scene)

    def _watch(self, node) -> None:
        import vtk

        if node.GetID() not in self._watched:
            self._watched.add(node.GetID())
            node.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda caller, _event: self.events.append(
                (f"{caller.GetClassName()} ModifiedEvent", threading.get_ident())))

    def watch_all(self, scene) -> None:
        for index in range(scene.GetNumberOfNodes()):
            self._watch(scene.GetNthNode(index))


def test_jobs_compute_in_a_worker_and_change_the_scene_on_the_loop_thread(demo_study, tmp_path, monkeypatch):
    from test_web_panel import _click
    from trame.app import get_server

    from StandardSegLib import session as library_session
    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegLib.mrml.roi_markups import flip_lps_ras
    from StandardSegWeb.app import PanelApp
    from StandardSegWeb.panel import StudyInputs

    study, files = demo_study
    (tmp_path / "out").mkdir()  # as serve makes it
    app = PanelApp(get_server("standardseg-thread-test", client_type="vue3"), StudyInputs.from_folder(files.root),
                   DEMO_PROTOCOL_ID, DEMO_OPERATOR, str(files.root / DEMO_REGISTRY_NAME), tmp_path / "out")
    scene = app.slicer_app.scene
    largest = max(study.layout.spheres, key=lambda sphere: sphere.diameter_mm)
    app.panel.place_roi("lesion", flip_lps_ras(largest.centre_lps_mm))
    app.panel.place_roi("background", flip_lps_ras(study.layout.liver_reference.centre_lps_mm))
    recorder = SceneThreads(scene)
    computed_on: list[int] = []  # threads the library's gate and segmentation ran in

    def spy(function):
        def called(*arguments, **keywords):
            computed_on.append(threading.get_ident())
            return function(*arguments, **keywords)
        return called

    for name in ("evaluate_image", "lesion_segment"):
        monkeypatch.setattr(library_session, name, spy(getattr(library_session, name)))

    async def walk() -> int:
        loop_thread = threading.get_ident()
        await app.check()
        recorder.watch_all(scene)  # the SUV volume the check added
        app.panel.start_placing("seed")
        _click(app.slicer_app.view_manager.get_slice_views()[0], flip_lps_ras(largest.centre_lps_mm))
        app.panel.stop_placing()
        await app.segment()
        recorder.watch_all(scene)
        app.server.state.reference_path = str(files.lesions_pet_nrrd)
        await app.validate()
        await app.export()
        return loop_thread

    loop = asyncio.new_event_loop()
    try:
        loop_thread = loop.run_until_complete(walk())
    finally:
        loop.close()
    state = app.server.state
    assert state.error == "" and state.gate_overall and state.segments and state.validation and state.bundle_url
    assert computed_on and loop_thread not in computed_on  # the library ran in the worker thread
    assert recorder.events  # the jobs did change the scene: SUV volume, segment, surfaces, failure tags
    off_thread = sorted({event for event, thread in recorder.events if thread != loop_thread})
    assert off_thread == [], f"scene changed off the loop's thread: {off_thread}"
