"""``standardseg demo``: writes the study and a full report bundle whose hashes match the files it lists.

The bundle's own contents (schema, CSV, HTML, DICOM SEG/SR, de-identification) are tested in
test_report_bundle.py; here: the demo's pipeline, its truth comparison and the files it produces.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pydicom
import pytest
import SimpleITK as sitk

from StandardSegLib.cli import main


def _run(capsys, *args):
    status = main(["demo", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _summary(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def test_demo_writes_study_and_report(tmp_path, capsys):
    status, out, err = _run(capsys, "--out", str(tmp_path))
    assert status == 0, err
    report_dir = Path(out.strip().splitlines()[-1])
    assert report_dir.parent == tmp_path and report_dir.name.startswith("report-") and report_dir.is_dir()
    scene = tmp_path / f"{report_dir.name}.mrb"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([report_dir.name, scene.name, "study"])  # no temp left

    study = tmp_path / "study"
    assert len(list((study / "CT").glob("*.dcm"))) == 60 and len(list((study / "PT").glob("*.dcm"))) == 30
    for name in ("ct", "pet_suv", "lesions"):
        assert (study / "nrrd" / f"{name}.nrrd").is_file()
    assert pydicom.dcmread(next((study / "PT").glob("*.dcm"))).Units == "BQML"

    summary = _summary(report_dir)
    listed = {entry["path"]: entry["sha256"] for entry in summary["inputs"]}
    on_disk = {p.relative_to(tmp_path).as_posix() for p in study.rglob("*") if p.is_file()}
    # The demo's operator registry is not an input: training is judged on the session's day, so a refresher
    # recorded later must not make the session irreproducible.
    assert set(listed) == on_disk - {"study/operators.json"}
    for relative, digest in listed.items():
        assert hashlib.sha256((tmp_path / relative).read_bytes()).hexdigest() == digest
    demo = summary["context"]
    assert [step["name"] for step in demo["steps"]] == ["generate", "image check", "segment lesions", "write bundle"]
    assert {"report.json", "measurements.csv", "report.html", "dicom/seg.dcm", "dicom/sr.dcm"} <= {
        p.relative_to(report_dir).as_posix() for p in report_dir.rglob("*") if p.is_file()}
    assert summary["gate"]["protocol"]["id"] == "fdg-pet-ct-oncology"
    assert summary["gate"]["overall"] in ("pass", "warn") and summary["gate"]["allows_segmentation"]
    assert summary["gate"]["reference_tissue"]["mean"] == pytest.approx(2.0, rel=0.03)  # generated liver SUV
    assert summary["image"]["modality"] == "PT" and "identifiers" not in summary["image"]
    assert len(demo["lesions"]) == 6
    assert sum(lesion["segmented"] for lesion in demo["lesions"]) >= 4  # seed 0: the 10 mm sphere may be lost
    assert [s["name"] for s in summary["segments"]] == [lesion["lesion"] for lesion in demo["lesions"]
                                                       if lesion["segmented"]]
    for lesion, sphere in zip(demo["lesions"], demo["truth"]["spheres"]):
        if not lesion["segmented"]:
            assert lesion["reason"]
            continue
        # the segment written to the bundle is the one measured: count its voxels independently
        written = sitk.GetArrayFromImage(sitk.ReadImage(str(report_dir / "segments" / f"{lesion['lesion']}.seg.nrrd")))
        measured = lesion["measurements"]
        assert measured["voxel_count"] == int((written > 0).sum()) > 0
        assert measured["volume_voxels_mm3"] == pytest.approx(measured["voxel_count"] * 4.0 ** 3)
        assert lesion["analytic_volume_mm3"] == pytest.approx(4 / 3 * 3.141592653589793 * (sphere["diameter_mm"] / 2) ** 3)
        assert lesion["provenance"]["method"] == "pet-percent-max"
        assert lesion["provenance"]["algorithm_type"] == "SEMIAUTOMATIC"
        assert (report_dir / "segments" / f"{lesion['lesion']}.provenance.json").is_file()
    largest = demo["lesions"][-1]  # 37 mm sphere: 41 % of SUVmax is close to its true volume at 4:1
    assert abs(largest["volume_error_percent"]) < 15
    assert set(summary["software"]) >= {"standardseg", "numpy", "SimpleITK", "pydicom"}
    assert demo["seed"] == 0 and summary["timestamps"]["started_at"] <= summary["timestamps"]["finished_at"]
    assert len(demo["truth"]["spheres"]) == 6
    assert demo["truth"] == json.loads((study / "truth.json").read_text())
    assert str(tmp_path) not in (report_dir / "report.json").read_text()  # relative paths only
    _check_scene_matches_report(scene, summary, tmp_path / "unpacked")
    # The bundle's session.json regenerates the same segments (the demo reader is in the study's registry).
    regenerated = tmp_path / "regenerated"
    lost = [lesion["lesion"] for lesion in demo["lesions"] if not lesion["segmented"]]
    assert main(["report", "--session", str(report_dir / "session.json"), "-o", str(regenerated)]) == (4 if lost else 0)
    assert [s["measurements"]["voxel_count"] for s in _summary(regenerated)["segments"]] == \
        [s["measurements"]["voxel_count"] for s in summary["segments"]]
    assert [failure["name"] for failure in _summary(regenerated).get("failures", [])] == lost  # the same lesions fail


def _check_scene_matches_report(scene: Path, summary: dict, unpack_dir: Path) -> None:
    """The .mrb the demo saved holds the report's segments voxel for voxel, with their provenance tags."""
    pytest.importorskip("slicer", reason="slicer-core is not installed: the demo skips the scene")
    from StandardSegLib.mrml.scene import MRMLContext
    from StandardSegLib.mrml.scene_bundle import load_bundle
    from StandardSegLib.mrml.segments import mask_from_segment, provenance_tags, segment_ids

    context = MRMLContext.headless()
    try:
        document = load_bundle(context, scene, unpack_dir)
        nodes = document["nodes"]
        segmentation = context.scene.GetNodeByID(nodes["segmentation"])
        values = context.scene.GetNodeByID(nodes["values"])
        counts = {}
        for segment_id in segment_ids(segmentation):
            name = segmentation.GetSegmentation().GetSegment(segment_id).GetName()
            mask = sitk.GetArrayFromImage(mask_from_segment(segmentation, segment_id, values))
            counts[name] = int(mask.sum())
            assert provenance_tags(segmentation, segment_id)["StandardSeg.voxel_count"] == str(counts[name])
        assert counts == {segment["name"]: segment["measurements"]["voxel_count"] for segment in summary["segments"]}
    finally:
        context.scene.Clear(True)


def test_existing_study_is_refused_then_overwritten_identically(tmp_path, capsys):
    status, out, _ = _run(capsys, "--out", str(tmp_path), "--seed", "3")
    assert status == 0
    first_dir = Path(out.strip().splitlines()[-1])
    first = _summary(first_dir)

    status, out, err = _run(capsys, "--out", str(tmp_path), "--seed", "3")
    assert status == 2
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err

    status, out, err = _run(capsys, "--out", str(tmp_path), "--seed", "3", "--overwrite")
    assert status == 0, err
    second_dir = Path(out.strip().splitlines()[-1])
    second = _summary(second_dir)
    assert second_dir != first_dir and first_dir.is_dir()  # earlier reports are kept
    # Same seed: byte-identical inputs (deterministic noise and UIDs).
    assert second["inputs"] == first["inputs"]
    assert len([p for p in tmp_path.glob("report-*") if p.is_dir()]) == 2
    assert len(list(tmp_path.glob("report-*.mrb"))) == (2 if (first_dir.parent / f"{first_dir.name}.mrb").exists() else 0)


def test_overwrite_only_replaces_a_demo_study(tmp_path, capsys):
    foreign = tmp_path / "study"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    status, _, err = _run(capsys, "--out", str(tmp_path), "--overwrite")
    assert status == 2 and "not a StandardSeg demo study" in err
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_negative_seed_is_a_one_line_error(tmp_path, capsys):
    status, _, err = _run(capsys, "--out", str(tmp_path), "--seed", "-1")
    assert status == 2 and "seed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "study").exists()
