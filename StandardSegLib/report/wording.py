"""How the reports put methods, units, windows and times into words (shared by the report's HTML modules)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from StandardSegLib.report.presentation import format_number, format_quantity, humanise, readable, unit_text

#: Provenance parameters every seeded method shares (VOI and post-processing); the rest describe the method.
GENERIC_PARAMETERS = {"voi_margin_mm", "keep_connected", "fill_holes", "margin_mm", "smoothing_mm"}


def short_datetime(value: Optional[str]) -> Optional[str]:
    """An ISO date-time as "YYYY-MM-DD HH:MM" (what a reader needs; the JSON keeps the full value)."""
    return value.replace("T", " ")[:16] if value else None


def intensity_unit(document: Mapping[str, Any]) -> str:
    """The lesions' intensity unit; CT values stored as "raw" are HU by definition (DICOM Rescale to HU)."""
    units = next((segment["measurements"]["intensity"]["units"] for segment in document["segments"]),
                 document["gate"].get("units") or "raw")
    return "HU" if units == "raw" and document["image"].get("modality") == "CT" else units


def method_text(provenance: Mapping[str, Any], units: str) -> str:
    """The method and its threshold in words, e.g. "percentage of SUVmax threshold (percent 41): ≥ 1.97 SUVbw"."""
    from StandardSegLib.segmentation.registry import METHODS

    method = provenance["method"]
    title = METHODS[method].title if method in METHODS else provenance.get("algorithm_name") or method
    parameters = provenance.get("parameters") or {}
    specific = [f"{humanise(key).lower()} {readable(value)}" for key, value in parameters.items()
                if key not in GENERIC_PARAMETERS and not isinstance(value, (dict, list))]
    text = title + (f" ({', '.join(specific)})" if specific else "")
    thresholds = provenance.get("thresholds") or {}
    lower, upper = thresholds.get("lower"), thresholds.get("upper")
    shown = unit_text(units)
    if lower is not None and upper is not None:
        text += f": {format_number(lower, units)} to {format_number(upper, units)} {shown}"
    elif lower is not None:
        text += f": ≥ {format_number(lower, units)} {shown}"
    elif upper is not None:
        text += f": ≤ {format_number(upper, units)} {shown}"
    edits = sum(1 for step in provenance.get("steps", []) if step.get("algorithm_type") == "MANUAL")
    if edits and method != "manual":
        text += f"; {edits} manual edit{'s' if edits > 1 else ''}"
    return text


def window_text(preset: Mapping[str, Any]) -> str:
    """A window preset as "0.00–5.00 SUVbw"."""
    return f"{format_number(preset['lower'], preset['unit'])}–{format_quantity(preset['upper'], preset['unit'])}"
