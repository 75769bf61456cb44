"""``standardseg segment`` end to end on the synthetic PET/CT DICOM study: gate first, refusals with exit
codes, the mask and provenance written (never overwritten silently), edits and the CT reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.phantom import default_layout
from StandardSegLib.protocols import load_library

LAYOUT = default_layout()
BIG = max(LAYOUT.spheres, key=lambda s: s.diameter_mm)


def _point(values):
    return ",".join(f"{v:g}" for v in values)


def _args(files, out, registry, *extra, method="pet-percent-max", operator=True):
    arguments = ["segment", str(files.pet_dicom[0].parent), "--protocol", "fdg-pet-ct-oncology", "--method", method,
                 f"--seed={_point(BIG.centre_lps_mm)}", "-o", str(out), "--json",
                 f"--lesion-sphere={_point(BIG.centre_lps_mm)},{BIG.diameter_mm:g}",
                 f"--background-sphere={_point(LAYOUT.liver_reference.centre_lps_mm)},30"]
    if operator:
        arguments += ["--operator", "Dr Demo", "--registry", str(registry)]
    return arguments + list(extra)


def test_segment_writes_seg_nrrd_and_provenance(synthetic_study_files, registry, tmp_path, capsys):
    out = tmp_path / "lesion.seg.nrrd"
    assert main(_args(synthetic_study_files, out, registry)) == 0
    result = json.loads(capsys.readouterr().out)
    provenance = json.loads((tmp_path / "lesion.provenance.json").read_text())
    assert result["provenance"] == provenance
    assert provenance["method"] == "pet-percent-max" and provenance["units"] == "SUVbw"
    assert provenance["parameters"]["percent"] == 41 and provenance["roi_modality"] == "PT"
    assert provenance["gate"]["overall"] in ("pass", "warn") and provenance["operator"] == "Dr Demo"
    # 41 % of the SUVmax of the hot region around the seed, recorded with the max it came from and where.
    assert provenance["thresholds"]["lower"] == pytest.approx(0.41 * provenance["details"]["max"])
    assert len(provenance["details"]["max_lps"]) == 3 and provenance["flags"] == []
    mask = sitk.ReadImage(str(out))
    assert "Segment0_Tags" in mask.GetMetaDataKeys()
    voxel_mm3 = 4.0 ** 3
    assert sitk.GetArrayViewFromImage(mask).sum() * voxel_mm3 == pytest.approx(provenance["volume_mm3"])
    # 4:1 37 mm sphere, 41 % of max: within 15 % of the analytic volume (accuracy table, 4:1 row).
    assert provenance["volume_mm3"] == pytest.approx(4 / 3 * 3.14159265 * (BIG.diameter_mm / 2) ** 3, rel=0.15)

    assert main(_args(synthetic_study_files, out, registry)) == 2
    assert "exists; use --overwrite" in capsys.readouterr().err
    assert main(_args(synthetic_study_files, out, registry, "--overwrite")) == 0


def test_refused_method_lists_the_allowed_ones(synthetic_study_files, registry, tmp_path, capsys):
    assert main(_args(synthetic_study_files, tmp_path / "x.nrrd", registry, method="region-grow")) == 2
    error = capsys.readouterr().err
    allowed = ", ".join(load_library().get("fdg-pet-ct-oncology").segmentation_methods)
    assert f"(allowed: {allowed})" in error and error.count("\n") == 1
    assert not (tmp_path / "x.nrrd").exists()


def test_failed_gate_exits_3_unless_overridden(synthetic_study_files, registry, tmp_path, capsys):
    out = tmp_path / "lesion.nii.gz"
    assert main(_args(synthetic_study_files, out, registry, operator=False)) == 3
    assert "operator_training" in capsys.readouterr().err and not out.exists()
    assert main(_args(synthetic_study_files, out, registry, "--override", "training renewal pending",
                      operator=False)) == 2
    assert "--override needs --operator" in capsys.readouterr().err
    # With an operator who is not in the registry the error is a clean exit 2 as well.
    unknown = _args(synthetic_study_files, out, registry, operator=False) + ["--operator", "Nobody", "--registry",
                                                                           str(registry)]
    assert main(unknown) == 2
    capsys.readouterr()


def test_override_is_recorded(synthetic_study_files, registry, tmp_path, capsys):
    out = tmp_path / "lesion.nrrd"
    arguments = [a for a in _args(synthetic_study_files, out, registry) if not a.startswith("--background-sphere")]
    arguments += ["--override", "liver diseased, no reference"]
    assert main(arguments) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]
    assert provenance["gate"]["overall"] == "fail"
    assert provenance["gate_override_reason"] == "liver diseased, no reference"


def test_edits_are_applied_in_order_and_recorded(synthetic_study_files, registry, tmp_path, capsys, synthetic_study):
    out = tmp_path / "edited.nrrd"
    centre = _point(BIG.centre_lps_mm)
    assert main(_args(synthetic_study_files, out, registry, f"--erase={centre},60", f"--paint={centre},12")) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]
    assert [s["name"] for s in provenance["steps"]][-2:] == ["erase sphere", "paint sphere"]
    assert [s["algorithm_type"] for s in provenance["steps"]][-2:] == ["MANUAL", "MANUAL"]
    assert provenance["steps"][-2]["voxel_count"] == 0
    # Only the 12 mm sphere is left: the PET voxel centres within 6 mm of its centre, counted here.
    grid = synthetic_study.pet_suv
    axes = [o + s * np.arange(n) for o, s, n in zip(grid.GetOrigin(), grid.GetSpacing(), grid.GetSize())]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    cx, cy, cz = BIG.centre_lps_mm
    assert provenance["voxel_count"] == np.count_nonzero((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= 36.0)


def test_pet_segment_on_the_ct_reference(synthetic_study_files, registry, tmp_path, capsys, synthetic_study):
    document = load_library().get("fdg-pet-ct-oncology").to_dict()
    document["id"] = "fdg-pet-ct-reference-test"
    document["segmentation"]["reference_images"] = {
        "CT": {"methods": {"threshold": {"lower": 80.0, "upper": 1000.0}}, "source": "test value"}}
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "test.yaml").write_text(yaml.safe_dump(document))
    out = tmp_path / "ct-defined.nrrd"
    arguments = _args(synthetic_study_files, out, registry, method="threshold")
    arguments[arguments.index("fdg-pet-ct-oncology")] = "fdg-pet-ct-reference-test"
    arguments += ["--reference", str(synthetic_study_files.ct_dicom[0].parent),
                  "--protocol-dir", str(tmp_path / "protocols")]
    assert main(arguments) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]
    assert provenance["roi_modality"] == "CT" and provenance["units"] == "HU"
    assert provenance["alignment"]["method"] == "resample (same frame of reference)"
    written = sitk.ReadImage(str(out))
    assert written.GetSpacing() == synthetic_study.pet_suv.GetSpacing()  # the mask is on the PET grid
    truth = next(s for s in synthetic_study.truth.spheres if s.diameter_mm == BIG.diameter_mm)
    assert provenance["volume_mm3"] == pytest.approx(truth.volume_mm3, rel=0.10)


def test_lesion_sphere_past_the_image_edge_is_clipped_with_a_warning(synthetic_study_files, registry, tmp_path,
                                                                       capsys):
    out = tmp_path / "bounded.nrrd"
    sphere = f"--voi-sphere={_point(BIG.centre_lps_mm)},2000"  # far larger than the image
    assert main(_args(synthetic_study_files, out, registry, sphere)) == 0
    result = json.loads(capsys.readouterr().out)
    assert any("reaches past the image edge; clipped to the image" in warning for warning in result["warnings"])
    assert result["provenance"]["details"]["lesion_roi"].endswith("diameter 2000 mm")
    assert result["provenance"]["flags"] == [] and result["voxel_count"] > 0
