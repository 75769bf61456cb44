"""Evaluate a protocol's image-specification gate on one loaded image.

The order follows the guided session: spec items from the headers first, then the quality metrics and the
reference tissue from ROIs, then the operator's training. PET values are converted to SUVbw first (the
protocol's PET thresholds and the EANM liver range are in SUV); if SUV cannot be computed the
``suv_convertible`` item says why and the ratios (TBR, SNR, CNR are unit-free) use the stored units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import SimpleITK as sitk

from StandardSegLib.errors import SUVError
from StandardSegLib.gate.quality_metrics import evaluate_metric
from StandardSegLib.gate.reference_tissue import (ReferenceMeasurement, conform_reference_roi, mask_volume_note,
                                                   reference_entry, reference_measurement, reference_qc_item)
from StandardSegLib.gate.spec_checks import SpecContext, evaluate_spec
from StandardSegLib.gate.verdict import GateItem, GateVerdict, violation
from StandardSegLib.measure import RegionStatistics, align_mask, region_statistics
from StandardSegLib.roi import ShapeROI, shape_mask


@dataclass(frozen=True)
class RoiInput:
    """A ROI for the gate: a mask on (or resampleable to) the image grid and how it was specified; ``shape``
    the sphere/cylinder/box it was rasterised from (a background shape is held to the protocol's VOI)."""

    mask: sitk.Image
    description: str
    label: int = 1
    shape: Optional[ShapeROI] = None


@dataclass(frozen=True)
class GateEvaluation:
    """The verdict plus the measurements it was based on (for the report)."""

    verdict: GateVerdict
    units: str
    lesion: Optional[RegionStatistics]
    background: Optional[RegionStatistics]
    reference: Optional[ReferenceMeasurement]
    suv: Any  # SUVConversion or None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        document = self.verdict.to_dict()
        for metric in ("snr", "cnr", "tbr"):
            item = next((i for i in self.verdict.items if i.id == metric and i.kind == "metric"), None)
            if item is not None:
                document[metric] = {"value": item.measured, "definition": item.definition,
                                    "threshold": item.threshold, "verdict": item.verdict, "message": item.message}
        document.update({
            "units": self.units,
            "lesion_roi": self.lesion.to_dict() if self.lesion else None,
            "background_roi": self.background.to_dict() if self.background else None,
            "reference_tissue": self.reference.to_dict() if self.reference else None,
            "suv_conversion": self.suv.to_dict() if self.suv else None,
            "warnings": list(self.warnings),
        })
        return document


def evaluate_gate(protocol: Any, loaded: Any, *, lesion: Optional[RoiInput] = None,
                  background: Optional[RoiInput] = None, reference_name: Optional[str] = None,
                  training: Any = None) -> GateEvaluation:
    """Judge ``loaded`` (a LoadedImage) against ``protocol``'s gate.

    ``training`` is the operator's TrainingStatus for this protocol, or None when no operator was named
    (then the operator item fails or warns as the protocol's ``on_expiry`` rule says).
    """
    warnings: list[str] = list(getattr(loaded.record, "warnings", ()))
    image, units, suv, suv_error = values_for_gate(loaded)
    items: list[GateItem] = evaluate_spec(protocol.image_spec, SpecContext(loaded.record, loaded.datasets, suv, suv_error))

    with_peak = loaded.record.modality == "PT"
    entry = reference_entry(protocol.reference_tissue, reference_name) if protocol.reference_tissue else None
    if entry is not None and background is not None:
        background = _as_protocol_defines(entry, background, image, warnings)
    lesion_stats = _roi_statistics(image, lesion, units, with_peak, warnings)
    background_stats = _roi_statistics(image, background, units, False, warnings)
    for name, rule in protocol.quality_metrics.items():
        items.append(evaluate_metric(name, rule, lesion_stats, background_stats))

    reference = None
    if entry is not None:
        if background_stats is not None:
            reference = reference_measurement(entry, background_stats, background.description)
            if background.shape is None:
                note = mask_volume_note(entry, background_stats.volume_ml, background.description)
                warnings.extend([note] if note else [])
        qc_item = reference_qc_item(entry, reference)
        if qc_item is not None:
            items.append(qc_item)

    items.append(_training_item(protocol.operator_training, training))
    verdict = GateVerdict(protocol.id, protocol.version, protocol.content_sha256, tuple(items))
    return GateEvaluation(verdict, units, lesion_stats, background_stats, reference, suv, tuple(warnings))


def values_for_gate(loaded: Any) -> tuple[sitk.Image, str, Any, Optional[str]]:
    """(image, units, SUVConversion or None, why SUV is unavailable or None): PET in SUVbw when the headers
    allow it, everything else in its stored real-world values (HU for CT). The gate, ``run`` (via the
    gate's conversion) and ``features`` measure in these units, so a protocol's numbers mean the same."""
    if loaded.record.modality != "PT":
        return loaded.image, _raw_units(loaded.record), None, None
    from StandardSegLib.suv import apply_suv, suv_conversion

    try:
        suv = suv_conversion(loaded.datasets)
    except SUVError as error:
        return loaded.image, _raw_units(loaded.record), None, str(error)
    return apply_suv(loaded.image, suv), suv.suv_type, suv, None


def _as_protocol_defines(entry: Any, background: RoiInput, image: sitk.Image, warnings: list[str]) -> RoiInput:
    """The background ROI reshaped to the reference tissue's VOI when it was given as another shape."""
    if background.shape is None:
        return background
    shape, note = conform_reference_roi(entry, background.shape)
    if note is None:
        return background
    warnings.append(note)
    return RoiInput(shape_mask(image, shape), f"background {shape.describe()}", shape=shape)


def _raw_units(record: Any) -> str:
    if record.modality == "CT":
        return "HU"
    return getattr(record, "units", None) or "raw"


def _roi_statistics(image: sitk.Image, roi: Optional[RoiInput], units: str, with_peak: bool,
                    warnings: list[str]) -> Optional[RegionStatistics]:
    if roi is None:
        return None
    mask, notes = align_mask(roi.mask, image, roi.description)
    warnings.extend(notes)
    return region_statistics(image, mask, roi.label, units=units, with_peak=with_peak, mask_name=roi.description)


def _training_item(rule: Any, training: Any) -> GateItem:
    severity = "fail" if rule["on_expiry"] == "block" else "warn"
    text = f"operator trained within {rule['validity_days']} days"
    source = rule.get("source")
    if training is None:
        return GateItem(id="operator_training", kind="operator", verdict=violation(severity), severity=severity,
                        rule=text, message="no operator named: training cannot be verified", source=source)
    return GateItem(id="operator_training", kind="operator", verdict=training.verdict, severity=severity, rule=text,
                    message=f"{training.operator}: {training.message}", measured=training.days_left,
                    threshold=0, unit="days left", source=source)
