"""Hostile input, one class at a time: what each refusal says (the fuzz test only checks that it is one line).

Pixel value scale (rescale missing/zero/negative/multi-valued/wrong VR, BitsStored), geometry (negative or
NaN spacing and position), Rows/Columns against the pixel data, unusable header numbers recorded as None,
and NaN/infinity inside a mask, a gate ROI or a segmentation VOI, for DICOM and NIfTI input.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import dicom_factory
from protocol_variants import protocol_with
from StandardSegLib.cli import main
from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.gate import GateVerdict, RoiInput, evaluate_gate
from StandardSegLib.imaging import load_image, read_image_record
from StandardSegLib.measure import region_statistics
from StandardSegLib.protocols import load_library
from StandardSegLib.roi import SphereROI, shape_mask


def ct_series(tmp_path, **header):
    return dicom_factory.write_series(tmp_path / "ct", modality="CT", intercept=-1024.0, header=header)


def rewrite(path, change):
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)


# --- pixel value scale ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("modality, missing", [("CT", "RescaleSlope"), ("CT", "RescaleIntercept"),
                                               ("PT", "RescaleSlope")])
def test_type_1_rescale_missing_is_refused_naming_file_and_tag(tmp_path, modality, missing):
    series = dicom_factory.write_series(tmp_path / "s", modality=modality, per_slice={2: {missing: None}})
    with pytest.raises(DicomError, match=rf"{series.files[2].name}: {missing} \(0028,105[23]\) missing; required "
                                         rf"\(Type 1\) in a {modality} image"):
        load_image(series.directory)


def test_mr_without_rescale_keeps_the_stored_values(tmp_path):
    series = dicom_factory.write_series(tmp_path / "mr", modality="MR",
                                        header={"RescaleSlope": None, "RescaleIntercept": None})
    array = sitk.GetArrayFromImage(load_image(series.directory).image)
    np.testing.assert_array_equal(array, series.stored)


@pytest.mark.parametrize("slope, fragment", [
    ("0", r"RescaleSlope \(0028,1053\) is 0; expected a positive number"),
    ("-1", r"RescaleSlope \(0028,1053\) is -1; expected a positive number"),
    (["70", "80"], r"RescaleSlope \(0028,1053\) has 2 values \(70\\80\); expected one"),
])
def test_unusable_slope_is_refused(tmp_path, slope, fragment):
    series = ct_series(tmp_path)
    rewrite(series.files[1], lambda ds: setattr(ds, "RescaleSlope", slope))
    with pytest.raises(DicomError, match=fragment):
        load_image(series.directory)


def test_slope_stored_with_a_binary_vr_is_refused(tmp_path):
    # 1048592 was read as the slope of such a file, and the gate passed an SNR of 4.5e15
    series = ct_series(tmp_path)
    rewrite(series.files[0], lambda ds: ds.add_new(0x00281053, "UL", 1048592))
    with pytest.raises(DicomError, match=r"RescaleSlope \(0028,1053\) is stored with VR UL, expected DS"):
        load_image(series.directory)


def test_pet_intercept_must_be_zero(tmp_path):
    series = dicom_factory.write_series(tmp_path / "pt", modality="PT", intercept=5.0)
    with pytest.raises(DicomError, match=r"RescaleIntercept \(0028,1052\) is 5, expected 0 for PET"):
        load_image(series.directory)


@pytest.mark.parametrize("bits_stored, high_bit, fragment", [
    (7, 15, r"BitsStored \(0028,0101\) 7, HighBit \(0028,0102\) 15 .* inconsistent"),
    (8, 7, r"stored values use bits above BitsStored \(0028,0101\) = 8 \(range -128\.\.127 expected, found 3"),
])
def test_bits_stored_not_describing_the_data_is_refused(tmp_path, bits_stored, high_bit, fragment):
    # stored values 300..335 in this slice: masking them to 7 or 8 bits gave SUVmean -0.0005 instead of refusing
    series = ct_series(tmp_path)
    rewrite(series.files[3], lambda ds: (setattr(ds, "BitsStored", bits_stored), setattr(ds, "HighBit", high_bit)))
    with pytest.raises(DicomError, match=fragment):
        load_image(series.directory)


def test_twelve_bit_data_within_range_still_loads(tmp_path):
    series = ct_series(tmp_path, BitsStored=12, HighBit=11)
    array = sitk.GetArrayFromImage(load_image(series.directory).image)
    np.testing.assert_array_equal(array, series.real_values)


def test_rows_not_matching_the_pixel_data_is_refused(tmp_path):
    series = ct_series(tmp_path)
    for path in series.files:
        rewrite(path, lambda ds: setattr(ds, "Rows", ds.Rows + 1))
    with pytest.raises(DicomError, match=r"pixel data holds 48 bytes but Rows \(0028,0010\) 5 x Columns \(0028,0011\) "
                                         r"6 x BitsAllocated \(0028,0100\) 16 needs 60"):
        load_image(series.directory)


def test_float_pixel_data_with_nan_is_refused(tmp_path):
    series = ct_series(tmp_path)

    def to_float(ds):
        values = ds.pixel_array.astype(np.float32)
        values[1, 2] = np.nan
        for keyword in ("PixelData", "BitsStored", "HighBit", "PixelRepresentation"):
            delattr(ds, keyword)
        ds.BitsAllocated = 32
        ds.FloatPixelData = values.tobytes()
    rewrite(series.files[2], to_float)
    with pytest.raises(DicomError, match=r"real-world pixel values: 1 non-finite value\(s\) \(NaN or infinity\), the "
                                         r"first at pixel \(column, row\) \(2, 1\)"):
        load_image(series.directory)


# --- geometry and header numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("spacing, fragment", [
    (["-1", "4"], r"PixelSpacing \(0028,0030\) = \[-1.0, 4.0\]; expected two positive numbers"),
    (["0", "4"], r"PixelSpacing \(0028,0030\) = \[0.0, 4.0\]; expected two positive numbers"),
])
def test_non_positive_pixel_spacing_is_refused_also_by_inspect(tmp_path, spacing, fragment):
    series = ct_series(tmp_path, PixelSpacing=spacing)
    with pytest.raises(DicomError, match=fragment):
        read_image_record(series.directory)


def test_nan_image_position_is_refused_before_itk(tmp_path, capfd):
    series = ct_series(tmp_path)
    rewrite(series.files[1], lambda ds: ds.__setitem__(0x00200032, pydicom.DataElement(0x00200032, "LO", "0\\nan\\4")))
    with pytest.raises(DicomError, match=r"ImagePositionPatient = '0\\\\nan\\\\4'; expected finite numbers"):
        read_image_record(series.directory)
    assert "vnl_svd" not in capfd.readouterr().err


def test_infinite_tube_current_is_recorded_as_none_with_a_warning(tmp_path, capsys):
    series = ct_series(tmp_path, XRayTubeCurrent=200)
    head = struct.pack("<HH", 0x0018, 0x1151) + b"IS" + struct.pack("<H", 4)
    for path in series.files:   # IS "inf": pydicom raises OverflowError on decoding it
        path.write_bytes(path.read_bytes().replace(head + b"200 ", head + b"inf "))
    assert main(["inspect", str(series.directory), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tube_current_ma"] is None
    expected = "XRayTubeCurrent (0018,1151): unusable value 'inf'"
    assert any(warning.startswith(expected) for warning in result["warnings"])


# --- non-finite values inside a mask, a gate ROI or a segmentation VOI ---------------------------------------

def nifti_with(tmp_path, value, at):
    array = np.full((10, 12, 14), 50.0, dtype=np.float32)
    array[at] = value
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    mask_array = np.zeros(array.shape, dtype=np.uint8)
    mask_array[3:7, 4:8, 4:9] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    sitk.WriteImage(image, str(tmp_path / "image.nii.gz"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    return image, mask


def test_nan_inside_a_nifti_mask_is_a_one_line_error(tmp_path, capsys):
    nifti_with(tmp_path, np.nan, (4, 5, 6))
    code = main(["measure", str(tmp_path / "image.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz"), "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "1 non-finite value(s) (NaN or infinity), the first at voxel (6, 5, 4) (LPS 12.0, 10.0, 8.0 mm)" in err


def test_nan_outside_the_mask_leaves_the_statistics_alone(tmp_path):
    image, mask = nifti_with(tmp_path, np.nan, (0, 0, 0))
    stats = region_statistics(image, mask)
    assert stats.mean == 50.0 and stats.voxel_count == 80


def test_infinity_within_reach_of_suvpeak_is_refused():
    array = np.full((20, 20, 20), 1.0, dtype=np.float32)
    array[10, 10, 13] = np.inf   # outside the label, 3 mm from it: inside a 1 mL sphere centred in it
    image = sitk.GetImageFromArray(array)
    label = np.zeros(array.shape, dtype=np.uint8)
    label[9:12, 9:12, 9:12] = 1
    mask = sitk.GetImageFromArray(label)
    assert region_statistics(image, mask).mean == 1.0
    with pytest.raises(InputError, match=r"SUVpeak spheres\): 1 non-finite value"):
        region_statistics(image, mask, with_peak=True)


def test_gate_reference_tissue_with_nan_is_refused(tmp_path):
    array = np.full((30, 30, 30), 100.0, dtype=np.float32)
    array[15, 15, 20] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "ct.nii.gz"))
    loaded = load_image(tmp_path / "ct.nii.gz")   # ITK 5 reads the NaN as 0; the loader restores it
    protocol = load_library().get("ct-liver-lesion")
    background = RoiInput(shape_mask(loaded.image, SphereROI((20.0, 15.0, 15.0), 8.0)), "liver sphere")
    with pytest.raises(InputError, match=r"image inside liver sphere \(label 1\): 1 non-finite value"):
        evaluate_gate(protocol, loaded, background=background)


def test_nan_in_nifti_is_read_as_nan_not_zero(tmp_path):
    array = np.full((4, 5, 6), 7.0, dtype=np.float32)
    array[1, 2, 3], array[0, 0, 0] = np.nan, -np.inf
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "image.nii.gz"))
    loaded = sitk.GetArrayFromImage(load_image(tmp_path / "image.nii.gz").image)
    np.testing.assert_array_equal(loaded, array)


def test_segment_on_an_image_with_infinity_is_refused():
    from StandardSegLib.segmentation import segment

    array = np.full((30, 30, 30), 1.0, dtype=np.float32)
    array[12:18, 12:18, 12:18] = 5.0
    array[15, 15, 18] = np.inf
    image = sitk.GetImageFromArray(array)
    protocol = protocol_with("fdg-pet-ct-oncology", {"pet-percent-max": {"percent": 41}})
    verdict = GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())
    # was: threshold 41 % of an infinite max, nothing kept (or, for inf inside the lesion, everything)
    with pytest.raises(InputError, match=r"image in the pet-percent-max VOI: 1 non-finite value\(s\) \(NaN or "
                                         r"infinity\), the first at voxel \(18, 15, 15\)"):
        segment(image, protocol=protocol, verdict=verdict, method="pet-percent-max", units="SUVbw",
                seeds_lps=[(15.0, 15.0, 15.0)])
