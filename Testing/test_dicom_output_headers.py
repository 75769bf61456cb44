"""Source values the DICOM SEG, SR and RTSTRUCT copy are copied only when their VR allows them.

The real IBSI STS_001 PET series has an 18-character StudyID (VR SH allows 16): a bundle from it has SEG, SR
and RTSTRUCT with an empty (Type 2) StudyID and a report warning naming the attribute, not its value; the
three files are checked with pydicom's VR validation and, where installed, with dicom3tools' ``dciodvfy``
(an independent DICOM validator: no error). The same rule for every copied study/patient attribute is checked
on a constructed header.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
import yaml
from pydicom import config
from pydicom.valuerep import validate_value

from StandardSegLib.cli import main
from StandardSegLib.report.dicom_outputs import output_headers

STS_001 = Path(__file__).parent / "Data" / "real" / "sts" / "STS_001" / "PET"
OUTPUTS = ("seg.dcm", "sr.dcm", "rtstruct.dcm")
STUDY_ID_WARNING = ("StudyID (0020,0010): 18 characters, VR SH allows at most 16; left empty in the DICOM SEG, SR "
                    "and RTSTRUCT")


@pytest.fixture(scope="module")
def sts_bundle(tmp_path_factory) -> Path:
    """STS_001's PET with the expert GTV (RTSTRUCT ROI) as the lesion, written by ``standardseg run``."""
    import datetime as dt

    from StandardSegLib.operators import OperatorRegistry

    folder = tmp_path_factory.mktemp("sts-001")
    OperatorRegistry.open(folder / "operators.json").add("Dr Demo", dt.date.today() - dt.timedelta(days=10))
    job = {"schema": "standardseg.session/1", "image": {"path": (STS_001 / "image").as_posix()},
           "protocol": {"id": "fdg-pet-ct-oncology"}, "operator": {"name": "Dr Demo", "registry": "operators.json"},
           "override": "IBSI STS crop around the tumour: no liver for SNR/TBR", "radiomics": False,
           "lesions": [{"name": "gtv", "mask": {"path": (STS_001 / "mask" / "RS.dcm").as_posix(),
                                                "roi": "GTV_Mass_PET"}}]}
    (folder / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(folder / "job.yaml"), "-o", str(folder / "bundle")]) == 0
    return folder / "bundle"


def test_source_study_id_is_too_long_for_its_vr():
    """The premise: the vendored series does carry the over-long StudyID."""
    source = pydicom.dcmread(next((STS_001 / "image").iterdir()), stop_before_pixels=True)
    assert len(source.StudyID) == 18
    with pytest.raises(ValueError):
        validate_value("SH", source.StudyID, config.RAISE)


def test_outputs_leave_the_invalid_study_id_empty_and_say_so(sts_bundle):
    source_id = pydicom.dcmread(next((STS_001 / "image").iterdir()), stop_before_pixels=True).StudyID
    for name in OUTPUTS:
        written = pydicom.dcmread(sts_bundle / "dicom" / name)
        assert "StudyID" in written and written.StudyID == "", name  # Type 2: present, empty
        validate_value("SH", written.StudyID, config.RAISE)
    document = json.loads((sts_bundle / "report.json").read_text(encoding="utf-8"))
    assert STUDY_ID_WARNING in document["image"]["warnings"]
    assert source_id not in json.dumps(document["image"]["warnings"])
    assert "StudyID (0020,0010): 18 characters" in (sts_bundle / "report.html").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_outputs_pass_dciodvfy(sts_bundle):
    for name in OUTPUTS:
        checked = subprocess.run(["dciodvfy", str(sts_bundle / "dicom" / name)], capture_output=True, text=True)
        errors = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], name


def test_every_copied_attribute_is_checked_against_its_vr():
    header = pydicom.Dataset()
    header.StudyID = "S" * 18  # SH: 16
    header.AccessionNumber = "A" * 17  # SH: 16
    header.StudyDescription = "D" * 65  # LO: 64
    header.ReferringPhysicianName = "R" * 70 + "^Jane"  # PN: 64 per component group
    header.PatientAge = "45"  # AS: nnnD/W/M/Y
    header.PatientID = "P-1"
    header.SeriesDescription = "X" * 65  # not copied by the outputs: left alone
    original = copy.deepcopy(header)

    (ready, *_), warnings = output_headers([header, copy.deepcopy(header)])
    assert header == original  # the loaded headers are never changed
    assert [ready.StudyID, ready.AccessionNumber, ready.StudyDescription, ready.ReferringPhysicianName,
            ready.PatientAge] == ["", "", "", "", ""]
    assert (ready.PatientID, ready.SeriesDescription) == ("P-1", "X" * 65)
    assert ready.PatientName == "" and ready.StudyDate == ""  # absent Type 2 attributes made present, empty
    assert warnings == (  # once per attribute for the whole series, in COPIED_KEYWORDS order
        "AccessionNumber (0008,0050): 17 characters, VR SH allows at most 16; left empty in the DICOM SEG, SR and "
        "RTSTRUCT",
        "StudyID (0020,0010): 18 characters, VR SH allows at most 16; left empty in the DICOM SEG, SR and RTSTRUCT",
        "ReferringPhysicianName (0008,0090): a name component group of 75 characters, VR PN allows 64; left empty "
        "in the DICOM SEG, SR and RTSTRUCT",
        "StudyDescription (0008,1030): 65 characters, VR LO allows at most 64; left empty in the DICOM SEG, SR and "
        "RTSTRUCT",
        "PatientAge (0010,1010): characters or format that VR AS does not allow; left empty in the DICOM SEG, SR "
        "and RTSTRUCT",
    )

    valid = pydicom.Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime", "ReferringPhysicianName"):
        setattr(valid, keyword, "")
    valid.StudyID = "S" * 16
    (same,), none = output_headers([valid])
    assert same is valid and none == ()  # nothing to change: reused, not copied
