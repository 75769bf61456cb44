"""Inter-case quality control of a cohort: outlying values and the scanner / reconstruction mix per site.

Outliers use the modified z-score of Iglewicz and Hoaglin (1993, "How to Detect and Handle Outliers", ASQC
Basic References in Quality Control 16): M = 0.6745 (x - median) / MAD, MAD the median absolute deviation;
|M| > 3.5 is reported. Median and MAD are robust, so one wrong case (a weight typed in pounds, a mis-calibrated
scanner) does not hide itself by inflating the spread, as it would with mean and SD. Values are compared only
within one measure and one unit (SUVbw with SUVbw, never HU with SUV).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Optional, Sequence

#: Iglewicz & Hoaglin's constant (the 0.75 quantile of the standard normal) and recommended cut-off.
MODIFIED_Z_SCALE = 0.6745
MODIFIED_Z_LIMIT = 3.5
#: Fewer values than this give no robust spread to judge against.
MIN_VALUES = 5


@dataclass(frozen=True)
class Outlier:
    key: Hashable  # e.g. (case, lesion)
    value: float
    median: float
    modified_z: float


def modified_z_outliers(values: Mapping[Hashable, float], limit: float = MODIFIED_Z_LIMIT) -> list[Outlier]:
    """The values whose modified z-score exceeds ``limit`` in magnitude, most extreme first.

    None when fewer than ``MIN_VALUES`` values, or when more than half are equal (MAD 0: no spread to judge by).
    """
    finite = {key: float(value) for key, value in values.items() if value is not None and value == value}
    if len(finite) < MIN_VALUES:
        return []
    median = statistics.median(finite.values())
    mad = statistics.median(abs(value - median) for value in finite.values())
    if mad == 0:
        return []
    found = [Outlier(key, value, median, MODIFIED_Z_SCALE * (value - median) / mad) for key, value in finite.items()]
    return sorted((item for item in found if abs(item.modified_z) > limit), key=lambda item: -abs(item.modified_z))


def summary(values: Sequence[float]) -> dict[str, Optional[float]]:
    """n, min, quartiles (``statistics.quantiles``' default exclusive method) and max of ``values``."""
    data = sorted(values)
    if not data:
        return {"n": 0, "min": None, "q1": None, "median": None, "q3": None, "max": None}
    q1, median, q3 = statistics.quantiles(data, n=4) if len(data) > 1 else (data[0],) * 3
    return {"n": len(data), "min": data[0], "q1": q1, "median": median, "q3": q3, "max": data[-1]}


def scanner_mix(images: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, str, str, str, str, int]]:
    """Rows (site, modality, scanner, reconstruction, voxel size, number of cases) from (site, image record).

    Reconstruction is PET's ReconstructionMethod or CT's / MR's ConvolutionKernel when present; voxel size is
    the spacing in mm. Sorted by site, then most cases first.
    """
    counts: dict[tuple[str, str, str, str, str], int] = {}
    for site, record in images:
        scanner = " ".join(str(record.get(key) or "") for key in ("manufacturer", "manufacturer_model_name")).strip()
        reconstruction = record.get("reconstruction_method") or record.get("convolution_kernel") or ""
        if isinstance(reconstruction, (list, tuple)):
            reconstruction = ", ".join(map(str, reconstruction))
        spacing = record.get("spacing") or ()
        voxel = " x ".join(f"{float(value):.3g}" for value in spacing)
        key = (site, str(record.get("modality") or "unknown"), scanner or "unknown", str(reconstruction) or "unknown",
               voxel)
        counts[key] = counts.get(key, 0) + 1
    return sorted(((*key, count) for key, count in counts.items()), key=lambda row: (row[0], -row[5], row[1:5]))
