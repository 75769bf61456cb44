"""Plausibility flags: named warnings a written segment carries (issue 12, "plausibility guards").

A method can return a mask that is technically valid but implausible for a lesion: a leak over the
image, a sliver inside a large hot region, a threshold the image never reaches. Rather than refusing
(the reader may still want to correct the mask by hand) or passing it silently, the engine attaches one
:class:`SegmentFlag` per guard that fired. Flags travel with the provenance into the mask's sidecar
JSON, report.json (``segments[i].flags``), measurements.csv (``flags`` column) and report.html. A
protocol lists the codes it treats as blocking (``segmentation.blocking_flags``): a blocking flag turns
the result into a refusal (``InputError``) instead.

Codes (shared by every front end; never rename one):

- ``volume_above_max``: the segment is larger than the protocol's ``max_lesion_volume_ml``;
- ``touches_voi_border``: the segment reaches a face of the VOI that is not the image border, or the surface
  of the lesion ROI (the VOI could not grow further: it is the lesion ROI, or it hit the size cap);
- ``touches_image_border``: the segment reaches the image border (the lesion may continue outside);
- ``threshold_outside_value_range``: a threshold lies outside the VOI's value range, so it keeps all or
  nothing of the image it was meant to split;
- ``much_smaller_than_hot_region``: a PET segment is under 10 % of the hot region connected to its seed;
- ``growth_capped``: the result kept growing to the size cap and was stopped there (a leak);
- ``near_empty``: at most ``NEAR_EMPTY_VOXELS`` voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

VOLUME_ABOVE_MAX = "volume_above_max"
TOUCHES_VOI_BORDER = "touches_voi_border"
TOUCHES_IMAGE_BORDER = "touches_image_border"
THRESHOLD_OUTSIDE_VALUE_RANGE = "threshold_outside_value_range"
MUCH_SMALLER_THAN_HOT_REGION = "much_smaller_than_hot_region"
GROWTH_CAPPED = "growth_capped"
NEAR_EMPTY = "near_empty"
#: Every flag code, in the order the guards run.
FLAG_CODES = (VOLUME_ABOVE_MAX, GROWTH_CAPPED, TOUCHES_VOI_BORDER, TOUCHES_IMAGE_BORDER,
              THRESHOLD_OUTSIDE_VALUE_RANGE, MUCH_SMALLER_THAN_HOT_REGION, NEAR_EMPTY)

#: Flags that say the segment is a leak, not the lesion: radiomics are not computed for it (its features would
#: describe the tissue it ran into, and pyradiomics takes minutes on a litre-sized region).
LEAK_FLAGS = (VOLUME_ABOVE_MAX, GROWTH_CAPPED)

#: A segment of at most this many voxels is ``near_empty``: too few for a volume, a shape or a texture
#: (pyradiomics needs a 3D extent; SUVpeak's 1 mL sphere already spans tens of PET voxels).
NEAR_EMPTY_VOXELS = 5
#: ``much_smaller_than_hot_region`` when the segment is below this fraction of the seed's hot region.
SMALL_SEGMENT_FRACTION = 0.1


@dataclass(frozen=True)
class SegmentFlag:
    """One plausibility warning: its ``code`` (one of ``FLAG_CODES``), a one-line ``message`` with the
    numbers behind it, and whether the protocol makes it ``blocking``."""

    code: str
    message: str
    blocking: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "blocking": self.blocking}

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> "SegmentFlag":
        return cls(str(document["code"]), str(document["message"]), bool(document.get("blocking", False)))


def flag_codes(codes: Iterable[str]) -> str:
    """Flag codes joined by ";" (the measurements.csv ``flags`` cell, the Slicer segment tag)."""
    return ";".join(codes)
