"""``standardseg robustness`` and ``standardseg harmonise`` end to end on generated spheres and tables: outputs,
cohort mode on a batch folder, test-retest mode, refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from StandardSegLib.cli import main

PROTOCOL = "fdg-pet-ct-msk-sarcoma"  # SUV bin width 0.25: spheres of 2-8 "SUV" give a few dozen grey levels


def write_sphere(folder: Path, name: str, radius_mm: float, uptake: float, seed: int) -> tuple[Path, Path]:
    """A sphere of ``uptake`` on a background of 1 with noise (SD 0.2), 2 mm voxels, as NRRD image and mask."""
    axis = (np.arange(40) - 19.5) * 2.0
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    inside = x ** 2 + y ** 2 + z ** 2 <= radius_mm ** 2
    values = np.where(inside, uptake, 1.0) + np.random.default_rng(seed).normal(0, 0.2, inside.shape)
    paths = folder / f"{name}.nrrd", folder / f"{name}_mask.nrrd"
    for array, path in ((values.astype(np.float32), paths[0]), (inside.astype(np.uint8), paths[1])):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((2.0, 2.0, 2.0))
        sitk.WriteImage(image, str(path))
    return paths


def test_three_spheres_give_iccs_and_every_output(tmp_path, capsys):
    spheres = [write_sphere(tmp_path, f"s{i}", radius, uptake, i)
               for i, (radius, uptake) in enumerate(((10, 3.0), (14, 5.0), (18, 8.0)))]
    out = tmp_path / "robustness"
    argv = ["robustness", str(spheres[0][0]), "--mask", str(spheres[0][1]),
            "--lesion", str(spheres[1][0]), str(spheres[1][1]), "--lesion", str(spheres[2][0]), str(spheres[2][1]),
            "--protocol", PROTOCOL, "--perturbations", "RTNV", "--repetitions", "3", "--seed", "1", "-o", str(out)]
    assert main(argv) == 0
    document = json.loads((out / "robustness.json").read_text())
    assert document["lesions"] == ["lesion 1", "lesion 2", "lesion 3"]
    assert document["criterion"] == "ICC(1,1) >= 0.9 over 3 lesions"
    assert document["settings"]["perturbation"]["code"] == "RTNV" and document["settings"]["seed"] == 1
    assert document["protocol"]["id"] == PROTOCOL
    features = {item["name"]: item for item in document["features"]}
    assert features["original_shape_MeshVolume"]["robust"] and features["original_firstorder_Mean"]["robust"]
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert len(rows) == len(features) and rows[0]["ibsi_code"]
    values = list(csv.DictReader((out / "values.csv").open()))
    assert len(values) == 3 * 3 * len(features)
    assert "perturbation: 3 lesion(s), 3 repetitions (RTNV, seed 1)" in capsys.readouterr().out
    assert main(argv) == 2  # an existing folder is not replaced
    assert "exists" in capsys.readouterr().err


def test_one_lesion_uses_the_coefficient_of_variation_and_retest_mode(tmp_path, capsys):
    image, mask = write_sphere(tmp_path, "s", 12, 4.0, 0)
    retest_image, _ = write_sphere(tmp_path, "r", 12, 4.0, 1)  # same lesion, other noise: a second scan
    out = tmp_path / "retest"
    assert main(["robustness", str(image), "--mask", str(mask), "--retest", str(retest_image), str(mask),
                 "--protocol", PROTOCOL, "-o", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["mode"] == "test-retest" and document["criterion"].startswith("one lesion")
    volume = next(item for item in document["features"] if item["name"] == "original_shape_MeshVolume")
    assert volume["cv"] == 0.0 and volume["icc"] is None and volume["robust"]
    assert [item["name"] for item in document["inputs"]] == ["lesion 1", "lesion 1 (retest)"]


def test_cohort_mode_reads_a_batch_folder(tmp_path, capsys):
    batch = tmp_path / "batch"
    for number, (radius, uptake) in enumerate(((10, 3.0), (16, 6.0))):
        case = batch / "cases" / f"case-{number}"
        (case / "segments").mkdir(parents=True)
        image, mask = write_sphere(tmp_path, f"c{number}", radius, uptake, number)
        sitk.WriteImage(sitk.ReadImage(str(mask)), str(case / "segments" / "gtv.seg.nrrd"))
        (case / "session.json").write_text(json.dumps({
            "schema": "standardseg.session/1", "image": {"path": f"../../../{image.name}"},
            "protocol": {"id": PROTOCOL}, "operator": {"name": "Dr Demo"},
            "lesions": [{"name": "gtv", "mask": f"../../../{mask.name}"}]}))
    out = tmp_path / "cohort-robustness"
    assert main(["robustness", "--cohort", str(batch), "--protocol", PROTOCOL, "--perturbations", "N",
                 "--repetitions", "2", "-o", str(out)]) == 0, capsys.readouterr().err
    document = json.loads((out / "robustness.json").read_text())
    assert document["lesions"] == ["case-0/gtv", "case-1/gtv"]
    volume = next(item for item in document["features"] if item["name"] == "original_shape_MeshVolume")
    assert volume["icc"] == 1.0  # noise does not move the mask


def test_missing_mask_and_bad_perturbation_are_one_line_errors(tmp_path, capsys):
    image, mask = write_sphere(tmp_path, "s", 12, 4.0, 0)
    assert main(["robustness", str(image), "--protocol", PROTOCOL, "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == "standardseg: error: robustness: IMAGE needs --mask"
    assert main(["robustness", str(image), "--mask", str(mask), "--protocol", PROTOCOL, "--perturbations", "RX",
                 "-o", str(tmp_path / "x")]) == 2
    assert "perturbation 'X'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_harmonise_writes_beside_the_cohort_table(tmp_path, capsys):
    rng = np.random.default_rng(2)
    table = tmp_path / "cohort.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("case", "site", "lesion", "measure", "value", "unit", "flags"))
        for site, shift in (("north", 0.0), ("south", 25.0)):
            for number in range(8):
                writer.writerow((f"{site}-{number}", site, "gtv", "original_firstorder_Median",
                                 repr(50 + shift + rng.normal(0, 4)), "", ""))
                writer.writerow((f"{site}-{number}", site, "gtv", "volume_ml", "10.0", "mL", ""))
    before = table.read_bytes()
    assert main(["harmonise", str(tmp_path)]) == 0
    assert "1 features of 16 lesions harmonised across sites (north 8, south 8)" in capsys.readouterr().out
    provenance = json.loads((tmp_path / "harmonised" / "combat.json").read_text())
    assert provenance["method"] == "ComBat" and provenance["implementation"].startswith("neuroCombat")
    assert provenance["empirical_bayes"] is False  # one feature: no priors to pool
    rows = list(csv.DictReader((tmp_path / "harmonised" / "cohort.combat.csv").open()))
    means = {site: np.mean([float(row["value"]) for row in rows if row["site"] == site]) for site in ("north", "south")}
    assert abs(means["north"] - means["south"]) < 2.0
    assert table.read_bytes() == before


def test_real_sts_pet_gtv_noise_only_keeps_the_shape_of_features(tmp_path, capsys):
    """STS_001's PET with the expert GTV (RTSTRUCT): noise moves no contour, so every shape feature is constant
    across the repetitions (CV 0) and equals what 'standardseg features' gives on the unperturbed image."""
    sts = Path(__file__).parent / "Data" / "real" / "sts" / "STS_001" / "PET"
    image, mask = sts / "image", sts / "mask" / "RS.dcm"
    out = tmp_path / "sts"
    assert main(["robustness", str(image), "--mask", str(mask), "--roi", "GTV_Mass_PET", "--protocol", PROTOCOL,
                 "--perturbations", "N", "--repetitions", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["features", str(image), "--mask", str(mask), "--roi", "GTV_Mass_PET", "--protocol", PROTOCOL,
                 "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)["features"]
    values = {}
    for row in csv.DictReader((out / "values.csv").open()):
        values.setdefault(row["feature"], []).append(float(row["value"]))
    shape = [name for name in values if "_shape_" in name]
    assert len(shape) == 14
    for name in shape:
        assert values[name][0] == values[name][1] and np.isclose(values[name][0], direct[name], rtol=1e-9), name
    noisy = values["original_firstorder_Mean"]
    assert noisy[0] != noisy[1] and all(abs(value / direct["original_firstorder_Mean"] - 1) < 0.01 for value in noisy)
