"""An RTSTRUCT wherever a command takes a mask: ``--X[-mask] RS.dcm --X-roi NAME`` (``cli/mask_args``) and
JOB.yaml ``{path, roi}``, on STS_002's PET and its expert GTV (GTV_Mass_PET, about 54 mL).

The bounded segment is checked against the expert contour read independently (``real_sts.load_case``) and
the threshold the method reports is recomputed from the SUV image inside the contour.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from real_sts import STS, load_case
from rtstruct_factory import write_structure_set

from StandardSegLib.cli import main
from StandardSegLib.cli.mask_args import roi_option

PET = STS / "STS_002" / "PET"
RS = PET / "mask" / "RS.dcm"
#: The gate cannot pass on these crops (no liver, contradictory times): every call overrides it, as a reader would.
OVERRIDE = ["--operator", "Dr Demo", "--override", "research crop without reference tissue"]


def _point(values) -> str:
    return ",".join(f"{value:.5f}" for value in values)


@pytest.mark.parametrize("option, expected", [("--mask", "--roi"), ("--voi-mask", "--voi-roi"),
                                              ("--lesion", "--lesion-roi"), ("--background", "--background-roi"),
                                              ("--reference-mask", "--reference-roi")])
def test_every_mask_option_has_its_roi_option(option, expected):
    assert roi_option(option) == expected


def test_segment_bounded_by_an_rtstruct_gtv_stays_inside_it(tmp_path, capsys, registry):
    case = load_case("STS_002", "PET")
    out = tmp_path / "bounded.nrrd"
    capsys.readouterr()  # the registry fixture's output
    assert main(["segment", str(PET / "image"), "--protocol", "fdg-pet-ct-msk-sarcoma", "--method", "pet-percent-max",
                 f"--seed={_point(case.seed_lps)}", "--voi-mask", str(RS), "--voi-roi", "GTV_Mass_PET",
                 "--registry", str(registry), *OVERRIDE, "-o", str(out), "--json"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert any("placed by geometry" in warning for warning in result["warnings"])  # the RTSTRUCT's own note

    segment = sitk.GetArrayFromImage(sitk.ReadImage(str(out))) > 0
    gtv = sitk.GetArrayFromImage(case.gtv) > 0
    values = sitk.GetArrayFromImage(case.image)
    assert segment.sum() == result["voxel_count"] > 0
    assert not np.any(segment & ~gtv)  # bounded by the expert contour
    provenance = result["provenance"]
    lower = provenance["thresholds"]["lower"]
    percent = provenance["parameters"]["percent"]
    # the maximum is taken inside the GTV (the seed is its hottest voxel), the threshold a percentage of it
    assert lower == pytest.approx(percent / 100.0 * values[gtv].max(), rel=1e-5)
    assert np.all(values[segment] >= lower - 1e-4 * lower)


def test_wrong_missing_or_orphan_roi_names_are_one_line_errors(tmp_path, capsys, registry):
    case = load_case("STS_002", "PET")
    common = [str(PET / "image"), "--protocol", "fdg-pet-ct-msk-sarcoma", "--method", "pet-percent-max",
              f"--seed={_point(case.seed_lps)}", "--registry", str(registry), *OVERRIDE]
    assert main(["segment", *common, "--voi-mask", str(RS), "--voi-roi", "GTV", "-o", str(tmp_path / "a.nrrd")]) == 2
    err = capsys.readouterr().err
    assert "RS.dcm has no ROI named 'GTV'; its ROIs: 'GTV_Mass_PET'" in err and len(err.strip().splitlines()) == 1

    square = np.array([[60.0, 110.0, -566.89], [90.0, 110.0, -566.89], [90.0, 140.0, -566.89], [60.0, 140.0, -566.89]])
    two = write_structure_set(tmp_path / "RS2.dcm", {"GTV": [square], "Muscle": [square + [0.0, 40.0, 0.0]]})
    assert main(["segment", *common, "--voi-mask", str(two), "-o", str(tmp_path / "b.nrrd")]) == 2
    err = capsys.readouterr().err
    assert "RS2.dcm holds 2 ROIs ('GTV', 'Muscle'); name one with --voi-roi" in err
    assert len(err.strip().splitlines()) == 1

    assert main(["check", str(PET / "image"), "--protocol", "fdg-pet-ct-msk-sarcoma", "--background-roi", "GTV"]) == 2
    assert "--background-roi 'GTV' names a structure of an RTSTRUCT --background, but no --background was given" \
        in capsys.readouterr().err
    assert not list(tmp_path.glob("*.nrrd"))


def test_check_takes_the_lesion_roi_from_an_rtstruct(capsys):
    case = load_case("STS_002", "PET")
    status = main(["check", str(PET / "image"), "--protocol", "fdg-pet-ct-msk-sarcoma", "--lesion", str(RS),
                   "--lesion-roi", "gtv_mass_pet", "--json"])  # names match case-insensitively when unambiguous
    assert status == 3  # the crop fails the gate (see OVERRIDE); the lesion ROI was still measured
    document = json.loads(capsys.readouterr().out)
    gtv = sitk.GetArrayFromImage(case.gtv) > 0
    values = sitk.GetArrayFromImage(case.image)
    assert document["lesion_roi"]["voxel_count"] == gtv.sum()
    assert document["lesion_roi"]["max"] == pytest.approx(values[gtv].max(), rel=1e-5)
    assert any("placed by geometry" in warning for warning in document["warnings"])


def test_job_voi_names_an_rtstruct_roi(tmp_path, capsys, registry):
    """JOB.yaml ``voi: {mask: {path, roi}}`` bounds the method as ``--voi-mask RS.dcm --voi-roi`` does."""
    case = load_case("STS_002", "PET")
    job = {"schema": "standardseg.session/1", "image": {"path": str(PET / "image")},
           "protocol": {"id": "fdg-pet-ct-msk-sarcoma"}, "operator": {"name": "Dr Demo", "registry": str(registry)},
           "override": OVERRIDE[-1], "radiomics": False,
           "lesions": [{"name": "gtv-bounded", "method": "pet-percent-max", "seeds": [list(case.seed_lps)],
                        "voi": {"mask": {"path": str(RS), "roi": "GTV_Mass_PET"}}}]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(tmp_path / "job.yaml"), "-o", str(tmp_path / "bundle")]) == 0, capsys.readouterr().err
    segment = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "bundle" / "segments" / "gtv-bounded.seg.nrrd")))
    gtv = sitk.GetArrayFromImage(case.gtv) > 0
    assert segment.sum() > 0 and not np.any((segment > 0) & ~gtv)


def test_an_rtstruct_is_refused_as_a_seeds_mask():
    """Grow-from-seeds needs labelled seeds (1 lesion, 2 background); one ROI cannot say which is which."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.segmentation.grow_from_seeds import read_seeds_mask

    with pytest.raises(InputError, match="seeds mask RS.dcm: an RTSTRUCT holds contours of regions"):
        read_seeds_mask(RS, load_case("STS_002", "PET").image)
