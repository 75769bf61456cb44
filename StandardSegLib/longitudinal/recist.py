"""RECIST 1.1 category from the sum of target lesions' long axes (Eisenhauer et al., Eur J Cancer
2009;45:228).

Targets: baseline lesions measurable on CT or MR (long axis >= 10 mm), at most the 5 largest (the rule of
at most 2 per organ needs organ labels the reports do not carry: not applied, and said so). Categories:
CR all target lesions gone; PR sum decreased by >= 30 %; PD sum increased by >= 20 % and >= 5 mm absolute
(baseline taken as the nadir: two time points), or any new lesion; SD otherwise. Nodal short axes are not
handled (the reports carry long axes for every lesion). Anything the inputs cannot support gives
"not assessable: <reason>".
"""

from __future__ import annotations

from typing import Any, Sequence

from StandardSegLib.longitudinal.pairing import Pairing
from StandardSegLib.longitudinal.timepoint import Lesion

MEASURABLE_MM = 10.0
MAX_TARGETS = 5
PR_PERCENT, PD_PERCENT, PD_ABSOLUTE_MM = -30.0, 20.0, 5.0
MODALITIES = ("CT", "MR")
NOTES = ("at most 2 targets per organ is not applied (no organ labels)", "baseline taken as the nadir")


def recist_category(modalities: tuple[str, str], baseline: Sequence[Lesion], followup: Sequence[Lesion],
                    pairing: Pairing) -> dict[str, Any]:
    """The category and the sums it rests on (``category`` "not assessable: <reason>" when it cannot be)."""
    if any(modality not in MODALITIES for modality in modalities):
        return _not_assessable(f"RECIST 1.1 measures on CT or MR, the reports are {' and '.join(modalities)}")
    if any(lesion.long_axis_mm is None for lesion in (*baseline, *followup)):
        return _not_assessable("a lesion has no axial long axis in its report")
    measurable = sorted((lesion for lesion in baseline if lesion.long_axis_mm >= MEASURABLE_MM),
                        key=lambda lesion: -lesion.long_axis_mm)
    targets = measurable[:MAX_TARGETS]
    if not targets:
        return _not_assessable(f"no measurable lesion at baseline (long axis >= {MEASURABLE_MM:g} mm)")
    partner = {pair.baseline.name: pair.followup for pair in pairing.pairs}
    base_sum = sum(lesion.long_axis_mm for lesion in targets)
    if not followup:
        return _result("CR", "all target lesions gone", targets, base_sum, 0.0)
    missing = [lesion.name for lesion in targets if lesion.name not in partner]
    if missing:
        return _not_assessable(f"target lesion(s) {', '.join(missing)} have no follow-up partner within "
                               f"{pairing.tolerance_mm:g} mm while other lesions remain")
    follow_sum = sum(partner[lesion.name].long_axis_mm for lesion in targets)
    difference = follow_sum - base_sum
    percent = 100.0 * difference / base_sum
    if pairing.followup_only:
        category, reason = "PD", f"new lesion(s): {', '.join(lesion.name for lesion in pairing.followup_only)}"
    elif percent >= PD_PERCENT and difference >= PD_ABSOLUTE_MM:
        category, reason = "PD", f"sum +{percent:.1f} % and +{difference:.1f} mm"
    elif percent <= PR_PERCENT:
        category, reason = "PR", f"sum {percent:.1f} %"
    else:
        category, reason = "SD", f"sum {percent:+.1f} % ({difference:+.1f} mm)"
    return _result(category, reason, targets, base_sum, follow_sum)


def _result(category: str, reason: str, targets: Sequence[Lesion], base_sum: float,
            follow_sum: float) -> dict[str, Any]:
    return {"category": category, "assessable": True, "reason": reason,
            "targets": [lesion.name for lesion in targets], "baseline_sum_mm": base_sum,
            "followup_sum_mm": follow_sum, "change_mm": follow_sum - base_sum,
            "change_percent": 100.0 * (follow_sum - base_sum) / base_sum, "notes": list(NOTES)}


def _not_assessable(reason: str) -> dict[str, Any]:
    return {"category": f"not assessable: {reason}", "assessable": False, "reason": reason, "targets": [],
            "baseline_sum_mm": None, "followup_sum_mm": None, "change_mm": None, "change_percent": None,
            "notes": []}
