"""``standardseg measure`` end to end: reference objects, synthetic PET series and bad input."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pet_factory import pet_series, write_series

pytest.importorskip("StandardSegLib.imaging", reason="needs the image loader (StandardSegLib.imaging)")

from StandardSegLib.cli import main  # noqa: E402

DATA = Path(__file__).resolve().parent / "Data"


def run_cli(capsys, *argv):
    code = main(["measure", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tree_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in (path.rglob("*") if path.is_dir() else [path]) if p.is_file()):
        digest.update(file.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ["DRO_0_0", "DRO_2_0"])
def test_suv_dro(capsys, name):
    code, out, _ = run_cli(capsys, DATA / "suv_dro" / name / "PT", "--mask",
                           DATA / "suv_dro" / name / "mask" / "DRO_mask.nii.gz", "--units", "SUVbw", "--json")
    assert code == 0
    result = json.loads(out)
    assert (round(result["min"], 2), round(result["median"], 2), round(result["max"], 2)) == (0.20, 1.00, 4.00)
    assert result["units"] == "SUVbw" and result["suv_conversion"]["suv_type"] == "SUVbw"
    assert round(result["suv_peak"], 2) == 4.00


def test_ibsi_phantom_raw(capsys):
    code, out, _ = run_cli(capsys, DATA / "ibsi_digital_phantom" / "image.nii.gz", "--mask",
                           DATA / "ibsi_digital_phantom" / "mask.nii.gz", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["voxel_count"] == 74 and result["volume_mm3"] == pytest.approx(592.0)
    assert round(result["mean"], 2) == 2.15
    assert result["suv_peak"] is None and "suv_conversion" not in result
    keys = ["voxel_count", "volume_mm3", "volume_ml", "min", "max", "mean", "median", "sd", "p5", "p25", "p75",
            "p95", "suv_peak", "suv_peak_center_lps", "units", "label", "warnings"]
    assert list(result) == keys


def _synthetic_pet(tmp_path, **attributes):
    """4 slices, 8x8, per-slice slopes; activity 5000 Bq/mL in a 2x2x2 block, 1000 elsewhere."""
    slopes = [0.5, 1.0, 2.0, 4.0]
    activity = np.full((4, 8, 8), 1000.0)
    activity[1:3, 3:5, 3:5] = 5000.0
    stored = np.stack([activity[k] / slopes[k] for k in range(4)])
    datasets = pet_series(4, per_slice={"RescaleSlope": [str(s) for s in slopes]}, **attributes)
    write_series(datasets, stored, tmp_path / "pet")
    mask = sitk.GetImageFromArray((activity > 2000).astype(np.uint8))
    mask.SetSpacing((4.0, 4.0, 4.0))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    return tmp_path / "pet", tmp_path / "mask.nii.gz"


def test_synthetic_pet_suvbw(tmp_path, capsys):
    pet, mask = _synthetic_pet(tmp_path)
    code, out, _ = run_cli(capsys, pet, "--mask", mask, "--units", "SUVbw", "--json")
    assert code == 0, out
    result = json.loads(out)
    suv = 5000.0 * 70000.0 / (370e6 * math.exp(-math.log(2) * 3600.0 / 6586.2))
    assert result["voxel_count"] == 8 and result["volume_ml"] == pytest.approx(8 * 0.064)
    assert result["mean"] == pytest.approx(suv) and result["max"] == pytest.approx(suv)


@pytest.mark.parametrize("attributes, message", [
    ({"PatientWeight": None}, "PatientWeight (0010,1030) is missing or zero"),
    ({"Units": "GML", "SUVType": "BSA"}, "Units (0054,1001) GML contradicts SUVType (0054,1006) BSA"),
    ({"radiopharmaceutical": {"RadionuclideTotalDose": None}}, "RadionuclideTotalDose (0018,1074)"),
])
def test_bad_headers_exit_2_with_one_line_and_leave_files_unchanged(tmp_path, capsys, attributes, message):
    pet, mask = _synthetic_pet(tmp_path, **attributes)
    before = (tree_hash(pet), tree_hash(mask))
    code, out, err = run_cli(capsys, pet, "--mask", mask, "--units", "SUVbw")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert (tree_hash(pet), tree_hash(mask)) == before


def test_suv_units_on_non_pet_and_empty_label(capsys):
    image, mask = DATA / "ibsi_digital_phantom" / "image.nii.gz", DATA / "ibsi_digital_phantom" / "mask.nii.gz"
    code, _, err = run_cli(capsys, image, "--mask", mask, "--units", "SUVbw")
    assert code == 2 and "needs a PET (PT) image" in err
    code, _, err = run_cli(capsys, image, "--mask", mask, "--label", "2")
    assert code == 2 and "mask label 2 has no voxels" in err
    code, _, err = run_cli(capsys, image, "--mask", "no_such_mask.nii.gz")
    assert code == 2 and "does not exist" in err


def test_text_output(capsys):
    code, out, _ = run_cli(capsys, DATA / "ibsi_digital_phantom" / "image.nii.gz", "--mask",
                           DATA / "ibsi_digital_phantom" / "mask.nii.gz")
    assert code == 0
    rows = dict(line.split(None, 1) for line in out.strip().splitlines()[1:])
    assert rows["voxel_count"].strip() == "74" and rows["volume_mm3"].strip() == "592"
