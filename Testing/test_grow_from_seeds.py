"""grow-from-seeds on synthetic data: Slicer's GrowCut against an independent shortest-path labelling, the
effect's extent rule worked by hand, the background shell rule on an analytic sphere, seeds masks from the
CLI and JOB.yaml, and the refusals (bad labels, no slicer-core)."""

from __future__ import annotations

import heapq
import json
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.errors import InputError
from StandardSegLib.gate import GateVerdict
from StandardSegLib.phantom import default_layout
from StandardSegLib.roi import SphereROI, shape_mask
from StandardSegLib.segmentation import segment
from StandardSegLib.segmentation.grow_from_seeds import GrowFromSeedsParameters, read_seeds_mask, seed_image
from StandardSegLib.segmentation.slicer_growcut import grow_cut
from StandardSegLib.segmentation.voi import VOI
from protocol_variants import protocol_with

pytestmark = pytest.mark.mrml  # needs slicer-core
BIG = max(default_layout().spheres, key=lambda sphere: sphere.diameter_mm)


def shortest_path_labels(values: np.ndarray, seeds: np.ndarray, spacing_xyz, locality: float) -> np.ndarray:
    """GrowCut as Zhu et al. define it, written independently: multi-source Dijkstra over the 26 neighbours,
    step cost |I(p) - I(q)| + locality * step length (mm); voxels on the outer face take labels but do not
    pass them on (Slicer's class has no neighbours there)."""
    shape = values.shape
    cost = np.full(shape, np.inf)
    labels = seeds.copy()
    heap = [(0.0, tuple(index)) for index in np.argwhere(seeds > 0)]
    for _, index in heap:
        cost[index] = 0.0
    steps = [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dz, dy, dx) != (0, 0, 0)]
    spacing_zyx = np.asarray(spacing_xyz, float)[::-1]
    done = np.zeros(shape, bool)
    while heap:
        distance, index = heapq.heappop(heap)
        if done[index]:
            continue
        done[index] = True
        if any(i == 0 or i == n - 1 for i, n in zip(index, shape)):
            continue
        for step in steps:
            neighbour = tuple(i + s for i, s in zip(index, step))
            new = distance + abs(float(values[index]) - float(values[neighbour])) + locality * float(
                np.sqrt(np.sum((np.asarray(step) * spacing_zyx) ** 2)))
            if new < cost[neighbour]:
                cost[neighbour] = new
                labels[neighbour] = labels[index]
                heapq.heappush(heap, (new, neighbour))
    return labels


@pytest.mark.parametrize("locality", [0.0, 4.0])
def test_slicers_growcut_is_the_shortest_path_labelling(locality):
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 20.0, (9, 10, 11)).astype(np.float32)
    values[3:7, 3:7, 3:8] += 100.0
    seeds = np.zeros(values.shape, np.uint8)
    seeds[5, 5, 5] = 1
    seeds[1, 1, 1] = seeds[7, 8, 9] = 2
    spacing = (0.8, 1.0, 2.5)  # anisotropic, so an x/z mix-up would change the locality term
    expected = shortest_path_labels(values, seeds, spacing, locality)
    assert np.array_equal(grow_cut(values, seeds, spacing, locality), expected)


def test_extent_is_the_seed_box_plus_slicers_margin():
    image = sitk.Image(200, 100, 50, sitk.sitkFloat32)
    # Seed box x 40..100 (60 wide: margin int(0.1 * 60) = 6), y 50..60 (margin 3), z 2..4 (margin 3, clipped at 0).
    built = seed_image(image, ((40, 50, 2),), ((100, 60, 4),), None, None, GrowFromSeedsParameters())
    assert built.voi.start == (34, 47, 0) and built.voi.size == (73, 17, 8)
    assert built.details["seed_voxels"] == {"foreground": 1, "background": 1}
    wider = seed_image(image, ((40, 50, 2),), ((100, 60, 4),), None, None,
                       GrowFromSeedsParameters(extent_growth_ratio=0.5))
    assert wider.voi.start == (10, 45, 0) and wider.voi.size == (121, 21, 8)


def test_a_voi_box_replaces_the_rule_and_must_hold_both_kinds_of_seed():
    image = sitk.Image(40, 40, 40, sitk.sitkFloat32)
    box = VOI((0, 0, 0), (25, 25, 25))
    assert seed_image(image, ((10, 10, 10),), ((20, 20, 20),), None, box, GrowFromSeedsParameters()).voi == box
    with pytest.raises(InputError, match="no background seed lies inside the VOI"):
        seed_image(image, ((10, 10, 10),), ((30, 30, 30),), None, box, GrowFromSeedsParameters())


def test_background_shell_rule_on_an_analytic_sphere(synthetic_study):
    image = synthetic_study.ct_hu
    protocol = protocol_with("ct-liver-lesion", {"grow-from-seeds": {"background_shell_mm": BIG.diameter_mm / 2 + 8}})
    verdict = GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())
    result = segment(image, protocol=protocol, verdict=verdict, method="grow-from-seeds", units="HU",
                     seeds_lps=[BIG.centre_lps_mm], parameters={"seed_radius_mm": 3.0})
    analytic = 4.0 / 3.0 * np.pi * (BIG.diameter_mm / 2) ** 3
    assert abs(result.provenance.volume_mm3 / analytic - 1.0) < 0.05
    details = result.provenance.details
    assert details["background_seeds_from"] == [f"protocol rule: shell {BIG.diameter_mm / 2 + 8:g} mm around the "
                                                "foreground seeds"]
    assert result.provenance.parameters["background_shell_mm"] == BIG.diameter_mm / 2 + 8
    assert "Slicer's Grow from seeds effect" in details["extent_rule"]


def _seeds_file(image: sitk.Image, path) -> None:
    lesion = sitk.GetArrayFromImage(shape_mask(image, SphereROI(BIG.centre_lps_mm, 6.0)))
    ring = sitk.GetArrayFromImage(shape_mask(image, SphereROI(BIG.centre_lps_mm, BIG.diameter_mm + 20.0)))
    inner = sitk.GetArrayFromImage(shape_mask(image, SphereROI(BIG.centre_lps_mm, BIG.diameter_mm + 14.0)))
    labels = sitk.GetImageFromArray(np.where(lesion > 0, 1, np.where((ring > 0) & (inner == 0), 2, 0)).astype(np.uint8))
    labels.CopyInformation(image)
    sitk.WriteImage(labels, str(path))


def test_seeds_mask_from_the_command_line(synthetic_study_files, synthetic_study, registry, tmp_path, capsys):
    seeds = tmp_path / "seeds.nrrd"
    _seeds_file(synthetic_study.ct_hu, seeds)
    out = tmp_path / "lesion.nrrd"
    status = main(["segment", str(synthetic_study_files.ct_nrrd), "--protocol", "ct-liver-lesion", "--method",
                   "grow-from-seeds", "--seeds-mask", str(seeds), "-o", str(out), "--json", "--operator", "Dr Demo",
                   "--registry", str(registry), "--override", "NRRD export; acquisition checked at the console"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    provenance = json.loads(captured.out)["provenance"]
    assert provenance["details"]["background_seeds_from"] == ["seeds mask"]
    analytic = 4.0 / 3.0 * np.pi * (BIG.diameter_mm / 2) ** 3
    assert abs(provenance["volume_mm3"] / analytic - 1.0) < 0.05


def test_seeds_mask_in_a_job(synthetic_study_files, synthetic_study, registry, tmp_path, capsys):
    (tmp_path / "job").mkdir()
    seeds = tmp_path / "job" / "seeds.nrrd"
    _seeds_file(synthetic_study.ct_hu, seeds)
    job = {"schema": "standardseg.session/1", "image": {"path": str(synthetic_study_files.ct_nrrd)},
           "protocol": {"id": "ct-liver-lesion"}, "operator": {"name": "Dr Demo", "registry": str(registry)},
           "override": "NRRD export; acquisition checked at the console", "radiomics": False,
           "lesions": [{"name": "big", "method": "grow-from-seeds", "seeds_mask": "seeds.nrrd"}]}
    path = tmp_path / "job" / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    status = main(["run", str(path), "-o", str(tmp_path / "bundle")])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    session = json.loads((tmp_path / "bundle" / "session.json").read_text(encoding="utf-8"))
    assert session["lesions"][0]["seeds_mask"].endswith("seeds.nrrd")
    assert any(key.endswith("seeds.nrrd") for key in session["inputs"])


def test_a_seeds_mask_with_other_labels_is_refused(tmp_path):
    image = sitk.Image(8, 8, 8, sitk.sitkFloat32)
    labels = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    labels[2, 2, 2] = 3
    sitk.WriteImage(labels, str(tmp_path / "strokes.nrrd"))
    with pytest.raises(InputError, match=r"seeds mask strokes.nrrd: expected labels 0 .* found 3"):
        read_seeds_mask(tmp_path / "strokes.nrrd", image)


def test_without_slicer_core_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "slicer", None)  # import slicer now raises ImportError
    values = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(InputError, match=r"needs slicer-core; install it: pip install \"standardseg\[mrml\]\""):
        grow_cut(values, np.ones((4, 4, 4), np.uint8), (1.0, 1.0, 1.0))


def test_seeds_painted_in_the_segment_editor_grow_the_lesion_in_the_guided_session(synthetic_study_files,
                                                                                 synthetic_study, registry, tmp_path):
    """The Slicer module's console API: two painted segments -> seeds file -> the grown lesion, recorded."""
    from pathlib import Path

    from StandardSegLib.mrml.scene import MRMLContext

    module_dir = Path(__file__).resolve().parents[1] / "StandardSeg"
    if str(module_dir) not in sys.path:  # StandardSegSlicer sits beside the module file, as in Slicer
        sys.path.insert(0, str(module_dir))
    from StandardSegSlicer.session_logic import GuidedSessionLogic

    context = MRMLContext.headless()
    try:
        logic = GuidedSessionLogic([module_dir, module_dir.parent], context)
        logic.startSession("ct-liver-lesion", "Dr Demo", registry=str(registry))
        logic.loadImage(synthetic_study_files.ct_nrrd)
        logic.checkImage()
        logic.overrideGate("NRRD export without DICOM headers; acquisition checked on the console")
        (tmp_path / "in").mkdir()
        _seeds_file(synthetic_study.ct_hu, tmp_path / "in" / "expected.nrrd")
        expected = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "in" / "expected.nrrd")))
        node = logic.segmentationNode()
        painted = [context.add_segment_from_mask(node, expected == label, name, (1.0, 0.0, 0.0))
                   for label, name in ((1, "lesion seeds"), (2, "background seeds"))]

        segment_id = logic.growFromPaintedSeeds("big", *painted, tmp_path / "in" / "seeds.nrrd")
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "in" / "seeds.nrrd"))), expected)
        assert node.GetSegmentation().GetNumberOfSegments() == 1  # the seed segments became the seeds file

        (_id, name, made), = logic.session.segments()
        assert _id == segment_id and made.provenance.details["background_seeds_from"] == ["seeds mask"]
        analytic = 4.0 / 3.0 * np.pi * (BIG.diameter_mm / 2) ** 3
        assert abs(made.provenance.volume_mm3 / analytic - 1.0) < 0.05
        bundle = logic.session.export_report(tmp_path / "bundle", radiomics=False)
        recorded = json.loads((bundle.path / "session.json").read_text(encoding="utf-8"))
        assert recorded["lesions"][0]["seeds_mask"].endswith("seeds.nrrd")
        assert any(key.endswith("seeds.nrrd") for key in recorded["inputs"])
    finally:
        context.scene.Clear(True)
