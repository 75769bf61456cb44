"""Uptake time (injection to scan) from a PET series' headers, whatever its Units.

The SUV conversion only needs the injection and scan times when it decays the dose (Units BQML, CNTS with
DecayCorrection START): a series stored as SUV (Units GML) or decay-corrected to administration (ADMIN)
never asks for them, yet the protocol's uptake-time window (EANM: 60 min, 55-75 min) still applies. The
times are read with the same rules as the SUV decay (``StandardSegLib.suv.decay``): the scan time in QIBA's
order (SeriesDate/SeriesTime unless later than the first acquisition, GE's private scan_datetime, the
earliest AcquisitionTime), the injection from RadiopharmaceuticalStartDateTime, else
RadiopharmaceuticalStartTime on the scan date (previous day across midnight).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import pydicom

from StandardSegLib.errors import SUVError
from StandardSegLib.suv import decay, tags

#: The QIBA order of ``decay.reference_time`` does not use the half-life (only the frame method does).
_UNUSED_HALF_LIFE = float("nan")


@dataclass(frozen=True)
class UptakeTime:
    """Injection and scan times (ISO 8601) and how each was found."""

    injection_time: str
    scan_time: str
    injection_source: str
    scan_source: str

    @property
    def minutes(self) -> float:
        delta = dt.datetime.fromisoformat(self.scan_time) - dt.datetime.fromisoformat(self.injection_time)
        return delta.total_seconds() / 60.0


def uptake_time(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> UptakeTime:
    """The uptake time of a PET series; SUVError naming the attribute when a time is missing or contradictory."""
    if not datasets:
        raise SUVError("no DICOM headers: the injection and scan times are unknown")
    item = tags.radiopharmaceutical_item(datasets[0])
    if item is None:
        raise SUVError("RadiopharmaceuticalInformationSequence (0054,0016) is missing: the injection time is "
                       "unknown")
    scan, scan_source = decay.reference_time(datasets, _UNUSED_HALF_LIFE, "qiba", warnings)
    injected, injection_source = decay.injection_time(item, scan, warnings)
    if injected > scan:
        raise SUVError(f"injection ({injection_source}, {injected.isoformat()}) is after the scan "
                       f"({scan_source}, {scan.isoformat()}): the times in the header contradict each other")
    return UptakeTime(injected.isoformat(), scan.isoformat(), injection_source, scan_source)
