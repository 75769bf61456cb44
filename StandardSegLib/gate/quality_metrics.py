"""SNR, CNR and PET tumour-to-background ratio from ROI statistics, with the definition named.

There is no single SNR or CNR: the literature uses several variants (standards.md §5), so every protocol
names the one it means and every result carries that name. Noise is the standard deviation in the
background (reference) ROI.

- PET with a background VOI (e.g. liver): TBR = SUV_lesion / SUV_bg; SNR = SUV_lesion / sd_bg;
  CNR = (SUV_lesion - SUV_bg) / sd_bg, with SUV_lesion the max, peak or mean as the definition says.
- CT / phantom: CNR = (mean_lesion - mean_bg) / sd_bg; SNR = mean_bg / sd_bg.
- MRI, single image with an air background: SNR = 0.655 * S / sd_air (Rayleigh correction of the noise
  magnitude in air, NEMA MS 1; marked "verify" in standards.md). Here the background ROI is the air ROI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from StandardSegLib.gate.verdict import PASS, GateItem, violation


@dataclass(frozen=True)
class MetricDefinition:
    """One named formula: which ROIs it needs and how it combines their statistics."""

    needs_lesion: bool
    formula: Callable[[Any, Any], float]  # (lesion stats or None, background stats) -> value


def _lesion(stat: str) -> Callable[[Any], float]:
    return lambda lesion: float(getattr(lesion, stat))


_LESION_STATS = {"mean": _lesion("mean"), "max": _lesion("max"), "peak": _lesion("peak")}

DEFINITIONS: dict[str, dict[str, MetricDefinition]] = {
    "snr": {
        "bg_mean/bg_sd": MetricDefinition(False, lambda lesion, bg: bg.mean / bg.sd),
        "0.655*lesion_mean/air_sd": MetricDefinition(True, lambda lesion, bg: 0.655 * lesion.mean / bg.sd),
        **{f"lesion_{name}/bg_sd": MetricDefinition(True, lambda lesion, bg, get=get: get(lesion) / bg.sd)
           for name, get in _LESION_STATS.items()},
    },
    "cnr": {
        f"(lesion_{name}-bg_mean)/bg_sd": MetricDefinition(
            True, lambda lesion, bg, get=get: (get(lesion) - bg.mean) / bg.sd)
        for name, get in _LESION_STATS.items()
    },
    "tbr": {
        f"lesion_{name}/bg_mean": MetricDefinition(True, lambda lesion, bg, get=get: get(lesion) / bg.mean)
        for name, get in _LESION_STATS.items()
    },
}


def evaluate_metric(name: str, rule: Mapping[str, Any], lesion: Optional[Any], background: Optional[Any]) -> GateItem:
    """Evaluate one ``quality_metrics`` entry (``definition``, ``min``, ``severity``, ``source``).

    ``lesion`` and ``background`` are region statistics (attributes ``mean``, ``sd``, ``max``, ``peak``).
    A metric whose ROIs were not given, or whose noise is zero, is not a pass.
    """
    definition_id = rule["definition"]
    definition = DEFINITIONS[name][definition_id]
    minimum = float(rule["min"])
    severity = rule.get("severity", "fail")
    text = f"{name.upper()} = {definition_id} >= {minimum:g}"

    def item(verdict: str, message: str, value: Optional[float] = None) -> GateItem:
        return GateItem(id=name, kind="metric", verdict=verdict, severity=severity, rule=text, message=message,
                        measured=value, threshold=minimum, definition=definition_id, source=rule.get("source"))

    missing = [role for role, stats in (("background", background), ("lesion", lesion))
               if stats is None and (role == "background" or definition.needs_lesion)]
    if missing:
        return item(violation(severity), f"cannot be measured: needs a {' and a '.join(missing)} ROI")
    if "peak" in definition_id and getattr(lesion, "peak", None) is None:
        return item(violation(severity), "cannot be measured: the lesion peak (1 mL sphere) was not computed")
    denominator = background.mean if definition_id.endswith("bg_mean") else background.sd
    if not denominator:
        return item(violation(severity), f"cannot be measured: background {'mean' if definition_id.endswith('bg_mean') else 'SD'} is 0")
    value = float(definition.formula(lesion, background))
    verdict = PASS if value >= minimum else violation(severity)
    relation = ">=" if verdict == PASS else "<"
    return item(verdict, f"{name.upper()} {value:.3g} {relation} {minimum:g}", round(value, 6))
