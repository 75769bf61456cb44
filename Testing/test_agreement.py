"""standardseg agreement (issue 15, section 2): STAPLE consensus, reader pairs, HD95 / mean surface distance,
volume ICC and Bland-Altman, and the operator training check.

Known answers: two balls shifted by s have surface distances s|cos(theta)| (theta uniform in cos over the
sphere, Archimedes), so HD = s, HD95 = 0.95 s and the mean surface distance s/2; ICCs are recomputed from the
two-way ANOVA mean squares (Shrout & Fleiss 1979) with numpy, independently of pingouin; Bland-Altman from
the voxel counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.agreement import agreement_study, parse_mask_spec
from StandardSegLib.agreement.volumes import volume_agreement
from StandardSegLib.cli import main
from StandardSegLib.operators import OperatorRegistry, protocol_training_status
from StandardSegLib.protocols import load_library
from StandardSegLib.validation import surface_distances

SHAPE = (48, 48, 48)
RADII = (6.0, 8.0, 10.0, 12.0, 14.0)
#: reader -> (shift in x, radius added), voxels of 1 mm: A exact, B a little off, C further off
READERS = {"A": (0, 0.0), "B": (1, 0.5), "C": (3, 1.5)}


def _ball_array(centre_x: float, radius: float) -> np.ndarray:
    k, j, i = np.indices(SHAPE)
    return (i - centre_x) ** 2 + (j - 24) ** 2 + (k - 24) ** 2 <= radius ** 2


def _image(array: np.ndarray) -> sitk.Image:
    return sitk.GetImageFromArray(array.astype(np.uint8))


@pytest.mark.parametrize("shift", [2, 4, 6])
def test_hd95_and_mean_surface_distance_of_shifted_balls(shift):
    result = surface_distances(_image(_ball_array(24, 16)), _image(_ball_array(24 + shift, 16)))
    assert result.hausdorff_mm == pytest.approx(shift)
    assert result.hausdorff_95_mm == pytest.approx(0.95 * shift, abs=0.5)
    assert result.mean_mm == pytest.approx(0.5 * shift, abs=0.5)


@pytest.fixture(scope="module")
def readers(tmp_path_factory):
    """Masks of five lesions by readers A, B, C; returns the folder and voxel counts[lesion][reader]."""
    folder = tmp_path_factory.mktemp("readers")
    counts = []
    for lesion, radius in enumerate(RADII):
        row = []
        for reader, (shift, grow) in READERS.items():
            array = _ball_array(24 + shift, radius + grow)
            sitk.WriteImage(_image(array), str(folder / f"{reader}{lesion}.nrrd"))
            row.append(int(array.sum()))
        counts.append(row)
    return folder, np.array(counts, dtype=float)


def _masks(folder: Path) -> list[str]:
    return [str(folder / f"{reader}{lesion}.nrrd") for lesion in range(len(RADII)) for reader in READERS]


def _shrout_fleiss(table: np.ndarray) -> tuple[float, float]:
    n, k = table.shape
    grand = table.mean()
    ms_rows = k * ((table.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ms_cols = n * ((table.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    ss_error = ((table - grand) ** 2).sum() - (n - 1) * ms_rows - (k - 1) * ms_cols
    ms_error = ss_error / ((n - 1) * (k - 1))
    icc_2_1 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n)
    icc_3_1 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
    return icc_2_1, icc_3_1


def test_three_readers_with_known_offsets_order_as_expected(readers, tmp_path, capsys):
    folder, counts = readers
    output = tmp_path / "agreement"
    assert main(["agreement", *_masks(folder), "--readers", "3", "--names", "A,B,C",
                 *(item for lesion in range(len(RADII)) for item in ("--reference", str(folder / f"A{lesion}.nrrd"))),
                 "-o", str(output)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(output)
    document = json.loads((output / "agreement.json").read_text(encoding="utf-8"))
    for lesion in document["lesions"]:
        pairs = {(pair["reader"], pair["against"]): pair for pair in lesion["pairs"]}
        assert pairs[("B", "A")]["dice"] > pairs[("C", "B")]["dice"] > pairs[("C", "A")]["dice"]
        assert pairs[("B", "A")]["hd95_mm"] < pairs[("C", "A")]["hd95_mm"]
        assert pairs[("B", "A")]["mean_surface_distance_mm"] < pairs[("C", "A")]["mean_surface_distance_mm"]
        against_reference = {row["reader"]: row for row in lesion["reference"]["readers"]}
        assert against_reference["A"]["dice"] == 1.0 and against_reference["A"]["hd95_mm"] == 0.0
    volumes = counts / 1000.0  # 1 mm voxels: mL
    icc_2_1, icc_3_1 = _shrout_fleiss(volumes)
    assert document["volumes"]["icc_2_1"]["value"] == pytest.approx(icc_2_1, rel=1e-9)
    assert document["volumes"]["icc_3_1"]["value"] == pytest.approx(icc_3_1, rel=1e-9)
    assert icc_2_1 < icc_3_1  # systematic volume offsets cost absolute agreement, not consistency
    low, high = document["volumes"]["icc_2_1"]["ci95"]
    assert low <= icc_2_1 <= high
    pair_b = volume_agreement(volumes[:, :2], ["A", "B"])["icc_2_1"]["value"]
    pair_c = volume_agreement(volumes[:, [0, 2]], ["A", "C"])["icc_2_1"]["value"]
    assert pair_b > pair_c
    bland_altman = {(item["reader"], item["against"]): item for item in document["volumes"]["bland_altman"]}
    difference = volumes[:, 2] - volumes[:, 0]
    assert bland_altman[("C", "A")]["bias_ml"] == pytest.approx(difference.mean())
    assert bland_altman[("C", "A")]["limits_ml"][1] == pytest.approx(difference.mean() + 1.96 * difference.std(ddof=1))
    assert bland_altman[("B", "A")]["bias_ml"] < bland_altman[("C", "A")]["bias_ml"]
    first = document["lesions"][0]
    assert first["masks_sha256"][2] == hashlib.sha256((folder / "C0.nrrd").read_bytes()).hexdigest()
    assert first["reference_sha256"] == hashlib.sha256((folder / "A0.nrrd").read_bytes()).hexdigest()
    summary = {row["reader"]: row for row in document["summary"]}
    assert summary["A"]["mean_dice"] > summary["B"]["mean_dice"] > summary["C"]["mean_dice"]
    rows = list(csv.DictReader((output / "agreement.csv").open(encoding="utf-8")))
    icc_row = next(row for row in rows if row["measure"] == "icc_2_1")
    assert float(icc_row["value"]) == pytest.approx(icc_2_1, rel=1e-9)
    assert sorted(path.name for path in output.iterdir()) == ["agreement.csv", "agreement.html", "agreement.json"]


def test_staple_consensus_follows_the_majority(readers):
    """Two identical readers and one far off: the consensus is the pair's mask, and each of the two has
    sensitivity and specificity 1 against it."""
    folder, _ = readers
    twice = parse_mask_spec(str(folder / "A4.nrrd"))
    document = agreement_study([[twice, twice, parse_mask_spec(str(folder / "C4.nrrd"))]], ["A1", "A2", "C"])
    lesion = document["lesions"][0]
    count = int(_ball_array(24, RADII[4]).sum())
    assert lesion["consensus"]["volume_ml"] == pytest.approx(count / 1000.0)
    first = lesion["readers"][0]
    assert (first["dice"], first["sensitivity"], first["specificity"]) == (1.0, 1.0, 1.0)
    assert lesion["readers"][2]["sensitivity"] < 1.0
    assert document["volumes"]["icc_2_1"]["value"] is None  # one lesion
    assert document["volumes"]["icc_2_1"]["note"].startswith("not assessable: ICC needs at least 2 lesions")


def test_training_check_marks_the_operator_trained(readers, tmp_path, capsys):
    folder, _ = readers
    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["operator_training"]["min_agreement_dice"] = 0.85
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "strict.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    registry_path = tmp_path / "operators.json"
    trained = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    assert main(["operators", "--registry", str(registry_path), "add", "Trainee", "--trained-on", trained]) == 0
    protocol = load_library([protocols]).get("fdg-pet-ct-oncology")
    status = protocol_training_status(OperatorRegistry.open(registry_path).get("Trainee"), protocol)
    assert status.verdict == "fail" and "no agreement check" in status.message

    def check(trainee: str, number: int) -> int:
        return main(["agreement", str(folder / f"{trainee}4.nrrd"), str(folder / "A4.nrrd"),
                     "--reference", str(folder / "A4.nrrd"), "--operator", "Trainee", "--protocol",
                     "fdg-pet-ct-oncology", "--protocol-dir", str(protocols), "--registry", str(registry_path),
                     "-o", str(tmp_path / f"check{number}")])

    assert check("C", 1) == 3  # C's Dice against the reference is below 0.85
    assert "training check of Trainee: fail" in capsys.readouterr().out
    assert protocol_training_status(OperatorRegistry.open(registry_path).get("Trainee"), protocol).verdict == "fail"
    assert check("B", 2) == 0
    operator = OperatorRegistry.open(registry_path).get("Trainee")
    assert [item["verdict"] for item in operator.agreement_checks] == ["fail", "pass"]
    status = protocol_training_status(operator, protocol)
    assert status.verdict == "pass" and "agreement check" in status.message
    written = json.loads((tmp_path / "check2" / "agreement.json").read_text(encoding="utf-8"))["training_check"]
    assert written["against"] == "reference" and written["mean_dice"] >= 0.85


def test_bad_mask_names_are_one_line_errors(readers, tmp_path, capsys):
    folder, _ = readers
    assert main(["agreement", str(folder / "A0.nrrd"), str(tmp_path / "missing.nrrd"), "-o", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "missing.nrrd" in error
    assert main(["agreement", str(folder / "A0.nrrd"), f"{folder / 'A1.nrrd'}:GTV", "-o", str(tmp_path / "x")]) == 2
    assert "is a voxel mask" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
