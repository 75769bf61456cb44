"""Issue 15 on the real sarcoma patients: `compare` of a PET bundle with a copy whose reconstruction was
edited (a temporary copy; the vendored files are never touched) and `agreement` of the three modalities'
expert GTVs on the PET grid. Numbers are recounted here with numpy from the rasterised contours."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.imaging import load_image
from StandardSegLib.rtstruct import read_rtstruct_mask

STS = Path(__file__).parent / "Data" / "real" / "sts"
ROIS = {"PET": "GTV_Mass_PET", "CT": "GTV_Mass_CT", "MR_T1": "GTV_Mass_MR_T1"}


def _job(folder: Path, name: str, image: Path, registry: Path) -> Path:
    job = {"schema": "standardseg.session/1", "image": {"path": str(image)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Reader", "registry": str(registry)},
           "override": "IBSI STS crop around the tumour: no liver for SNR/TBR",
           "lesions": [{"name": "gtv", "mask": {"path": str(STS / "STS_003" / "PET" / "mask" / "RS.dcm"),
                                                "roi": "GTV_Mass_PET"}}],
           "radiomics": False}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def test_compare_names_the_changed_reconstruction(tmp_path, capsys):
    registry = tmp_path / "operators.json"
    trained = (dt.date.today() - dt.timedelta(days=5)).isoformat()
    assert main(["operators", "--registry", str(registry), "add", "Reader", "--trained-on", trained]) == 0
    original = STS / "STS_003" / "PET" / "image"
    copy = tmp_path / "PET-recon"
    shutil.copytree(original, copy)
    stored = {pydicom.dcmread(path, stop_before_pixels=True).ReconstructionMethod for path in original.iterdir()}
    for path in copy.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.ReconstructionMethod = "OSEM 4i16s"
        dataset.save_as(path)
    for name, image in (("baseline", original), ("followup", copy)):
        assert main(["run", str(_job(tmp_path, name, image, registry)), "-o", str(tmp_path / name)]) == 0
    status = main(["compare", str(tmp_path / "baseline"), str(tmp_path / "followup"), "-o", str(tmp_path / "cmp")])
    assert status == 5, capsys.readouterr().err
    document = json.loads((tmp_path / "cmp" / "compare.json").read_text(encoding="utf-8"))
    differing = [item for item in document["comparability"]["items"] if item["status"] == "differs"]
    assert [(item["key"], item["baseline"], item["followup"]) for item in differing] == [
        ("ReconstructionMethod", stored.pop(), "OSEM 4i16s")]
    volume = document["lesions"][0]["changes"]["volume_ml"]
    assert volume["change"] == 0.0 and volume["baseline"] == pytest.approx(79.9, abs=0.1)  # README: 79.9 mL
    assert document["percist"]["category"] == "not assessable: baseline reference tissue is not measured, " \
                                               "PERCIST needs the liver"


def test_agreement_of_the_three_modalities_gtvs(tmp_path, capsys):
    patient = STS / "STS_002"
    specs = [f"{patient / modality / 'mask' / 'RS.dcm'}:{roi}" for modality, roi in ROIS.items()]
    assert main(["agreement", *specs, "--names", "PET,CT,MR_T1", "--grid", str(patient / "PET" / "image"),
                 "-o", str(tmp_path / "agreement")]) == 0
    document = json.loads((tmp_path / "agreement" / "agreement.json").read_text(encoding="utf-8"))
    image = load_image(patient / "PET" / "image").image
    masks = {modality: sitk.GetArrayFromImage(read_rtstruct_mask(patient / modality / "mask" / "RS.dcm", image, roi)) > 0
             for modality, roi in ROIS.items()}
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    pairs = {(pair["reader"], pair["against"]): pair for pair in document["lesions"][0]["pairs"]}
    for (first, second), pair in pairs.items():
        overlap = np.count_nonzero(masks[first] & masks[second])
        assert pair["dice"] == pytest.approx(2 * overlap / (masks[first].sum() + masks[second].sum()), rel=1e-12)
    volumes = {row["reader"]: row["volume_ml"] for row in document["lesions"][0]["readers"]}
    assert volumes == {modality: pytest.approx(mask.sum() * voxel_ml) for modality, mask in masks.items()}
    assert min(pair["dice"] for pair in pairs.values()) > 0.99  # the dataset's GTVs are one contour propagated
