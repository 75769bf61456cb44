"""PERCIST 1.0 category from the hottest lesion's SULpeak (Wahl et al., J Nucl Med 2009;50:122S; O JH et
al., Radiology 2016;280:576 "Practical PERCIST").

- SUL = SUV normalised by lean body mass. Reports in SUVbw are converted with the patient's weight, height
  and sex (Janmahasatian LBM, as recommended for SUL by Tahari et al., J Nucl Med 2014;55:1481, and the
  default of ``StandardSegLib.suv``); reports in SUVlbm are SUL already. Any other unit: not assessable.
- Reference: liver SULmean and SD from the report's reference tissue; a report whose reference is not the
  liver is not assessable. Measurable target: SULpeak >= 1.5 x liver SULmean + 2 x liver SD at baseline.
  The follow-up liver SULmean must stay within 20 % and 0.3 SUL of the baseline's (comparable scans).
- Categories on the hottest lesion at each time point (it may be another lesion): CMR SULpeak down to the
  liver SULmean or below; PMR decrease >= 30 % and >= 0.8 SUL; PMD increase >= 30 % and >= 0.8 SUL, or a
  new lesion; SMD otherwise. Uptake times more than 15 min apart are warned about (PERCIST asks within 15).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from StandardSegLib.errors import SUVError
from StandardSegLib.longitudinal.comparability import uptake_minutes
from StandardSegLib.longitudinal.pairing import Pairing
from StandardSegLib.suv.body_size import normaliser

PERCENT, ABSOLUTE_SUL = 30.0, 0.8
LIVER_PERCENT, LIVER_ABSOLUTE_SUL = 20.0, 0.3
UPTAKE_DIFFERENCE_MIN = 15.0
LBM_FORMULA = "LBMJANMA"


class NotAssessable(Exception):
    """Internal: why PERCIST cannot be assessed (becomes "not assessable: <reason>")."""


def percist_category(baseline: Mapping[str, Any], followup: Mapping[str, Any], pairing: Pairing) -> dict[str, Any]:
    """The category and the numbers behind it, from the two report documents and the lesion pairing."""
    try:
        return _assess(baseline, followup, pairing)
    except NotAssessable as reason:
        return {"category": f"not assessable: {reason}", "assessable": False, "reason": str(reason),
                "sul_factor": None, "liver": None, "target": None, "warnings": []}


def _assess(baseline: Mapping[str, Any], followup: Mapping[str, Any], pairing: Pairing) -> dict[str, Any]:
    factors = [_sul_factor(document, when) for document, when in ((baseline, "baseline"), (followup, "follow-up"))]
    livers = [_liver(document, factor, when) for document, factor, when
              in ((baseline, factors[0], "baseline"), (followup, factors[1], "follow-up"))]
    base_peak = _hottest(baseline, factors[0], "baseline")
    if base_peak is None:
        raise NotAssessable("no lesion with an SUVpeak at baseline")
    threshold = 1.5 * livers[0]["mean"] + 2.0 * livers[0]["sd"]
    if base_peak["sul_peak"] < threshold:
        raise NotAssessable(f"baseline SULpeak {base_peak['sul_peak']:.2f} is below the measurability threshold "
                            f"{threshold:.2f} (1.5 x liver SULmean + 2 SD)")
    liver_change = livers[1]["mean"] - livers[0]["mean"]
    if abs(liver_change) > LIVER_ABSOLUTE_SUL or abs(liver_change) > LIVER_PERCENT / 100.0 * livers[0]["mean"]:
        raise NotAssessable(f"liver SULmean changed from {livers[0]['mean']:.2f} to {livers[1]['mean']:.2f} "
                            f"(more than {LIVER_PERCENT:g} % or {LIVER_ABSOLUTE_SUL:g} SUL)")
    follow_peak = _hottest(followup, factors[1], "follow-up")
    if follow_peak is None:
        raise NotAssessable("no lesion with an SUVpeak at follow-up (CMR needs the target region measured)")
    difference = follow_peak["sul_peak"] - base_peak["sul_peak"]
    percent = 100.0 * difference / base_peak["sul_peak"]
    if pairing.followup_only:
        category, reason = "PMD", f"new lesion(s): {', '.join(lesion.name for lesion in pairing.followup_only)}"
    elif follow_peak["sul_peak"] <= livers[1]["mean"]:
        category, reason = "CMR", "hottest SULpeak at or below the liver SULmean"
    elif percent <= -PERCENT and difference <= -ABSOLUTE_SUL:
        category, reason = "PMR", f"SULpeak {percent:.1f} % ({difference:+.2f} SUL)"
    elif percent >= PERCENT and difference >= ABSOLUTE_SUL:
        category, reason = "PMD", f"SULpeak +{percent:.1f} % ({difference:+.2f} SUL)"
    else:
        category, reason = "SMD", f"SULpeak {percent:+.1f} % ({difference:+.2f} SUL)"
    return {"category": category, "assessable": True, "reason": reason,
            "sul_factor": {"baseline": factors[0], "followup": factors[1], "lbm_formula": LBM_FORMULA},
            "liver": {"baseline": livers[0], "followup": livers[1], "measurability_threshold": threshold},
            "target": {"baseline": base_peak, "followup": follow_peak, "change": difference,
                       "change_percent": percent},
            "warnings": _uptake_warnings(baseline, followup)}


def _sul_factor(document: Mapping[str, Any], when: str) -> float:
    """SUL / SUV of the report's uptake units (1 for SUVlbm)."""
    units = document["gate"].get("units")
    if units == "SUVlbm":
        return 1.0
    if units != "SUVbw":
        raise NotAssessable(f"{when} values are in {units or 'no stated unit'}, not SUVbw or SUVlbm (SUL)")
    image = document["image"]
    weight, height, sex = image.get("patient_weight_kg"), image.get("patient_size_m"), image.get("patient_sex")
    try:
        return (normaliser(LBM_FORMULA, weight, height, sex, "SUL")
                / normaliser("BW", weight, height, sex, "SUL"))
    except SUVError as error:
        raise NotAssessable(f"{when}: {error}") from None


def _liver(document: Mapping[str, Any], factor: float, when: str) -> dict[str, float]:
    tissue = document["gate"].get("reference_tissue")
    if not tissue or tissue.get("name") != "liver":
        name = tissue.get("name") if tissue else None
        raise NotAssessable(f"{when} reference tissue is {name or 'not measured'}, PERCIST needs the liver")
    if tissue.get("mean") is None or tissue.get("sd") is None:
        raise NotAssessable(f"{when} liver reference has no mean and SD")
    return {"mean": tissue["mean"] * factor, "sd": tissue["sd"] * factor}


def _hottest(document: Mapping[str, Any], factor: float, when: str) -> Optional[dict[str, Any]]:
    peaks = [(segment["measurements"].get("uptake") or {}).get("suv_peak") for segment in document["segments"]]
    found = [(peak, segment["name"]) for peak, segment in zip(peaks, document["segments"]) if peak is not None]
    if not found:
        return None
    peak, name = max(found)
    return {"lesion": name, "suv_peak": peak, "sul_peak": peak * factor}


def _uptake_warnings(baseline: Mapping[str, Any], followup: Mapping[str, Any]) -> list[str]:
    times = [uptake_minutes(document["image"]) for document in (baseline, followup)]
    if None in times:
        return ["uptake time not known at both time points: PERCIST asks for uptake times within 15 min"]
    if abs(times[0] - times[1]) > UPTAKE_DIFFERENCE_MIN:
        return [f"uptake times {times[0]:.0f} and {times[1]:.0f} min differ by more than "
                f"{UPTAKE_DIFFERENCE_MIN:g} min (PERCIST)"]
    return []
