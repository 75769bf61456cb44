"""One bad lesion does not sink a run: failures are recorded, the others complete, exit status 4.

The failing lesions are made to fail for known reasons: a seed outside the image (the method refuses), and a
2-voxel hand-drawn segment on which pyradiomics refuses to extract texture ("mask has too few dimensions").
The good lesion's numbers are checked against the generator's own SUV volume, independently of the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.phantom import default_layout
from StandardSegLib.report import validate_report


def _job(tmp_path: Path, image: Path, registry: Path, lesions: list[dict], radiomics: bool) -> Path:
    layout = default_layout()
    liver = layout.liver_reference
    sphere = max(layout.spheres, key=lambda item: item.diameter_mm)
    job = {
        "schema": "standardseg.session/1",
        "image": {"path": str(image)},
        "protocol": {"id": "fdg-pet-ct-oncology"},
        "operator": {"name": "Dr Demo", "registry": str(registry)},
        "rois": {"lesion": {"sphere": [*sphere.centre_lps_mm, sphere.diameter_mm]},
                 "background": {"sphere": [*liver.centre_lps_mm, liver.diameter_mm]}},
        "lesions": lesions,
        "radiomics": radiomics,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _largest_sphere_lesion() -> dict:
    sphere = max(default_layout().spheres, key=lambda item: item.diameter_mm)
    return {"name": "good", "seeds": [list(sphere.centre_lps_mm)], "parameters": {"percent": 41}}


def _two_voxel_mask(tmp_path: Path, reference: Path) -> Path:
    image = sitk.ReadImage(str(reference))
    array = np.zeros(sitk.GetArrayViewFromImage(image).shape, dtype=np.uint8)
    k, j, i = (n // 2 for n in array.shape)
    array[k, j, i:i + 2] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(image)
    (tmp_path / "masks").mkdir()
    path = tmp_path / "masks" / "tiny.nrrd"
    sitk.WriteImage(mask, str(path))
    return path


def test_failed_lesions_are_recorded_and_the_bundle_is_written(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    tiny = _two_voxel_mask(tmp_path, synthetic_study_files.pet_suv_nrrd)
    lesions = [_largest_sphere_lesion(),
               {"name": "outside", "seeds": [[5000.0, 5000.0, 5000.0]]},
               {"name": "tiny", "mask": str(tiny)}]
    job = _job(tmp_path, pet_dir, registry, lesions, radiomics=True)

    status = main(["run", str(job), "-o", str(tmp_path / "bundle")])
    captured = capsys.readouterr()
    assert status == 4, captured.err
    bundle = Path(captured.out.strip().splitlines()[-1])
    document = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    validate_report(document)

    failures = {failure["name"]: failure for failure in document["failures"]}
    assert set(failures) == {"outside", "tiny"}
    assert failures["outside"]["stage"] == "segment" and "seed" in failures["outside"]["reason"]
    assert failures["tiny"]["stage"] == "radiomics"
    assert "too few dimensions" in failures["tiny"]["reason"]
    assert "lesion outside failed (segment)" in captured.err and "lesion tiny failed (radiomics)" in captured.err

    segments = {segment["name"]: segment for segment in document["segments"]}
    assert set(segments) == {"good", "tiny"}  # radiomics failed: segment and measurements kept
    assert segments["tiny"]["radiomics"] is None and segments["tiny"]["measurements"]["voxel_count"] == 2
    assert segments["good"]["radiomics"]["features"]
    suv = sitk.GetArrayFromImage(sitk.ReadImage(str(synthetic_study_files.pet_suv_nrrd)))
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(bundle / "segments" / "good.seg.nrrd"))) > 0
    assert segments["good"]["measurements"]["uptake"]["suv_max"] == pytest.approx(float(suv[written].max()), rel=1e-3)
    assert not (bundle / "segments" / "outside.seg.nrrd").exists()


def test_regenerating_a_partial_session_is_partial_again(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    lesions = [_largest_sphere_lesion(), {"name": "outside", "seeds": [[5000.0, 5000.0, 5000.0]]}]
    job = _job(tmp_path, pet_dir, registry, lesions, radiomics=False)
    assert main(["run", str(job), "-o", str(tmp_path / "bundle")]) == 4
    capsys.readouterr()
    status = main(["report", "--session", str(tmp_path / "bundle" / "session.json"), "-o", str(tmp_path / "again")])
    assert status == 4
    document = json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))
    assert [failure["name"] for failure in document["failures"]] == ["outside"]


def test_nothing_is_written_when_every_lesion_fails(tmp_path, capsys, synthetic_study_files, registry):
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    job = _job(tmp_path, pet_dir, registry, [{"name": "outside", "seeds": [[5000.0, 5000.0, 5000.0]]}],
               radiomics=False)
    status = main(["run", str(job), "-o", str(tmp_path / "bundle")])
    err = capsys.readouterr().err
    assert status == 2 and "no lesion could be measured: lesion outside (segment)" in err
    assert not (tmp_path / "bundle").exists()


def test_a_leak_is_written_flagged_without_radiomics(tmp_path, capsys, registry):
    """Real STS_002 CT, confidence connected at ITK's 4.5 x SD: the region runs into the thigh's soft tissue and
    is stopped at the protocol's maximum lesion volume. The leak is written with its flags and measurements;
    radiomics are refused for it (a failure at stage radiomics, exit 4), since they would describe the tissue
    it ran into (and take pyradiomics minutes)."""
    from real_sts import STS, load_case

    case = load_case("STS_002", "CT")
    job = {"schema": "standardseg.session/1", "image": {"path": str(STS / "STS_002" / "CT" / "image")},
           "protocol": {"id": "ct-soft-tissue-lymph-node"}, "operator": {"name": "Dr Demo", "registry": str(registry)},
           "override": "test: no gate ROIs on this crop",
           "lesions": [{"name": "leak", "method": "confidence-connected", "seeds": [list(case.seed_lps)],
                        "parameters": {"multiplier": 4.5}}],
           "radiomics": True}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    status = main(["run", str(path), "-o", str(tmp_path / "bundle")])
    captured = capsys.readouterr()
    assert status == 4, captured.err
    document = json.loads((tmp_path / "bundle" / "report.json").read_text(encoding="utf-8"))
    [failure] = document["failures"]
    assert (failure["name"], failure["stage"]) == ("leak", "radiomics")
    assert "growth_capped" in failure["reason"] and "volume_above_max" in failure["reason"]
    [segment] = document["segments"]
    assert {"growth_capped", "volume_above_max"} <= {flag["code"] for flag in segment["flags"]}
    assert segment["radiomics"] is None
    assert segment["measurements"]["volume_voxels_mm3"] / 1000.0 > 524.0  # the protocol's maximum lesion volume
