"""Reading the DICOM attributes SUV depends on, with errors that name the tag.

Every reader returns ``None`` for an absent or empty attribute and raises ``SUVError`` for a value that
is present but unreadable, so callers decide whether absence is fatal for the conversion they perform.
Series-level attributes are read from every slice and must agree: one series has one patient weight,
one dose and one set of units (a disagreement means the headers were edited inconsistently).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Optional, Sequence

import pydicom
from pydicom.valuerep import DA, DT, TM

from StandardSegLib.errors import SUVError
from StandardSegLib.imaging import stored_number, tag_label


def tag_name(keyword: str) -> str:
    """``"PatientWeight (0010,1030)"``: how every message names an attribute."""
    return tag_label(keyword)


def _raw(ds: pydicom.Dataset, keyword: str) -> Any:
    value = ds.get(keyword)
    if value is None or value == "" or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    return value


def read_float(ds: pydicom.Dataset, keyword: str) -> Optional[float]:
    """A numeric attribute (DS/IS) as float; ``None`` when absent or empty. Wrong VR, several values, text,
    NaN or infinity raise ``SUVError`` (``dicom_numbers.stored_number``)."""
    return stored_number(ds, keyword, "PET header", SUVError)


def read_text(ds: pydicom.Dataset, keyword: str) -> Optional[str]:
    """A code string, stripped and upper-case; ``None`` when absent or empty."""
    value = _raw(ds, keyword)
    return None if value is None else str(value).strip().upper() or None


def read_codes(ds: pydicom.Dataset, keyword: str) -> tuple[str, ...]:
    """A multi-valued code string (e.g. CorrectedImage) as an upper-case tuple."""
    value = _raw(ds, keyword)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(item).strip().upper() for item in values)


def read_date(ds: pydicom.Dataset, keyword: str) -> Optional[dt.date]:
    value = _raw(ds, keyword)
    if value is None:
        return None
    try:
        return DA(str(value))
    except ValueError:
        raise SUVError(f"{tag_name(keyword)} is not a DICOM date (YYYYMMDD): found {value!r}") from None


def read_time(ds: pydicom.Dataset, keyword: str) -> Optional[dt.time]:
    value = _raw(ds, keyword)
    if value is None:
        return None
    try:
        return TM(str(value))
    except ValueError:
        raise SUVError(f"{tag_name(keyword)} is not a DICOM time (HHMMSS.FFFFFF): found {value!r}") from None


def parse_datetime(value: Any, name: str, warnings: list[str]) -> dt.datetime:
    """A DICOM DT value as a naive datetime.

    A timezone offset is dropped with a warning: the other times in a PET header (SeriesTime,
    AcquisitionTime) carry no offset, so all are read as local scanner time.
    """
    try:
        parsed = DT(str(value))
    except ValueError:
        raise SUVError(f"{name} is not a DICOM date-time (YYYYMMDDHHMMSS): found {value!r}") from None
    if parsed.tzinfo is not None:
        warnings.append(f"{name} carries a timezone offset; ignored (all PET times read as scanner time)")
        parsed = parsed.replace(tzinfo=None)
    return dt.datetime.combine(parsed.date(), parsed.time())


def read_datetime(ds: pydicom.Dataset, keyword: str, warnings: list[str]) -> Optional[dt.datetime]:
    value = _raw(ds, keyword)
    return None if value is None else parse_datetime(value, tag_name(keyword), warnings)


def combine(date: Optional[dt.date], time: Optional[dt.time]) -> Optional[dt.datetime]:
    if date is None or time is None:
        return None
    return dt.datetime.combine(date, time)


def series_value(datasets: Sequence[pydicom.Dataset], reader: Callable[[pydicom.Dataset], Any],
                 name: str) -> Any:
    """Read one series-level value from every slice; refuse if the slices disagree.

    Floats are compared with a relative tolerance of 1e-6 so that DS round-off does not count as a
    disagreement.
    """
    first = reader(datasets[0])
    for index, ds in enumerate(datasets[1:], start=1):
        other = reader(ds)
        if not _same(first, other):
            raise SUVError(f"{name} differs between slices (slice 0: {first!r}, slice {index}: {other!r}); "
                           "one series must have one value")
    return first


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)  # an infinity equals only itself
    return a == b


def radiopharmaceutical_item(ds: pydicom.Dataset) -> Optional[pydicom.Dataset]:
    """The first item of RadiopharmaceuticalInformationSequence (0054,0016), or ``None``."""
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    if not sequence:
        return None
    return sequence[0]


def private_float(ds: pydicom.Dataset, group: int, creator: str, offset: int,
                  warnings: list[str], manufacturer_prefix: str) -> Optional[float]:
    """A numeric private attribute, found through its private creator.

    Anonymisers sometimes drop the creator element but keep the data element. Then the usual block
    (``group,10xx``) is read by tag number, but only when Manufacturer (0008,0070) names the vendor
    that defines the tag, so another vendor's private data is never misread.
    """
    element = _private_element(ds, group, creator, offset, warnings, manufacturer_prefix)
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):  # VR UN (implicit VR without a private dictionary)
        value = value.decode("ascii", errors="replace").strip("\x00 ")
    tag_label = f"({group:04X},10{offset:02X})"
    if value in (None, "", b""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SUVError(f"private tag {tag_label} ({creator}) is not a number: found {value!r}") from None
    if not math.isfinite(number):
        raise SUVError(f"private tag {tag_label} ({creator}) is {number}; expected a finite number")
    return number


def private_text(ds: pydicom.Dataset, group: int, creator: str, offset: int,
                 warnings: list[str], manufacturer_prefix: str) -> Optional[str]:
    """A text private attribute found the same way as :func:`private_float`."""
    element = _private_element(ds, group, creator, offset, warnings, manufacturer_prefix)
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    text = str(value).strip("\x00 ")
    return text or None


def _private_element(ds: pydicom.Dataset, group: int, creator: str, offset: int,
                     warnings: list[str], manufacturer_prefix: str) -> Optional[pydicom.DataElement]:
    try:
        block = ds.private_block(group, creator)
    except KeyError:
        block = None
    if block is not None:
        return block[offset] if offset in block else None
    fixed_tag = pydicom.tag.Tag(group, 0x1000 + offset)
    manufacturer = (read_text(ds, "Manufacturer") or "")
    if fixed_tag in ds and manufacturer.startswith(manufacturer_prefix.upper()):
        message = (f"private creator '{creator}' missing; read ({group:04X},10{offset:02X}) by tag number "
                   f"because Manufacturer is {manufacturer}")
        if message not in warnings:
            warnings.append(message)
        return ds[fixed_tag]
    return None
