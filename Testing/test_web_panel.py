"""The web panel without a server (issue 18, layer 1): trame-slicer's SlicerApp with offscreen views (Mesa EGL),
clicks simulated as interactor events in the axial view, the panel's click observers turning them into ROIs and
seeds, and the session segmenting from them.

Checked against things the panel does not compute: the click lands at the RAS point aimed at (inverse of the
slice node's XY-to-RAS) and inside the image; the segment's voxel count equals the library's own run
(``session.lesion_segment``) from the same seeds; the gate on ROIs placed by clicks equals the gate on ROIs
given as numbers (``session.evaluate_image``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.mrml
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
pytest.importorskip("slicer", reason="slicer-core is not installed")
pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (pip install .[web])")

from StandardSegLib.mrml.roi_markups import flip_lps_ras  # noqa: E402


@pytest.fixture(scope="module")
def panel(demo_study):
    from trame_slicer.core import SlicerApp
    from trame_slicer.views import DirectViewFactory, ViewLayoutDefinition

    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegWeb.panel import GuidedPanel, StudyInputs

    _study, files = demo_study
    app = SlicerApp()
    app.view_manager.register_factory(DirectViewFactory(do_render_offscreen=True))
    view = app.view_manager.create_view(ViewLayoutDefinition.axial_view())
    view.render_window().SetSize(400, 400)
    view.interactor().SetSize(400, 400)
    panel = GuidedPanel.open(app, StudyInputs.from_folder(files.root), DEMO_PROTOCOL_ID, DEMO_OPERATOR,
                             registry=str(files.root / DEMO_REGISTRY_NAME))
    yield panel
    app.scene.Clear(True)


def _click(view, ras) -> None:
    """A left click in ``view`` where ``ras`` shows: the slice moved through it, then the display position
    from the inverse of the slice node's XY-to-RAS matrix."""
    import vtk

    slice_node = view.get_view_node()
    slice_node.JumpSliceByCentering(*ras)
    view.render()
    xy_to_ras = vtk.vtkMatrix4x4()
    xy_to_ras.DeepCopy(slice_node.GetXYToRAS())
    xy_to_ras.Invert()
    x, y, _z, _w = xy_to_ras.MultiplyPoint((*ras, 1.0))
    interactor = view.interactor()
    interactor.SetEventInformation(int(round(x)), int(round(y)))
    interactor.InvokeEvent("MouseMoveEvent")
    interactor.InvokeEvent("LeftButtonPressEvent")
    interactor.InvokeEvent("LeftButtonReleaseEvent")


def _axial(panel):
    return panel.app.view_manager.get_slice_views()[0]


def _inside(volume_node, ras) -> bool:
    import vtk

    ras_to_ijk = vtk.vtkMatrix4x4()
    volume_node.GetRASToIJKMatrix(ras_to_ijk)
    ijk = np.array(ras_to_ijk.MultiplyPoint((*ras, 1.0))[:3])
    return bool(np.all(ijk >= -0.5) and np.all(ijk <= np.array(volume_node.GetImageData().GetDimensions()) - 0.5))


def test_session_uses_the_injected_scene_and_its_logics(panel):
    """trame-slicer's SlicerApp makes the scene; the session's context reuses the logics registered with it."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.scene import MRMLContext

    context = panel.session.context
    assert context.scene is panel.app.scene and context.application_logic is panel.app.app_logic
    assert context.volumes_logic is panel.app.volumes_logic
    assert context.segmentations_logic is panel.app.segmentations_logic
    assert panel.session.volume_node.GetScene() is panel.app.scene
    with pytest.raises(InputError, match="another scene"):
        MRMLContext.on_scene(MRMLContext.headless().scene, panel.app.app_logic)


def test_study_shows_pet_over_ct(panel):
    view = _axial(panel)
    assert panel.anatomy_node is not None
    assert view.get_background_volume_id() == panel.anatomy_node.GetID()
    assert view.get_foreground_volume_id() == panel.session.values_node.GetID()
    assert panel.session.values_node.GetDisplayNode().GetColorNodeID().endswith("PET-Heat")
    assert panel.session.status()["study"] == "done"


def test_jump_to_hottest_centres_the_views_on_the_hottest_sphere(panel, demo_study):
    """The demo's hottest spot lies in one of its lesion spheres (the generator's layout), and the slice views are
    centred on it."""
    study, _files = demo_study
    ras = panel.jump_to_hottest()
    assert _inside(panel.session.values_node, ras)
    distances = [np.linalg.norm(np.subtract(flip_lps_ras(ras), sphere.centre_lps_mm)) / (sphere.diameter_mm / 2)
                 for sphere in study.layout.spheres]
    assert min(distances) < 1.0
    slice_node = _axial(panel).get_view_node()
    centre = slice_node.GetXYToRAS().MultiplyPoint((slice_node.GetDimensions()[0] / 2, slice_node.GetDimensions()[1] / 2, 0, 1))
    assert np.allclose(centre[:3], ras, atol=1e-3)


def test_hottest_spot_of_sts_001_lies_in_the_expert_gtv():
    """STS_001's PET has its hottest voxel on the last slice, outside the tumour (a structure the field of view
    cuts): the hottest spot the panel jumps to (``hottest_spot``) lies inside the expert's GTV_Mass_PET."""
    import SimpleITK as sitk

    from real_sts import load_case
    from StandardSegLib.segmentation.hot_region import hottest_spot

    case = load_case("STS_001", "PET")
    values, gtv = sitk.GetArrayViewFromImage(case.image), sitk.GetArrayViewFromImage(case.gtv) > 0
    hottest_voxel = np.unravel_index(int(np.argmax(values)), values.shape)
    assert not gtv[hottest_voxel] and hottest_voxel[0] in (0, values.shape[0] - 1)  # why the voxel was wrong
    _peak, centre_lps = hottest_spot(case.image)
    index = case.image.TransformPhysicalPointToIndex(centre_lps)
    assert gtv[index[::-1]]


def test_protocol_and_operator_chosen_in_step_one_restart_the_session(panel, demo_study):
    """Step 1 offers the library's protocols for the study's modality (read here from the protocol files) and the
    registry's operators with their training; choosing re-opens the session on the same scene and image."""
    import datetime as dt

    import yaml

    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegLib.operators import OperatorRegistry

    _study, files = demo_study
    documents = [yaml.safe_load(path.read_text(encoding="utf-8"))
                 for path in sorted((Path(__file__).parent.parent / "Resources" / "Protocols").glob("*.yaml"))]
    assert sorted(panel.protocol_choices()) == sorted(document["id"] for document in documents
                                                      if document["modality"] == "PT")
    OperatorRegistry.open(files.root / DEMO_REGISTRY_NAME).add("Dr Lapsed", dt.date.today() - dt.timedelta(days=400))
    choices = {choice["name"]: choice for choice in panel.operator_choices()}
    assert (choices[DEMO_OPERATOR]["label"], choices["Dr Lapsed"]["label"]) == ("trained", "refresher due")
    assert choices["Dr Lapsed"]["verdict"] == "fail"  # 400 days > 365, and the FDG protocol blocks
    assert {choice["name"]: choice["verdict"] for choice in panel.operator_choices("pet-nema-iec-phantom")}[
        "Dr Lapsed"] == "warn"  # the phantom protocol only warns
    panel.place_roi("background", (10.0, 20.0, 30.0))
    volume, values, nodes = panel.session.volume_node, panel.session.values_node, panel.app.scene.GetNumberOfNodes()
    panel.restart("fdg-pet-ct-msk-sarcoma", "Dr Lapsed")
    session = panel.session
    assert (session.protocol.id, session.operator.name, session.training.verdict) == (
        "fdg-pet-ct-msk-sarcoma", "Dr Lapsed", "fail")
    assert session.volume_node is volume and session.values_node is values and session.context.scene is panel.app.scene
    assert panel.roi_centres_ras()["background"] == pytest.approx((10.0, 20.0, 30.0))
    assert panel.app.scene.GetNumberOfNodes() == nodes  # the image is not loaded again
    panel.restart(DEMO_PROTOCOL_ID, DEMO_OPERATOR)
    assert panel.session.protocol.id == DEMO_PROTOCOL_ID and panel.session.training.verdict == "pass"


def test_roi_clicks_land_where_aimed_and_give_the_library_gate(panel, demo_study):
    from StandardSegLib.session import RoiSpec, evaluate_image

    study, _files = demo_study
    layout = study.layout
    largest = max(layout.spheres, key=lambda sphere: sphere.diameter_mm)
    panel.roi_diameters_mm["lesion"] = largest.diameter_mm
    aims = {"lesion": flip_lps_ras(largest.centre_lps_mm), "background": flip_lps_ras(layout.liver_reference.centre_lps_mm)}
    for role, ras in aims.items():
        panel.start_placing(role)
        _click(_axial(panel), ras)
        assert panel.placing is None  # an ROI click ends placing
    centres = panel.roi_centres_ras()
    spacing = min(panel.session.values_node.GetSpacing())
    for role, ras in aims.items():
        assert np.linalg.norm(np.subtract(centres[role], ras)) < spacing, role
        assert _inside(panel.session.values_node, centres[role])
    rows = panel.check()
    assert {row["verdict"] for row in rows} <= {"pass", "warn", "fail"} and rows
    offset = _axial(panel).get_slice_value()
    panel.show_volumes(fit=False)  # what the page does after the check
    assert panel.session.values_node.GetName().endswith("SUVbw")
    assert _axial(panel).get_foreground_volume_id() == panel.session.values_node.GetID()
    assert _axial(panel).get_slice_value() == offset
    job = dataclasses.replace(
        panel.session.job, lesion_roi=RoiSpec(sphere=(*flip_lps_ras(centres["lesion"]), largest.diameter_mm)),
        background_roi=RoiSpec(sphere=(*flip_lps_ras(centres["background"]), layout.liver_reference.diameter_mm)))
    independent = evaluate_image(job, operator=panel.session.operator, loaded=panel.session.loaded)
    assert [(row["id"], row["verdict"]) for row in rows] == [(item.id, item.verdict) for item in independent.gate.verdict.items]
    assert panel.session.reference.mean == pytest.approx(independent.gate.reference.mean)


def test_protocol_is_fixed_once_the_image_was_checked(panel):
    from StandardSegLib.demo import DEMO_OPERATOR
    from StandardSegLib.errors import InputError

    with pytest.raises(InputError, match="fixed once the image was checked"):
        panel.restart("fdg-pet-ct-msk-sarcoma", DEMO_OPERATOR)


def test_window_level_outside_the_held_range_is_a_logged_deviation(panel):
    """Window/level typed in step 3 under the held preset: inside the protocol's range (read from its file)
    nothing is logged; outside, the session logs the setting as requested (the FDG protocol logs, not reverts)."""
    import yaml

    session = panel.session
    session.hold_window_preset()
    entry = yaml.safe_load(session.protocol.source_path.read_text(encoding="utf-8"))["window_presets"][session.preset_organ]
    assert session.protocol.display["on_change"] == "log" and "lower_range" in entry  # the FDG preset: lower/upper
    (lower_low, lower_high), (upper_low, upper_high) = entry["lower_range"], entry["upper_range"]
    before = len(session.deviations)
    lower, upper = (lower_low + lower_high) / 2, (upper_low + upper_high) / 2
    inside = (upper - lower, (upper + lower) / 2)
    panel.set_window_level(*inside)
    assert panel.window_level() == pytest.approx(inside) and len(session.deviations) == before
    outside = (2 * upper_high - lower, upper_high)  # upper bound at 2x the allowed maximum
    panel.set_window_level(*outside)
    assert panel.window_level() == pytest.approx(outside)
    assert len(session.deviations) == before + 1
    deviation = session.deviations[-1]
    assert (deviation["requested_window"], deviation["requested_level"]) == pytest.approx(outside)
    assert deviation["action"] == "logged"
    assert panel.held_ranges() == f"lower {lower_low:g}-{lower_high:g}, upper {upper_low:g}-{upper_high:g} SUVbw"


def test_seed_click_segments_like_the_library(panel, demo_study):
    from StandardSegLib.session import LesionJob, lesion_segment

    study, _files = demo_study
    sphere = max(study.layout.spheres, key=lambda item: item.diameter_mm)
    panel.start_placing("seed")
    _click(_axial(panel), flip_lps_ras(sphere.centre_lps_mm))
    assert panel.placing == "seed"  # seeds stay placing (several per lesion)
    panel.stop_placing()
    (seed,) = panel.seeds_ras()
    assert _inside(panel.session.values_node, seed)
    row = panel.segment("sphere-big")
    assert panel.seeds_ras() == []
    library = lesion_segment(panel.session.job, panel.session.checked,
                             LesionJob(name="sphere-big", seeds=(flip_lps_ras(seed),)))
    assert row.voxel_count == library.provenance.voxel_count > 0
    assert row.method == library.provenance.method
    analytic_ml = np.pi * sphere.diameter_mm ** 3 / 6000.0
    assert row.volume_ml == pytest.approx(analytic_ml, rel=0.35)
    assert panel.session.segmentation_node.GetSegmentation().ContainsRepresentation("Closed surface")


def test_export_writes_the_bundle_and_its_zip(panel, tmp_path):
    import json
    import zipfile

    archive = panel.export(tmp_path / "report")
    document = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert [segment["name"] for segment in document["segments"]] == ["sphere-big"]
    assert document["segments"][0]["provenance"]["voxel_count"] == panel.segment_rows()[0].voxel_count
    assert "report.html" in zipfile.ZipFile(archive).namelist()


def test_paint_effect_edit_becomes_a_manual_step_where_clicked(panel):
    """The protocol's Paint effect (trame-slicer) on the segment: the voxels added lie around the clicked point,
    and the session records them as a MANUAL step after the method's own."""
    import SimpleITK as sitk

    from StandardSegLib.errors import InputError

    assert "Paint" in panel.editor_effects() and "Threshold" not in panel.editor_effects()  # FDG protocol's list
    row = panel.segment_rows()[0]
    before = sitk.GetArrayFromImage(panel.session.segments()[0][2].mask)
    with pytest.raises(InputError, match="not allowed"):
        panel.activate_effect("Threshold", row.segment_id)
    panel.activate_effect("Paint", row.segment_id)
    panel.app.segmentation_editor.active_effect.set_brush_diameter(10.0)
    view = _axial(panel)
    seed_ras = np.array(panel.session.segments()[0][2].provenance.seeds_lps[0]) * (-1, -1, 1)
    target = seed_ras + (30.0, 0.0, 0.0)
    _click(view, tuple(target))
    panel.deactivate_effect()
    _segment_id, _name, made = panel.session.segments()[0]
    after = sitk.GetArrayFromImage(made.mask)
    added = np.argwhere((after != 0) & (before == 0))  # k, j, i
    assert len(added) > 0 and not np.any((before != 0) & (after == 0))
    centre_lps = np.array(made.mask.TransformContinuousIndexToPhysicalPoint(added.mean(axis=0)[::-1].tolist()))
    assert np.linalg.norm(centre_lps * (-1, -1, 1) - target) < 2 * max(made.mask.GetSpacing())
    assert made.provenance.steps[-1].algorithm_type == "MANUAL"
    assert made.provenance.voxel_count == int(np.count_nonzero(after)) == panel.segment_rows()[0].voxel_count


def test_a_refused_seed_is_listed_beside_the_segments_until_it_succeeds(panel, demo_study):
    """A seed clicked in air with pet-suv (no voxel reaches SUV 2.5): the error is raised for the page, and the
    segment table lists the attempt with its reason until the same lesion name is segmented."""
    from StandardSegLib.errors import InputError

    study, _files = demo_study
    values = panel.session.checked.values_image
    air_ras = flip_lps_ras(values.TransformIndexToPhysicalPoint((2, 2, 2)))
    panel.start_placing("seed")
    _click(_axial(panel), air_ras)
    panel.stop_placing()
    segments = [row for row in panel.segment_rows() if row.voxel_count]
    with pytest.raises(InputError) as refused:
        panel.segment("cold", "pet-suv")
    panel.clear_seeds()
    rows = panel.segment_rows()
    assert rows[:-1] == segments
    assert rows[-1].to_dict() == {"id": "failed:cold", "name": "cold", "method": "pet-suv", "type": "failed",
                                  "voxels": 0, "volume_ml": 0.0, "flags": [],
                                  "failure": f"segment: {refused.value}"}

    sphere = max(study.layout.spheres, key=lambda item: item.diameter_mm)
    panel.start_placing("seed")
    _click(_axial(panel), flip_lps_ras(sphere.centre_lps_mm))
    panel.stop_placing()
    assert panel.segment("cold").voxel_count > 0
    assert [row.name for row in panel.segment_rows() if not row.voxel_count] == []


def test_background_seed_clicks_go_to_the_method_as_its_background_seeds(panel, demo_study):
    """Background seeds (grow-from-seeds' second label) are clicked like lesion seeds, into their own list: they
    reach the method with the lesion seeds, recorded in the segment's provenance where they were clicked (LPS),
    and both lists are cleared once the segment is made."""
    study, _files = demo_study
    sphere = sorted(study.layout.spheres, key=lambda item: item.diameter_mm)[-2]
    outside = np.asarray(sphere.centre_lps_mm) + (sphere.diameter_mm, 0.0, 0.0)
    view = _axial(panel)
    panel.start_placing("seed")
    _click(view, flip_lps_ras(sphere.centre_lps_mm))
    panel.start_placing("background-seed")
    _click(view, flip_lps_ras(tuple(outside)))
    assert panel.placing == "background-seed"  # several per lesion, like lesion seeds
    panel.stop_placing()
    (background,) = panel.seeds_ras("background-seed")
    assert len(panel.seeds_ras()) == 1
    row = panel.segment("second-largest")
    made = next(made for segment_id, _name, made in panel.session.segments() if segment_id == row.segment_id)
    assert made.provenance.background_seeds_lps == (pytest.approx(flip_lps_ras(background)),)
    assert panel.seeds_ras() == [] and panel.seeds_ras("background-seed") == []
