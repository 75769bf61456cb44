"""The pixel value scale of one DICOM slice: stored bits to real-world values, never guessed.

Every command and the Slicer session read DICOM pixels through ``dicom_series.read_pixels``, which calls
``real_world_values`` here for each slice, so these rules hold everywhere:

- RescaleSlope (0028,1053) and RescaleIntercept (0028,1052) are Type 1 in the CT Image module (PS3.3
  C.8.2.1) and the PET Image module (C.8.9.4): a CT or PET slice without them is refused. (pydicom applies
  no rescale when either is missing, which silently dropped CT's -1024 and PET's per-slice slope.) Other
  modalities (MR) may omit them: absent means slope 1 and intercept 0, as before.
- Each is one finite number with a DS VR (``dicom_numbers.stored_number``); the slope must be > 0 (a zero
  or negative slope turns activity or HU upside down). PET's intercept must be 0 (C.8.9.4.1.2).
- Bits: HighBit (0028,0102) = BitsStored (0028,0101) - 1 <= BitsAllocated (0028,0100) (Image Pixel module,
  C.7.6.3.1); stored values must fit in BitsStored: when masking the bits above it (what a decoder does)
  changes a value as written (signed values: as written sign-extended), BitsStored does not describe the data.
- Native (uncompressed) pixel data must be exactly Rows x Columns x SamplesPerPixel x BitsAllocated / 8 bytes
  (one padding byte allowed): otherwise Rows or Columns (or BitsAllocated) is wrong and the image would be
  decoded on a wrong grid.
- The real-world values must be finite (float pixel data may hold NaN or infinity; a huge slope overflows).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
from pydicom.pixels import apply_modality_lut

from StandardSegLib.errors import DicomError
from StandardSegLib.imaging.dicom_numbers import stored_number
from StandardSegLib.imaging.finite_values import require_finite

if TYPE_CHECKING:
    import pydicom

    from StandardSegLib.errors import InputError

#: Modalities whose image module makes RescaleSlope/RescaleIntercept Type 1.
RESCALE_REQUIRED = frozenset({"CT", "PT"})
_INTEGER_TYPES = {8: (np.uint8, np.int8), 16: (np.uint16, np.int16), 32: (np.uint32, np.int32)}


def rescale(dataset: "pydicom.Dataset", where: str) -> tuple[float, float]:
    """(slope, intercept) of one slice by the rules above; ``where`` names the file in messages."""
    modality = str(dataset.get("Modality") or "").strip().upper()
    slope = stored_number(dataset, "RescaleSlope", where)
    intercept = stored_number(dataset, "RescaleIntercept", where)
    if modality in RESCALE_REQUIRED:
        missing = [name for name, value in (("RescaleSlope (0028,1053)", slope),
                                            ("RescaleIntercept (0028,1052)", intercept)) if value is None]
        if missing:
            raise DicomError(f"{where}: {' and '.join(missing)} missing; required (Type 1) in a {modality} image, "
                             "without it the real-world values are unknown")
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    if slope <= 0:
        raise DicomError(f"{where}: RescaleSlope (0028,1053) is {slope:g}; expected a positive number")
    if modality == "PT":
        require_zero_pet_intercept(intercept, where, DicomError)
    return slope, intercept


def require_zero_pet_intercept(intercept: Optional[float], where: str, error: "type[InputError]") -> None:
    """PET Image module C.8.9.4.1.2: RescaleIntercept shall be 0 (the SUV manual excludes other series)."""
    if intercept not in (None, 0.0):
        raise error(f"{where}: RescaleIntercept (0028,1052) is {intercept:g}, expected 0 for PET (PS3.3 "
                    "C.8.9.4.1.2; SUV manual: exclude such series)")


def real_world_values(dataset: "pydicom.Dataset", path: Path) -> np.ndarray:
    """Decoded pixels of one slice times slope plus intercept, after the checks above (float64)."""
    float_data = "FloatPixelData" in dataset or "DoubleFloatPixelData" in dataset
    if not float_data:
        _check_bits(dataset, path)
        _check_length(dataset, path)
    try:
        stored = dataset.pixel_array
    except Exception as error:  # truncated data, missing decoder plugin, malformed element...
        syntax = _transfer_syntax(dataset)
        hint = f" (transfer syntax {syntax.name})" if syntax is not None else ""
        raise DicomError(f"{path}: pixel data cannot be decoded{hint}: {error}") from error
    if not float_data:
        _check_high_bits(dataset, stored, path)
    if "ModalityLUTSequence" in dataset:
        values = np.asarray(apply_modality_lut(stored, dataset), dtype=np.float64)
    else:
        slope, intercept = rescale(dataset, str(path))
        values = stored.astype(np.float64) * slope + intercept
    require_finite(values, f"{path}: real-world pixel values", error=DicomError)
    return values


def _check_bits(dataset: "pydicom.Dataset", path: Path) -> None:
    allocated = _bits_value(dataset, "BitsAllocated", path)
    stored = _bits_value(dataset, "BitsStored", path)
    high = _bits_value(dataset, "HighBit", path)
    if allocated is None or stored is None:
        return  # pydicom names the missing attribute when decoding
    if not 1 <= stored <= allocated or (high is not None and high != stored - 1):
        raise DicomError(f"{path}: BitsStored (0028,0101) {stored}, HighBit (0028,0102) {high} and "
                         f"BitsAllocated (0028,0100) {allocated} are inconsistent; expected HighBit = BitsStored - 1 "
                         "and 1 <= BitsStored <= BitsAllocated (PS3.3 C.7.6.3.1)")


def _bits_value(dataset: "pydicom.Dataset", keyword: str, path: Path) -> Optional[int]:
    value = stored_number(dataset, keyword, str(path))
    return None if value is None else int(value)


def _check_length(dataset: "pydicom.Dataset", path: Path) -> None:
    """Native pixel data length against Rows x Columns x samples x frames x BitsAllocated."""
    syntax = _transfer_syntax(dataset)
    data = dataset.get("PixelData")
    if syntax is None or syntax.is_compressed or data is None:
        return
    numbers = {keyword: stored_number(dataset, keyword, str(path)) or 0
               for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated")}
    frames = stored_number(dataset, "NumberOfFrames", str(path)) or 1
    bits = numbers["Rows"] * numbers["Columns"] * (numbers["SamplesPerPixel"] or 1) * frames * numbers["BitsAllocated"]
    expected = int(-(-bits // 8))
    if len(data) not in (expected, expected + 1) or expected == 0:
        raise DicomError(f"{path}: pixel data holds {len(data)} bytes but Rows (0028,0010) {numbers['Rows']:g} x "
                         f"Columns (0028,0011) {numbers['Columns']:g} x BitsAllocated (0028,0100) "
                         f"{numbers['BitsAllocated']:g} needs {expected}; the image size in the header is wrong")


def _check_high_bits(dataset: "pydicom.Dataset", decoded: np.ndarray, path: Path) -> None:
    """Refuse stored values that do not fit in BitsStored (a decoder would mask them into other values)."""
    allocated = int(dataset.get("BitsAllocated") or 0)
    stored_bits = int(dataset.get("BitsStored") or allocated)
    types = _INTEGER_TYPES.get(allocated)
    data = dataset.get("PixelData")
    syntax = _transfer_syntax(dataset)
    if (stored_bits >= allocated or types is None or data is None or syntax is None or syntax.is_compressed
            or not syntax.is_little_endian):
        return
    raw = np.frombuffer(data, dtype=types[0], count=decoded.size)
    signed = int(dataset.get("PixelRepresentation") or 0) == 1
    as_written = raw.view(types[1]) if signed else raw
    if np.array_equal(as_written, decoded.ravel()):  # in range (signed values sign-extended): nothing masked
        return
    low, high = (-(1 << (stored_bits - 1)), (1 << (stored_bits - 1)) - 1) if signed else (0, (1 << stored_bits) - 1)
    raise DicomError(f"{path}: stored values use bits above BitsStored (0028,0101) = {stored_bits} "
                     f"(range {low}..{high} expected, found {int(as_written.min())}..{int(as_written.max())}); "
                     "BitsStored/HighBit do not describe the pixel data")


def _transfer_syntax(dataset: "pydicom.Dataset") -> "Optional[pydicom.uid.UID]":
    return dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
