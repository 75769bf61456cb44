"""Report bundle (issue 6): report.json against its schema, tidy CSV, self-contained HTML, DICOM SEG/SR read
back with highdicom, de-identification scanned byte by byte, atomic writes and overwrite rules.

One demo pipeline run (synthetic PET/CT with known identifiers) feeds every test; numbers are checked against
values recomputed here from the written files (mask voxel counts, hashes), not against stored results.
"""

from __future__ import annotations

import base64
import copy
import csv
import datetime as dt
import hashlib
import io
import json
from html.parser import HTMLParser

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from pydicom.sr.codedict import codes

from StandardSegLib.demo import DEMO_STEPS, report_inputs, run_demo
from StandardSegLib.errors import InputError
from StandardSegLib.report import bundle as bundle_module
from StandardSegLib.report import validate_report, write_report_bundle
from StandardSegLib.report.figures import CONTOUR_RGB
from StandardSegLib.report.report_json import ReportSchemaError

PATIENT_NAME, PATIENT_ID = "Demo^Synthetic", "DEMO-0001"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The demo up to (not including) its bundle step: loaded PET, gate, segmented lesions."""
    out = tmp_path_factory.mktemp("demo")
    context = run_demo(out, seed=0, steps=DEMO_STEPS[:-1])
    return out, report_inputs(context, dt.datetime.now().astimezone())


@pytest.fixture(scope="module")
def bundle(pipeline):
    out, inputs = pipeline
    return write_report_bundle(inputs, out / "bundle")


def _document(bundle_result) -> dict:
    return json.loads((bundle_result.path / "report.json").read_text(encoding="utf-8"))


def _mask(bundle_result, name: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(bundle_result.path / "segments" / f"{name}.seg.nrrd"))) > 0


def test_bundle_holds_every_output(bundle, pipeline):
    _, inputs = pipeline
    names = [lesion.name for lesion in inputs.lesions]
    expected = {"report.json", "measurements.csv", "report.html", "dicom/seg.dcm", "dicom/sr.dcm", "dicom/rtstruct.dcm",
                *(f"segments/{n}.seg.nrrd" for n in names), *(f"segments/{n}.provenance.json" for n in names)}
    assert set(bundle.files) == expected
    assert set(_document(bundle)["outputs"]) == expected


def test_report_json_validates_and_states_the_context(bundle, pipeline):
    out, inputs = pipeline
    document = _document(bundle)
    validate_report(document)
    assert document["schema"] == "standardseg.report/1" and not document["deidentified"]
    assert document["protocol"]["id"] == "fdg-pet-ct-oncology"
    assert document["protocol"]["sha256"] == inputs.protocol.content_sha256
    assert len(document["gate"]["items"]) == len(inputs.gate.verdict.items) and document["gate"]["override"] is None
    preset = document["window_preset"]
    assert (preset["lower"], preset["upper"], preset["deviations"]) == (0.0, 5.0, [])  # protocol: SUV 0-5
    assert document["operator"]["name"] == "Demo Reader" and document["operator"]["training"]["verdict"] == "pass"
    assert document["image"]["modality"] == "PT" and "identifiers" not in document["image"]
    assert set(document["software"]) >= {"standardseg", "slicer-core", "pyradiomics", "SimpleITK", "numpy",
                                         "pydicom", "highdicom"}
    assert document["timestamps"]["started_at"] <= document["timestamps"]["finished_at"]
    # SHA-256 of every input, recomputed here; paths relative to the demo folder.
    # (the study's operator registry is not an input; see test_demo)
    on_disk = {p.relative_to(out).as_posix(): p for p in (out / "study").rglob("*")
               if p.is_file() and p.name != "operators.json"}
    assert {entry["path"]: entry["sha256"] for entry in document["inputs"]} == {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in on_disk.items()}
    for segment in document["segments"]:
        voxels = int(_mask(bundle, segment["name"]).sum())
        measured = segment["measurements"]
        assert measured["voxel_count"] == segment["provenance"]["voxel_count"] == voxels > 0
        assert measured["volume_voxels_mm3"] == pytest.approx(voxels * 4.0 ** 3)  # 4 mm isotropic PET
        uptake = measured["uptake"]
        assert uptake["mtv_ml"] == pytest.approx(voxels * 64.0 / 1000.0)
        assert uptake["tlg_suv_ml"] == pytest.approx(uptake["suv_mean"] * uptake["mtv_ml"])
        ratios = segment["reference_ratios"]
        assert ratios["max_ratio"] == pytest.approx(uptake["suv_max"] / document["gate"]["reference_tissue"]["mean"])
        assert segment["provenance"]["algorithm_type"] == "SEMIAUTOMATIC"
    assert str(out) not in (bundle.path / "report.json").read_text()


def test_radiomics_equal_a_direct_pyradiomics_call(bundle, pipeline):
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    _, inputs = pipeline
    document = _document(bundle)
    parameters = inputs.protocol.radiomics  # the protocol's pyradiomics parameter structure
    direct = RadiomicsFeatureExtractor(copy.deepcopy(parameters))
    for segment in (document["segments"][0], document["segments"][-1]):
        mask = sitk.ReadImage(str(bundle.path / "segments" / f"{segment['name']}.seg.nrrd"))
        mask.CopyInformation(inputs.values_image)
        expected = {key: float(value) for key, value in direct.execute(inputs.values_image, mask, label=1).items()
                    if not key.startswith("diagnostics_")}
        reported = segment["radiomics"]
        assert reported["features"] == pytest.approx(expected, rel=1e-12)
        assert reported["settings"]["binWidth"] == parameters["setting"]["binWidth"]
        assert reported["parameters_source"].startswith("protocol fdg-pet-ct-oncology")


@pytest.mark.parametrize("break_it", [
    lambda d: d.pop("protocol"),
    lambda d: d["protocol"].update(sha256="not-a-hash"),
    lambda d: d["inputs"].append({"path": "/abs/file.dcm", "sha256": "0" * 64}),
    lambda d: d["segments"][0]["measurements"].update(voxel_count=0),
    lambda d: d["gate"]["items"][0].update(verdict="maybe"),
    lambda d: d.update(schema="standardseg.report/0"),
    lambda d: d["image"].update(identifiers={"patient_name": PATIENT_NAME}),
])
def test_schema_rejects_broken_documents(bundle, break_it):
    document = copy.deepcopy(_document(bundle))
    break_it(document)
    with pytest.raises(ReportSchemaError, match="report.json field"):
        validate_report(document)


def test_measurements_csv_is_tidy_and_matches_the_json(bundle):
    document = _document(bundle)
    rows = list(csv.DictReader(io.StringIO((bundle.path / "measurements.csv").read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["case", "segment", "measure", "value", "unit", "flags"]
    keys = [(row["case"], row["segment"], row["measure"]) for row in rows]
    assert len(keys) == len(set(keys))  # one row per case x segment x measure
    assert all(row["unit"] for row in rows)
    expected_flags = {segment["name"]: ";".join(flag["code"] for flag in segment["flags"])
                      for segment in document["segments"]}
    assert all(row["flags"] == expected_flags[row["segment"]] for row in rows)
    by_key = {(row["segment"], row["measure"]): row for row in rows}
    for segment in document["segments"]:
        name, measured = segment["name"], segment["measurements"]
        assert int(by_key[name, "voxel_count"]["value"]) == int(_mask(bundle, name).sum())
        assert float(by_key[name, "volume_voxels"]["value"]) == measured["volume_voxels_mm3"]
        assert by_key[name, "volume_voxels"]["unit"] == "mm3"
        assert float(by_key[name, "suv_max"]["value"]) == measured["uptake"]["suv_max"]
        assert by_key[name, "suv_max"]["unit"] == "SUVbw" and by_key[name, "mtv_ml"]["unit"] == "ml"
        assert by_key[name, "axial_long_axis"]["unit"] == "mm"
        assert by_key[name, "max_ratio_to_" + segment["reference_ratios"]["reference"]]["unit"] == "1"
    assert {row["case"] for row in rows} == {document["image"]["study_instance_uid"]}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.external, self.gate_rows, self.svgs, self.in_gate = [], [], [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        for key in ("src", "href"):
            if key in attrs and not attrs[key].startswith(("data:", "#")):  # "#": a link within the page
                self.external.append(attrs[key])
        if tag == "table":
            self.in_gate = attrs.get("id") == "gate"
        if tag == "tr" and self.in_gate and "class" in attrs:
            self.gate_rows.append(attrs["class"])
        self.svgs += tag == "svg"


def test_html_is_self_contained_with_gate_table_and_images(bundle):
    document = _document(bundle)
    page = _Page()
    page.feed((bundle.path / "report.html").read_text(encoding="utf-8"))
    page.close()
    assert page.external == []
    assert page.gate_rows == [item["verdict"] for item in document["gate"]["items"]]
    assert page.svgs == len(document["segments"])  # one histogram per lesion
    # three planes per lesion fused over the demo's CT and three of the PET alone, and the PET MIP
    assert len(page.images) == 6 * len(document["segments"]) + 1
    contours = 0
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
        contours += int((picture == CONTOUR_RGB).all(axis=2).any())
    assert contours == 6 * len(document["segments"])  # every lesion view has its contour drawn


def test_html_escapes_values(bundle, pipeline):
    from StandardSegLib.report.html import report_html

    document = copy.deepcopy(_document(bundle))
    document["image"]["series_description"] = "<script>alert(1)</script>"
    page = report_html(document, pipeline[1])
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_dicom_seg_has_the_mask_voxels_and_sr_the_measurements(bundle, pipeline):
    _, inputs = pipeline
    document = _document(bundle)
    seg = hd.seg.segread(bundle.path / "dicom" / "seg.dcm")
    by_position = sorted(inputs.loaded.datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    uids = [ds.SOPInstanceUID for ds in by_position]  # slice k of the NRRD mask is the k-th lowest z
    assert seg.number_of_segments == len(document["segments"])
    for segment in document["segments"]:
        number = segment["number"]
        assert seg.get_segment_description(number).segment_label == segment["name"]
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[number])[..., 0]
        np.testing.assert_array_equal(pixels > 0, _mask(bundle, segment["name"]))

    sr = hd.sr.srread(bundle.path / "dicom" / "sr.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(document["segments"])
    for group, segment in zip(groups, document["segments"]):
        assert group.referenced_segment.referenced_segment_numbers == [segment["number"]]
        assert group.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
        found = {(m.name.value, m.derivation.value if m.derivation else None): (m.value, m.unit)
                 for m in group.get_measurements()}
        measured, uptake = segment["measurements"], segment["measurements"]["uptake"]
        expected = {
            (codes.SCT.Volume.value, None): (measured["volume_voxels_mm3"], "mm3"),
            (codes.DCM.StandardizedUptakeValue.value, codes.SCT.Maximum.value): (uptake["suv_max"], "g/ml{SUVbw}"),
            (codes.DCM.StandardizedUptakeValue.value, codes.SCT.Mean.value): (uptake["suv_mean"], "g/ml{SUVbw}"),
            (codes.DCM.MetabolicVolume.value, None): (uptake["mtv_ml"], "cm3"),
            (codes.DCM.TotalLesionGlycolysis.value, None): (uptake["tlg_suv_ml"], "g"),
        }
        assert set(found) == set(expected)
        for key, (value, unit) in expected.items():
            assert found[key][0] == pytest.approx(value, rel=1e-6)  # DS keeps 16 characters
            assert found[key][1].value == unit and found[key][1].scheme_designator == "UCUM"


def test_deidentified_bundle_has_no_identifier_anywhere(pipeline):
    out, inputs = pipeline
    first = inputs.loaded.datasets[0]
    ct = pydicom.dcmread(next((out / "study" / "CT").glob("*.dcm")), stop_before_pixels=True)
    assert (str(first.PatientName), first.PatientID) == (PATIENT_NAME, PATIENT_ID)  # the input has them
    forbidden = {PATIENT_NAME, PATIENT_ID, str(first.PatientBirthDate), first.StudyInstanceUID,
                 first.SeriesInstanceUID, ct.SeriesInstanceUID, first.FrameOfReferenceUID,
                 *(ds.SOPInstanceUID for ds in inputs.loaded.datasets)}
    result = write_report_bundle(inputs, out / "deidentified", deidentify=True, salt="test-salt")
    assert result.deidentified and "dicom/seg.dcm" in result.files
    for relative in result.files:
        data = (result.path / relative).read_bytes()
        for value in forbidden:
            assert value.encode() not in data, f"{value} found in {relative}"
    document = _document(result)
    validate_report(document)
    assert document["deidentified"] and document["image"]["study_instance_uid"].startswith("2.25.")
    # The de-identified SEG references the de-identified source instances (same salted hash as the JSON).
    seg = hd.seg.segread(result.path / "dicom" / "seg.dcm")
    assert seg.StudyInstanceUID == document["image"]["study_instance_uid"]
    assert str(seg.PatientName).startswith("ANON-")
    assert len(seg.get_source_image_uids()) == len(inputs.loaded.datasets)
    # Same salt, same pseudonyms (reproducible); the measurements are untouched.
    again = write_report_bundle(inputs, out / "deidentified-again", deidentify=True, salt="test-salt")
    assert _document(again)["image"]["study_instance_uid"] == document["image"]["study_instance_uid"]
    assert _document(again)["segments"][0]["measurements"] == document["segments"][0]["measurements"]


def test_interrupted_write_leaves_nothing(pipeline, monkeypatch):
    out, inputs = pipeline
    target = out / "interrupted"

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash while writing report.html")

    monkeypatch.setattr(bundle_module, "report_html", fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_report_bundle(inputs, target)
    assert not target.exists()
    assert not list(out.glob(".interrupted*"))  # no temporary folder left


def test_existing_bundle_is_refused_then_kept_when_overwritten(pipeline):
    out, inputs = pipeline
    target = out / "twice"
    first = write_report_bundle(inputs, target)
    first_json = (target / "report.json").read_bytes()
    with pytest.raises(InputError, match="already exists.*--overwrite"):
        write_report_bundle(inputs, target)
    assert (target / "report.json").read_bytes() == first_json
    second = write_report_bundle(inputs, target, overwrite=True)
    assert first.previous is None and second.previous is not None
    assert second.previous.name.startswith("twice.previous-") and second.previous.parent == out
    assert (second.previous / "report.json").read_bytes() == first_json  # the old bundle is kept intact
    assert (target / "report.json").is_file() and not list(out.glob(".twice*"))


def test_bundle_inside_an_input_folder_is_refused(pipeline):
    out, inputs = pipeline
    for target in (out / "study" / "PT" / "report", out / "study" / "PT"):
        with pytest.raises(InputError, match="outside the input folders"):
            write_report_bundle(inputs, target)
    assert not (out / "study" / "PT" / "report").exists()
