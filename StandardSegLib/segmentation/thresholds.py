"""Intensity-range threshold: lower <= value <= upper in image units (e.g. an HU range per organ).

The range comes from the protocol (``segmentation.methods.threshold: {lower, upper}``) or the user; there
is no built-in range, because a meaningful one depends on organ, contrast phase and scanner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.segmentation.method_types import Method, MethodInput, MethodOutput, binary


@dataclass(frozen=True)
class RangeParameters:
    """``lower`` and/or ``upper`` bound (inclusive, image units); at least one is required."""

    lower: Optional[float] = None
    upper: Optional[float] = None

    def __post_init__(self) -> None:
        if self.lower is None and self.upper is None:
            raise InputError("threshold: give lower and/or upper (image units), e.g. --param lower=80")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise InputError(f"threshold: lower ({self.lower:g}) is above upper ({self.upper:g})")

    @property
    def bounds(self) -> tuple[float, float]:
        return (-math.inf if self.lower is None else self.lower, math.inf if self.upper is None else self.upper)


def range_mask(image: sitk.Image, lower: float, upper: float = math.inf) -> sitk.Image:
    """uint8 mask of lower <= value <= upper (infinite bounds allowed)."""
    if math.isinf(upper):
        return binary(image >= lower)
    if math.isinf(lower):
        return binary(image <= upper)
    return sitk.BinaryThreshold(image, lower, upper, 1, 0)


def run_threshold(data: MethodInput, parameters: RangeParameters) -> MethodOutput:
    lower, upper = parameters.bounds
    thresholds = {key: value for key, value in (("lower", lower), ("upper", upper)) if math.isfinite(value)}
    return MethodOutput(range_mask(data.image, lower, upper), thresholds)


METHODS = (
    Method("threshold", "intensity range threshold", RangeParameters, run_threshold,
           source="fixed intensity window from the protocol (e.g. an organ's HU range)", seedless=True),
)
