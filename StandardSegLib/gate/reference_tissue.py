"""Background normal-tissue measurement (ESR/EORTC consensus, recommendation 6).

The protocol's ``reference_tissue`` entries say where to measure (e.g. PERCIST: a 3 cm sphere in the right
liver lobe; blood pool in the descending aorta when the liver is diseased) and what range is plausible
(EANM: a mean liver SUV outside 1.3-3.0 suggests a weight, dose or calibration error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from StandardSegLib.errors import InputError
from StandardSegLib.gate.verdict import PASS, GateItem, violation


@dataclass(frozen=True)
class ReferenceMeasurement:
    """Statistics of one reference-tissue ROI, in the image units used by the gate."""

    name: str
    roi: str  # how the ROI was given, e.g. "sphere at (...) mm LPS, diameter 30 mm" or a mask file name
    units: str
    voxel_count: int
    volume_ml: float
    mean: float
    sd: float
    median: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "roi": self.roi, "units": self.units, "voxel_count": self.voxel_count,
                "volume_ml": self.volume_ml, "mean": self.mean, "sd": self.sd, "median": self.median}


def reference_entry(entries: Sequence[Mapping[str, Any]], name: Optional[str] = None) -> Mapping[str, Any]:
    """The protocol entry to measure: the named one, else the first (the protocol's primary reference)."""
    if not entries:
        raise InputError("this protocol defines no reference_tissue entry to measure a background ROI against")
    if name is None:
        return entries[0]
    for entry in entries:
        if entry["name"] == name:
            return entry
    known = ", ".join(entry["name"] for entry in entries)
    raise InputError(f"reference tissue '{name}' is not defined by this protocol (defined: {known})")


def reference_measurement(entry: Mapping[str, Any], stats: Any, roi: str) -> ReferenceMeasurement:
    """Wrap region statistics (attributes voxel_count, volume_ml, mean, sd, median, units) for the report."""
    return ReferenceMeasurement(entry["name"], roi, stats.units, int(stats.voxel_count), float(stats.volume_ml),
                                float(stats.mean), float(stats.sd), float(stats.median))


def reference_qc_item(entry: Mapping[str, Any], measurement: Optional[ReferenceMeasurement]) -> Optional[GateItem]:
    """Judge the entry's ``qc`` range (if it has one) on the measured statistic."""
    qc = entry.get("qc")
    if not qc:
        return None
    statistic, low, high, unit = qc["statistic"], float(qc["min"]), float(qc["max"]), qc.get("unit")
    severity = qc.get("severity", "warn")
    text = f"{entry['name']} {statistic} within {low:g}-{high:g}" + (f" {unit}" if unit else "")

    def item(verdict: str, message: str, value: Optional[float] = None) -> GateItem:
        return GateItem(id=f"reference_{entry['name']}", kind="reference", verdict=verdict, severity=severity,
                        rule=text, message=message, measured=value, threshold=[low, high], unit=unit,
                        source=qc.get("source"))

    if measurement is None:
        return item(violation(severity), f"cannot be checked: no {entry['name']} ROI given")
    if unit and measurement.units != unit:
        return item(violation(severity), f"cannot be checked: the image is in {measurement.units}, the range in {unit}")
    value = float(getattr(measurement, statistic))
    inside = low <= value <= high
    message = f"{entry['name']} {statistic} is {value:.3g}" + ("" if inside else
                                                              " (outside the plausible range: check weight, dose, calibration)")
    return item(PASS if inside else violation(severity), message, round(value, 6))
