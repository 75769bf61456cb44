"""measurements.csv: tidy table (Wickham 2014), one row per case x segment x measure, with its unit and the
segment's plausibility flag codes (joined by ";", empty when none; see ``StandardSegLib.segmentation.flags``).

Built from the report document, so the CSV states exactly the numbers report.json states (de-identified the
same way). Missing values (e.g. no SUV peak for a tiny lesion) are empty cells, never a made-up number.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator, Optional

from StandardSegLib.segmentation.flags import flag_codes

HEADER = ("case", "segment", "measure", "value", "unit", "flags")

#: (measure name, path in a segment's "measurements", unit; None = the image units).
_GEOMETRY = (
    ("voxel_count", ("voxel_count",), "voxels"),
    ("volume_voxels", ("volume_voxels_mm3",), "mm3"),
    ("volume_mesh", ("volume_mesh_mm3",), "mm3"),
    ("surface_area_mesh", ("surface_area_mesh_mm2",), "mm2"),
    ("max_3d_diameter", ("max_3d_diameter_mm",), "mm"),
    ("axial_long_axis", ("axial", "long_axis_mm"), "mm"),
    ("axial_short_axis", ("axial", "short_axis_mm"), "mm"),
)
_INTENSITY = ("min", "max", "mean", "median", "sd", "p5", "p25", "p75", "p95", "peak")
_UPTAKE = (("suv_max", None), ("suv_peak", None), ("suv_mean", None), ("mtv_ml", "ml"), ("tlg_suv_ml", None))


def measurement_rows(document: dict[str, Any]) -> Iterator[tuple[str, str, str, Any, str]]:
    """Rows (case, segment, measure, value, unit) for every segment of a report document (see ``segment_flags``
    for the flags column)."""
    case = document["image"].get("study_instance_uid") or document["image"].get("series_instance_uid") or ""
    for segment in document["segments"]:
        measured = segment["measurements"]
        name = segment["name"]
        for measure, path, unit in _GEOMETRY:
            yield case, name, measure, _get(measured, path), unit
        units = measured["intensity"]["units"]
        for statistic in _INTENSITY:
            if statistic in measured["intensity"]:
                yield case, name, f"intensity_{statistic}", measured["intensity"][statistic], units
        uptake = measured.get("uptake")
        if uptake:
            for measure, unit in _UPTAKE:
                yield case, name, measure, uptake[measure], unit or _uptake_unit(measure, uptake["units"])
        ratios: Optional[dict[str, Any]] = segment.get("reference_ratios")
        if ratios:
            yield case, name, "reference_mean", ratios["reference_mean"], ratios["units"]
            for ratio in ("max_ratio", "mean_ratio", "peak_ratio"):
                yield case, name, f"{ratio}_to_{ratios['reference']}", ratios.get(ratio), "1"


def measurements_csv(document: dict[str, Any]) -> str:
    """The CSV text (RFC 4180 quoting, "\\n" line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    flags = {segment["name"]: segment_flags(segment) for segment in document["segments"]}
    for case, segment, measure, value, unit in measurement_rows(document):
        writer.writerow((case, segment, measure, "" if value is None else repr(value) if isinstance(value, float)
                         else value, unit, flags[segment]))
    return buffer.getvalue()


def segment_flags(segment: dict[str, Any]) -> str:
    """A report segment's flag codes joined by ";" (the key is optional in older reports)."""
    return flag_codes(flag["code"] for flag in segment.get("flags", []))


def _get(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


def _uptake_unit(measure: str, suv_units: str) -> str:
    """TLG = SUVmean x MTV, so its unit is the SUV unit times mL (g for SUVbw in g/mL)."""
    return f"{suv_units}*ml" if measure == "tlg_suv_ml" else suv_units
