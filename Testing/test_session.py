"""Sessions: ``standardseg run JOB.yaml`` and ``standardseg report --session`` on the synthetic PET.

Independent checks: voxel counts are recounted from the written masks, input hashes recomputed with
hashlib, SUVmax recomputed from the generator's own SUV volume (pet_suv.nrrd) inside the written mask.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.phantom import default_layout
from StandardSegLib.report import validate_report
from StandardSegLib.roi import SphereROI, shape_mask

PATIENT_NAME, PATIENT_ID = "Demo^Synthetic", "DEMO-0001"  # StandardSegLib/phantom/dicom_headers.py


def _job(tmp_path: Path, image: Path, registry: Path, **changes) -> Path:
    """A job on the two largest NEMA spheres, with the liver sphere as background (no radiomics: speed)."""
    layout = default_layout()
    spheres = sorted(layout.spheres, key=lambda sphere: sphere.diameter_mm)[-2:]
    liver = layout.liver_reference
    job = {
        "schema": "standardseg.session/1",
        "image": {"path": str(image)},
        "protocol": {"id": "fdg-pet-ct-oncology"},
        "operator": {"name": "Dr Demo", "registry": str(registry)},
        "rois": {"lesion": {"sphere": [*spheres[-1].centre_lps_mm, spheres[-1].diameter_mm]},
                 "background": {"sphere": [*liver.centre_lps_mm, liver.diameter_mm]}},
        "lesions": [{"name": f"sphere-{sphere.sphere_id}", "seeds": [list(sphere.centre_lps_mm)],
                     "parameters": {"percent": 41}} for sphere in spheres],
        "radiomics": False,
        **changes,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _run(capsys, *args):
    status = main(list(map(str, args)))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _report(bundle: Path) -> dict:
    return json.loads((bundle / "report.json").read_text(encoding="utf-8"))


def _measurements(bundle: Path) -> dict:
    return {segment["name"]: (segment["measurements"]["voxel_count"], segment["measurements"]["uptake"]["suv_max"])
            for segment in _report(bundle)["segments"]}


def test_run_then_regenerate_from_the_session(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    job = _job(tmp_path, pet_dir, registry)
    status, out, err = _run(capsys, "run", job, "-o", tmp_path / "bundle")
    assert status == 0, err
    bundle = Path(out.strip().splitlines()[-1])
    assert bundle == (tmp_path / "bundle").absolute() and (bundle / "session.json").is_file()

    document = _report(bundle)
    validate_report(document)
    assert [segment["name"] for segment in document["segments"]] == ["sphere-5", "sphere-6"]
    suv = sitk.GetArrayFromImage(sitk.ReadImage(str(synthetic_study_files.pet_suv_nrrd)))
    for segment in document["segments"]:
        written = sitk.GetArrayFromImage(sitk.ReadImage(str(bundle / "segments" / f"{segment['name']}.seg.nrrd"))) > 0
        measured = segment["measurements"]
        assert measured["voxel_count"] == int(written.sum()) > 0
        assert written.shape == suv.shape
        # the generator's SUV volume, independently of the DICOM/SUV conversion path
        assert measured["uptake"]["suv_max"] == pytest.approx(float(suv[written].max()), rel=1e-3)
        assert segment["provenance"]["parameters"]["percent"] == 41

    session = json.loads((bundle / "session.json").read_text(encoding="utf-8"))
    assert session["schema"] == "standardseg.session/1" and session["created_at"]
    assert session["protocol"]["sha256"] == document["protocol"]["sha256"]
    recorded = {(bundle / path).resolve(): digest for path, digest in session["inputs"].items()}
    assert set(recorded) == {path.resolve() for path in synthetic_study_files.pet_dicom}
    for path, digest in recorded.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert str(tmp_path) not in (bundle / "report.json").read_text()  # relative paths only

    status, out, err = _run(capsys, "report", "--session", bundle / "session.json", "-o", tmp_path / "other")
    assert status == 0, err
    other = Path(out.strip().splitlines()[-1])
    assert other != bundle and _measurements(other) == _measurements(bundle)
    regenerated = json.loads((other / "session.json").read_text())["inputs"]
    assert {(other / path).resolve(): digest for path, digest in regenerated.items()} == recorded

    status, _, err = _run(capsys, "run", job, "-o", bundle)
    assert status == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_changed_input_is_refused_naming_the_file(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = tmp_path / "PT"
    shutil.copytree(synthetic_study_files.pet_dicom[0].parent, pet_dir)
    liver = default_layout().liver_reference  # background ROI given as a mask file: an input too
    pet = sitk.ReadImage(str(synthetic_study_files.pet_suv_nrrd))
    (tmp_path / "rois").mkdir()  # not beside the bundle: a bundle is never written into an input folder
    sitk.WriteImage(shape_mask(pet, SphereROI(liver.centre_lps_mm, liver.diameter_mm)),
                    str(tmp_path / "rois" / "liver.nrrd"))
    job = _job(tmp_path, pet_dir, registry)
    document = yaml.safe_load(job.read_text())
    document["rois"]["background"] = {"mask": "rois/liver.nrrd"}  # relative to the job file
    job.write_text(yaml.safe_dump(document))
    status, out, err = _run(capsys, "run", job, "-o", tmp_path / "bundle")
    assert status == 0, err
    session = json.loads((tmp_path / "bundle" / "session.json").read_text())
    assert session["rois"]["background"] == {"mask": "../rois/liver.nrrd"}
    mask_bytes = (tmp_path / "rois" / "liver.nrrd").read_bytes()
    assert session["inputs"]["../rois/liver.nrrd"] == hashlib.sha256(mask_bytes).hexdigest()
    assert _report(tmp_path / "bundle")["gate"]["reference_tissue"]["mean"] == pytest.approx(2.0, rel=0.03)
    changed = sorted(pet_dir.glob("*.dcm"))[3]
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF  # one pixel byte
    changed.write_bytes(bytes(data))

    status, _, err = _run(capsys, "report", "--session", tmp_path / "bundle" / "session.json", "-o", tmp_path / "b2")
    assert status == 2 and changed.name in err and "sha256" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "b2").exists()


@pytest.mark.parametrize("change, expected", [
    ({"image": None}, "expected key 'image'"),
    ({"lesions": [{"name": "a", "seeds": "12,3,4"}]}, "lesions[0].seeds"),
    ({"radiomics": "yes"}, "radiomics"),
    ({"rois": {"lesion": {"sphere": [1, 2, 3]}}}, "rois.lesion"),
    ({"protocol": {"id": "fdg-pet-ct-oncology", "version": "0.0.1"}}, "0.0.1"),
    ({"lesions": [{"name": "a", "seeds": []}, {"name": "a", "seeds": []}]}, "unique"),
])
def test_bad_job_is_one_line_exit_2(tmp_path, capsys, registry, change, expected):
    job = _job(tmp_path, tmp_path / "no-image", registry)
    document = yaml.safe_load(job.read_text())
    document.update(change)
    document = {key: value for key, value in document.items() if value is not None}
    job.write_text(yaml.safe_dump(document))
    status, _, err = _run(capsys, "run", job, "-o", tmp_path / "bundle")
    assert status == 2, err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bundle").exists()


def test_invalid_yaml_names_the_file(tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text("image: [unclosed\n")
    status, _, err = _run(capsys, "run", job, "-o", tmp_path / "bundle")
    assert status == 2 and str(job) in err and len(err.strip().splitlines()) == 1


def test_deidentified_run_holds_no_patient_identifier(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    source = synthetic_study_files.pet_dicom[0].read_bytes()
    assert PATIENT_NAME.encode() in source and PATIENT_ID.encode() in source  # the test means something
    status, out, err = _run(capsys, "run", _job(tmp_path, pet_dir, registry), "-o", tmp_path / "bundle",
                            "--deidentify")
    assert status == 0, err
    bundle = Path(out.strip().splitlines()[-1])
    files = [path for path in bundle.rglob("*") if path.is_file()]
    assert {"report.json", "session.json", "dicom/seg.dcm", "dicom/sr.dcm"} <= {
        path.relative_to(bundle).as_posix() for path in files}
    for path in files:
        data = path.read_bytes()
        for identifier in (PATIENT_NAME, PATIENT_ID, PATIENT_NAME.replace("^", " ")):
            assert identifier.encode() not in data, f"{identifier} in {path.name}"
    assert _report(bundle)["deidentified"] is True
    session = json.loads((bundle / "session.json").read_text())
    assert session["deidentify"] is True and "series_uid" not in session["image"]
    assert len(session["inputs"]) == len(synthetic_study_files.pet_dicom)


def test_failed_gate_stops_run_until_an_override_is_written(tmp_path, capsys, synthetic_study_files, registry):
    """A CT NRRD without DICOM headers fails the CT liver protocol's gate (no kVp, kernel ...): run exits 3 and
    writes nothing; with an override the bundle is written and the reason is in the report and every segment."""
    ct = synthetic_study_files.ct_nrrd
    failing = _job(tmp_path, ct, registry, protocol={"id": "ct-liver-lesion"},
                   lesions=[{"name": "sphere-6", "seeds": [list(max(default_layout().spheres,
                                                                    key=lambda s: s.diameter_mm).centre_lps_mm)],
                             "method": "confidence-connected"}],
                   rois={})
    status, _out, err = _run(capsys, "run", failing, "-o", tmp_path / "refused")
    assert status == 3 and "gate" in err.lower() and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "refused").exists()

    reason = "NRRD export; acquisition parameters checked on the scanner console"
    job = yaml.safe_load(failing.read_text(encoding="utf-8"))
    failing.write_text(yaml.safe_dump({**job, "override": reason}), encoding="utf-8")
    status, out, err = _run(capsys, "run", failing, "-o", tmp_path / "overridden")
    assert status == 0, err
    document = _report(tmp_path / "overridden")
    assert document["gate"]["overall"] == "fail" and document["gate"]["override"]["reason"] == reason
    assert document["gate"]["override"]["operator"] == "Dr Demo"
    assert all(segment["provenance"]["gate_override_reason"] == reason for segment in document["segments"])
