"""``standardseg run`` on sources the DICOM writers used to trip over (issue 11, section 2).

- An OncoRay SUV DRO has no AccessionNumber (a Type 2 attribute highdicom copies into the SEG and SR): the
  SEG and SR are written with it empty (de-identified or not), read back with highdicom, and - when
  dicom3tools' ``dciodvfy`` is installed - report no error the source series does not already have.
- An NRRD with a JSON sidecar has a header but no DICOM frames: the bundle holds no SEG/SR and report.json
  says why in ``not_written``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.report import validate_report

DRO = Path(__file__).parent / "Data" / "suv_dro" / "DRO_0_0"


def _job(tmp_path: Path, registry: Path, image: Path, mask: Path, protocol: str) -> Path:
    job = {"schema": "standardseg.session/1", "image": {"path": str(image)}, "protocol": {"id": protocol},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "lesions": [{"name": "lesion", "mask": str(mask)}], "radiomics": False,
           "override": "test object: the gate's ROIs are not part of this test"}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _run(capsys, *args) -> tuple[int, str]:
    status = main(list(map(str, args)))
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return status, captured.out.strip().splitlines()[-1]


def _dciodvfy_errors(path: Path) -> set[str]:
    """dciodvfy's error lines, values (``<...>``, e.g. a UID the de-identifier replaced) blanked."""
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return {re.sub(r"<[^>]*>", "<>", line) for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")}


@pytest.mark.parametrize("options", [(), ("--deidentify",)])
def test_dro_without_accession_number_gets_valid_seg_and_sr(tmp_path, capsys, registry, options):
    source = sorted((DRO / "PT").iterdir())
    assert "AccessionNumber" not in pydicom.dcmread(source[0], stop_before_pixels=True)  # the case under test
    _, bundle = _run(capsys, "run", _job(tmp_path, registry, DRO / "PT", DRO / "mask" / "DRO_mask.nii.gz",
                                         "fdg-pet-ct-oncology"), "-o", tmp_path / "bundle", *options)
    seg_path, sr_path = Path(bundle) / "dicom" / "seg.dcm", Path(bundle) / "dicom" / "sr.dcm"
    seg, sr = hd.seg.segread(seg_path), hd.sr.srread(sr_path)
    assert seg.AccessionNumber == "" and sr.AccessionNumber == ""
    assert len(seg.get_source_image_uids()) == len(source)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(DRO / "mask" / "DRO_mask.nii.gz"))) > 0
    assert int((seg.pixel_array > 0).sum()) == int(mask.sum())  # the mask's voxels, frame by frame
    assert json.loads((Path(bundle) / "report.json").read_text())["not_written"] == []
    if shutil.which("dciodvfy"):
        inherited = _dciodvfy_errors(source[0])  # the DRO's own faults (e.g. study UID = frame of reference UID)
        for path in sorted((Path(bundle) / "dicom").glob("*.dcm")):  # SEG, SR and any other DICOM output
            assert _dciodvfy_errors(path) <= inherited, path.name


def test_nrrd_with_sidecar_writes_no_dicom_and_says_why(tmp_path, capsys, registry, synthetic_study_files):
    image = tmp_path / "data" / "ct.nrrd"
    image.parent.mkdir()
    shutil.copy(synthetic_study_files.ct_nrrd, image)
    (tmp_path / "data" / "ct.json").write_text(json.dumps({"Modality": "CT", "StudyDate": "20200102",
                                                           "KVP": 120, "ConvolutionKernel": "B30f"}))
    _, bundle = _run(capsys, "run", _job(tmp_path, registry, image, synthetic_study_files.lesions_nrrd,
                                         "ct-liver-lesion"), "-o", tmp_path / "bundle")
    document = json.loads((Path(bundle) / "report.json").read_text())
    validate_report(document)
    assert document["not_written"] == [{"file": "dicom/seg.dcm", "reason": "source is not DICOM"},
                                       {"file": "dicom/sr.dcm", "reason": "source is not DICOM"},
                                       {"file": "dicom/rtstruct.dcm", "reason": "source is not DICOM"}]
    assert not (Path(bundle) / "dicom").exists() and not any(name.startswith("dicom/") for name in document["outputs"])
    assert document["image"]["source_format"] == "nrrd" and document["image"]["modality"] == "CT"

