"""Soft-tissue sarcoma (MSK) protocols on the real STS data (issue 12 §5): body part, uptake time whatever the
Units, muscle and blood-pool reference tissues held to the protocol's VOI, and reference images that name
their own methods.

Independent references: the uptake time from the raw header strings (RadiopharmaceuticalStartTime 103500,
SeriesTime 112011 of STS_001's PET, stored as SUV with Units GML); voxel counts of the protocol's VOIs from
the image grid's voxel centres, computed here with numpy.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from StandardSegLib.cli import main
from StandardSegLib.errors import ProtocolError
from StandardSegLib.protocols import load_library, validate_document

STS = Path(__file__).resolve().parent / "Data" / "real" / "sts"
MSK = ("fdg-pet-ct-msk-sarcoma", "ct-msk-soft-tissue-sarcoma", "mr-msk-soft-tissue-sarcoma")
#: Thigh muscle beside the tumour of STS_001 (anterior to it, away from the femur), LPS mm.
MUSCLE_LPS = (108.4, -62.5, -786.5)
#: The STS_001 tumour's centre (centroid of the PET GTV of its RTSTRUCT), LPS mm.
TUMOUR_LPS = (70.0, 12.0, -791.0)


def check_json(capsys, series: Path, protocol: str, *extra: str) -> tuple[int, dict, str]:
    code = main(["check", str(series), "--protocol", protocol, "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def items(result: dict) -> dict[str, dict]:
    return {item["id"]: item for item in result["items"]}


def header_uptake_minutes(series: Path) -> float:
    first = pydicom.dcmread(sorted(series.iterdir())[0], stop_before_pixels=True)
    injected = first.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime
    scanned = first.SeriesTime
    as_time = [dt.datetime.strptime(text.split(".")[0], "%H%M%S") for text in (injected, scanned)]
    return (as_time[1] - as_time[0]).total_seconds() / 60.0


def centres_inside(image: sitk.Image, inside) -> int:
    size = image.GetSize()
    index = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), axis=-1).reshape(-1, 3)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    points = np.asarray(image.GetOrigin()) + (index * np.asarray(image.GetSpacing())) @ direction.T
    return int(np.count_nonzero(inside(points)))


@pytest.mark.parametrize("protocol", MSK)
def test_msk_protocols_are_valid_built_ins(protocol):
    loaded = load_library().get(protocol)
    assert loaded.origin == "builtin"
    assert [entry["name"] for entry in loaded.reference_tissue][0] == "muscle"
    assert set(loaded.reference_image_modalities) == {"CT", "MR", "PT"} - {loaded.modality}


def test_sts_pet_uptake_fails_for_its_45_minutes_and_extremity_matches(capsys):
    series = STS / "STS_001" / "PET" / "image"
    code, result, err = check_json(capsys, series, "fdg-pet-ct-msk-sarcoma",
                                   f"--background-sphere={','.join(map(str, MUSCLE_LPS))},20")
    assert code == 3 and err == ""
    found = items(result)
    uptake = found["uptake_time_window"]
    assert uptake["verdict"] == "fail"
    assert uptake["measured"] == pytest.approx(header_uptake_minutes(series), abs=0.01)  # 45.18 min
    assert "uptake time is 45.2 min" in uptake["message"]
    assert result["suv_conversion"]["source_units"] == "GML"
    assert found["body_part"]["verdict"] == "pass" and found["body_part"]["measured"] == "EXTREMITY"
    assert found["reference_muscle"]["verdict"] == "pass"  # thigh muscle SUVbw 0.56 inside 0.3-1.5
    assert result["reference_tissue"]["name"] == "muscle"


def test_sts_003_uptake_from_headers_passes(capsys):
    series = STS / "STS_003" / "PET" / "image"
    code, result, err = check_json(capsys, series, "fdg-pet-ct-msk-sarcoma")
    uptake = items(result)["uptake_time_window"]
    assert uptake["verdict"] == "pass"
    assert uptake["measured"] == pytest.approx(header_uptake_minutes(series), abs=0.01)  # 60.8 min


def test_sts_002_contradictory_injection_date_is_named_not_guessed(capsys):
    """STS_002's RadiopharmaceuticalStartDateTime is 2006-01-29 13:51, its series 2006-01-28 14:57 (the time
    alone would say 67 min): the item fails naming both instead of trusting either."""
    code, result, err = check_json(capsys, STS / "STS_002" / "PET" / "image", "fdg-pet-ct-msk-sarcoma")
    uptake = items(result)["uptake_time_window"]
    assert uptake["verdict"] == "fail" and uptake["measured"] is None
    assert "2006-01-29T13:51:00) is after the scan" in uptake["message"] and "2006-01-28T14:57:59" in uptake["message"]


@pytest.mark.parametrize("modality, protocol", [("CT", "ct-msk-soft-tissue-sarcoma"),
                                                ("MR_T1", "mr-msk-soft-tissue-sarcoma")])
def test_sts_ct_and_mr_body_part_matches(capsys, modality, protocol):
    code, result, err = check_json(capsys, STS / "STS_001" / modality / "image", protocol)
    assert err == ""
    assert items(result)["body_part"]["verdict"] == "pass"
    assert "uptake_time_window" not in items(result)


def test_a_sphere_given_for_the_blood_pool_cylinder_is_measured_as_the_cylinder(capsys):
    """A 30 mm sphere for the PERCIST 10 x 20 mm blood-pool cylinder: reshaped, with a warning."""
    from StandardSegLib.imaging import load_image

    series = STS / "STS_001" / "CT" / "image"
    centre = np.asarray(MUSCLE_LPS)
    code, result, err = check_json(capsys, series, "ct-msk-soft-tissue-sarcoma", "--reference-tissue",
                                   "blood-pool", f"--background-sphere={','.join(map(str, MUSCLE_LPS))},30")
    reference = result["reference_tissue"]
    assert reference["name"] == "blood-pool" and reference["roi"].startswith("background cylinder")
    image = load_image(series).image

    def in_cylinder(points):
        offset = points - centre
        return (offset[:, 0] ** 2 + offset[:, 1] ** 2 <= 25.0 + 1e-9) & (np.abs(offset[:, 2]) <= 10.0 + 1e-9)

    assert reference["voxel_count"] == centres_inside(image, in_cylinder)
    assert any("does not fit reference tissue blood-pool" in warning and "diameter 10 mm, length 20 mm" in warning
               for warning in result["warnings"])


def test_a_reference_roi_of_the_protocol_size_is_kept(capsys):
    code, result, err = check_json(capsys, STS / "STS_001" / "CT" / "image", "ct-msk-soft-tissue-sarcoma",
                                   f"--background-sphere={','.join(map(str, MUSCLE_LPS))},15")
    assert result["reference_tissue"]["roi"] == f"background sphere at ({MUSCLE_LPS[0]:.1f}, {MUSCLE_LPS[1]:.1f}, " \
        f"{MUSCLE_LPS[2]:.1f}) mm LPS, diameter 15 mm"
    assert not any("does not fit" in warning for warning in result["warnings"])
    assert items(result)["reference_muscle"]["verdict"] == "pass"  # thigh muscle about 50 HU inside 20-80


def test_a_reference_mask_far_from_the_protocol_volume_is_flagged(capsys, tmp_path):
    from StandardSegLib.imaging import load_image
    from StandardSegLib.roi import SphereROI, shape_mask

    series = STS / "STS_001" / "PET" / "image"
    image = load_image(series).image
    sitk.WriteImage(shape_mask(image, SphereROI(MUSCLE_LPS, 40.0)), str(tmp_path / "muscle.nrrd"))
    code, result, err = check_json(capsys, series, "fdg-pet-ct-msk-sarcoma", "--background",
                                   str(tmp_path / "muscle.nrrd"))
    assert any("the protocol's muscle VOI (sphere, diameter 20 mm) 4.19 mL" in warning
               for warning in result["warnings"])


def test_reference_images_are_allowed_only_where_named_and_with_their_methods():
    library = load_library()
    pet = library.get("fdg-pet-ct-msk-sarcoma")
    on_ct = pet.for_reference_image("CT")
    assert set(on_ct.segmentation_methods) == {"grow-from-seeds", "confidence-connected", "manual"}
    assert (on_ct.id, on_ct.content_sha256) == (pet.id, pet.content_sha256)  # the PET gate verdict still applies
    with pytest.raises(ProtocolError, match="does not allow a CT reference image"):
        library.get("fdg-pet-ct-oncology").for_reference_image("CT")


@pytest.mark.parametrize("change, message", [
    ({"CT": {"methods": {"pet-suv": {"suv": 2.5}}, "source": "s"}}, "expected methods for CT images"),
    ({"PT": {"methods": {"manual": {}}, "source": "s"}}, "expected a modality other than the protocol's own"),
    ({"MR": {"methods": {"manual": {}}, "source": "s"}}, "expected a modality listed in inputs"),
])
def test_reference_image_rules(change, message):
    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["segmentation"]["reference_images"] = change
    with pytest.raises(ProtocolError, match=message):
        validate_document(document, "test copy")


def test_segment_pet_with_a_ct_reference_uses_ct_methods(capsys, tmp_path, registry):
    patient = STS / "STS_001"
    common = ["segment", str(patient / "PET" / "image"), "--protocol", "fdg-pet-ct-msk-sarcoma", "--reference",
              str(patient / "CT" / "image"), f"--seed={','.join(map(str, TUMOUR_LPS))}", "--operator", "Dr Demo",
              "--registry", str(registry), "--override", "45 min uptake accepted for this test",
              f"--background-sphere={','.join(map(str, MUSCLE_LPS))},20",
              f"--lesion-sphere={','.join(map(str, TUMOUR_LPS))},80", "--json"]
    assert main([*common, "--method", "pet-percent-max", "-o", str(tmp_path / "a.nrrd")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "standardseg: error: method 'pet-percent-max' is not allowed on a CT reference image by protocol "
        "fdg-pet-ct-msk-sarcoma v1.0.0 (allowed there: grow-from-seeds, confidence-connected, manual)"]
    assert main([*common, "--method", "confidence-connected", "--voi=20,-40,-830,120,60,-750",
                 "-o", str(tmp_path / "b.nrrd")]) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]
    assert provenance["roi_modality"] == "CT" and provenance["units"] == "HU"
    assert provenance["alignment"]["method"] == "resample (same frame of reference)"
    assert sitk.ReadImage(str(tmp_path / "b.nrrd")).GetSpacing() == pytest.approx((4.6875, 4.6875, 3.27))


def test_protocols_show_lists_the_reference_image_methods(capsys):
    assert main(["protocols", "show", "fdg-pet-ct-msk-sarcoma"]) == 0
    out = capsys.readouterr().out
    assert ("  ROI on the CT reference image (--reference): grow-from-seeds: no parameters; confidence-connected: "
            "multiplier=2.5, iterations=4; manual: no parameters") in out
    assert "body_part [warn]: values=[EXTREMITY," in out
