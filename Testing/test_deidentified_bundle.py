"""A de-identified bundle holds nothing that identifies the patient (issue 11, section 4).

For a real patient (IBSI STS_001 PET, GE) and the demo PET, stored under a folder named like a patient, every
identifying value is collected from the input headers - every attribute of the DICOM PS3.15 Annex E basic
profile, taken from dicom-anonymizer's tables (independent of the code under test) - plus the input folder
names and paths; then every byte of the bundle is searched (DICOM SEG/SR raw and as pydicom dumps, NRRD
headers, JSON, CSV, HTML): zero hits. Kept on purpose, and so not searched: sex, age, weight and height (the
Retain Patient Characteristics option: SUV needs them), times of day (dates are shifted, times kept, so
intervals hold), descriptions (cleaned of identifiers, Clean Descriptors option) and values shorter than 6
characters (they would match by chance in binary and base64 content; the identifiers among them are covered
by the unit tests). The shift keeps the injection-to-scan interval and is the same in every file.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pydicom
import yaml
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as annex_e
from pydicom.tag import Tag

from StandardSegLib.cli import main

STS_PET = Path(__file__).parent / "Data" / "real" / "sts" / "STS_001" / "PET" / "image"
PATIENT_FOLDER = "Mueller_Hans_1957"  # a folder named after the patient, as archives often are
#: Basic-profile attributes kept on purpose (see the module docstring).
KEPT = {"PatientSex", "PatientAge", "PatientSize", "PatientWeight"}
DESCRIPTORS = {"StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments"}
MIN_SEARCHED_CHARS = 6


def _profile_tags() -> set[Tag]:
    return {Tag(*tag) for tag in annex_e.ALL_TAGS if len(tag) == 2}  # 4-tuples are repeating-group masks


def identifying_values(files: list[Path], folder: Path) -> set[str]:
    """Every searchable identifying value of the inputs: basic-profile attribute values (dates also in ISO
    form, person names also with spaces) and the input folder's path and patient-named component."""
    tags, values = _profile_tags(), {str(folder), PATIENT_FOLDER}

    def collect(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
        if (element.tag not in tags or element.VR in ("SQ", "TM") or element.keyword in KEPT | DESCRIPTORS
                or element.value in (None, "")):
            return
        for value in (element.value if element.VM > 1 else [element.value]):
            text = str(value).strip()
            values.add(text)
            if element.VR in ("DA", "DT"):
                values.update((text[:8], f"{text[:4]}-{text[4:6]}-{text[6:8]}"))
            if element.VR == "PN":
                values.add(text.replace("^", " ").strip())

    for path in files:
        pydicom.dcmread(path, stop_before_pixels=True).walk(collect)
    return {value for value in values if len(value) >= MIN_SEARCHED_CHARS}


def _searchable(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".dcm":
        data += str(pydicom.dcmread(path)).encode("utf-8", "replace")  # the dump: decoded values too
    return data.lower()


def _run_deidentified(tmp_path: Path, capsys, registry: Path, image: Path) -> Path:
    """``run --deidentify`` with one hand-drawn lesion (3x3x3 voxels around the hottest voxel)."""
    job = {"schema": "standardseg.session/1", "image": {"path": str(image)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "lesions": [{"name": "lesion", "mask": str(_lesion_mask(image, tmp_path / "masks"))}], "radiomics": False,
           "override": "de-identification test: gate ROIs not part of it"}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    status = main(["run", str(path), "-o", str(tmp_path / "bundle"), "--deidentify"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return Path(captured.out.strip().splitlines()[-1])


def _lesion_mask(image: Path, folder: Path) -> Path:
    import numpy as np
    import SimpleITK as sitk

    from StandardSegLib.imaging import load_image

    loaded = load_image(image).image
    values = sitk.GetArrayViewFromImage(loaded)
    k, j, i = np.unravel_index(int(np.argmax(values)), values.shape)
    voxels = np.zeros(values.shape, np.uint8)
    voxels[max(k - 1, 0):k + 2, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2] = 1
    mask = sitk.GetImageFromArray(voxels)
    mask.CopyInformation(loaded)
    folder.mkdir()
    sitk.WriteImage(mask, str(folder / "lesion.nii.gz"))
    return folder / "lesion.nii.gz"


def _check_bundle(bundle: Path, files: list[Path], folder: Path) -> dict:
    forbidden = identifying_values(files, folder)
    assert forbidden, "the test would search for nothing"
    outputs = [path for path in bundle.rglob("*") if path.is_file()]
    assert {"report.json", "report.html", "measurements.csv", "session.json", "dicom/seg.dcm", "dicom/sr.dcm",
            "segments/lesion.seg.nrrd"} <= {path.relative_to(bundle).as_posix() for path in outputs}
    for path in outputs:
        data = _searchable(path)
        found = sorted(value for value in forbidden if value.lower().encode("utf-8") in data)
        assert not found, f"{path.relative_to(bundle)} holds {found}"
    report = json.loads((bundle / "report.json").read_text())
    session = json.loads((bundle / "session.json").read_text())
    assert report["deidentified"] and session["deidentify"]
    assert all(item["path"].startswith("REMOVED/") for item in report["inputs"])
    assert set(session["inputs"]) == {item["path"] for item in report["inputs"]}  # one pseudonym per file
    return report


def _header_datetime(dataset: pydicom.Dataset, date: str, time: str) -> dt.datetime:
    return dt.datetime.strptime(f"{dataset[date].value}{str(dataset[time].value)[:6]}", "%Y%m%d%H%M%S")


def test_real_patient_bundle_holds_no_identifier(tmp_path, capsys, registry):
    folder = tmp_path / "archive" / PATIENT_FOLDER / "PET"
    shutil.copytree(STS_PET, folder)
    files = sorted(folder.iterdir())
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert first.PatientID in first.StudyDescription  # the leak this guards against: ID inside a description
    bundle = _run_deidentified(tmp_path, capsys, registry, folder)
    report = _check_bundle(bundle, files, folder)
    # Dates moved back by one offset, times kept: the study-to-series interval is the header's.
    study = dt.datetime.fromisoformat(report["image"]["study_datetime"])
    series = dt.datetime.fromisoformat(report["image"]["series_datetime"])
    original = _header_datetime(first, "StudyDate", "StudyTime")
    assert series - study == _header_datetime(first, "SeriesDate", "SeriesTime") - original
    shift = original - study
    assert shift.days >= 365 and shift.seconds == 0
    seg = pydicom.dcmread(bundle / "dicom" / "seg.dcm")
    assert seg.StudyDate == study.strftime("%Y%m%d") and seg.PatientIdentityRemoved == "YES"
    assert report["image"]["patient_weight_kg"] == float(first.PatientWeight)  # kept on purpose
    status = main(["report", "--session", str(bundle / "session.json"), "-o", str(tmp_path / "again")])
    err = capsys.readouterr().err
    assert status == 2 and "de-identified bundle's session has no input paths" in err and len(err.splitlines()) == 1


def test_demo_bundle_holds_no_identifier_and_keeps_the_uptake_interval(tmp_path, capsys, registry,
                                                                       synthetic_study_files):
    folder = tmp_path / PATIENT_FOLDER / "PT"
    shutil.copytree(synthetic_study_files.pet_dicom[0].parent, folder)
    files = sorted(folder.iterdir())
    bundle = _run_deidentified(tmp_path, capsys, registry, folder)
    report = _check_bundle(bundle, files, folder)
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    injection = first.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime
    uptake = _header_datetime(first, "AcquisitionDate", "AcquisitionTime") - dt.datetime.strptime(
        str(injection)[:14], "%Y%m%d%H%M%S")
    image = report["image"]
    assert (dt.datetime.fromisoformat(image["acquisition_datetime"])
            - dt.datetime.fromisoformat(image["injection_datetime"])) == uptake
