"""One run of a method in one VOI: crop, statistics region, the method, post-processing.

A crop holding NaN or infinity is refused (count and first voxel named) before any method sees it.

PET methods (``Method.uptake``; those whose threshold uses max or peak: ``region_statistics``) get more:

- the crop is widened by the SUVpeak sphere radius (the method still only keeps voxels of the VOI), so a
  1 mL sphere near a VOI face averages the same voxels as the reported SUVpeak over the whole image;
- their statistics come first from the seed's hot region (:mod:`~StandardSegLib.segmentation.hot_region`),
  then from the segment itself (its part in the hot region): the method is re-run with ``region`` = its own
  post-processed segment until its thresholds no longer change (at most ``MAX_STATISTICS_ROUNDS``). When
  the threshold is above the hot region's level (the usual case: the segment lies in the hot region), the
  max or SUVpeak that set the threshold is then the max or SUVpeak of the segment written - the number the
  report states. A threshold below that level (a low-contrast lesion) lets the segment spread beyond the
  hot region, but never lets the tissue it spread into set the threshold. ``statistics_consistent`` in the
  details records whether the thresholds settled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.imaging import require_finite
from StandardSegLib.measure import PEAK_SPHERE_RADIUS_MM
from StandardSegLib.segmentation.hot_region import HotRegion, background_level, hot_region
from StandardSegLib.segmentation.method_types import Method, MethodInput, MethodOutput, binary
from StandardSegLib.segmentation.postprocess import postprocess, voxel_count
from StandardSegLib.segmentation.provenance import SEMIAUTOMATIC, ProcessingStep

if TYPE_CHECKING:
    from StandardSegLib.segmentation.parameters import CommonOptions
    from StandardSegLib.segmentation.voi import VOI, LesionBound

Index = tuple[int, int, int]
#: Re-runs of a PET method with its own segment as statistics region before giving up on agreement.
MAX_STATISTICS_ROUNDS = 6


@dataclass(frozen=True)
class MethodRun:
    """The post-processed mask on the VOI crop's grid, the method's output, the steps and, for PET methods,
    the hot region (on the VOI crop's grid) and how the statistics converged."""

    mask: sitk.Image
    output: MethodOutput
    steps: tuple["ProcessingStep", ...]
    hot: Optional[HotRegion]
    statistics_rounds: int
    statistics_consistent: bool


def run_method(image: sitk.Image, voi: "VOI", method: Method, parameters: Any, options: "CommonOptions", *,
               units: str, seeds: Sequence[Index], background_seeds: Sequence[Index], background: Any,
               protocol_parameters: Any, seed_labels: Optional[sitk.Image] = None,
               bound: Optional["LesionBound"] = None, max_voxels: Optional[int] = None) -> MethodRun:
    """Run ``method`` in ``voi`` of ``image``; ``seeds`` are image indices; ``bound`` limits it to a lesion ROI;
    ``max_voxels`` is the protocol's maximum lesion volume in voxels (region growing stops above it)."""
    crop_voi = voi
    if method.uptake:
        reach = np.ceil(PEAK_SPHERE_RADIUS_MM / np.asarray(image.GetSpacing(), float)).astype(int)
        crop_voi = voi.padded(reach, image)
    crop = crop_voi.crop(image)
    # a NaN or infinity would make a threshold from max/peak/mean meaningless (an inf max: nothing or all kept)
    require_finite(sitk.GetArrayViewFromImage(crop), f"image in the {method.id} VOI",
                   offset_zyx=tuple(crop_voi.start[::-1]), image=image)
    allowed = _allowed(crop, voi, crop_voi, bound)
    local_seeds = tuple(crop_voi.local(i) for i in seeds)
    hot = (hot_region(crop, local_seeds, allowed, background_level(background, units))
           if method.uptake and local_seeds else None)
    data = MethodInput(crop, units, local_seeds, tuple(crop_voi.local(i) for i in background_seeds), background,
                       protocol_parameters, seed_labels, hot.mask if hot else allowed, max_voxels)
    output, mask, steps = _apply(method, data, parameters, options, allowed)
    rounds, consistent = 1, not (method.region_statistics and local_seeds)
    while not consistent and rounds < MAX_STATISTICS_ROUNDS and np.any(sitk.GetArrayViewFromImage(mask)):
        again = _apply(method, _with_region(data, binary(mask & hot.mask)), parameters, options, allowed)
        rounds += 1
        consistent = dict(again[0].thresholds) == dict(output.thresholds)
        output, mask, steps = again
    inner = voi.within(crop_voi)
    if hot is not None:
        hot = HotRegion(inner.crop(hot.mask), hot.level, hot.voxel_count)
    return MethodRun(inner.crop(mask), output, tuple(steps), hot, rounds, consistent)


def _apply(method: Method, data: MethodInput, parameters: Any, options: "CommonOptions",
           allowed: Optional[sitk.Image]) -> tuple[MethodOutput, sitk.Image, list]:
    output = method.run(data, parameters)
    raw = output.mask if allowed is None else binary(output.mask & allowed)
    if output.stopped_at_cap:  # a leak: post-processing cannot make it right (and costs more than the growth)
        return output, raw, [ProcessingStep("post-processing skipped: the region outgrew the maximum lesion "
                                            "volume", SEMIAUTOMATIC, {"max_voxels": data.max_voxels},
                                            voxel_count(raw))]
    mask, steps = postprocess(raw, data.seeds, options)
    if allowed is not None:
        mask = binary(mask & allowed)
    return output, mask, steps


def _with_region(data: MethodInput, region: sitk.Image) -> MethodInput:
    return replace(data, region=region)


def _allowed(crop: sitk.Image, voi: "VOI", crop_voi: "VOI", bound: Optional["LesionBound"]) -> Optional[sitk.Image]:
    """uint8 on the crop: the VOI's voxels inside the lesion ROI; None when that is the whole crop."""
    if bound is None and crop_voi == voi:
        return None
    array = np.zeros(crop_voi.size[::-1], dtype=np.uint8)
    array[voi.within(crop_voi).slices_zyx()] = 1
    if bound is not None:
        array &= sitk.GetArrayFromImage(crop_voi.crop(bound.mask)).astype(np.uint8)
    allowed = sitk.GetImageFromArray(array)
    allowed.CopyInformation(crop)
    return allowed
