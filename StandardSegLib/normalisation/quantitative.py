"""Is an MR series a quantitative map (ADC, T1/T2/T2* maps)? Its values are physical (mm²/s, ms), comparable
across scanners as they are, so normalising them would destroy the one thing they offer: normalisation is
refused for them (issue 15; ESR/EORTC consensus: quantitative maps are preferred where available).

CT, PET and NM images are refused too: their values are physical as well (HU, Bq/mL, SUV).

Evidence, any one suffices: ImageType (0008,0008) values ADC / T1 MAP / T2 MAP / T2* MAP / DIFFUSION... (vendors
write ``ADC``, ``T1_MAP``...), SeriesDescription (0008,103E) naming such a map, or a Real World Value Mapping
(0040,9096) with units of a diffusivity or a time (UCUM ``mm2/s``, ``um2/s``, ``ms``, ``s``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:
    import pydicom

_IMAGE_TYPE = re.compile(r"^(ADC|EADC|FA|T1[ _]?MAP|T2\*?[ _]?MAP|R2\*?[ _]?MAP|T1MAP|T2MAP|T2STAR[ _]?MAP)$", re.I)
_DESCRIPTION = re.compile(r"(?<![A-Za-z])(ADC|apparent diffusion|T1[ _-]?map|T2\*?[ _-]?map|T2star[ _-]?map|R2\*?[ _-]?map|"
                          r"MOLLI|relaxometry|mapping)(?![A-Za-z])", re.I)
_PHYSICAL_MODALITIES = {"CT": "Hounsfield units", "PT": "activity concentrations (SUV)", "NM": "counts"}
_PHYSICAL_UNITS = {"mm2/s", "um2/s", "10-6.mm2/s", "ms", "s", "/s", "Hz"}


def quantitative_map_reason(headers: Sequence[pydicom.Dataset]) -> Optional[str]:
    """Why the series is a quantitative map (the tag and value), or None when nothing says so."""
    if not headers:
        return None
    first = headers[0]
    modality = str(first.get("Modality", "") or "")
    if modality in _PHYSICAL_MODALITIES:
        return f"Modality (0008,0060) {modality}: {_PHYSICAL_MODALITIES[modality]} are physical"
    for value in first.get("ImageType", None) or ():
        if _IMAGE_TYPE.match(str(value).strip()):
            return f"ImageType (0008,0008) contains {value}"
    description = str(first.get("SeriesDescription", "") or "")
    match = _DESCRIPTION.search(description)
    if match:
        return f"SeriesDescription (0008,103E) names a map ({match.group(0)})"
    for mapping in first.get("RealWorldValueMappingSequence", None) or ():
        for unit in mapping.get("MeasurementUnitsCodeSequence", None) or ():
            if str(unit.get("CodeValue", "")) in _PHYSICAL_UNITS:
                return f"Real World Value Mapping (0040,9096) units {unit.CodeValue}"
    return None
