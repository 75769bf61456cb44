"""RTSTRUCT reading: contours placed by geometry and filled at pixel centres.

Independent references: an analytic sphere (volume 4/3 pi r^3), a square whose pixel count is known exactly,
matplotlib's point-in-polygon test (a second implementation of the same inside rule) on the real expert
contours, and the expert GTV volumes published with the STS data (about 366, 54 and 80 mL).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid
from rtstruct_factory import FRAME, grid, sphere_contours, write_structure_set

from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.imaging import load_image, read_mask_file
from StandardSegLib.rtstruct import read_rtstruct, read_rtstruct_mask, rtstruct_roi_names

DATA = Path(__file__).parent / "Data"
STS = DATA / "real" / "sts"


def volume_ml(mask: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(mask).sum() * np.prod(mask.GetSpacing()) / 1000.0)


@pytest.mark.parametrize("direction", [None, tuple(sitk.VersorTransform((0.3, 0.2, 1.0), 0.4).GetMatrix())])
def test_contoured_sphere_volume_within_2_percent(tmp_path, direction):
    image = grid(direction=direction)
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint((31.3, 32.6, 19.4)))
    radius = 20.0
    path = write_structure_set(tmp_path / "RS.dcm", {"sphere": sphere_contours(image, centre, radius)})
    mask = read_rtstruct_mask(path, image, "sphere")
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert mask.GetSize() == image.GetSize() and mask.GetOrigin() == image.GetOrigin()
    analytic = 4 / 3 * np.pi * radius ** 3 / 1000.0
    assert volume_ml(mask) == pytest.approx(analytic, rel=0.02)
    # Placed where it was drawn: the mask's centroid is the sphere's centre (within a voxel).
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(mask)
    assert np.linalg.norm(np.asarray(shape.GetCentroid(1)) - centre) < 0.5


def test_square_with_hole_counts_pixel_centres_exactly(tmp_path):
    image = grid(size=(20, 20, 3), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    outer = np.array([[2.5, 2.5, 1], [12.5, 2.5, 1], [12.5, 12.5, 1], [2.5, 12.5, 1]])  # centres 3..12: 10 x 10
    inner = np.array([[5.5, 5.5, 1], [7.5, 5.5, 1], [7.5, 7.5, 1], [5.5, 7.5, 1]])  # centres 6..7: 2 x 2
    path = write_structure_set(tmp_path / "RS.dcm", {"ring": [outer, inner]})
    array = sitk.GetArrayFromImage(read_rtstruct_mask(path, image))
    assert array.sum() == 100 - 4
    assert array[1, 3:13, 3:13].sum() == 96 and array[1, 6:8, 6:8].sum() == 0 and array[[0, 2]].sum() == 0


def test_contours_on_coarser_planes_fill_their_slab(tmp_path):
    """Contours every 3 mm on a 1 mm image: each plane stands for 3 slices (nearest slab), not one."""
    image = grid(size=(20, 20, 30), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    square = np.array([[2.5, 2.5], [12.5, 2.5], [12.5, 12.5], [2.5, 12.5]])
    contours = [np.column_stack([square, np.full(4, z)]) for z in (10.0, 13.0, 16.0)]
    result = read_rtstruct(write_structure_set(tmp_path / "RS.dcm", {"box": contours}), image)
    array = sitk.GetArrayFromImage(result.mask)
    assert [int(k) for k in np.flatnonzero(array.sum(axis=(1, 2)))] == list(range(9, 18))
    assert any("resampled nearest-neighbour" in warning for warning in result.warnings)


def test_roi_choice_errors_list_the_names(tmp_path):
    image = grid(size=(20, 20, 3), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    square = np.array([[2.5, 2.5, 1], [8.5, 2.5, 1], [8.5, 8.5, 1], [2.5, 8.5, 1]])
    path = write_structure_set(tmp_path / "RS.dcm", {"GTV": [square], "Muscle": [square + [1, 0, 0]]})
    assert rtstruct_roi_names(path) == ["GTV", "Muscle"]
    with pytest.raises(InputError, match=r"holds 2 ROIs \('GTV', 'Muscle'\)"):
        read_rtstruct_mask(path, image)
    with pytest.raises(InputError, match=r"no ROI named 'CTV'; its ROIs: 'GTV', 'Muscle'"):
        read_rtstruct_mask(path, image, "CTV")
    assert sitk.GetArrayFromImage(read_rtstruct_mask(path, image, "muscle")).sum() == 36
    ambiguous = write_structure_set(tmp_path / "RS2.dcm", {"GTV": [square], "gtv": [square]})
    with pytest.raises(InputError, match=r"has 2 ROIs named 'Gtv' \(ROINumber 1, 2\)"):
        read_rtstruct_mask(ambiguous, image, "Gtv")


def test_other_frame_of_reference_is_refused_and_other_instances_are_said(tmp_path):
    image = grid(size=(20, 20, 3), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    square = np.array([[2.5, 2.5, 1], [8.5, 2.5, 1], [8.5, 8.5, 1], [2.5, 8.5, 1]])
    header = pydicom.Dataset()
    header.FrameOfReferenceUID, header.SOPInstanceUID = FRAME, generate_uid()
    header.SeriesInstanceUID = generate_uid()
    other_frame = write_structure_set(tmp_path / "RS.dcm", {"GTV": [square]}, frame=generate_uid())
    with pytest.raises(DicomError, match="ReferencedFrameOfReferenceUID"):
        read_rtstruct(other_frame, image, datasets=[header])
    elsewhere = write_structure_set(tmp_path / "RS2.dcm", {"GTV": [square]}, referenced=(generate_uid(),))
    result = read_rtstruct(elsewhere, image, datasets=[header])
    assert sitk.GetArrayViewFromImage(result.mask).sum() == 36
    assert any("another series" in warning for warning in result.warnings)


def test_read_mask_file_dispatches_rtstruct_and_refuses_misuse(tmp_path):
    image = grid(size=(20, 20, 3), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    square = np.array([[2.5, 2.5, 1], [8.5, 2.5, 1], [8.5, 8.5, 1], [2.5, 8.5, 1]])
    path = write_structure_set(tmp_path / "RS.dcm", {"GTV": [square]})
    notes: list[str] = []
    assert sitk.GetArrayFromImage(read_mask_file(path, image, "GTV", warnings=notes)).sum() == 36
    assert any("frame of reference not checked" in note for note in notes)
    with pytest.raises(InputError, match="need the image"):
        read_mask_file(path)
    nifti = tmp_path / "mask.nii.gz"
    sitk.WriteImage(sitk.Cast(image, sitk.sitkUInt8), str(nifti))
    with pytest.raises(InputError, match="voxel mask"):
        read_mask_file(nifti, image, "GTV")


@pytest.mark.parametrize("patient, modality, expected_ml", [
    ("STS_001", "PET", 366), ("STS_002", "PET", 54), ("STS_003", "PET", 80),
    ("STS_001", "CT", 366), ("STS_003", "MR_T1", 80)])
def test_real_gtv_contours_drawn_on_uncropped_originals(patient, modality, expected_ml):
    loaded = load_image(STS / patient / modality / "image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # over-long SH values in the vendored files
        result = read_rtstruct(STS / patient / modality / "mask" / "RS.dcm", loaded.image, None, loaded.datasets)
    assert result.roi == f"GTV_Mass_{modality}"
    assert volume_ml(result.mask) == pytest.approx(expected_ml, rel=0.02)
    assert any("not in this series" in warning for warning in result.warnings)


def test_fill_agrees_with_matplotlib_point_in_polygon_on_expert_contours():
    """Same inside rule, another implementation: every pixel centre of every plane of STS_002's CT GTV."""
    path_module = pytest.importorskip("matplotlib.path")
    loaded = load_image(STS / "STS_002" / "CT" / "image")
    image = loaded.image
    rs = STS / "STS_002" / "CT" / "mask" / "RS.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = sitk.GetArrayFromImage(read_rtstruct_mask(rs, image))
        structure_set = pydicom.dcmread(rs)
    expected = np.zeros_like(ours)
    columns, rows = np.meshgrid(np.arange(image.GetSize()[0]), np.arange(image.GetSize()[1]))
    centres = np.column_stack([columns.ravel(), rows.ravel()])
    for contour in structure_set.ROIContourSequence[0].ContourSequence:
        points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        index = np.array([image.TransformPhysicalPointToContinuousIndex(point) for point in points])
        inside = path_module.Path(index[:, :2]).contains_points(centres).reshape(rows.shape)
        expected[int(round(index[0, 2]))] ^= inside.astype(np.uint8)
    assert expected.sum() > 15000
    assert np.count_nonzero(ours != expected) <= 1e-3 * expected.sum()


def test_measure_and_features_cli_read_an_rtstruct_roi(capsys):
    import json

    from StandardSegLib.cli import main

    image, rs = STS / "STS_002" / "PET" / "image", STS / "STS_002" / "PET" / "mask" / "RS.dcm"
    assert main(["measure", str(image), "--mask", str(rs), "--roi", "GTV_Mass_PET", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    loaded = load_image(image)
    expected = int(sitk.GetArrayFromImage(read_rtstruct_mask(rs, loaded.image, "GTV_Mass_PET")).sum())
    assert measured["voxel_count"] == expected and measured["volume_ml"] == pytest.approx(54, rel=0.02)
    assert any("not in this series" in warning for warning in measured["warnings"])

    assert main(["measure", str(image), "--mask", str(rs), "--roi", "GTV"]) == 2
    err = capsys.readouterr().err
    assert "no ROI named 'GTV'; its ROIs: 'GTV_Mass_PET'" in err and len(err.strip().splitlines()) == 1

    assert main(["features", str(image), "--mask", str(rs), "--protocol", "fdg-pet-ct-oncology", "--json"]) == 0
    features = json.loads(capsys.readouterr().out)
    assert any("not in this series" in warning for warning in features["warnings"])  # frame of reference checked
    # same voxels (the protocol resamples before radiomics, so the volume agrees to 0.1 %, not exactly)
    assert features["features"]["original_shape_VoxelVolume"] == pytest.approx(measured["volume_mm3"], rel=1e-3)


def test_suv_dro_contours_agree_with_rt_utils_reading_of_the_same_file():
    """DRO_0_0's RTSTRUCT references the vendored PT instances, so rt-utils (matching by UID, cv2.fillPoly:
    every pixel the outline touches) can read it too: ours is the same region without that outline ring."""
    rt_utils = pytest.importorskip("rt_utils")
    folder = DATA / "suv_dro" / "DRO_0_0"
    rs = next((folder / "RS").glob("*.dcm"))
    loaded = load_image(folder / "PT")
    result = read_rtstruct(rs, loaded.image, "region_1", loaded.datasets)
    assert result.warnings == ()  # same frame of reference and instances: nothing to say
    ours = sitk.GetArrayFromImage(result.mask) > 0
    theirs = np.transpose(rt_utils.RTStructBuilder.create_from(str(folder / "PT"), str(rs))
                          .get_roi_mask_by_name("region_1"), (2, 0, 1))
    assert not np.any(ours & ~theirs)
    ring = theirs & ~ours
    assert 0 < ring.sum() < 0.015 * theirs.sum()
    eroded = sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(theirs.astype(np.uint8)), (1, 1, 0))) > 0
    assert not np.any(ring & eroded)  # the extra voxels are all on rt-utils' outline


def test_job_lesion_and_gate_roi_from_an_rtstruct(tmp_path, capsys, synthetic_study_files, registry):
    """JOB.yaml ``mask: {path, roi}``: an expert contour of the largest synthetic sphere as the lesion (manual)
    and as the gate's lesion ROI; its volume is the analytic sphere's (2 %), and the bundle's session.json
    regenerates it."""
    import json

    import yaml

    from StandardSegLib.cli import main
    from StandardSegLib.phantom import default_layout

    pet_dir = synthetic_study_files.pet_dicom[0].parent
    loaded = load_image(pet_dir)
    layout = default_layout()
    sphere, liver = max(layout.spheres, key=lambda item: item.diameter_mm), layout.liver_reference
    (tmp_path / "rs").mkdir()
    rs = write_structure_set(tmp_path / "rs" / "RS.dcm",
                             {"Body": sphere_contours(loaded.image, np.asarray(liver.centre_lps_mm), 40.0),
                              "GTV": sphere_contours(loaded.image, np.asarray(sphere.centre_lps_mm),
                                                     sphere.diameter_mm / 2)},
                             frame=str(loaded.datasets[0].FrameOfReferenceUID), referenced=(generate_uid(),))
    contour = {"path": str(rs), "roi": "GTV"}
    job = {"schema": "standardseg.session/1", "image": {"path": str(pet_dir)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "rois": {"lesion": {"mask": contour}, "background": {"sphere": [*liver.centre_lps_mm, liver.diameter_mm]}},
           "lesions": [{"name": "expert", "mask": contour}], "radiomics": False}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(tmp_path / "job.yaml"), "-o", str(tmp_path / "bundle")]) == 0, capsys.readouterr().err
    document = json.loads((tmp_path / "bundle" / "report.json").read_text(encoding="utf-8"))
    measured = document["segments"][0]["measurements"]
    expected = int(sitk.GetArrayFromImage(read_rtstruct_mask(rs, loaded.image, "GTV")).sum())
    assert measured["voxel_count"] == expected
    assert measured["volume_voxels_mm3"] == pytest.approx(np.pi / 6 * sphere.diameter_mm ** 3, rel=0.02)
    step = document["segments"][0]["provenance"]["steps"][-1]
    assert step["parameters"]["mask_file"] == "RS.dcm ROI GTV"
    assert any("placed by geometry" in note for note in step["parameters"]["notes"])  # said where it is recorded
    session = json.loads((tmp_path / "bundle" / "session.json").read_text(encoding="utf-8"))
    assert session["lesions"][0]["mask"] == {"path": "../rs/RS.dcm", "roi": "GTV"}
    assert session["rois"]["lesion"]["mask"] == {"path": "../rs/RS.dcm", "roi": "GTV"}
    assert main(["report", "--session", str(tmp_path / "bundle" / "session.json"), "-o", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))
    assert again["segments"][0]["measurements"]["voxel_count"] == expected


def test_degenerate_contours_are_ignored_with_a_warning(tmp_path):
    """rt-utils writes a lone voxel as a one-point CLOSED_PLANAR contour: it encloses nothing."""
    image = grid(size=(20, 20, 3), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    square = np.array([[2.5, 2.5, 1], [8.5, 2.5, 1], [8.5, 8.5, 1], [2.5, 8.5, 1]])
    path = write_structure_set(tmp_path / "RS.dcm", {"GTV": [square, np.array([[15.0, 15.0, 1.0]])]})
    result = read_rtstruct(path, image)
    assert sitk.GetArrayViewFromImage(result.mask).sum() == 36
    assert any("1 contour(s) ignored (CLOSED_PLANAR of fewer than 3 points)" in warning for warning in result.warnings)
