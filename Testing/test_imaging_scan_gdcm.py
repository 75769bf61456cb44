"""The GDCM header scan against an independent reading of the same files with pydicom.

Series are generated (dicom_factory), then read twice: by the loader's scan (python-gdcm's Scanner, pydicom
only for one whole header per series) and, in the test, file by file with pydicom. Grouping, file order,
positions, spacing and every scanned stored value must agree; so must the record fields computed from every
slice's whole pydicom header, and the image record with python-gdcm switched off.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.multival import MultiValue

from dicom_factory import write_series
from StandardSegLib.errors import DicomError
from StandardSegLib.imaging import dicom_scan, load_image, read_image_headers, read_image_record, scan_series
from StandardSegLib.imaging.dicom_scan import HeaderTable, SeriesHeaders, scan_folder, stored_dataset
from StandardSegLib.imaging.dicom_series import SERIES_KEYWORDS, order_slices
from StandardSegLib.imaging.header_fields import PER_SLICE_KEYWORDS, header_fields

pytestmark = pytest.mark.skipif(dicom_scan.gdcm is None, reason="python-gdcm not installed")

OBLIQUE_ROW = (np.cos(np.deg2rad(30)), np.sin(np.deg2rad(30)), 0.0)
OBLIQUE_COLUMN = (0.0, 0.0, -1.0)
#: Binary floats (FD) come through GDCM's text with 6 significant digits.
FD_KEYWORDS = {"CTDIvol", "SpiralPitchFactor"}


@pytest.fixture
def without_gdcm(monkeypatch):
    """Every header parsed by pydicom, as without python-gdcm."""
    def switch_off():
        monkeypatch.setattr(dicom_scan, "gdcm", None)
    return switch_off


def _pydicom_series(folder: Path) -> dict[str, list[tuple[Path, pydicom.Dataset]]]:
    """Independent reading: every file with pydicom, grouped by SeriesInstanceUID, non-DICOM left out."""
    grouped: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        if "SeriesInstanceUID" in dataset:
            grouped.setdefault(dataset.SeriesInstanceUID, []).append((path, dataset))
    return grouped


def _spatial_order(members: list[tuple[Path, pydicom.Dataset]]) -> list[tuple[Path, pydicom.Dataset]]:
    cosines = np.array([float(v) for v in members[0][1].ImageOrientationPatient])
    normal = np.cross(cosines[:3], cosines[3:])
    return sorted(members, key=lambda member: np.dot([float(v) for v in member[1].ImagePositionPatient], normal))


def _mixed_folder(root: Path) -> dict[str, object]:
    """Three image series (one oblique, one with per-slice PET values) sharing folders, plus non-image files."""
    ct = write_series(root / "study", modality="CT", shape=(6, 8, 7), shuffle_seed=2, prefix="ct",
                      header={"KVP": 120, "XRayTubeCurrent": 200, "CTDIvol": 11.25, "AcquisitionDate": "20240102"},
                      per_slice={k: {"XRayTubeCurrent": 180 + 10 * k, "AcquisitionTime": f"1015{10 + k:02d}"}
                                 for k in range(7)})
    mr = write_series(root / "study", modality="MR", shape=(5, 4, 6), orientation=OBLIQUE_ROW + OBLIQUE_COLUMN,
                      pixel_spacing_mm=(1.5, 0.9), slice_spacing_mm=3.0, origin_mm=(12.0, -7.5, 40.0),
                      shuffle_seed=0, prefix="mr", header={"SeriesDescription": "T2 oblique", "EchoTime": 90,
                                                           "SpecificCharacterSet": "ISO_IR 100",
                                                           "Manufacturer": "Société Test",
                                                           "InstitutionName": "Hôpital Nord"})
    pt = write_series(root / "pet", modality="PT", shape=(4, 4, 5), slope=[0.5, 1.0, 1.5, 2.0, 2.5],
                      shuffle_seed=4, header={"Units": "BQML", "DecayCorrection": "START",
                                              "SeriesType": ["WHOLE BODY", "IMAGE"]},
                      per_slice={3: {"Units": "CNTS"}})
    (root / "study" / "notes.txt").write_text("not DICOM\n")
    shutil.copy(get_testdata_file("rtplan.dcm"), root / "study" / "plan.dcm")
    return {"CT": ct, "MR": mr, "PT": pt}


def test_grouping_order_and_geometry_match_pydicom(tmp_path):
    written = _mixed_folder(tmp_path)
    scan = scan_folder(tmp_path, keywords=(*SERIES_KEYWORDS, *PER_SLICE_KEYWORDS))
    expected = _pydicom_series(tmp_path)
    assert {uid: [p for p, _ in members] for uid, members in expected.items()} == \
        {uid: list(files) for uid, files in scan.files_by_series.items()}
    assert scan.warnings == ("skipped study/notes.txt: not a DICOM image file",)
    summaries = {summary.series_instance_uid: summary for summary in scan.summaries()}
    for uid, members in expected.items():
        first = members[0][1]
        assert summaries[uid].modality == first.Modality
        assert summaries[uid].series_description == (first.get("SeriesDescription") or None)
        assert summaries[uid].is_image == ("Rows" in first)
    for modality, series in written.items():
        ordered = order_slices(scan.series(series.series_instance_uid))
        reference = _spatial_order(expected[series.series_instance_uid])
        assert ordered.files == tuple(path for path, _ in reference) == series.files, modality
        positions = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in reference])
        np.testing.assert_allclose(positions, series.positions_mm, atol=1e-6)
        np.testing.assert_allclose(ordered.geometry.origin_mm, positions[0], atol=1e-9)
        first = reference[0][1]
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
        expected_spacing = (float(first.PixelSpacing[1]), float(first.PixelSpacing[0]), float(np.median(steps)))
        np.testing.assert_allclose(ordered.geometry.spacing_mm, expected_spacing, rtol=1e-9)
        cosines = np.array([float(v) for v in first.ImageOrientationPatient])
        direction = np.array(ordered.geometry.direction)
        np.testing.assert_allclose(direction[:, 0], cosines[:3], atol=1e-9)
        np.testing.assert_allclose(direction[:, 1], cosines[3:], atol=1e-9)
        assert ordered.geometry.size == (int(first.Columns), int(first.Rows), len(reference))
    mr = order_slices(scan.series(written["MR"].series_instance_uid))
    np.testing.assert_allclose(np.array(mr.geometry.direction)[:, 2], np.cross(OBLIQUE_ROW, OBLIQUE_COLUMN), atol=1e-9)


def _decoded(value):
    if isinstance(value, MultiValue):
        return [_decoded(v) for v in value]
    return None if value in (None, "") else value


@pytest.mark.parametrize("source", ["generated", "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm",
                                    "MR_small_bigendian.dcm", "image_dfl.dcm"])
def test_every_scanned_value_decodes_like_pydicom(tmp_path, source):
    if source == "generated":
        _mixed_folder(tmp_path)
        folder = tmp_path
    else:  # real files: implicit VR, big endian, deflated, vendor headers
        folder = tmp_path / "one"
        folder.mkdir()
        shutil.copy(get_testdata_file(source), folder / source)
    keywords = tuple(dict.fromkeys((*SERIES_KEYWORDS, *PER_SLICE_KEYWORDS)))
    scan = scan_folder(folder, keywords=keywords)
    checked = 0
    for files in scan.files_by_series.values():
        for path in files:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
            for keyword in keywords:
                stored = scan.table.value(path, keyword)
                assert (stored is None) == (keyword not in dataset), (path.name, keyword, stored)
                if stored is None:
                    continue
                ours, theirs = _decoded(stored_dataset({keyword: stored}).get(keyword)), _decoded(dataset.get(keyword))
                if keyword in FD_KEYWORDS and theirs is not None:
                    assert ours == pytest.approx(theirs, rel=1e-5), (path.name, keyword)
                else:
                    assert ours == theirs, (path.name, keyword, stored)
                checked += 1
    assert checked >= (100 if source == "generated" else 8)


def _records(folder: Path, series_uid, without_gdcm):
    with_gdcm = read_image_record(folder, series_uid=series_uid)
    without_gdcm()
    return with_gdcm, read_image_record(folder, series_uid=series_uid)


@pytest.mark.parametrize("modality", ["CT", "MR", "PT"])
def test_record_is_the_same_without_gdcm(tmp_path, modality, without_gdcm):
    written = _mixed_folder(tmp_path)
    uid = written[modality].series_instance_uid
    scanned, parsed = _records(tmp_path, uid, without_gdcm)
    assert scanned == parsed
    if modality == "CT":
        assert scanned.varies_across_slices == ("tube_current_ma",)
        assert scanned.acquisition_datetime == "2024-01-02T10:15:10"
        assert scanned.ctdi_vol_mgy == 11.25
    if modality == "PT":
        assert "units" in scanned.varies_across_slices and scanned.units == "BQML"
    if modality == "MR":
        assert scanned.series_description == "T2 oblique" and scanned.echo_time_ms == 90.0
        assert scanned.manufacturer == "Société Test" and scanned.varies_across_slices == ()
        assert dict(scanned.identifiers)["InstitutionName"] == "Hôpital Nord"


def test_headers_are_whole_pydicom_headers_in_slice_order(tmp_path):
    written = _mixed_folder(tmp_path)
    pt = written["PT"]
    record, datasets = read_image_headers(tmp_path / "pet")
    assert isinstance(datasets, tuple) and len(datasets) == 5
    loaded = load_image(tmp_path / "pet")
    for k, (header, from_pixels) in enumerate(zip(datasets, loaded.datasets)):
        reference = pydicom.dcmread(pt.files[k], stop_before_pixels=True)
        assert header == reference and from_pixels == reference  # same elements, same values
        assert "PixelData" not in from_pixels and float(from_pixels.RescaleSlope) == pt.slopes[k]
    assert loaded.record == record


def test_values_varying_in_few_or_many_scanner_calls(tmp_path, monkeypatch, without_gdcm):
    """Absent and empty values, a binary float differing per slice and several scanner calls per series."""
    series = write_series(tmp_path / "ct", shape=(4, 4, 9), shuffle_seed=5,
                          header={"KVP": 120, "CTDIvol": 10.5, "ConvolutionKernel": "B30f", "SliceThickness": 2.5},
                          per_slice={1: {"KVP": None}, 2: {"KVP": ""}, 4: {"CTDIvol": 12.75},
                                     6: {"ConvolutionKernel": "B70f"}})
    monkeypatch.setattr(dicom_scan, "SCAN_CHUNK", 4)  # three scanner calls for nine files
    scanned, parsed = _records(series.directory, None, without_gdcm)
    assert scanned == parsed
    assert set(scanned.varies_across_slices) == {"kvp", "ctdi_vol_mgy"}  # the kernel is not compared per slice


def test_a_series_split_over_folders_and_interleaved_with_another(tmp_path):
    first = write_series(tmp_path / "a", shape=(4, 4, 4), prefix="x")
    series_uid = first.series_instance_uid
    study_uid = pydicom.dcmread(first.files[0]).StudyInstanceUID
    # the same series continued in a second folder, next to another series' files
    more = write_series(tmp_path / "b", shape=(4, 4, 3), origin_mm=(-10.0, -20.0, 40.0), series_uid=series_uid,
                        study_uid=study_uid, prefix="y")
    other = write_series(tmp_path / "b", modality="MR", shape=(4, 4, 2), prefix="z")
    summaries = {s.series_instance_uid: s for s in scan_series(tmp_path)}
    assert summaries[series_uid].number_of_files == 7 and summaries[other.series_instance_uid].number_of_files == 2
    scan = scan_folder(tmp_path)
    assert order_slices(scan.series(series_uid)).files == first.files + more.files  # z 30 ... 45 mm
    assert read_image_record(tmp_path, series_uid=series_uid).number_of_slices == 7
    with pytest.raises(DicomError, match="2 image series found"):
        read_image_record(tmp_path)


def test_dicomdir_and_unreadable_files_are_handled_like_pydicom(tmp_path, without_gdcm):
    series = write_series(tmp_path / "s", shape=(4, 4, 3))
    shutil.copy(Path(get_testdata_file("rtplan.dcm")).parent / "dicomdirtests" / "DICOMDIR", series.directory)
    (series.directory / "empty.dcm").write_bytes(b"")
    scanned = read_image_record(series.directory)
    assert scanned.number_of_slices == 3
    assert [w for w in scanned.warnings if w.startswith("skipped")] == [
        "skipped DICOMDIR: not a DICOM image file", "skipped empty.dcm: not a DICOM image file"]
    without_gdcm()
    assert read_image_record(series.directory) == scanned


def test_single_file_tables_read_nothing_twice(tmp_path):
    path = get_testdata_file("CT_small.dcm")
    table = HeaderTable()
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    table.add_dataset(Path(path), dataset)
    assert table.dataset(Path(path)) is dataset
    assert table.value(Path(path), "PixelSpacing") == "\\".join(str(v) for v in dataset.PixelSpacing)
    assert table.value(Path(path), "NumberOfFrames") is None


@pytest.mark.parametrize("modality", ["CT", "PT"])
def test_record_parses_at_most_two_whole_headers(tmp_path, monkeypatch, modality):
    """The listing reads the first file's whole header, the record the first slice's; nothing else."""
    series = write_series(tmp_path / "s", modality=modality, shape=(4, 4, 12), shuffle_seed=1,
                          header={"Units": "BQML"} if modality == "PT" else {})
    parsed = []
    real = pydicom.dcmread
    monkeypatch.setattr(pydicom, "dcmread", lambda path, *args, **kwargs: parsed.append(Path(path)) or
                        real(path, *args, **kwargs))
    assert read_image_record(series.directory).number_of_slices == 12
    assert set(parsed) <= {min(series.files), series.files[0]} and len(parsed) <= 2


def test_scanned_and_pydicom_parsed_files_mix_in_one_series(tmp_path):
    """Files GDCM cannot read are parsed by pydicom; one series may hold both kinds."""
    series = write_series(tmp_path / "s", shape=(4, 4, 5), shuffle_seed=3, header={"KVP": 120},
                          per_slice={3: {"KVP": 100}})
    keywords = (*SERIES_KEYWORDS, *PER_SLICE_KEYWORDS)
    files = sorted(series.files)
    mixed, scanned = HeaderTable(), HeaderTable()
    assert mixed.scan(files[:2], keywords) == [] and scanned.scan(files, keywords) == []
    for path in files[2:]:
        mixed.add_dataset(path, pydicom.dcmread(path, stop_before_pixels=True))
    mixed_headers, scanned_headers = SeriesHeaders(files, mixed), SeriesHeaders(files, scanned)
    for keyword in ("KVP", "ImagePositionPatient", "Rows", "PixelSpacing", "SliceThickness"):
        assert mixed_headers.values(keyword) == scanned_headers.values(keyword), keyword
        assert mixed_headers.holders(keyword) == scanned_headers.holders(keyword), keyword
    assert mixed_headers.distinct("KVP") == {"120.0", "100.0"}
    assert order_slices(mixed_headers).files == order_slices(scanned_headers).files == series.files
    assert header_fields(order_slices(mixed_headers).datasets) == header_fields(order_slices(scanned_headers).datasets)


def test_record_fields_match_the_whole_header_computation(tmp_path):
    """``header_fields`` on scanned values == on every slice's whole pydicom header (the original path)."""
    written = _mixed_folder(tmp_path)
    odd = write_series(tmp_path / "odd", shape=(4, 4, 6), shuffle_seed=7,
                       header={"AcquisitionDate": "20240102", "AcquisitionTime": "120000", "PatientWeight": 70,
                               "SliceThickness": "2.5"},
                       per_slice={1: {"AcquisitionTime": "101500"}, 2: {"AcquisitionTime": "25h"},
                                  3: {"PatientWeight": "70.0"}, 4: {"PatientWeight": "99.9"},
                                  5: {"AcquisitionTime": "094500.5 "}})
    odd.files[4].write_bytes(odd.files[4].read_bytes().replace(b"99.9", b"ab.c"))  # not a number
    scan = scan_folder(tmp_path, keywords=(*SERIES_KEYWORDS, *PER_SLICE_KEYWORDS))
    for series in (*written.values(), odd):
        ordered = order_slices(scan.series(series.series_instance_uid))
        whole = [pydicom.dcmread(path, stop_before_pixels=True) for path in ordered.files]
        assert header_fields(ordered.datasets) == header_fields(whole), series.directory
    values, warnings = header_fields(order_slices(scan.series(odd.series_instance_uid)).datasets)
    assert values["varies_across_slices"] == ("patient_weight_kg",)
    assert any("AcquisitionTime" in warning and "25h" in warning for warning in warnings)
