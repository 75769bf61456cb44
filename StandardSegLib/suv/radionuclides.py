"""Half-lives of PET radionuclides, for headers that name the nuclide but omit RadionuclideHalfLife.

RadionuclideHalfLife (0018,1075) is always preferred. This table is only the fallback the SUV manual
(Vácha et al., "Radiopharmaceutical half-life") allows: the nuclide is identified from
RadionuclideCodeSequence (0054,0300) by its SNOMED-RT code (DICOM CID 4020 "PET Radionuclide", the codes
DCMTK's CID 4020 table lists) or, failing that, by its code meaning (e.g. ``^18^Fluorine``).

Half-lives: F-18 6586.2 s (109.77 min) is the value scanners write (the SUV manual's Table 10 finds
6586-6588 s in 97 % of series); the others are ENSDF evaluations as listed by NNDC NuDat 3 (verify before
relying on them for a nuclide not seen in your data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pydicom


@dataclass(frozen=True)
class Radionuclide:
    name: str
    half_life_s: float
    srt_code: str
    meaning: str  # DICOM code meaning without carets, lower case: "18fluorine"


RADIONUCLIDES = (
    Radionuclide("F-18", 6586.2, "C-111A1", "18fluorine"),
    Radionuclide("C-11", 1221.8, "C-105A1", "11carbon"),       # 20.364 min
    Radionuclide("N-13", 597.9, "C-107A1", "13nitrogen"),      # 9.965 min
    Radionuclide("O-15", 122.24, "C-B1038", "15oxygen"),
    Radionuclide("Ga-68", 4062.6, "C-131A3", "68gallium"),     # 67.71 min
    Radionuclide("Cu-64", 45723.6, "C-127A2", "64copper"),     # 12.701 h
    Radionuclide("Rb-82", 75.45, "C-159A2", "82rubidium"),     # 1.2575 min
    Radionuclide("Zr-89", 282276.0, "C-168A4", "89zirconium"),  # 78.41 h
    Radionuclide("I-124", 360806.0, "C-114A5", "124iodine"),    # 4.1760 d
    Radionuclide("Ge-68", 23410080.0, "C-128A2", "68germanium"),  # 270.95 d
)


def _normalised_meaning(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def radionuclide_from_code(item: pydicom.Dataset) -> Optional[Radionuclide]:
    """The nuclide named by the first item of RadionuclideCodeSequence in ``item``, if recognised."""
    sequence = item.get("RadionuclideCodeSequence")
    if not sequence:
        return None
    code = sequence[0]
    value = str(code.get("CodeValue", "")).strip().upper()
    meaning = _normalised_meaning(str(code.get("CodeMeaning", "")))
    for nuclide in RADIONUCLIDES:
        if value == nuclide.srt_code or (meaning and meaning == nuclide.meaning):
            return nuclide
    return None
