"""Changes between time points, per lesion pair and per patient (absolute and percent of baseline).

Units are written as the report's measurements.csv writes them (TLG in ``<SUV type>*ml``)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

from StandardSegLib.longitudinal.pairing import Pair, Pairing
from StandardSegLib.longitudinal.timepoint import Lesion

#: (lesion attribute, unit; None = the uptake units of the reports)
LESION_METRICS = (("volume_ml", "mL"), ("suv_max", None), ("suv_peak", None), ("suv_mean", None), ("tlg", None),
                  ("long_axis_mm", "mm"))


def change(baseline: Optional[float], followup: Optional[float], unit: Optional[str]) -> dict[str, Any]:
    """Both values, follow-up minus baseline, and that difference in percent of the baseline (None when a
    value is missing, or the baseline is 0 for the percentage)."""
    difference = None if baseline is None or followup is None else followup - baseline
    percent = None if difference is None or baseline == 0 else 100.0 * difference / baseline
    return {"baseline": baseline, "followup": followup, "change": difference, "change_percent": percent,
            "unit": unit}


def lesion_changes(pair: Pair) -> dict[str, dict[str, Any]]:
    """Every metric of ``LESION_METRICS`` for one pair; uptake metrics only when both have the same units."""
    same_units = pair.baseline.units == pair.followup.units
    result = {}
    for metric, unit in LESION_METRICS:
        uptake = unit is None
        if uptake and (not same_units or pair.baseline.units is None):
            continue
        result[metric] = change(getattr(pair.baseline, metric), getattr(pair.followup, metric),
                                unit or (f"{pair.baseline.units}*ml" if metric == "tlg" else pair.baseline.units))
    return result


def patient_changes(baseline: Sequence[Lesion], followup: Sequence[Lesion], pairing: Pairing) -> dict[str, Any]:
    """Whole-patient totals over *all* segmented lesions of each time point (new and vanished ones too):
    total volume and TLG, hottest SUVmax and SUVpeak, sum of long axes, lesion count."""
    units = {lesion.units for lesion in (*baseline, *followup)}
    uptake_unit = units.pop() if len(units) == 1 else None
    totals: list[tuple[str, Callable[[Iterable[Optional[float]]], Optional[float]], str, Optional[str]]] = [
        ("total_volume_ml", _sum, "volume_ml", "mL"), ("sum_long_axes_mm", _sum, "long_axis_mm", "mm")]
    if uptake_unit is not None:
        totals += [("total_tlg", _sum, "tlg", f"{uptake_unit}*ml"), ("max_suv_max", _max, "suv_max", uptake_unit),
                   ("max_suv_peak", _max, "suv_peak", uptake_unit)]
    result = {name: change(reduce([getattr(lesion, attribute) for lesion in baseline]),
                           reduce([getattr(lesion, attribute) for lesion in followup]), unit)
              for name, reduce, attribute, unit in totals}
    result["lesion_count"] = change(float(len(baseline)), float(len(followup)), None)
    result["new_lesions"] = [lesion.name for lesion in pairing.followup_only]
    result["vanished_lesions"] = [lesion.name for lesion in pairing.baseline_only]
    return result


def _sum(values: Iterable[Optional[float]]) -> Optional[float]:
    values = list(values)
    return None if any(value is None for value in values) else float(sum(values))


def _max(values: Iterable[Optional[float]]) -> Optional[float]:
    values = list(values)
    return None if not values or any(value is None for value in values) else float(max(values))
