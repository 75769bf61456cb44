"""What a segment records about how it was made (ESR/EORTC consensus rec. 8 and IBSI reporting items).

IBSI asks a report to say how the ROI was segmented, the settings of semi-automatic methods and which
modality defined the ROI; DICOM SEG has a SegmentAlgorithmType (MANUAL / SEMIAUTOMATIC / AUTOMATIC) and
SegmentAlgorithmName per segment, and QuantitativeReporting tracks them where the edit happens. A
:class:`SegmentProvenance` is built once by the engine and extended (never mutated) by post-processing and
manual edits, so the record can always be traced back step by step.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib import __version__
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.segmentation.flags import SegmentFlag, flag_codes

MANUAL = "MANUAL"
SEMIAUTOMATIC = "SEMIAUTOMATIC"
AUTOMATIC = "AUTOMATIC"
#: DICOM SEG SegmentAlgorithmType (0062,0008) defined terms.
ALGORITHM_TYPES = (MANUAL, SEMIAUTOMATIC, AUTOMATIC)

Point = tuple[float, float, float]


def utc_now() -> str:
    """The current time in ISO 8601 UTC, to the second (one format for every timestamp of a segment)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def software_versions() -> dict[str, str]:
    """Versions of the software that computed the mask (rec. 4: record the software used)."""
    return {"StandardSeg": __version__, "SimpleITK": sitk.Version.VersionString(), "numpy": np.__version__,
            "python": platform.python_version()}


@dataclass(frozen=True)
class ProcessingStep:
    """One operation applied to the mask, in order: the method itself, a post-processing step or an edit."""

    name: str
    algorithm_type: str
    parameters: Mapping[str, Any]
    voxel_count: int
    time: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "algorithm_type": self.algorithm_type,
                "parameters": to_jsonable(dict(self.parameters)), "voxel_count": self.voxel_count, "time": self.time}


@dataclass(frozen=True)
class SegmentProvenance:
    """Everything needed to reproduce or audit one segment.

    ``thresholds`` are in ``units`` (the image units the method worked in: HU, SUVbw...); ``seeds_lps`` and
    the VOI are DICOM patient coordinates in mm. ``gate`` is the verdict summary (protocol id, version,
    sha256, overall, override) so a segment made under an overridden gate says so, with the reason.
    ``flags`` are the plausibility warnings of the engine's guards (:mod:`~StandardSegLib.segmentation.flags`).
    """

    method: str
    algorithm_name: str
    algorithm_type: str
    parameters: Mapping[str, Any]
    seeds_lps: tuple[Point, ...]
    background_seeds_lps: tuple[Point, ...]
    voi: Optional[Mapping[str, Any]]
    thresholds: Mapping[str, float]
    units: str
    roi_modality: str
    alignment: Optional[Mapping[str, Any]]
    gate: Mapping[str, Any]
    operator: Optional[str]
    steps: tuple[ProcessingStep, ...]
    voxel_count: int
    volume_mm3: float
    details: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[SegmentFlag, ...] = ()
    software: Mapping[str, str] = field(default_factory=software_versions)
    time: str = field(default_factory=utc_now)

    @property
    def gate_override_reason(self) -> Optional[str]:
        override = self.gate.get("override")
        return override["reason"] if override else None

    def with_step(self, step: ProcessingStep, voxel_volume_mm3: float,
                  algorithm_type: Optional[str] = None) -> "SegmentProvenance":
        """A copy with ``step`` appended and the voxel count/volume updated to the step's result."""
        return replace(self, steps=self.steps + (step,), voxel_count=step.voxel_count,
                       volume_mm3=step.voxel_count * voxel_volume_mm3,
                       algorithm_type=algorithm_type or self.algorithm_type)

    def tags(self) -> dict[str, str]:
        """Flat key:value tags for a Slicer segment (``Segment0_Tags`` in .seg.nrrd). The DICOM.* keys are
        the ones Slicer's DICOM SEG export reads for SegmentAlgorithmType/Name."""
        override = self.gate_override_reason
        tags = {
            "DICOM.SegmentAlgorithmType": self.algorithm_type,
            "DICOM.SegmentAlgorithmName": self.algorithm_name,
            "StandardSeg.method": self.method,
            "StandardSeg.protocol": f"{self.gate.get('protocol_id')} {self.gate.get('protocol_version')}",
            "StandardSeg.protocol_sha256": str(self.gate.get("protocol_sha256")),
            "StandardSeg.gate": str(self.gate.get("overall")),
            "StandardSeg.units": self.units,
            "StandardSeg.thresholds": " ".join(f"{key}={value:.6g}" for key, value in self.thresholds.items()),
            "StandardSeg.roi_modality": self.roi_modality,
            "StandardSeg.operator": self.operator or "",
            "StandardSeg.voxel_count": str(self.voxel_count),
            "StandardSeg.version": self.software.get("StandardSeg", ""),
            "StandardSeg.time": self.time,
        }
        if self.flags:
            tags["StandardSeg.flags"] = flag_codes(flag.code for flag in self.flags)
        if override:
            tags["StandardSeg.gate_override_reason"] = override
        return tags

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "SegmentProvenance":
        """The provenance ``to_dict`` wrote (e.g. kept in a saved Slicer scene), so it survives save/reload."""
        fields = dict(document)
        fields.pop("gate_override_reason", None)  # derived from ``gate``
        fields["seeds_lps"] = tuple(tuple(point) for point in fields["seeds_lps"])
        fields["background_seeds_lps"] = tuple(tuple(point) for point in fields["background_seeds_lps"])
        fields["steps"] = tuple(ProcessingStep(**step) for step in fields["steps"])
        fields["flags"] = tuple(SegmentFlag.from_dict(flag) for flag in fields.get("flags", ()))
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "method": self.method,
            "algorithm_name": self.algorithm_name,
            "algorithm_type": self.algorithm_type,
            "parameters": dict(self.parameters),
            "seeds_lps": [list(seed) for seed in self.seeds_lps],
            "background_seeds_lps": [list(seed) for seed in self.background_seeds_lps],
            "voi": dict(self.voi) if self.voi else None,
            "thresholds": dict(self.thresholds),
            "units": self.units,
            "roi_modality": self.roi_modality,
            "alignment": dict(self.alignment) if self.alignment else None,
            "gate": dict(self.gate),
            "gate_override_reason": self.gate_override_reason,
            "operator": self.operator,
            "steps": [step.to_dict() for step in self.steps],
            "voxel_count": self.voxel_count,
            "volume_mm3": self.volume_mm3,
            "details": dict(self.details),
            "flags": [flag.to_dict() for flag in self.flags],
            "software": dict(self.software),
            "time": self.time,
        })


@dataclass(frozen=True)
class Segment:
    """A binary mask (uint8, 1 inside) on the grid of the image it was segmented for, with its provenance."""

    mask: sitk.Image
    provenance: SegmentProvenance
