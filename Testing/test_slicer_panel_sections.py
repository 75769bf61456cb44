"""The panel's two sections outside the guided steps, run headless through their Qt-free logic
(``StandardSegSlicer.phantom_logic`` and ``followup_logic``): what the widget calls, on real or generated data.

- Phantom (issue 13): the real IEC recon (Testing/Data/real/nema_iec/pet_recon_1). The panel's ratio must reach
  the library (true activity = ratio x measured background), its table must be phantom.csv's, RCmax must be the
  hottest voxel near the sphere over the true activity (numpy, independently), and the sphere point list must
  sit at phantom.json's centres (RAS = LPS with x, y negated).
- Follow-up (issue 15): the baseline/follow-up bundles of test_longitudinal (the follow-up's SoftwareVersions
  changed, lesion "a" grown 40 %); agreement on two readers' segmentation nodes holding shifted balls, whose
  Dice is known analytically from the voxel counts (numpy).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "StandardSeg") not in sys.path:  # StandardSegSlicer sits beside the module file, as in Slicer
    sys.path.insert(0, str(ROOT / "StandardSeg"))

from StandardSegLib.errors import InputError  # noqa: E402
from StandardSegSlicer import followup_logic, phantom_logic  # noqa: E402
from test_longitudinal import NEW_SOFTWARE, runs  # noqa: E402,F401  (module fixture reused)

NEMA = ROOT / "Testing" / "Data" / "real" / "nema_iec" / "pet_recon_1"
RATIO = 4.0
NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


# --- phantom ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    loaded = phantom_logic.phantomImage(str(NEMA))
    result = phantom_logic.analysePhantom(loaded, tmp_path_factory.mktemp("phantom"),
                                          phantom_logic.activityArguments(sphereToBackground=RATIO), now=NOW)
    return loaded, result


def test_phantom_section_passes_the_ratio_and_writes_the_bundle(phantom):
    _loaded, result = phantom
    document = result.analysis.document
    assert result.bundlePath.name == "phantom-20260102-030405"
    assert result.htmlPath.is_file() and (result.bundlePath / "phantom.json").is_file()
    assert document["true_activity"]["value"] == pytest.approx(RATIO * document["background"]["mean"])
    assert "EARL" in phantom_logic.phantomSummary(document)


def test_phantom_table_is_the_bundles_csv_and_rcmax_is_the_hottest_voxel(phantom):
    loaded, result = phantom
    document = result.analysis.document
    rows = phantom_logic.phantomRows(document)
    assert phantom_logic.phantomColumns(document) == ["Diameter (mm)", "RCmax", "RCpeak", "RC_A50", "EARL1", "EARL2"]
    assert sorted(float(row.cells[0]) for row in rows) == [10.0, 13.0, 17.0, 22.0, 28.0, 37.0]
    written = list(csv.DictReader((result.bundlePath / "phantom.csv").open(encoding="utf-8")))
    assert len(written) == len(rows)
    for row, line in zip(rows, written):  # the panel shows what the bundle holds, rounded to 3 decimals
        assert float(row.cells[0]) == float(line["diameter_mm"])
        for cell, key in zip(row.cells[1:4], ("rc_max", "rc_peak", "rc_a50")):
            assert float(cell) == pytest.approx(float(line[key]), abs=5e-4)
        assert row.verdicts == (line["earl1"], line["earl2"]) and set(row.verdicts) <= {"pass", "fail"}
        assert row.cells[4:] == row.verdicts
    # RCmax independently: the hottest voxel within the sphere's radius + 2 voxels of its centre, numpy.
    image = loaded.image
    array = sitk.GetArrayViewFromImage(image)
    k, j, i = np.indices(array.shape)
    spacing, origin = np.array(image.GetSpacing()), np.array(image.GetOrigin())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = (np.stack([i, j, k], axis=-1) * spacing) @ direction.T + origin
    true = document["true_activity"]["value"]
    for sphere, row in zip(document["spheres"], rows):
        reach = sphere["diameter_mm"] / 2 + 2 * spacing.max()
        near = np.linalg.norm(points - np.array(sphere["centre_lps"]), axis=-1) <= reach
        assert float(row.cells[1]) == pytest.approx(float(array[near].max()) / true, abs=1e-3), sphere["diameter_mm"]


@pytest.mark.mrml
def test_sphere_centres_become_a_locked_point_list(phantom, mrml_context):
    document = phantom[1].analysis.document
    node = phantom_logic.addSphereFiducials(mrml_context.scene, document)
    assert node.GetNumberOfControlPoints() == len(document["spheres"])
    for index, sphere in enumerate(document["spheres"]):
        x, y, z = sphere["centre_lps"]
        assert node.GetNthControlPointPosition(index) == pytest.approx((-x, -y, z))
        assert node.GetNthControlPointLabel(index) == f"{sphere['diameter_mm']:g} mm"
        assert node.GetNthControlPointLocked(index)


def test_phantom_inputs_are_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="choose the phantom image"):
        phantom_logic.phantomImage("", SimpleNamespace(loaded=None))
    with pytest.raises(InputError, match="both the sphere and the background activity"):
        phantom_logic.activityArguments(sphereActivity=1000.0)
    assert phantom_logic.activityArguments().ratio is None
    assert phantom_logic.activityArguments(sphereToBackground=4.0).ratio == 4.0
    with pytest.raises(InputError, match="output folder"):
        phantom_logic.analysePhantom(SimpleNamespace(), "")


# --- follow-up ----------------------------------------------------------------------------------------------


def test_followup_against_the_sessions_bundle_names_the_difference_and_the_change(runs, tmp_path):
    _tmp, baseline, followup, counts = runs
    session = SimpleNamespace(bundle=SimpleNamespace(path=str(followup)))
    document, target = followup_logic.compareBundles(str(baseline), followup_logic.sessionBundle(session), tmp_path,
                                                     now=NOW)
    assert target == tmp_path / "compare-20260102-030405" and (target / "compare.html").is_file()
    lines = followup_logic.comparisonLines(document)
    assert lines[0] == "Comparability: not comparable"
    assert any("SoftwareVersions" in line and NEW_SOFTWARE in line for line in lines[1:])
    rows = {(row["baseline lesion"], row["measure"]): row for row in followup_logic.lesionChangeRows(document)}
    volume = rows[("a", "volume_ml")]
    assert volume["change %"] == pytest.approx(100.0 * (counts["a1"] / counts["a0"] - 1.0))
    assert rows[("b", "volume_ml")]["follow-up lesion"] == "b-renamed"


def test_followup_needs_an_exported_bundle_and_a_baseline(tmp_path):
    with pytest.raises(InputError, match="export this session's report"):
        followup_logic.sessionBundle(SimpleNamespace(bundle=None))
    with pytest.raises(InputError, match="choose the baseline bundle"):
        followup_logic.compareBundles("", tmp_path, tmp_path)


def _balls(shape, centres_x, radius):
    k, j, i = np.indices(shape)
    return [((i - x) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= radius ** 2) for x in centres_x]


@pytest.mark.mrml
def test_agreement_of_two_readers_segmentation_nodes(mrml_context, tmp_path):
    shape = (32, 32, 32)
    reference = sitk.GetImageFromArray(np.zeros(shape, dtype=np.float32))
    sitk.WriteImage(reference, str(tmp_path / "grid.nrrd"))
    volume = mrml_context.load_volume(tmp_path / "grid.nrrd", "grid")
    first, second = _balls(shape, (16, 18), 8)
    nodes = []
    for name, mask in (("Reader A", first), ("Reader B", second)):
        node = mrml_context.add_segmentation(volume, name)
        mrml_context.add_segment_from_mask(node, mask.astype(np.uint8), "lesion", (1.0, 0.0, 0.0))
        nodes.append(node)
    masks, readers = followup_logic.segmentMaskFiles(nodes, volume, tmp_path / "masks")
    assert readers == ["Reader A", "Reader B"] and len(masks) == 1
    document, target = followup_logic.readerAgreement(masks, readers, tmp_path / "out", now=NOW)
    assert (target / "agreement.json").is_file()
    dice = 2.0 * (first & second).sum() / (first.sum() + second.sum())
    pair = document["lesions"][0]["pairs"][0]
    assert pair["dice"] == pytest.approx(dice)
    rows = followup_logic.agreementRows(document)
    assert [row["reader"] for row in rows] == readers
    assert "ICC(2,1)" in followup_logic.volumeIccText(document)


@pytest.mark.mrml
def test_agreement_refuses_a_single_reader_or_unmatched_segments(mrml_context, tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 8, 8), dtype=np.float32)), str(tmp_path / "g.nrrd"))
    volume = mrml_context.load_volume(tmp_path / "g.nrrd", "g")
    empty = mrml_context.add_segmentation(volume, "Empty")
    with pytest.raises(InputError, match="at least two readers"):
        followup_logic.segmentMaskFiles([empty, None], volume, tmp_path)
    with pytest.raises(InputError, match="same number"):
        followup_logic.segmentMaskFiles([empty, empty], volume, tmp_path)
