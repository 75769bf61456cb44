"""RTSTRUCT written with rt-utils for radiotherapy systems: read back by geometry it gives the same voxels.

Independent checks: the reader (``StandardSegLib.rtstruct``, voxel-centre filling, itself tested against an
analytic sphere and matplotlib) recovers every voxel of masks with holes, diagonal contacts, non-square
pixels and an oblique orientation; rt-utils' own reader agrees on a series whose UIDs match; dciodvfy
(dicom3tools) finds no error in the written file when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

pytest.importorskip("rt_utils")

from rtstruct_factory import grid  # noqa: E402

from StandardSegLib.report.rtstruct_output import build_rtstruct  # noqa: E402
from StandardSegLib.rtstruct import read_rtstruct, rtstruct_roi_names  # noqa: E402


@dataclass
class _Provenance:
    method: str = "pet-percent-max"
    algorithm_type: str = "SEMIAUTOMATIC"


@dataclass
class _Segment:
    mask: sitk.Image
    provenance: _Provenance


@dataclass
class _Lesion:
    name: str
    segment: _Segment


@dataclass(frozen=True)
class _Operator:
    name: str = "Dr Test"


@dataclass
class _Inputs:
    lesions: tuple[_Lesion, ...]
    operator: _Operator = _Operator()


def _image(direction=None, size=(40, 32, 12), spacing=(1.5, 2.5, 3.0)) -> sitk.Image:
    """Non-square pixels and matrix by default."""
    return grid(size, spacing, (-30.0, 12.5, -100.0), direction)


def _headers(image: sitk.Image) -> list[pydicom.Dataset]:
    """Pixel-free headers of a CT series on ``image``'s grid (z-index order)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    headers = []
    for k in range(image.GetSize()[2]):
        header = pydicom.Dataset()
        header.SOPClassUID, header.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
        header.StudyInstanceUID, header.SeriesInstanceUID, header.FrameOfReferenceUID = study, series, frame
        header.Modality, header.PatientName, header.PatientID = "CT", "Test^Patient", "TEST-1"
        header.StudyDate, header.StudyTime, header.StudyID = "20260101", "101010", "1"
        header.ReferringPhysicianName, header.AccessionNumber, header.PositionReferenceIndicator = "", "", ""
        header.ImagePositionPatient = list(image.TransformIndexToPhysicalPoint((0, 0, k)))
        header.ImageOrientationPatient = [*direction[:, 0], *direction[:, 1]]
        header.PixelSpacing = [image.GetSpacing()[1], image.GetSpacing()[0]]  # DICOM: row spacing, column spacing
        header.Rows, header.Columns = image.GetSize()[1], image.GetSize()[0]
        headers.append(header)
    return headers


def _masks(image: sitk.Image) -> dict[str, np.ndarray]:
    z, y, x = np.meshgrid(*(np.arange(n) for n in reversed(image.GetSize())), indexing="ij")
    ring = (((x - 15) ** 2 + (y - 14) ** 2 < 90) & ((x - 15) ** 2 + (y - 14) ** 2 > 12) & (z > 2) & (z < 9))
    blob = np.random.default_rng(1).random(ring.shape) > 0.6  # islands, diagonal contacts, holes
    blob[:, :, :25] = False
    edge = np.zeros(ring.shape, dtype=bool)
    edge[5:7, 0:4, 36:40] = True  # touches the image border
    return {"ring": ring, "noise": blob, "edge": edge}


def _lesion(name: str, array: np.ndarray, image: sitk.Image) -> _Lesion:
    mask = sitk.GetImageFromArray(array.astype(np.uint8))
    mask.CopyInformation(image)
    return _Lesion(name, _Segment(mask, _Provenance()))


@pytest.mark.parametrize("direction", [None, tuple(sitk.VersorTransform((0.2, -0.4, 1.0), 0.5).GetMatrix())])
def test_written_contours_give_back_every_voxel(tmp_path, direction):
    image = _image(direction)
    headers = _headers(image)
    masks = _masks(image)
    dataset = build_rtstruct(_Inputs(tuple(_lesion(name, array, image) for name, array in masks.items())), headers)
    path = tmp_path / "rtstruct.dcm"
    dataset.save_as(path, enforce_file_format=True)

    assert rtstruct_roi_names(path) == list(masks)
    for name, array in masks.items():
        result = read_rtstruct(path, image, name, headers)
        assert result.warnings == ()  # same frame of reference, same instances
        read = sitk.GetArrayFromImage(result.mask) > 0
        assert np.array_equal(read, array), f"{name}: {np.count_nonzero(read != array)} voxels differ"
    written = pydicom.dcmread(path)
    assert written.Modality == "RTSTRUCT" and written.PatientID == "TEST-1"
    referenced = {item.ReferencedSOPInstanceUID for roi in written.ROIContourSequence for contour in
                  roi.ContourSequence for item in contour.ContourImageSequence}
    assert referenced <= {header.SOPInstanceUID for header in headers}


def test_rt_utils_reads_the_written_structure_like_its_own(tmp_path):
    """rt-utils' reader (UID matching, cv2.fillPoly: every pixel the outline touches) on our file: a superset
    of the voxels by at most the outline ring, never a voxel elsewhere. Square pixels and matrix: rt-utils
    1.2.7's reader shapes its masks columns x rows and scales the row direction by the row spacing."""
    from rt_utils import RTStructBuilder

    image = _image(size=(32, 32, 12), spacing=(2.0, 2.0, 3.0))
    headers = _headers(image)
    series = tmp_path / "series"
    series.mkdir()
    for number, header in enumerate(headers):
        ds = pydicom.Dataset(header)
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = np.zeros((ds.Rows, ds.Columns), dtype=np.uint16).tobytes()
        ds.save_as(series / f"{number:03d}.dcm", enforce_file_format=True)
    ring = _masks(image)["ring"]
    build_rtstruct(_Inputs((_lesion("ring", ring, image),)), headers).save_as(tmp_path / "rs.dcm",
                                                                              enforce_file_format=True)
    theirs = np.transpose(RTStructBuilder.create_from(str(series), str(tmp_path / "rs.dcm"))
                          .get_roi_mask_by_name("ring"), (2, 0, 1))
    assert np.all(theirs[ring])
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(ring.astype(np.uint8)), (1, 1, 0))) > 0
    assert not np.any(theirs & ~grown)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_dciodvfy_finds_no_error(tmp_path):
    image = _image()
    headers = _headers(image)
    path = tmp_path / "rtstruct.dcm"
    build_rtstruct(_Inputs((_lesion("ring", _masks(image)["ring"], image),)), headers).save_as(
        path, enforce_file_format=True)
    output = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (output.stdout + output.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def test_bundle_rtstruct_holds_the_segments_of_the_run(tmp_path, synthetic_study_files, registry):
    """``standardseg run`` on the synthetic PET: dicom/rtstruct.dcm read back onto the PET gives each
    segment's voxels exactly as segments/<name>.seg.nrrd holds them."""
    import json

    import yaml

    from StandardSegLib.cli import main
    from StandardSegLib.imaging import load_image
    from StandardSegLib.phantom import default_layout

    layout = default_layout()
    spheres = sorted(layout.spheres, key=lambda sphere: sphere.diameter_mm)[-2:]
    liver = layout.liver_reference
    pet_dir = synthetic_study_files.pet_dicom[0].parent
    job = {"schema": "standardseg.session/1", "image": {"path": str(pet_dir)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "rois": {"lesion": {"sphere": [*spheres[-1].centre_lps_mm, spheres[-1].diameter_mm]},
                    "background": {"sphere": [*liver.centre_lps_mm, liver.diameter_mm]}},
           "lesions": [{"name": f"sphere-{sphere.sphere_id}", "seeds": [list(sphere.centre_lps_mm)]}
                       for sphere in spheres], "radiomics": False}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    assert main(["run", str(tmp_path / "job.yaml"), "-o", str(tmp_path / "bundle")]) == 0
    bundle = tmp_path / "bundle"
    document = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    assert "dicom/rtstruct.dcm" in document["outputs"] and document["software"]["rt-utils"] == "1.2.7"
    loaded = load_image(pet_dir)
    for segment in document["segments"]:
        result = read_rtstruct(bundle / "dicom" / "rtstruct.dcm", loaded.image, segment["name"], loaded.datasets)
        assert result.warnings == ()
        written = sitk.GetArrayFromImage(sitk.ReadImage(str(bundle / "segments" / f"{segment['name']}.seg.nrrd")))
        assert np.array_equal(sitk.GetArrayViewFromImage(result.mask) > 0, written > 0)
        assert np.count_nonzero(written) == segment["measurements"]["voxel_count"] > 0
    if shutil.which("dciodvfy"):
        output = subprocess.run(["dciodvfy", str(bundle / "dicom" / "rtstruct.dcm")], capture_output=True, text=True,
                                timeout=60)
        assert [line for line in output.stderr.splitlines() if line.startswith("Error")] == []
