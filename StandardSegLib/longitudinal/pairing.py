"""Pair the lesions of two time points: by name first, then the rest by nearest centre.

Without registration the centres are compared in each scan's own patient coordinates (LPS), which is only
meaningful for the same patient positioned alike; hence a tolerance (default 20 mm), recorded in the
output with each pair's distance. Position pairing is greedy on the closest remaining pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from StandardSegLib.longitudinal.timepoint import Lesion

DEFAULT_TOLERANCE_MM = 20.0


@dataclass(frozen=True)
class Pair:
    baseline: Lesion
    followup: Lesion
    by: str  # "name" or "position"
    distance_mm: Optional[float]  # between centres; None when a segment file is missing

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.name, "followup": self.followup.name, "by": self.by,
                "distance_mm": self.distance_mm}


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[Pair, ...]
    baseline_only: tuple[Lesion, ...]  # not found at follow-up (disappeared, or beyond the tolerance)
    followup_only: tuple[Lesion, ...]  # new at follow-up
    tolerance_mm: float

    def to_dict(self) -> dict[str, Any]:
        return {"tolerance_mm": self.tolerance_mm, "pairs": [pair.to_dict() for pair in self.pairs],
                "baseline_only": [lesion.name for lesion in self.baseline_only],
                "followup_only": [lesion.name for lesion in self.followup_only]}


def pair_lesions(baseline: Sequence[Lesion], followup: Sequence[Lesion],
                 tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> Pairing:
    """Pairs by identical name, then by nearest centre within ``tolerance_mm``."""
    later = {lesion.name: lesion for lesion in followup}
    pairs = [Pair(lesion, later[lesion.name], "name", _distance(lesion, later[lesion.name]))
             for lesion in baseline if lesion.name in later]
    left = [lesion for lesion in baseline if lesion.name not in later]
    right = [lesion for lesion in followup if lesion.name not in {pair.baseline.name for pair in pairs}]
    candidates = sorted((distance, i, j) for i, first in enumerate(left) for j, second in enumerate(right)
                        if (distance := _distance(first, second)) is not None and distance <= tolerance_mm)
    used_left: set[int] = set()
    used_right: set[int] = set()
    for distance, i, j in candidates:
        if i not in used_left and j not in used_right:
            pairs.append(Pair(left[i], right[j], "position", distance))
            used_left.add(i)
            used_right.add(j)
    return Pairing(tuple(pairs), tuple(lesion for i, lesion in enumerate(left) if i not in used_left),
                   tuple(lesion for j, lesion in enumerate(right) if j not in used_right), tolerance_mm)


def _distance(first: Lesion, second: Lesion) -> Optional[float]:
    if first.centre_lps is None or second.centre_lps is None:
        return None
    return math.dist(first.centre_lps, second.centre_lps)
