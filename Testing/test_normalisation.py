"""MR intensity normalisation and ComBat harmonisation (issue 15, section 4), on images and tables with known
answers."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.normalisation.combat import combat_harmonise
from StandardSegLib.normalisation.methods import (body_mask, reference_scaling, refuse_quantitative_map, whitestripe,
                                                  zscore)
from StandardSegLib.normalisation.nyul import apply_landmarks, read_landmarks, train_landmarks


def image_of(values: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing((1.0, 1.0, 2.0))
    return image


def tissues(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 'head' of three tissues on air: labels 1 (CSF, 30), 2 (GM, 70), 3 (WM, 100), noise SD 3."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((24, 48, 48), np.uint8)
    labels[2:22, 6:42, 6:42] = 1
    labels[4:20, 10:38, 10:38] = 2
    labels[6:18, 14:34, 14:34] = 3
    values = np.choose(labels, [0.0, 30.0, 70.0, 100.0]) + rng.normal(0, 3, labels.shape) * (labels > 0)
    return values, labels


def test_zscore_gives_mean_zero_sd_one_in_the_region():
    values, labels = tissues()
    region = image_of(labels == 2)
    normalised, record = zscore(image_of(values), region, "grey matter")
    inside = sitk.GetArrayViewFromImage(normalised)[labels == 2]
    assert inside.mean() == pytest.approx(0.0, abs=1e-5) and inside.std() == pytest.approx(1.0, abs=1e-5)
    assert record.statistics["mean"] == pytest.approx(70.0, abs=0.1) and record.voxels == int((labels == 2).sum())


def test_body_mask_is_the_head_and_reference_scaling_divides_by_its_mean():
    values, labels = tissues()
    body = sitk.GetArrayFromImage(body_mask(image_of(values))).astype(bool)
    assert np.array_equal(body, labels > 0)
    scaled, record = reference_scaling(image_of(values), image_of(labels == 3), "muscle")
    assert np.allclose(sitk.GetArrayViewFromImage(scaled), values / record.statistics["mean"], rtol=1e-5)
    assert record.statistics["mean"] == pytest.approx(100.0, abs=0.1)


def test_whitestripe_centres_white_matter():
    """T1: white matter is the brightest mode; WhiteStripe's mean is its intensity (100) and after it white
    matter sits at ~0 (within 5 % of the white-grey distance: the mode is found on an 80-point density grid)."""
    values, labels = tissues()
    normalised, record = whitestripe(image_of(values), "T1", brain=image_of(labels > 0))
    white = sitk.GetArrayViewFromImage(normalised)[labels == 3]
    grey = sitk.GetArrayViewFromImage(normalised)[labels == 2]
    assert abs(float(white.mean())) < 0.05 * float(white.mean() - grey.mean())  # WM at 0, GM far below
    assert record.statistics["mean"] == pytest.approx(100.0, abs=2.0)  # grid step 110/79 ~ 1.4


def test_nyul_recovers_a_known_linear_transform(tmp_path):
    """Landmarks learnt from one image; a copy scaled by 3 and offset by 50 (another scanner's gain) maps back
    onto the same standardised values, voxel by voxel."""
    values, labels = tissues()
    mask = image_of(labels > 0)
    landmarks = train_landmarks([image_of(values)], [mask])
    digest = landmarks.save(tmp_path / "landmarks.json")
    loaded, file_digest = read_landmarks(tmp_path / "landmarks.json")
    assert file_digest == digest and loaded == landmarks
    reference, _ = apply_landmarks(image_of(values), loaded, mask)
    transformed, record = apply_landmarks(image_of(3 * values + 50), loaded, mask, file_digest)
    inside = labels > 0
    assert np.allclose(sitk.GetArrayViewFromImage(transformed)[inside], sitk.GetArrayViewFromImage(reference)[inside],
                       atol=1e-3)
    p1, p99 = np.percentile(values[inside], [1, 99])  # the training image's own map: [p1, p99] -> [1, 100]
    expected = 1 + (values[inside] - p1) * 99 / (p99 - p1)
    assert np.allclose(sitk.GetArrayViewFromImage(reference)[inside], expected, atol=1e-3)
    assert record.details["landmarks_sha256"] == digest


def test_bad_landmarks_file_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": "standardseg.nyul-landmarks/1", "percentiles": [1, 99], "standard_scale": [5, 2]}')
    with pytest.raises(InputError, match="bad.json: percentiles/standard_scale"):
        read_landmarks(path)


@pytest.mark.parametrize("field, value, said", [
    ("ImageType", ["DERIVED", "PRIMARY", "ADC"], "ImageType"),
    ("SeriesDescription", "ep2d_diff_ADC", "SeriesDescription"),
    ("SeriesDescription", "T1 map MOLLI", "SeriesDescription"),
    ("Modality", "PT", "Modality"),
])
def test_quantitative_maps_are_refused(field, value, said):
    header = pydicom.Dataset()
    setattr(header, field, value)
    with pytest.raises(InputError, match=f"quantitative map.*{said}"):
        refuse_quantitative_map([header], "series 7")
    plain = pydicom.Dataset()
    plain.ImageType, plain.SeriesDescription = ["ORIGINAL", "PRIMARY", "M"], "t1_tse_tra"
    refuse_quantitative_map([plain], "series 8")  # a weighted image is not refused


def test_combat_removes_a_known_additive_site_effect():
    """Two sites, 30 lesions each, the same biological distribution; site B reads every feature 40 units
    higher. After ComBat the site means agree within noise, and the lesion ordering inside a site is kept."""
    rng = np.random.default_rng(5)
    rows = []
    truth = {}
    for site, shift in (("A", 0.0), ("B", 40.0)):
        for number in range(30):
            case = f"{site}{number:02d}"
            for feature, centre in (("original_firstorder_Mean", 100.0), ("original_glcm_Contrast", 20.0)):
                value = centre + rng.normal(0, 5)
                truth[(case, feature)] = value
                rows.append({"case": case, "site": site, "lesion": "L1", "measure": feature, "value": repr(value + shift),
                             "unit": "", "flags": ""})
    rows.append({"case": "A00", "site": "A", "lesion": "L1", "measure": "volume_ml", "value": "12.0", "unit": "mL",
                 "flags": ""})
    header = ("case", "site", "lesion", "measure", "value", "unit", "flags")
    before = {site: np.mean([float(r["value"]) for r in rows if r["site"] == site and r["measure"].endswith("Mean")])
              for site in "AB"}
    assert before["B"] - before["A"] == pytest.approx(40, abs=4)
    result = combat_harmonise(header, rows)
    after = {site: np.mean([float(r[4]) for r in result.rows if r[1] == site and r[3].endswith("Mean")])
             for site in "AB"}
    assert abs(after["B"] - after["A"]) < 1.0
    assert {row[3] for row in result.rows} == {"original_firstorder_Mean", "original_glcm_Contrast"}
    harmonised = {(row[0], row[3]): float(row[4]) for row in result.rows}
    site_a = [case for case in {row[0] for row in result.rows} if case.startswith("A")]
    correlation = np.corrcoef([truth[(case, "original_firstorder_Mean")] for case in site_a],
                              [harmonised[(case, "original_firstorder_Mean")] for case in site_a])[0, 1]
    assert correlation > 0.99
    assert result.provenance["sites"] == {"A": 30, "B": 30}


def test_combat_refuses_one_site():
    rows = [{"case": f"c{i}", "site": "A", "lesion": "L1", "measure": "original_firstorder_Mean", "value": str(i)}
            for i in range(4)]
    with pytest.raises(InputError, match="at least 2 sites, found 1"):
        combat_harmonise(("case", "site", "lesion", "measure", "value"), rows)


def _mr_protocol(normalisation: dict, robustness: dict | None = None, normalize: bool = False):
    from StandardSegLib.protocols import USER, Protocol, load_library, validate_document

    document = load_library().get("mr-msk-soft-tissue-sarcoma").to_dict()
    document["radiomics"]["parameters"]["setting"]["normalize"] = normalize
    document["radiomics"]["normalisation"] = dict(normalisation, source="test")
    if robustness is not None:
        document["radiomics"]["robustness"] = dict(robustness, source="test")
    validate_document(document, "test copy")
    return Protocol.from_document(document, "mr-test.yaml", USER)


def _checked(protocol, image):
    from types import SimpleNamespace

    from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
    from StandardSegLib.session import CheckedImage

    muscle = ReferenceMeasurement("muscle", "sphere (test)", "stored", 500, 0.5, 100.0, 10.0, 100.0)
    return CheckedImage(loaded=SimpleNamespace(datasets=()), protocol=protocol, gate=SimpleNamespace(reference=muscle),
                        operator=None, training=None, values_image=image, units="stored")


def test_session_radiomics_are_normalised_and_restricted_to_the_robust_set():
    """A protocol with muscle-referenced scaling and restrict_to_robust: a 300-signal lesion on muscle of mean 100
    (the gate's reference) has firstorder Mean 3 in report.json, only the robust features, and both recorded."""
    from types import SimpleNamespace

    from StandardSegLib.session import lesion_outcome, radiomics_extractor

    values = np.full((20, 20, 20), 100.0)
    values[5:15, 5:15, 5:15] = 300.0
    image, mask = image_of(values), image_of(values == 300.0)
    for item in (image, mask):
        item.SetSpacing((2.0, 2.0, 2.0))  # the protocol's resampled spacing: pyradiomics does not interpolate
    robust = ["original_firstorder_Mean", "original_shape_VoxelVolume"]
    protocol = _mr_protocol({"method": "reference-scaling"}, {"restrict_to_robust": True, "robust_features": robust})
    checked = _checked(protocol, image)
    segment = SimpleNamespace(mask=sitk.Cast(mask, sitk.sitkUInt8), provenance=SimpleNamespace(flags=()))
    outcome = lesion_outcome(checked, "gtv", segment, radiomics_extractor(protocol))
    assert outcome.error is None
    radiomics = outcome.report.radiomics.to_dict()
    assert radiomics["features"] == {"original_shape_VoxelVolume": pytest.approx(1000 * 8.0),
                                     "original_firstorder_Mean": pytest.approx(3.0)}
    assert radiomics["feature_set"]["name"] == "robust" and "original_firstorder_Median" in radiomics["feature_set"]["left_out"]
    assert radiomics["normalisation"]["method"] == "reference-scaling"
    assert radiomics["normalisation"]["statistics"] == {"mean": 100.0}
    import json

    import jsonschema

    from StandardSegLib.resources import resource_path

    schema = json.loads(resource_path("Schemas", "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(radiomics, schema["properties"]["segments"]["items"]["properties"]["radiomics"])


def test_protocol_normalisation_with_pyradiomics_normalize_is_refused():
    from StandardSegLib.errors import ProtocolError
    from StandardSegLib.normalisation.protocol_step import values_for_radiomics

    protocol = _mr_protocol({"method": "zscore", "region": "body"}, normalize=True)
    with pytest.raises(ProtocolError, match="normalize: true both normalise"):
        values_for_radiomics(_checked(protocol, image_of(np.ones((4, 4, 4)))))


def test_nyul_landmarks_command_and_protocol_step(tmp_path, capsys):
    """Landmarks learnt by the CLI from two scans of one head at different gains; the protocol step then maps a
    third gain onto the same scale as the first scan (within the body)."""
    from StandardSegLib.cli import main
    from StandardSegLib.normalisation.protocol_step import normalise

    values, labels = tissues()
    for name, gain in (("a", 1.0), ("b", 2.0)):
        sitk.WriteImage(image_of(gain * values), str(tmp_path / f"{name}.nrrd"))
    (tmp_path / "training.txt").write_text("# training scans\na.nrrd\nb.nrrd\n")
    assert main(["nyul-landmarks", "--list", str(tmp_path / "training.txt"), "-o", str(tmp_path / "nyul.json")]) == 0
    assert "from 2 training image(s)" in capsys.readouterr().out
    assert main(["nyul-landmarks", str(tmp_path / "a.nrrd"), "-o", str(tmp_path / "nyul.json")]) == 2
    first, record = normalise(image_of(values), {"method": "nyul", "landmarks": "nyul.json"}, base_dir=tmp_path)
    third, _ = normalise(image_of(5 * values), {"method": "nyul", "landmarks": "nyul.json"}, base_dir=tmp_path)
    inside = labels > 0
    assert np.allclose(sitk.GetArrayViewFromImage(first)[inside], sitk.GetArrayViewFromImage(third)[inside], atol=1e-3)
    assert record.method == "nyul" and record.region == "mask" and len(record.details["landmarks_sha256"]) == 64


def test_robust_set_must_name_enabled_features():
    from StandardSegLib.errors import ProtocolError
    from StandardSegLib.robustness.study import RobustnessSettings

    protocol = _mr_protocol({"method": "zscore"}, {"restrict_to_robust": True,
                                                   "robust_features": ["original_ngtdm_Busyness"]})
    with pytest.raises(ProtocolError, match="original_ngtdm_Busyness is not a feature of an enabled class"):
        RobustnessSettings.from_protocol(protocol)
