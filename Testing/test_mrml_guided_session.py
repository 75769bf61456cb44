"""The guided session on a real MRML scene (slicer-core): issue #7's end-to-end test.

One scene demo (``StandardSegLib.mrml.scene_demo``, the same code the Slicer self-test runs) is shared by the
module: synthetic FDG PET DICOM loaded through the Volumes logic, gate, SUV preset held, every sphere
segmented, validated, report exported from the scene and .mrb saved. Numbers are checked against things the
scene path does not compute itself: the library-only pipeline (``standardseg run`` code, no Slicer), the
files written (read back with SimpleITK), the generator's analytic truth and the protocol's preset.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytestmark = pytest.mark.mrml
slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from StandardSegLib.errors import GateFailedError, InputError  # noqa: E402
from StandardSegLib.mrml.guided_session import STEPS, GuidedSession  # noqa: E402
from StandardSegLib.mrml.scene import MRMLContext  # noqa: E402
from StandardSegLib.mrml.scene_demo import run_scene_demo  # noqa: E402
from StandardSegLib.mrml.segments import provenance_tags, segment_ids  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    context = MRMLContext.headless()
    result = run_scene_demo(context, tmp_path_factory.mktemp("scene-demo"))
    yield result
    context.scene.Clear(True)


def _report(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / "report.json").read_text(encoding="utf-8"))


def _voxel_counts(document: dict) -> dict[str, int]:
    return {segment["name"]: segment["provenance"]["voxel_count"] for segment in document["segments"]}


def _reader():
    import datetime as dt

    from StandardSegLib.operators import Operator

    return Operator("Dr Scene", "reader", dt.date.today() - dt.timedelta(days=5))


def test_every_step_done_on_the_pet_demo(demo):
    assert demo.session.status() == {step: "done" for step in STEPS}
    assert demo.gate.verdict.overall == "pass"
    values = demo.session.values_node
    assert values is not demo.session.volume_node and values.GetName().endswith("SUVbw")
    assert demo.mrb_path.is_file()
    document = _report(demo.bundle.path)
    assert "session.json" in document["outputs"]
    assert set(demo.bundle.files) >= {"report.json", "measurements.csv", "report.html", "session.json",
                                      "dicom/seg.dcm", "dicom/sr.dcm"}


def test_suv_volume_holds_the_known_activity(demo):
    """The liver reference sphere reads the generator's liver SUV (2.0) in the SUV volume the scene shows."""
    liver_suv = demo.truth.to_dict()["pet_suv"]["liver"]
    reference = demo.session.reference
    assert reference.name == "liver" and reference.units == "SUVbw"
    assert reference.mean == pytest.approx(liver_suv, rel=0.05)
    array = slicer.util.arrayFromVolume(demo.session.values_node)
    expected = sitk.GetArrayViewFromImage(demo.session.checked.values_image)
    np.testing.assert_allclose(array, expected, rtol=1e-6)


def test_preset_applied_and_a_reader_change_logged(demo):
    """FDG protocol: SUV 0-5 display held; a change outside the allowed range is logged (on_change: log)."""
    preset = demo.session.protocol.window_presets[demo.session.preset_organ]
    display = demo.session.values_node.GetDisplayNode()
    assert display.GetAutoWindowLevel() == 0
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((preset.window, preset.level))
    before = len(demo.session.deviations)
    display.SetWindowLevel(preset.window * 10, preset.level * 10)
    deviations = demo.session.deviations
    assert len(deviations) == before + 1
    assert deviations[-1]["action"] == "logged"
    assert deviations[-1]["requested_window"] == pytest.approx(preset.window * 10)
    display.SetWindowLevel(preset.window, preset.level)


def test_segments_carry_provenance_tags(demo):
    node = demo.session.segmentation_node
    assert segment_ids(node) == list(demo.segment_ids)
    for segment_id in demo.segment_ids:
        tags = provenance_tags(node, segment_id)
        assert tags["DICOM.SegmentAlgorithmType"] == "SEMIAUTOMATIC"
        assert tags["StandardSeg.method"] == "pet-percent-max"
        assert tags["StandardSeg.protocol"].startswith("fdg-pet-ct-oncology ")
        assert tags["StandardSeg.units"] == "SUVbw"
        assert int(tags["StandardSeg.voxel_count"]) > 0


def test_scene_report_equals_the_library_pipeline(demo, tmp_path):
    """The bundle exported from the scene has exactly the voxels of the library-only run of the same job
    (no Slicer involved), and its .seg.nrrd files hold those voxels."""
    from StandardSegLib.session import Session, run_session

    scene_counts = _voxel_counts(_report(demo.bundle.path))
    job = Session.from_file(demo.bundle.path / "session.json")
    library_bundle = run_session(job, tmp_path / "library", overwrite=False)
    assert _voxel_counts(_report(library_bundle.path)) == scene_counts
    for name, count in scene_counts.items():
        written = sitk.ReadImage(str(demo.bundle.path / "segments" / f"{name}.seg.nrrd"))
        assert int(np.count_nonzero(sitk.GetArrayViewFromImage(written))) == count


def test_largest_sphere_volume_close_to_analytic(demo):
    """37 mm sphere at 4:1 with 41 % of SUVmax: within 10 % of 4/3 pi r^3 (the accuracy table's range)."""
    document = _report(demo.bundle.path)
    largest = max(demo.truth.to_dict()["spheres"], key=lambda sphere: sphere["diameter_mm"])
    segment = next(item for item in document["segments"] if item["name"] == f"sphere-{largest['sphere_id']}")
    analytic_ml = 4.0 / 3.0 * math.pi * (largest["diameter_mm"] / 2.0) ** 3 / 1000.0
    assert segment["provenance"]["volume_mm3"] / 1000.0 == pytest.approx(analytic_ml, rel=0.10)


def test_validation_matches_an_independent_dice(demo):
    """The validation step's Dice equals 2|A.B|/(|A|+|B|) counted with numpy on the same masks."""
    from StandardSegLib.mrml.scene_demo import TRUTH_SEGMENTATION_NAME

    truth_node = demo.session.context.scene.GetFirstNodeByName(TRUTH_SEGMENTATION_NAME)
    from StandardSegLib.mrml.segments import mask_from_segment

    for (segment_id, name, made), result in zip(demo.session.segments(), demo.validation):
        assert result["segment"] == name
        truth_id = truth_node.GetSegmentation().GetSegmentIdBySegmentName(name)
        a = sitk.GetArrayViewFromImage(made.mask) != 0
        b = sitk.GetArrayFromImage(mask_from_segment(truth_node, truth_id, demo.session.values_node)) != 0
        assert result["dice"] == pytest.approx(2 * np.count_nonzero(a & b) / (a.sum() + b.sum()), rel=1e-9)


def test_mrb_reload_restores_segments_and_session(demo, tmp_path):
    context = MRMLContext.headless()
    try:
        resumed = GuidedSession.resume(context, demo.mrb_path, tmp_path / "unpacked")
        assert resumed.status()["check"] == "done"
        assert segment_ids(resumed.segmentation_node) == list(demo.segment_ids)
        for segment_id in demo.segment_ids:
            assert provenance_tags(resumed.segmentation_node, segment_id) == \
                provenance_tags(demo.session.segmentation_node, segment_id)
        assert resumed.deviations == demo.session.deviations[:len(resumed.deviations)]
        assert resumed.preset_organ == demo.session.preset_organ
        again = resumed.export_report(tmp_path / "again", radiomics=False)
        assert _voxel_counts(_report(again.path)) == _voxel_counts(_report(demo.bundle.path))
    finally:
        context.scene.Clear(True)


def test_segment_editor_work_is_recorded_and_reproducible(demo, tmp_path):
    """A segment drawn by hand is MANUAL; a library segment a reader trimmed keeps its method with a MANUAL
    step; the exported session.json regenerates the same voxels with ``report --session``."""
    from StandardSegLib.cli import main

    context = MRMLContext.headless()
    try:
        session = GuidedSession.resume(context, demo.mrb_path, tmp_path / "unpacked")
        node = session.segmentation_node
        values = sitk.GetArrayFromImage(session.checked.values_image)
        drawn = np.zeros(values.shape, dtype=np.uint8)
        drawn[10:13, 30:34, 30:35] = 1
        context.add_segment_from_mask(node, drawn, "drawn 1", (0.1, 0.9, 0.1), session.values_node)
        trimmed_id = demo.segment_ids[-1]
        from StandardSegLib.mrml.segments import mask_from_segment

        trimmed = sitk.GetArrayFromImage(mask_from_segment(node, trimmed_id, session.values_node))
        top = np.nonzero(trimmed.any(axis=(1, 2)))[0].max()
        trimmed[top] = 0
        context.add_segment_from_mask(node, trimmed, "scratch", (0, 0, 0), session.values_node)
        scratch = node.GetSegmentation().GetSegmentIdBySegmentName("scratch")
        labelmap = slicer.vtkOrientedImageData()
        slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(node, scratch, labelmap)
        context.segmentations_logic.SetBinaryLabelmapToSegment(
            labelmap, node, trimmed_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
        node.GetSegmentation().RemoveSegment(scratch)

        bundle = session.export_report(tmp_path / "edited", radiomics=False)
        document = _report(bundle.path)
        by_name = {segment["name"]: segment for segment in document["segments"]}
        assert by_name["drawn_1"]["provenance"]["algorithm_type"] == "MANUAL"
        assert by_name["drawn_1"]["provenance"]["voxel_count"] == int(drawn.sum())
        trimmed_name = node.GetSegmentation().GetSegment(trimmed_id).GetName()
        steps = by_name[trimmed_name]["provenance"]["steps"]
        assert by_name[trimmed_name]["provenance"]["algorithm_type"] == "SEMIAUTOMATIC"
        assert steps[-1]["name"] == "subtract mask" and steps[-1]["algorithm_type"] == "MANUAL"
        assert by_name[trimmed_name]["provenance"]["voxel_count"] == int(trimmed.sum())

        partial = 4 if demo.session.failed_lesions() else 0  # a sphere the method refused fails again, as in run
        assert main(["report", "--session", str(bundle.path / "session.json"), "-o", str(tmp_path / "regen")]) == partial
        assert _voxel_counts(_report(tmp_path / "regen")) == _voxel_counts(document)
        assert _report(tmp_path / "regen")["failures"] == document["failures"]
    finally:
        context.scene.Clear(True)


def test_nrrd_ct_needs_an_override_and_reverts_window_changes(demo, tmp_path):
    """CT NRRD without DICOM headers: the gate fails on the missing acquisition items, segmentation is
    refused until an override with a reason, which then travels in the segment's tags; the CT liver
    protocol reverts a window outside its range to the nearest allowed one."""
    context = MRMLContext.headless()
    try:
        session = GuidedSession.start(context, "ct-liver-lesion", operator=_reader())
        session.load_image(demo.study_files.ct_nrrd)
        gate = session.check_image()
        assert gate.verdict.overall == "fail" and session.status()["segment"] == "blocked"
        seed = _largest_sphere_centre(demo)
        with pytest.raises(GateFailedError):
            session.segment_lesion("sphere-6", [seed], method="confidence-connected")
        session.override_gate("NRRD export without DICOM headers; acquisition checked on the console")
        segment_id = session.segment_lesion("sphere-6", [seed], method="confidence-connected")
        tags = provenance_tags(session.segmentation_node, segment_id)
        assert tags["StandardSeg.gate_override_reason"].startswith("NRRD export")
        assert session.values_node is session.volume_node  # HU as Slicer read them: no second volume

        hold = session.hold_window_preset("liver")
        display = session.values_node.GetDisplayNode()
        display.SetWindowLevel(1000, 500)
        preset = session.protocol.window_presets["liver"]
        assert preset.allows(display.GetWindow(), display.GetLevel())
        assert hold.deviations[-1].action == "reverted"
        assert session.deviations[-1]["requested_window"] == pytest.approx(1000)
    finally:
        context.scene.Clear(True)


def _largest_sphere_centre(demo) -> tuple[float, float, float]:
    job = json.loads((demo.bundle.path / "session.json").read_text(encoding="utf-8"))
    return tuple(job["rois"]["lesion"]["sphere"][:3])


def test_steps_out_of_order_and_mismatched_volumes_are_refused(demo):
    context = MRMLContext.headless()
    try:
        session = GuidedSession.start(context, "ct-liver-lesion", operator=_reader())
        with pytest.raises(InputError, match="step 'study' is not done"):
            session.check_image()
        node = context.load_volume(demo.study_files.ct_nrrd)
        node.SetOrigin(node.GetOrigin()[0] + 7.0, *node.GetOrigin()[1:])
        with pytest.raises(InputError, match="differ in geometry"):
            session.use_volume(node)
        with pytest.raises(InputError, match="step 'check' is not done"):
            session.segment_lesion("x", [(0.0, 0.0, 0.0)])
        session.load_image(demo.study_files.ct_nrrd)
        with pytest.raises(InputError, match="one session is one image"):
            session.load_image(demo.study_files.pet_suv_nrrd)
    finally:
        context.scene.Clear(True)


def test_a_volume_already_in_the_scene_is_used(demo):
    """A PET series loaded by Slicer itself (as its DICOM module would) joins the session through the files
    behind it and gets the same SUV volume and gate as the demo's own load."""
    context = MRMLContext.headless()
    try:
        node = context.load_volume(sorted(demo.study_files.pet_dicom)[0])
        session = GuidedSession.start(context, "fdg-pet-ct-oncology", operator=_reader())
        session.use_volume(node)
        job = demo.session.job
        session.place_roi("lesion", job.lesion_roi.sphere[:3], job.lesion_roi.sphere[3])
        session.place_roi("background", job.background_roi.sphere[:3], job.background_roi.sphere[3])
        gate = session.check_image()
        assert gate.verdict.overall == demo.gate.verdict.overall
        assert session.reference.mean == pytest.approx(demo.session.reference.mean, rel=1e-9)
        np.testing.assert_allclose(slicer.util.arrayFromVolume(session.values_node),
                                   slicer.util.arrayFromVolume(demo.session.values_node), rtol=1e-6)
    finally:
        context.scene.Clear(True)


def test_a_failing_segment_is_flagged_beside_it_and_the_others_exported(demo, tmp_path):
    """A 2-voxel segment (pyradiomics refuses its texture) is flagged in the segment list with the reason; the
    bundle holds every segment with the failure in report.json, and a later successful export clears the flag."""
    from StandardSegLib.mrml.guided_session import FAILURE_TAG

    context = MRMLContext.headless()
    try:
        session = GuidedSession.resume(context, demo.mrb_path, tmp_path / "unpacked")
        node = session.segmentation_node
        tiny = np.zeros(sitk.GetArrayViewFromImage(session.checked.values_image).shape, dtype=np.uint8)
        tiny[10, 30, 30:32] = 1
        tiny_id = context.add_segment_from_mask(node, tiny, "tiny", (0.1, 0.9, 0.1), session.values_node)

        bundle = session.export_report(tmp_path / "partial", radiomics=True)
        document = _report(bundle.path)
        refused = [(item["name"], "segment") for item in demo.session.failed_lesions()]  # the demo's refusals
        assert [(item["name"], item["stage"]) for item in document["failures"]] == [*refused, ("tiny", "radiomics")]
        assert {segment["name"] for segment in document["segments"]} == {*_voxel_counts(_report(demo.bundle.path)),
                                                                          "tiny"}
        assert list(session.segment_failures()) == [tiny_id]
        assert session.segment_failures()[tiny_id].startswith("radiomics: ")
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        assert logic.GetSegmentStatus(node.GetSegmentation().GetSegment(tiny_id)) == logic.Flagged
        assert node.GetSegmentation().GetSegment(tiny_id).HasTag(FAILURE_TAG)

        session.export_report(tmp_path / "without-radiomics", radiomics=False)
        assert session.segment_failures() == {}
    finally:
        context.scene.Clear(True)


def test_validation_against_an_rtstruct_reference(demo, tmp_path):
    """An expert RTSTRUCT contour of the largest sphere as the validation reference: placed on the session's
    image by geometry, its volume is the analytic sphere's, and the Dice is recounted with numpy."""
    from rtstruct_factory import sphere_contours, write_structure_set

    from StandardSegLib.rtstruct import read_rtstruct_mask

    context = MRMLContext.headless()
    try:
        session = GuidedSession.resume(context, demo.mrb_path, tmp_path / "unpacked")
        largest = max(demo.truth.to_dict()["spheres"], key=lambda sphere: sphere["diameter_mm"])
        image = session.loaded.image
        rs = write_structure_set(tmp_path / "RS.dcm", {"GTV": sphere_contours(
            image, np.asarray(largest["centre_lps_mm"]), largest["diameter_mm"] / 2)},
            frame=str(session.loaded.datasets[0].FrameOfReferenceUID))
        results = {item["segment"]: item for item in session.validate(rs, reference_roi="GTV")}
        result = results[f"sphere-{largest['sphere_id']}"]
        assert result["reference"] == "RS.dcm/GTV"
        assert result["reference_volume_ml"] == pytest.approx(math.pi / 6 * largest["diameter_mm"] ** 3 / 1000, rel=0.02)
        reference = sitk.GetArrayFromImage(read_rtstruct_mask(rs, image, "GTV")) > 0
        made = next(made for _id, name, made in session.segments() if name == result["segment"])
        a = sitk.GetArrayViewFromImage(made.mask) != 0
        assert result["dice"] == pytest.approx(2 * np.count_nonzero(a & reference) / (a.sum() + reference.sum()))
    finally:
        context.scene.Clear(True)


def test_a_method_failure_is_kept_beside_the_segments_until_the_lesion_succeeds(demo, tmp_path):
    """A seed in air with pet-suv (no voxel reaches SUV 2.5) is refused: the error is raised at once, no segment
    is added, and the attempt stays in the session (its rows, the saved scene, report.json ``failures`` with
    stage "segment", session.json so ``report --session`` fails it again) until the same name succeeds."""
    from StandardSegLib.cli import main

    context = MRMLContext.headless()
    resumed_context = MRMLContext.headless()
    try:
        session = GuidedSession.resume(context, demo.mrb_path, tmp_path / "unpacked")
        values = session.checked.values_image
        air = values.TransformIndexToPhysicalPoint((1, 1, 1))
        assert sitk.GetArrayViewFromImage(values)[1, 1, 1] < 2.5  # independent of the method: nothing to grow
        before = segment_ids(session.segmentation_node)
        earlier = session.failed_lesions()  # the demo's own refusals (a small sphere may be), kept by the scene
        assert [item["name"] for item in earlier] == [item["name"] for item in demo.session.failed_lesions()]
        with pytest.raises(InputError) as refused:
            session.segment_lesion("cold", [air], method="pet-suv")
        assert segment_ids(session.segmentation_node) == before
        *kept, failed = session.failed_lesions()
        assert kept == earlier
        assert (failed["name"], failed["stage"], failed["method"]) == ("cold", "segment", "pet-suv")
        assert failed["reason"] == str(refused.value) and "\n" not in failed["reason"]
        assert failed["lesion"]["seeds"] == [list(air)]

        bundle = session.export_report(tmp_path / "partial", radiomics=False)
        document = _report(bundle.path)
        expected = [{key: item[key] for key in ("name", "stage", "reason")} for item in (*earlier, failed)]
        assert document["failures"] == expected
        assert _voxel_counts(document) == _voxel_counts(_report(demo.bundle.path))  # the others all exported
        assert main(["report", "--session", str(bundle.path / "session.json"), "-o", str(tmp_path / "again")]) == 4
        assert _report(tmp_path / "again")["failures"] == expected  # session.json kept the attempts as tried

        resumed = GuidedSession.resume(resumed_context, session.save_scene(tmp_path / "failed.mrb"),
                                       tmp_path / "unpacked-failed")
        assert resumed.failed_lesions() == [*earlier, failed]

        session.segment_lesion("cold", [_largest_sphere_centre(demo)])  # the same name, now on the lesion
        assert session.failed_lesions() == earlier
        assert _report(session.export_report(tmp_path / "complete", radiomics=False).path)["failures"] == expected[:-1]

        with pytest.raises(InputError):
            session.segment_lesion("drawn", [air], method="pet-suv")
        assert [item["name"] for item in session.failed_lesions()] == [*(item["name"] for item in earlier), "drawn"]
        by_hand = np.zeros(sitk.GetArrayViewFromImage(values).shape, dtype=np.uint8)
        by_hand[10:13, 30:34, 30:35] = 1
        context.add_segment_from_mask(session.segmentation_node, by_hand, "drawn", (0.1, 0.9, 0.1),
                                      session.values_node)
        assert session.failed_lesions() == earlier  # drawn by hand under that name: no longer a failure
    finally:
        context.scene.Clear(True)
        resumed_context.scene.Clear(True)
