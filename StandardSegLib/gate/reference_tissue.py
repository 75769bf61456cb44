"""Background normal-tissue measurement (ESR/EORTC consensus, recommendation 6).

The protocol's ``reference_tissue`` entries say where to measure (e.g. PERCIST: a 3 cm sphere in the right
liver lobe; blood pool in the descending aorta when the liver is diseased) and what range is plausible
(EANM: a mean liver SUV outside 1.3-3.0 suggests a weight, dose or calibration error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from StandardSegLib.errors import InputError
from StandardSegLib.gate.verdict import PASS, GateItem, violation
from StandardSegLib.roi import BoxROI, CylinderROI, ShapeROI, SphereROI

#: A reference ROI fits the protocol's shape when each dimension is within this of the protocol's (mm):
#: well under a PET voxel (4-5 mm), so rounding in a viewer's ROI widget is not a different ROI.
SHAPE_TOLERANCE_MM = 0.5
#: A reference *mask* (no shape to compare) whose volume is outside this factor of the protocol's shape
#: volume is accepted with a gate warning: a drawn VOI is never exactly a sphere, but 2x is another VOI.
MASK_VOLUME_FACTOR = 2.0


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


def protocol_shape(entry: Mapping[str, Any], centre_lps: tuple[float, float, float]) -> Optional[ShapeROI]:
    """The entry's VOI (sphere, cylinder along z, or box) centred at ``centre_lps``; None for a ``mask`` entry."""
    shape = entry["shape"]
    if shape == "sphere":
        return SphereROI(centre_lps, float(entry["diameter_mm"]))
    if shape == "cylinder":
        return CylinderROI(centre_lps, float(entry["diameter_mm"]), float(entry["length_mm"]))
    if shape == "box":
        half = [float(size) / 2.0 for size in entry["size_mm"]]
        return BoxROI(tuple(c - h for c, h in zip(centre_lps, half)), tuple(c + h for c, h in zip(centre_lps, half)))
    return None


def conform_reference_roi(entry: Mapping[str, Any], given: ShapeROI) -> tuple[ShapeROI, Optional[str]]:
    """The ROI to measure for the reference tissue ``entry``: ``given`` when it is the protocol's shape and
    size (within ``SHAPE_TOLERANCE_MM``), else the protocol's shape at ``given``'s centre, with a note saying
    so (e.g. a 30 mm sphere given for the PERCIST 10 x 20 mm blood-pool cylinder). Reshaped, not refused: the
    reader chose the place, the protocol fixes the VOI (ESR/EORTC rec. 6), and a different VOI would measure
    another mean and SD."""
    wanted = protocol_shape(entry, _centre(given))
    if wanted is None or _same_shape(given, wanted):
        return given, None
    return wanted, (f"the background {given.describe()} does not fit reference tissue {entry['name']} as the "
                    f"protocol defines it ({entry['shape']}{_size_text(entry)}): measured as the protocol's "
                    f"{wanted.describe()}")


def mask_volume_note(entry: Mapping[str, Any], volume_ml: float, roi: str) -> Optional[str]:
    """A note when a reference mask's volume is far (``MASK_VOLUME_FACTOR``) from the protocol's VOI volume."""
    wanted = protocol_shape(entry, (0.0, 0.0, 0.0))
    if wanted is None:
        return None
    expected_ml = _volume_mm3(wanted) / 1000.0
    if 1.0 / MASK_VOLUME_FACTOR <= volume_ml / expected_ml <= MASK_VOLUME_FACTOR:
        return None
    return (f"{roi} holds {volume_ml:.2f} mL, the protocol's {entry['name']} VOI ({entry['shape']}"
            f"{_size_text(entry)}) {expected_ml:.2f} mL: its statistics are not those of the protocol's VOI")


def _centre(shape: ShapeROI) -> tuple[float, float, float]:
    if isinstance(shape, BoxROI):
        return tuple((a + b) / 2.0 for a, b in zip(shape.corner_a_lps, shape.corner_b_lps))
    return tuple(float(value) for value in shape.center_lps)


def _dimensions(shape: ShapeROI) -> tuple[float, ...]:
    if isinstance(shape, SphereROI):
        return (shape.diameter_mm,)
    if isinstance(shape, CylinderROI):
        return (shape.diameter_mm, shape.length_mm)
    return tuple(abs(a - b) for a, b in zip(shape.corner_a_lps, shape.corner_b_lps))


def _same_shape(a: ShapeROI, b: ShapeROI) -> bool:
    return type(a) is type(b) and all(abs(x - y) <= SHAPE_TOLERANCE_MM for x, y in zip(_dimensions(a), _dimensions(b)))


def _volume_mm3(shape: ShapeROI) -> float:
    sizes = _dimensions(shape)
    if isinstance(shape, SphereROI):
        return math.pi / 6.0 * sizes[0] ** 3
    if isinstance(shape, CylinderROI):
        return math.pi / 4.0 * sizes[0] ** 2 * sizes[1]
    return float(sizes[0] * sizes[1] * sizes[2])


def _size_text(entry: Mapping[str, Any]) -> str:
    if entry["shape"] == "sphere":
        return f", diameter {entry['diameter_mm']:g} mm"
    if entry["shape"] == "cylinder":
        return f", diameter {entry['diameter_mm']:g} mm, length {entry['length_mm']:g} mm"
    if entry["shape"] == "box":
        return ", " + " x ".join(f"{size:g}" for size in entry["size_mm"]) + " mm"
    return ""


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
