"""Region growing from seeds with SimpleITK: connected threshold and confidence connected.

Both grow through face-connected voxels only (6-connectivity), so a one-voxel wall outside the
acceptance range stops them.
- ``region-grow`` (ConnectedThresholdImageFilter): voxels with lower <= value <= upper connected to a seed.
- ``confidence-connected`` (ConfidenceConnectedImageFilter, Yanowitz/ITK Software Guide 9.1.3): the range is
  mean +/- multiplier x SD of the seeds' neighbourhood (radius ``initial_radius`` voxels), re-estimated from
  the grown region ``iterations`` times. Defaults 4.5 and 4 are ITK's and the CT protocols'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.segmentation.method_types import Method, MethodInput, MethodOutput, binary
from StandardSegLib.segmentation.thresholds import RangeParameters


@dataclass(frozen=True)
class ConfidenceParameters:
    multiplier: float = 4.5
    iterations: int = 4
    initial_radius: int = 1

    def __post_init__(self) -> None:
        if not self.multiplier > 0:
            raise InputError(f"confidence-connected: multiplier must be > 0, found {self.multiplier:g}")
        if self.iterations < 0 or self.initial_radius < 0:
            raise InputError("confidence-connected: iterations and initial_radius must be >= 0")


def run_connected_threshold(data: MethodInput, parameters: RangeParameters) -> MethodOutput:
    lower, upper = parameters.bounds
    # The filter takes finite bounds: clip infinite ones to the crop's range (same result).
    statistics = sitk.MinimumMaximumImageFilter()
    statistics.Execute(data.image)
    low, high = max(lower, statistics.GetMinimum()), min(upper, statistics.GetMaximum())
    mask = sitk.ConnectedThreshold(data.image, seedList=[list(s) for s in data.seeds], lower=float(low),
                                   upper=float(high), replaceValue=1)
    thresholds = {key: value for key, value in (("lower", lower), ("upper", upper)) if math.isfinite(value)}
    return MethodOutput(binary(mask), thresholds)


def run_confidence_connected(data: MethodInput, parameters: ConfidenceParameters) -> MethodOutput:
    grower = sitk.ConfidenceConnectedImageFilter()
    grower.SetSeedList([list(s) for s in data.seeds])
    grower.SetMultiplier(parameters.multiplier)
    grower.SetNumberOfIterations(parameters.iterations)
    grower.SetInitialNeighborhoodRadius(parameters.initial_radius)
    grower.SetReplaceValue(1)
    mask = binary(grower.Execute(data.image))
    mean, variance = grower.GetMean(), grower.GetVariance()
    sd = math.sqrt(max(variance, 0.0))
    thresholds = {"lower": mean - parameters.multiplier * sd, "upper": mean + parameters.multiplier * sd}
    return MethodOutput(mask, thresholds, {"region_mean": mean, "region_sd": sd})


METHODS = (
    Method("region-grow", "connected threshold region growing", RangeParameters, run_connected_threshold,
           source="ITK ConnectedThresholdImageFilter; range from the protocol or the user"),
    Method("confidence-connected", "confidence connected region growing", ConfidenceParameters,
           run_confidence_connected,
           source="ITK ConfidenceConnectedImageFilter (multiplier 4.5, 4 iterations: ITK defaults, CT protocols)"),
)
