"""Are two time points comparable? The protocol's ``longitudinal.must_match`` DICOM keywords, compared on
the image records of both reports, the protocol itself (id and version) and, when the protocol sets
``uptake_time_tolerance_min``, the PET uptake times (injection to series time, minutes).

ESR/EORTC consensus rec. 7: longitudinal measurements strictly on the same hardware and software platform.
Each difference is named with both values. Keys in ``longitudinal.blocking`` block the comparison (no
response category is assessed); other differences make the pair "not comparable" but the changes are still
computed, with that verdict beside them. A key neither report recorded cannot be checked: it is named
("not recorded") but does not by itself make the pair not comparable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from StandardSegLib.imaging.header_fields import SIMPLE_FIELDS

if TYPE_CHECKING:
    from StandardSegLib.protocols import Protocol

#: DICOM keyword -> image-record field. ConvolutionKernel of a PET series is its reconstruction filter.
_RECORD_FIELD = {keyword: name for name, (keyword, _) in SIMPLE_FIELDS.items()}
_RECORD_FIELD["ConvolutionKernel"] = "convolution_kernel"
_PET_FIELD = {"ConvolutionKernel": "reconstruction_filter"}
_TOLERANCE = 1e-6  # numbers equal up to rounding in the header text

MATCH, DIFFERS, NOT_RECORDED = "match", "differs", "not recorded"


@dataclass(frozen=True)
class CheckItem:
    """One must-match key at both time points."""

    key: str  # DICOM keyword, or "protocol"
    field: Optional[str]  # image-record field compared; None for the protocol
    baseline: Any
    followup: Any
    status: str  # MATCH, DIFFERS or NOT_RECORDED
    blocking: bool

    @property
    def message(self) -> str:
        if self.status == MATCH:
            return f"{self.key}: same ({_shown(self.baseline)})"
        if self.status == NOT_RECORDED:
            return f"{self.key}: not recorded in either report, cannot be checked"
        return (f"{self.key} differs: baseline {_shown(self.baseline)}, follow-up {_shown(self.followup)}"
                + (" (blocking)" if self.blocking else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "field": self.field, "baseline": self.baseline, "followup": self.followup,
                "status": self.status, "blocking": self.blocking, "message": self.message}


@dataclass(frozen=True)
class Comparability:
    items: tuple[CheckItem, ...]
    source: str

    @property
    def differences(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if item.status == DIFFERS)

    @property
    def unchecked(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if item.status == NOT_RECORDED)

    @property
    def blocked(self) -> bool:
        return any(item.blocking and item.status == DIFFERS for item in self.items)

    @property
    def verdict(self) -> str:
        return "comparable" if not self.differences else "not comparable"

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "blocked": self.blocked, "source": self.source,
                "differences": [item.message for item in self.differences],
                "unchecked": [item.message for item in self.unchecked],
                "items": [item.to_dict() for item in self.items]}


def check_comparability(baseline: Mapping[str, Any], followup: Mapping[str, Any],
                        protocol: Protocol) -> Comparability:
    """Compare the two report documents on ``protocol``'s must-match keys and on the protocol used."""
    blocking = set(protocol.longitudinal_blocking)
    items = [_protocol_item(baseline["protocol"], followup["protocol"])]
    for keyword in protocol.longitudinal_must_match:
        field = _field(keyword, baseline["image"])
        first, second = (_value(document["image"], field) for document in (baseline, followup))
        if field is None or (first is None and second is None):
            status = NOT_RECORDED
        else:
            status = MATCH if _same(first, second) else DIFFERS
        items.append(CheckItem(keyword, field, first, second, status, keyword in blocking))
    tolerance = protocol.longitudinal_uptake_tolerance_min
    if tolerance is not None:
        items.append(_uptake_item(baseline["image"], followup["image"], tolerance))
    return Comparability(tuple(items), protocol.document["longitudinal"]["source"])


def _protocol_item(first: Mapping[str, Any], second: Mapping[str, Any]) -> CheckItem:
    values = [f"{protocol['id']} {protocol['version']}" for protocol in (first, second)]
    return CheckItem("protocol", None, values[0], values[1], MATCH if values[0] == values[1] else DIFFERS, False)


def uptake_minutes(image: Mapping[str, Any]) -> Optional[float]:
    """Minutes from injection (RadiopharmaceuticalStartDateTime) to the series time of an image record."""
    try:
        start = dt.datetime.fromisoformat(image["injection_datetime"])
        scan = dt.datetime.fromisoformat(image["series_datetime"])
    except (KeyError, TypeError, ValueError):
        return None
    return (scan - start).total_seconds() / 60.0


def _uptake_item(first: Mapping[str, Any], second: Mapping[str, Any], tolerance: float) -> CheckItem:
    key = f"uptake time (within {tolerance:g} min)"
    times = [uptake_minutes(image) for image in (first, second)]
    shown = [None if value is None else round(value, 1) for value in times]
    if None in times:
        return CheckItem(key, None, shown[0], shown[1], NOT_RECORDED if times == [None, None] else DIFFERS, False)
    return CheckItem(key, None, shown[0], shown[1], MATCH if abs(times[0] - times[1]) <= tolerance else DIFFERS,
                     False)


def _field(keyword: str, image: Mapping[str, Any]) -> Optional[str]:
    if image.get("modality") in ("PT", "NM") and keyword in _PET_FIELD:
        return _PET_FIELD[keyword]
    return _RECORD_FIELD.get(keyword)


def _value(image: Mapping[str, Any], field: Optional[str]) -> Any:
    return None if field is None else image.get(field)


def _same(first: Any, second: Any) -> bool:
    if isinstance(first, (int, float)) and isinstance(second, (int, float)):
        return abs(first - second) <= _TOLERANCE * max(1.0, abs(first))
    return first == second


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "\\".join(str(item) for item in value)
    return "(absent)" if value is None else repr(value) if isinstance(value, str) else str(value)
