"""One numeric DICOM attribute, read strictly: the single finite number the header states, or an error.

pydicom decodes what a file says, and a damaged file says odd things: a DS element stored with a binary VR
(``UL`` bytes read as 1048592), ``70\\80`` where one value is expected, ``nan``/``inf`` (which pydicom
accepts in DS with a warning), an IS of ``inf`` (OverflowError on access), text. Every such value is refused
here with the file (or slice) and tag named, so no caller multiplies by it; an absent or empty attribute is
``None`` and the caller decides whether that is fatal.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.multival import MultiValue

from StandardSegLib.errors import DicomError

if TYPE_CHECKING:
    import pydicom

    from StandardSegLib.errors import InputError

#: Numbers written as text; one may stand in for the other without changing the value.
_TEXT_NUMBER_VRS = frozenset({"DS", "IS"})


def tag_label(keyword: str) -> str:
    """``"RescaleSlope (0028,1053)"``: how messages name an attribute."""
    tag = tag_for_keyword(keyword)
    return keyword if tag is None else f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def stored_number(dataset: "pydicom.Dataset", keyword: str, where: str,
                  error: "type[InputError]" = DicomError) -> Optional[float]:
    """The one finite number ``keyword`` holds in ``dataset``; ``None`` when absent or empty.

    ``where`` (a file or "slice 3") starts the message of the ``error`` raised for anything else: a VR
    other than the dictionary's (text numbers DS/IS may stand in for each other), several values, a value
    that is not a number, NaN or infinity.
    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in dataset:
        return None
    label = tag_label(keyword)
    try:
        element = dataset[tag]
        value = element.value
    except (ValueError, OverflowError, TypeError) as failure:  # e.g. IS "inf" fails on decoding
        raise error(f"{where}: {label} is not a number ({failure})") from None
    expected = dictionary_VR(tag)
    if element.VR != expected and not {element.VR, expected} <= _TEXT_NUMBER_VRS:
        raise error(f"{where}: {label} is stored with VR {element.VR}, expected {expected}: its bytes would be "
                    "read as a different number")
    if value is None or value == "" or isinstance(value, (bytes, str)) and not value.strip():
        return None
    if isinstance(value, (MultiValue, list, tuple)):
        if len(value) == 0:
            return None
        if len(value) > 1:
            shown = "\\".join(str(item) for item in value)
            raise error(f"{where}: {label} has {len(value)} values ({shown}); expected one")
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{where}: {label} is not a number: found {value!r}") from None
    if not math.isfinite(number):
        raise error(f"{where}: {label} is {number}; expected a finite number")
    return number
