"""Region growing from seeds with SimpleITK: connected threshold and confidence connected.

Both grow through face-connected voxels only (6-connectivity), so a one-voxel wall outside the
acceptance range stops them.
- ``region-grow`` (ConnectedThresholdImageFilter): voxels with lower <= value <= upper connected to a seed.
- ``confidence-connected`` (ITK's ConfidenceConnectedImageFilter algorithm, ITK Software Guide 9.1.3): the
  range is mean +/- multiplier x SD of the seeds' neighbourhood (radius ``initial_radius`` voxels), re-estimated
  from the grown region ``iterations`` times. Defaults 4.5 and 4 are ITK's.

Confidence connected is run as ITK's filter runs it (the same statistics, the same range adjustments, each
growth a ConnectedThresholdImageFilter, which floods as the filter's iterator does), step by step rather than
in the one filter call, for one reason: a leak. ITK's filter re-grows the whole region at every iteration and
cannot be stopped; a leak into muscle or fat grows over the whole VOI five times (2.5 s on a 200 x 200 x 60
CT). Here the re-estimation stops as soon as the region holds more voxels than the protocol's maximum lesion
volume (``MethodInput.max_voxels``): the segment is a leak whatever further iterations make of it, and the
engine flags it (``growth_capped``). Below the cap the mask, mean and variance equal the filter's
(``Testing/test_confidence_connected.py`` compares them on real CT and MR). One deliberate difference: one
sample (a single seed with radius 0, or a one-voxel region) has no variance, taken as 0, so growth keeps the
voxels equal to it (the filter divides by zero and returns an empty mask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.segmentation.method_types import Method, MethodInput, MethodOutput, binary
from StandardSegLib.segmentation.thresholds import RangeParameters

Index = tuple[int, int, int]


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


@dataclass(frozen=True)
class ConfidenceGrowth:
    """A confidence-connected result: uint8 mask, the last mean and variance, the re-estimations done and
    whether they were stopped by the voxel cap."""

    mask: sitk.Image
    mean: float
    variance: float
    iterations: int
    stopped_at_cap: bool


def confidence_connected(image: sitk.Image, seeds: Sequence[Index], parameters: ConfidenceParameters,
                         max_voxels: Optional[int] = None) -> ConfidenceGrowth:
    """ITK's confidence-connected growth from ``seeds`` (indices), stopped once the region exceeds ``max_voxels``."""
    values = sitk.GetArrayFromImage(image)
    seed_values = np.array([values[tuple(seed[::-1])] for seed in seeds], dtype=np.float64)
    if parameters.initial_radius > 0:
        # ITK: the mean of the seeds' neighbourhood means; the variance over all their voxels (edge voxels
        # repeated: zero-flux Neumann boundary).
        blocks = [_neighbourhood(values, seed, parameters.initial_radius) for seed in seeds]
        total = sum(block.size for block in blocks)
        mean = sum(block.sum() / block.size for block in blocks) / len(blocks)
        variance = (sum(float((block * block).sum()) for block in blocks) - mean * mean * total) / (total - 1.0)
    else:
        mean, variance = _mean_variance(seed_values)
    limits = _value_limits(values.dtype)

    def grow(mean: float, variance: float) -> sitk.Image:
        spread = parameters.multiplier * math.sqrt(max(variance, 0.0))  # rounding can make 0 slightly negative
        lower = max(min(mean - spread, float(seed_values.min())), limits[0])
        upper = min(max(mean + spread, float(seed_values.max())), limits[1])
        return sitk.ConnectedThreshold(image, seedList=[list(s) for s in seeds], lower=lower, upper=upper,
                                       replaceValue=1)

    mask = grow(mean, variance)
    done, capped = 0, False
    while done < parameters.iterations:
        region = values[sitk.GetArrayViewFromImage(mask).astype(bool)]
        if max_voxels is not None and region.size > max_voxels:
            capped = True
            break
        mean, variance = _mean_variance(region)
        if abs(variance) <= 0.1 * np.finfo(float).eps:  # ITK: no spread left, the region stays
            break
        mask = grow(mean, variance)
        done += 1
    return ConfidenceGrowth(mask, float(mean), float(variance), done, capped)


def run_confidence_connected(data: MethodInput, parameters: ConfidenceParameters) -> MethodOutput:
    growth = confidence_connected(data.image, data.seeds, parameters, data.max_voxels)
    sd = math.sqrt(max(growth.variance, 0.0))
    thresholds = {"lower": growth.mean - parameters.multiplier * sd, "upper": growth.mean + parameters.multiplier * sd}
    details = {"region_mean": growth.mean, "region_sd": sd, "iterations_done": growth.iterations}
    return MethodOutput(binary(growth.mask), thresholds, details, stopped_at_cap=growth.stopped_at_cap)


def _neighbourhood(values: np.ndarray, seed: Index, radius: int) -> np.ndarray:
    """The (2r+1)^3 box around ``seed`` (x, y, z) in float64, indices clamped to the array."""
    axes = [np.clip(np.arange(c - radius, c + radius + 1), 0, n - 1) for c, n in zip(seed[::-1], values.shape)]
    return values[np.ix_(*axes)].astype(np.float64)


def _mean_variance(samples: np.ndarray) -> tuple[float, float]:
    """Mean and sample variance as ITK computes them (sum and sum of squares in double); one sample has no
    variance (0 here; ITK divides by zero)."""
    samples = samples.astype(np.float64)
    count = float(samples.size)
    total = float(samples.sum())
    if count < 2:
        return total / count, 0.0
    return total / count, (float((samples * samples).sum()) - total * total / count) / (count - 1.0)


def _value_limits(dtype: np.dtype) -> tuple[float, float]:
    """The pixel type's range, which ITK clamps the growth range to."""
    if np.issubdtype(dtype, np.floating):
        largest = float(np.finfo(dtype).max)
        return -largest, largest
    info = np.iinfo(dtype)
    return float(info.min), float(info.max)


METHODS = (
    Method("region-grow", "connected threshold region growing", RangeParameters, run_connected_threshold,
           source="ITK ConnectedThresholdImageFilter; range from the protocol or the user"),
    Method("confidence-connected", "confidence connected region growing", ConfidenceParameters,
           run_confidence_connected,
           source="ITK ConfidenceConnectedImageFilter (multiplier 4.5, 4 iterations: ITK defaults, CT protocols)"),
)
