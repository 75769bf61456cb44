"""standardseg compare (issue 15, section 1): comparability on the protocol's must-match keys, lesion pairing,
changes, RECIST 1.1 and PERCIST 1.0.

Two pipeline runs on the synthetic PET study feed the end-to-end tests: a baseline with two hand-drawn balls,
and a follow-up on a copy of the DICOM whose SoftwareVersions was changed, the first ball's volume grown by
40 % and the second renamed (so it must be paired by position). Expected numbers come from the masks
themselves (numpy voxel counts) and from the published formulas, never from a stored run.
"""

from __future__ import annotations

import csv
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
from StandardSegLib.longitudinal import compare_timepoints, load_timepoint
from StandardSegLib.longitudinal.pairing import pair_lesions
from StandardSegLib.longitudinal.recist import recist_category
from StandardSegLib.longitudinal.timepoint import Lesion
from StandardSegLib.phantom import default_layout
from StandardSegLib.protocols import USER, Protocol, load_library, validate_document

GROWTH = 1.4
NEW_SOFTWARE = "StandardSeg 9.9.9"


def _ball(reference: sitk.Image, centre: tuple[float, float, float], radius_mm: float, path: Path) -> int:
    """A ball mask on the reference grid (voxel centres within radius); returns its voxel count."""
    shape = sitk.GetArrayViewFromImage(reference).shape
    k, j, i = np.indices(shape)
    spacing, origin = np.array(reference.GetSpacing()), np.array(reference.GetOrigin())
    points = np.stack([i, j, k], axis=-1) * spacing + origin  # axis-aligned grid (the synthetic study's)
    inside = np.linalg.norm(points - np.array(centre), axis=-1) <= radius_mm
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(reference)
    sitk.WriteImage(mask, str(path))
    return int(inside.sum())


def _run(tmp: Path, name: str, image: Path, registry: Path, lesions: list[dict]) -> Path:
    layout = default_layout()
    sphere, liver = max(layout.spheres, key=lambda item: item.diameter_mm), layout.liver_reference
    job = {"schema": "standardseg.session/1", "image": {"path": str(image)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "rois": {"lesion": {"sphere": [*sphere.centre_lps_mm, sphere.diameter_mm]},
                    "background": {"sphere": [*liver.centre_lps_mm, liver.diameter_mm]}},
           "lesions": lesions, "radiomics": False}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(tmp / f"{name}.yaml"), "-o", str(tmp / name)]) == 0
    return tmp / name


@pytest.fixture(scope="module")
def runs(synthetic_study_files, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("longitudinal")
    registry = tmp / "operators.json"
    trained = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    assert main(["operators", "--registry", str(registry), "add", "Dr Demo", "--trained-on", trained]) == 0
    reference = sitk.ReadImage(str(synthetic_study_files.pet_suv_nrrd))
    spheres = sorted(default_layout().spheres, key=lambda item: -item.diameter_mm)
    masks = tmp / "masks"
    masks.mkdir()
    counts = {"a0": _ball(reference, spheres[0].centre_lps_mm, 20.0, masks / "a0.nrrd"),
              "a1": _ball(reference, spheres[0].centre_lps_mm, 20.0 * GROWTH ** (1 / 3), masks / "a1.nrrd"),
              "b": _ball(reference, spheres[1].centre_lps_mm, 16.0, masks / "b.nrrd")}
    pet = synthetic_study_files.pet_dicom[0].parent
    copy = tmp / "PT-new-software"
    shutil.copytree(pet, copy)
    for path in copy.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.SoftwareVersions = NEW_SOFTWARE
        dataset.save_as(path)
    baseline = _run(tmp, "baseline", pet, registry, [{"name": "a", "mask": str(masks / "a0.nrrd")},
                                                     {"name": "b", "mask": str(masks / "b.nrrd")}])
    followup = _run(tmp, "followup", copy, registry, [{"name": "a", "mask": str(masks / "a1.nrrd")},
                                                      {"name": "b-renamed", "mask": str(masks / "b.nrrd")}])
    return tmp, baseline, followup, counts


def _compare(tmp: Path, first: Path, second: Path, name: str, *extra: str) -> tuple[int, dict, Path]:
    status = main(["compare", str(first), str(second), "-o", str(tmp / name), *extra])
    return status, json.loads((tmp / name / "compare.json").read_text(encoding="utf-8")), tmp / name


def test_identical_series_are_comparable(runs, capsys):
    tmp, baseline, _, _ = runs
    copy = tmp / "baseline-copy"
    shutil.copytree(baseline, copy)
    status, document, folder = _compare(tmp, baseline, copy / "session.json", "same")
    assert status == 0, capsys.readouterr().err
    assert document["comparability"]["verdict"] == "comparable" and document["comparability"]["differences"] == []
    assert all(item["status"] == "match" for item in document["comparability"]["items"])
    assert {item["key"] for item in document["comparability"]["items"]} == {
        "protocol", *load_library().get("fdg-pet-ct-oncology").longitudinal_must_match}
    assert all(values["change"] == 0 for lesion in document["lesions"] for values in lesion["changes"].values())
    assert sorted(path.name for path in folder.iterdir()) == ["compare.csv", "compare.html", "compare.json"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(folder)


def test_changed_software_version_is_named_with_both_values(runs, capsys):
    tmp, baseline, followup, _ = runs
    status, document, _ = _compare(tmp, baseline, followup, "software")
    assert status == 5
    comparability = document["comparability"]
    assert comparability["verdict"] == "not comparable" and not comparability["blocked"]
    differing = [item for item in comparability["items"] if item["status"] != "match"]
    assert [item["key"] for item in differing] == ["SoftwareVersions"]
    assert differing[0]["followup"] == [NEW_SOFTWARE] and differing[0]["baseline"] != [NEW_SOFTWARE]
    assert NEW_SOFTWARE in comparability["differences"][0] and "SoftwareVersions differs" in capsys.readouterr().out


def test_growth_of_40_percent_gives_the_change_and_the_categories(runs):
    tmp, baseline, followup, counts = runs
    _, document, folder = _compare(tmp, baseline, followup, "growth")
    lesions = {lesion["baseline"]: lesion for lesion in document["lesions"]}
    volume = lesions["a"]["changes"]["volume_ml"]
    voxel_ml = 4.0 ** 3 / 1000.0  # the synthetic PET grid
    assert volume["baseline"] == pytest.approx(counts["a0"] * voxel_ml)
    assert volume["change_percent"] == pytest.approx(100.0 * (counts["a1"] / counts["a0"] - 1.0))
    assert volume["change_percent"] == pytest.approx(40.0, abs=4.0)  # voxelised balls
    assert lesions["b"]["followup"] == "b-renamed" and lesions["b"]["by"] == "position"
    assert lesions["b"]["distance_mm"] == pytest.approx(0.0, abs=1e-6)
    assert document["pairing"]["baseline_only"] == [] and document["pairing"]["followup_only"] == []
    # Same PET values under both masks: the hottest SULpeak is unchanged -> PERCIST stable metabolic disease.
    percist = document["percist"]
    assert percist["category"] == "SMD"
    weight, height = 75.0, 1.75  # the synthetic patient (male)
    janmahasatian = 9270.0 * weight / (6680.0 + 216.0 * weight / height ** 2)
    assert percist["sul_factor"]["baseline"] == pytest.approx(janmahasatian / weight)
    report = json.loads((baseline / "report.json").read_text(encoding="utf-8"))
    assert percist["liver"]["baseline"]["mean"] == pytest.approx(
        report["gate"]["reference_tissue"]["mean"] * janmahasatian / weight)
    assert document["recist"]["category"].startswith("not assessable: RECIST 1.1 measures on CT or MR")
    rows = list(csv.DictReader((folder / "compare.csv").open(encoding="utf-8")))
    row = next(row for row in rows if row["baseline"] == "a" and row["measure"] == "volume_ml")
    assert float(row["change_percent"]) == pytest.approx(volume["change_percent"])


def test_a_blocking_difference_stops_the_assessment(runs):
    _, baseline, followup, _ = runs
    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["longitudinal"]["blocking"] = ["SoftwareVersions"]
    validate_document(document, "blocking test copy")
    protocol = Protocol.from_document(document, "blocking.yaml", USER)
    result = compare_timepoints(load_timepoint(baseline), load_timepoint(followup), protocol)
    assert result["comparability"]["blocked"]
    assert result["percist"]["category"].startswith("not assessable: blocking difference (SoftwareVersions differs")
    assert result["recist"]["assessable"] is False


def test_blocking_keys_must_be_must_match_keys():
    from StandardSegLib.errors import ProtocolError

    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["longitudinal"]["blocking"] = ["KVP"]
    with pytest.raises(ProtocolError, match=r"longitudinal.blocking\[0\]: expected one of the must_match keys"):
        validate_document(document, "bad copy")


def test_not_a_bundle_is_one_line_error(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{}", encoding="utf-8")
    assert main(["compare", str(tmp_path), str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "report.json" in error and "expected a report.json" in error
    assert not (tmp_path / "out").exists()


def _lesion(name: str, long_axis: float, centre=(0.0, 0.0, 0.0)) -> Lesion:
    return Lesion(name, None, long_axis, None, None, None, None, None, centre)


@pytest.mark.parametrize("before, after, expected", [
    ((50.0, 50.0), (35.0, 35.0), "PR"),  # -30 % exactly
    ((50.0, 50.0), (60.0, 60.0), "PD"),  # +20 %, +20 mm
    ((12.0, 13.0), (14.0, 15.0), "SD"),  # +16 %: below 20 %
    ((10.0, 10.0), (12.0, 12.0), "SD"),  # +20 % but only +4 mm
    ((40.0,), (40.0 * GROWTH ** (1 / 3),), "SD"),  # a ball grown by 40 % in volume: +11.9 % in diameter
])
def test_recist_categories_on_sums_of_long_axes(before, after, expected):
    baseline = [_lesion(f"t{n}", value) for n, value in enumerate(before)]
    followup = [_lesion(f"t{n}", value) for n, value in enumerate(after)]
    result = recist_category(("CT", "CT"), baseline, followup, pair_lesions(baseline, followup))
    assert result["category"] == expected
    assert result["change_percent"] == pytest.approx(100.0 * (sum(after) / sum(before) - 1.0))


def test_recist_complete_response_new_lesion_and_measurability():
    baseline = [_lesion("t", 30.0)]
    assert recist_category(("CT", "CT"), baseline, [], pair_lesions(baseline, []))["category"] == "CR"
    followup = [_lesion("t", 30.0), _lesion("new", 12.0, (200.0, 0.0, 0.0))]
    result = recist_category(("MR", "MR"), baseline, followup, pair_lesions(baseline, followup))
    assert result["category"] == "PD" and "new" in result["reason"]
    small = [_lesion("t", 8.0)]
    result = recist_category(("CT", "CT"), small, small, pair_lesions(small, small))
    assert result["category"] == "not assessable: no measurable lesion at baseline (long axis >= 10 mm)"


def test_position_pairing_respects_the_tolerance():
    baseline = [_lesion("x", 20.0, (0.0, 0.0, 0.0))]
    followup = [_lesion("y", 20.0, (25.0, 0.0, 0.0))]
    assert pair_lesions(baseline, followup, 20.0).pairs == ()
    pairing = pair_lesions(baseline, followup, 30.0)
    assert pairing.pairs[0].by == "position" and pairing.pairs[0].distance_mm == pytest.approx(25.0)


def test_a_key_neither_report_recorded_is_named_but_not_a_difference(runs):
    from StandardSegLib.longitudinal.comparability import check_comparability

    _, baseline, _, _ = runs
    document = json.loads((baseline / "report.json").read_text(encoding="utf-8"))
    document["image"]["reconstruction_filter"] = None  # ConvolutionKernel of a PET series
    result = check_comparability(document, document, load_library().get("fdg-pet-ct-oncology"))
    assert result.verdict == "comparable" and result.differences == ()
    assert [item.key for item in result.unchecked] == ["ConvolutionKernel"]


def _percist_document(suv_peak: float, liver_mean: float = 2.0, liver_sd: float = 0.2, tissue: str = "liver",
                      units: str = "SUVlbm") -> dict:
    return {"gate": {"units": units, "reference_tissue": {"name": tissue, "mean": liver_mean, "sd": liver_sd}},
            "image": {"injection_datetime": "2024-01-15T09:30:00", "series_datetime": "2024-01-15T10:30:00"},
            "segments": [{"name": "t", "measurements": {"uptake": {"suv_peak": suv_peak}}}]}


@pytest.mark.parametrize("before, after, expected", [
    (10.0, 6.9, "PMR"),  # -31 %, -3.1 SUL
    (10.0, 13.1, "PMD"),  # +31 %, +3.1 SUL
    (10.0, 12.0, "SMD"),  # +20 %
    (3.0, 3.9, None),  # baseline below the measurability threshold 1.5 x 2.0 + 2 x 0.2 = 3.4
    (10.0, 1.9, "CMR"),  # at or below the liver SULmean (2.0)
])
def test_percist_categories(before, after, expected):
    from StandardSegLib.longitudinal.percist import percist_category

    pairing = pair_lesions([_lesion("t", 20.0)], [_lesion("t", 20.0)])
    result = percist_category(_percist_document(before), _percist_document(after), pairing)
    if expected is None:
        assert result["category"].startswith("not assessable: baseline SULpeak 3.00 is below the measurability")
    else:
        assert result["category"] == expected


def test_percist_needs_liver_and_sul_convertible_units():
    from StandardSegLib.longitudinal.percist import percist_category

    pairing = pair_lesions([_lesion("t", 20.0)], [_lesion("t", 20.0)])
    muscle = percist_category(_percist_document(10.0, tissue="muscle"), _percist_document(8.0), pairing)
    assert muscle["category"] == "not assessable: baseline reference tissue is muscle, PERCIST needs the liver"
    hounsfield = percist_category(_percist_document(10.0, units="HU"), _percist_document(8.0), pairing)
    assert hounsfield["category"] == "not assessable: baseline values are in HU, not SUVbw or SUVlbm (SUL)"


def test_agreement_reads_bundle_segments(runs, capsys):
    """The baseline's ball and the grown follow-up ball are concentric: Dice = 2|a0| / (|a0| + |a1|)."""
    tmp, baseline, followup, counts = runs
    assert main(["agreement", f"{baseline}:a", f"{followup}:a", "-o", str(tmp / "agreement")]) == 0
    document = json.loads((tmp / "agreement" / "agreement.json").read_text(encoding="utf-8"))
    pair = document["lesions"][0]["pairs"][0]
    assert pair["dice"] == pytest.approx(2 * counts["a0"] / (counts["a0"] + counts["a1"]), rel=1e-12)
    assert document["lesions"][0]["masks"] == ["baseline:a", "followup:a"]
    assert main(["agreement", str(baseline), str(followup), "-o", str(tmp / "ambiguous")]) == 2
    assert "the bundle holds 2 segments (a, b); name one as BUNDLE:SEGMENT" in capsys.readouterr().err


def test_uptake_times_outside_the_protocol_window_are_a_difference(runs):
    from StandardSegLib.longitudinal.comparability import check_comparability

    _, baseline, _, _ = runs
    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["longitudinal"]["uptake_time_tolerance_min"] = 15
    validate_document(document, "uptake test copy")
    protocol = Protocol.from_document(document, "uptake.yaml", USER)
    first = json.loads((baseline / "report.json").read_text(encoding="utf-8"))
    later = json.loads(json.dumps(first))
    later["image"]["series_datetime"] = "2024-01-15T10:50:00"  # the synthetic study: injected 09:30, scanned 10:30
    items = {item.key: item for item in check_comparability(first, later, protocol).items}
    uptake = items["uptake time (within 15 min)"]
    assert (uptake.baseline, uptake.followup, uptake.status) == (60.0, 80.0, "differs")
    assert items["uptake time (within 15 min)"].message == (
        "uptake time (within 15 min) differs: baseline 60.0, follow-up 80.0")
    later["image"]["series_datetime"] = "2024-01-15T10:40:00"
    assert check_comparability(first, later, protocol).verdict == "comparable"
