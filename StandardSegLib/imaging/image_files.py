"""NRRD, NIfTI and MetaImage files, with an optional JSON sidecar carrying the header facts they lack.

Geometry comes from the file (ITK converts NIfTI's RAS to LPS). The sidecar ``<same stem>.json`` may hold
DICOM keywords (``"Modality": "PT"``, ``"PatientWeight": 70``, even a ``RadiopharmaceuticalInformation
Sequence`` as a list of objects) and image-record field names in snake_case (``"kvp": 120``). The DICOM keys
are turned into one pydicom Dataset so code written for DICOM headers (SUV) works unchanged; record field
names override what the Dataset gives.

Sidecars written by dcm2niix (BIDS style) give EchoTime, RepetitionTime and InversionTime in seconds where
DICOM uses ms; such sidecars (recognised by ``ConversionSoftware`` or ``BIDSVersion``) are converted.

ITK up to 5.4 replaces every NaN and infinity of a float NIfTI file by 0 on reading (nifti_read_buffer; fixed
in ITK 6, InsightSoftwareConsortium/ITK#6683): a NaN inside a mask would silently become a 0 in the
statistics. ``read_file_pixels`` therefore puts the file's non-finite values back, so the checks downstream
(measure, gate, segment) see and refuse them as they do for NRRD.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import warnings as python_warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.datadict import dictionary_VR, tag_for_keyword

from StandardSegLib.errors import InputError
from StandardSegLib.imaging.record import ImageRecord
from StandardSegLib.rtstruct import ROI_OPTION, is_rtstruct, read_rtstruct

#: Extensions handled here, longest first so ".nii.gz" wins over ".gz".
IMAGE_FILE_FORMATS = {".nii.gz": "nifti", ".nii": "nifti", ".nrrd": "nrrd", ".nhdr": "nrrd",
                      ".mha": "metaimage", ".mhd": "metaimage"}
_BIDS_SECONDS_KEYS = ("EchoTime", "RepetitionTime", "InversionTime")


def image_file_format(path: Path) -> Optional[str]:
    """``nifti``/``nrrd``/``metaimage`` for a supported file name, else None."""
    name = path.name.lower()
    return next((kind for suffix, kind in IMAGE_FILE_FORMATS.items() if name.endswith(suffix)), None)


def sidecar_path(path: Path) -> Path:
    """``scan.nii.gz`` -> ``scan.json`` (the stem without any image extension)."""
    name = path.name
    suffix = next(s for s in IMAGE_FILE_FORMATS if name.lower().endswith(s))
    return path.with_name(name[: -len(suffix)] + ".json")


def read_file_header(path: Path) -> sitk.ImageFileReader:
    """An ITK reader with the header read (geometry available, no pixels)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(f"{path}: not a readable {image_file_format(path)} image ({_first_line(error)})") from error
    if reader.GetDimension() not in (2, 3) or reader.GetNumberOfComponents() != 1:
        raise InputError(f"{path}: expected a 2D or 3D single-component image, found {reader.GetDimension()}D "
                         f"with {reader.GetNumberOfComponents()} components")
    return reader


def read_file_pixels(path: Path) -> sitk.Image:
    """The image as float32 (float64 for 64-bit and 32-bit integer data, which float32 would round)."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"{path}: pixel data unreadable ({_first_line(error)})") from error
    wide = image.GetPixelID() in (sitk.sitkFloat64, sitk.sitkInt32, sitk.sitkUInt32, sitk.sitkInt64, sitk.sitkUInt64)
    image = sitk.Cast(image, sitk.sitkFloat64 if wide else sitk.sitkFloat32)
    if image_file_format(path) == "nifti":
        image = _with_nifti_non_finite(path, image)
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    return image


#: NIfTI float datatypes (nifti1.h DT_FLOAT32, DT_FLOAT64) and their sizes.
_NIFTI_FLOATS = {16: 4, 64: 8}
#: sizeof_hdr -> offsets in the NIfTI-1 / NIfTI-2 header: dim (and its item format), datatype, vox_offset
#: (and format), scl_slope (and format).
_NIFTI_LAYOUTS = {348: (40, "h", 70, (108, "f"), (112, "f")), 540: (16, "q", 12, (168, "q"), (176, "d"))}


def _with_nifti_non_finite(path: Path, image: sitk.Image) -> sitk.Image:
    """``image`` with the NaN/infinity of the NIfTI file's float data restored where ITK wrote 0."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        head = stream.read(540)
        order = "<" if struct.unpack("<i", head[:4])[0] in _NIFTI_LAYOUTS else ">"
        layout = _NIFTI_LAYOUTS.get(struct.unpack(order + "i", head[:4])[0])
        if layout is None:
            return image
        dim_at, dim_format, type_at, (offset_at, offset_format), (slope_at, slope_format) = layout
        datatype = struct.unpack_from(order + "h", head, type_at)[0]
        if datatype not in _NIFTI_FLOATS:
            return image
        item = struct.calcsize(dim_format)
        rank = struct.unpack_from(order + dim_format, head, dim_at)[0]
        count = int(np.prod([struct.unpack_from(order + dim_format, head, dim_at + item * k)[0]
                             for k in range(1, rank + 1)]))
        stream.seek(int(struct.unpack_from(order + offset_format, head, offset_at)[0]))
        raw = np.frombuffer(stream.read(count * _NIFTI_FLOATS[datatype]), count=count,
                            dtype=np.dtype("f4" if datatype == 16 else "f8").newbyteorder(order))
        slope = struct.unpack_from(order + slope_format, head, slope_at)[0]
    bad = ~np.isfinite(raw)
    if not bad.any():
        return image
    array = sitk.GetArrayFromImage(image)
    if array.size != raw.size:
        raise InputError(f"{path}: NIfTI header describes {raw.size} voxels but {array.size} were read")
    array.reshape(-1)[bad] = raw[bad] * (slope if slope and math.isfinite(slope) else 1.0)
    restored = sitk.GetImageFromArray(array)
    restored.CopyInformation(image)
    return restored


def read_mask_file(path: str | Path, image: Optional[sitk.Image] = None, roi: Optional[str] = None,
                   datasets: Sequence[pydicom.Dataset] = (), warnings: Optional[list[str]] = None,
                   roi_option: str = ROI_OPTION) -> sitk.Image:
    """A mask or label-map file as stored (labels stay integers), for ROIs and segmentations.

    An RTSTRUCT (``RS.dcm``) holds contours, not voxels: ``roi`` names the structure (optional when it holds
    one) and the contours are rasterised onto ``image``'s grid by geometry (``StandardSegLib.rtstruct``),
    with ``datasets`` (the image's DICOM headers) to check the frame of reference; its warnings are appended
    to ``warnings``. For voxel masks ``roi`` must be None. ``roi_option`` is where the user names the ROI
    (e.g. ``--voi-roi``), for the errors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file {path} does not exist")
    if image_file_format(path) is None and is_rtstruct(path):
        if image is None:
            raise InputError(f"mask {path.name} is an RTSTRUCT: its contours need the image to be rasterised onto")
        result = read_rtstruct(path, image, roi, datasets, roi_option)
        if warnings is not None:
            warnings.extend(result.warnings)
        return result.mask
    if roi is not None:
        raise InputError(f"ROI {roi!r} ({roi_option}) names a structure of an RTSTRUCT; {path.name} is a voxel "
                         f"mask (pick its label instead)")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"cannot read mask {path}: {_first_line(error)}") from None


def read_sidecar(path: Path) -> tuple[Optional[pydicom.Dataset], dict[str, Any], list[str], Optional[Path]]:
    """Dataset from the DICOM keys, record-field overrides, warnings, and the sidecar path (if one exists)."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None, {}, [], None
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{sidecar}: sidecar is not valid JSON ({error})") from error
    if not isinstance(content, dict):
        raise InputError(f"{sidecar}: sidecar must be a JSON object of keyword: value, found {type(content).__name__}")
    warnings: list[str] = []
    if "ConversionSoftware" in content or "BIDSVersion" in content:
        for key in _BIDS_SECONDS_KEYS:
            if isinstance(content.get(key), (int, float)):
                content = {**content, key: content[key] * 1000.0}
                warnings.append(f"sidecar {key} converted from s (BIDS) to ms (DICOM)")
    record_names = {name for name in ImageRecord.__dataclass_fields__ if name not in ("identifiers", "warnings")}
    overrides = {key: _tuples(value) for key, value in content.items() if key in record_names}
    dicom_keys = {key: value for key, value in content.items() if key not in record_names}
    dataset = _dataset(dicom_keys, sidecar, warnings)
    return dataset, overrides, warnings, sidecar


def _dataset(values: dict[str, Any], sidecar: Path, warnings: list[str]) -> pydicom.Dataset:
    dataset = pydicom.Dataset()
    for keyword, value in values.items():
        if tag_for_keyword(keyword) is None:
            warnings.append(f"sidecar key {keyword!r} is neither a DICOM keyword nor a record field; ignored")
            continue
        if dictionary_VR(keyword) == "SQ":
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                raise InputError(f"{sidecar}: {keyword} must be a list of objects (DICOM sequence), found {value!r}")
            value = [_dataset(item, sidecar, warnings) for item in value]
        elif value is None:
            continue
        try:
            with python_warnings.catch_warnings():
                python_warnings.simplefilter("error")
                setattr(dataset, keyword, value)
        except (ValueError, TypeError, UserWarning) as error:
            raise InputError(f"{sidecar}: {keyword} = {value!r} is not a valid {dictionary_VR(keyword)} value "
                             f"({error})") from error
    return dataset


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
