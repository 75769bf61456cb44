"""Grow from seeds: the Segment Editor's "Grow from seeds" effect, with Slicer's own GrowCut.

The method gives the mask Slicer's effect gives for the same seed image, image and extent, because it runs the
same C++ class (:mod:`StandardSegLib.segmentation.slicer_growcut` says why, and what happens without
slicer-core) and reproduces what the effect does around it (Slicer
``Modules/Loadable/Segmentations/EditorEffects/Python/SegmentEditorEffects/``
``AbstractScriptedSegmentEditorAutoCompleteEffect.py`` and ``SegmentEditorGrowFromSeedsEffect.py``):

- **Seed image**: one label per seed segment (here 1 foreground, 2 background, 0 unlabelled), merged on the
  image grid. Seeds come as points (each a ball of ``seed_radius_mm`` / ``background_seed_radius_mm`` around
  the seed voxel's centre; 0 = that voxel), as a painted label image (``--seeds-mask``, JOB.yaml
  ``seeds_mask``, or the seed segments painted in Slicer), and/or, for the background, from the protocol
  rule ``background_shell_mm``: a closed shell of background voxels at that distance around the foreground
  seeds (one longest-neighbour-step thick, so no 26-connected path crosses it).
- **Extent**: the bounding box of all seed voxels grown on each side by ``max(3, ratio * (box size - 1))``
  voxels per axis (integer part) and clipped to the image, ``ratio`` = ``extent_growth_ratio`` (0.10: the
  effect's first Initialize; Slicer re-initialises with 0.50 once a mask image exists). A user VOI box
  replaces the rule. The extent is fixed: it is not grown afterwards.
- **Seed locality**: the effect's slider (``seed_locality``, ``SetDistancePenalty``), default 0.
- **Post-processing**: none, as the effect's Apply copies the label as is (its surface smoothing only
  affects the 3D display). So the method's defaults switch the engine's keep-connected and fill-holes steps
  off; any post-processing a protocol or user adds is recorded as a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.segmentation.method_types import Method, MethodInput, MethodOutput, SeedImage
from StandardSegLib.segmentation.slicer_growcut import grow_cut, implementation
from StandardSegLib.segmentation.voi import VOI

if TYPE_CHECKING:
    from StandardSegLib.segmentation.method_types import Index

FOREGROUND, BACKGROUND = 1, 2
#: Slicer's minimum extent margin in voxels (``max(3, ratio * size)``).
MINIMUM_MARGIN_VOXELS = 3


@dataclass(frozen=True)
class GrowFromSeedsParameters:
    """Radii of the point seeds (mm), the background shell rule (mm from the foreground seeds, None = off),
    Slicer's seed locality and its extent growth ratio (see the module docstring)."""

    seed_radius_mm: float = 0.0
    background_seed_radius_mm: float = 0.0
    background_shell_mm: Optional[float] = None
    seed_locality: float = 0.0
    extent_growth_ratio: float = 0.10

    def __post_init__(self) -> None:
        for name in ("seed_radius_mm", "background_seed_radius_mm", "seed_locality", "extent_growth_ratio"):
            if not getattr(self, name) >= 0:
                raise InputError(f"grow-from-seeds: {name} must be >= 0, found {getattr(self, name):g}")
        if self.background_shell_mm is not None and not self.background_shell_mm > 0:
            raise InputError(f"grow-from-seeds: background_shell_mm must be > 0, found {self.background_shell_mm:g}")


def read_seeds_mask(path: str | Path, image: sitk.Image) -> tuple[sitk.Image, list[str]]:
    """A painted seed label file on ``image``'s grid (uint8: 1 foreground, 2 background, 0 unlabelled).

    Another grid is resampled nearest-neighbour with a warning (as for every mask); any other label value is
    an InputError naming the file and the values found.
    """
    from StandardSegLib.imaging import read_mask_file
    from StandardSegLib.measure import align_mask
    from StandardSegLib.rtstruct import is_rtstruct

    name = Path(path).name
    if is_rtstruct(path):  # one ROI is one region, not the two seed labels GrowCut needs
        raise InputError(f"seeds mask {name}: an RTSTRUCT holds contours of regions, not a seed label image "
                         f"(1 foreground, 2 background); give seed points or paint the seeds")
    aligned, warnings = align_mask(read_mask_file(path), image, f"seeds mask {name}")
    values = np.unique(sitk.GetArrayViewFromImage(aligned))
    unexpected = sorted(set(values.tolist()) - {0, FOREGROUND, BACKGROUND})
    if unexpected:
        raise InputError(f"seeds mask {name}: expected labels 0 (unlabelled), 1 (foreground) and 2 (background), "
                         f"found {', '.join(f'{v:g}' for v in unexpected[:5])}")
    labels = sitk.Cast(aligned, sitk.sitkUInt8)
    labels.CopyInformation(image)
    return labels, warnings


def seed_image(image: sitk.Image, foreground: Sequence["Index"], background: Sequence["Index"],
               seeds_mask: Optional[sitk.Image], box: Optional[VOI],
               parameters: GrowFromSeedsParameters) -> SeedImage:
    """The merged seed labels and the extent Slicer's effect would work in (``box`` replaces its rule)."""
    spacing = np.asarray(image.GetSpacing(), float)
    size = np.asarray(image.GetSize())
    shell = parameters.background_shell_mm
    work = _work_box(image, foreground, background, seeds_mask,
                     max(parameters.seed_radius_mm, parameters.background_seed_radius_mm),
                     0.0 if shell is None else shell + _longest_step(spacing))
    labels = np.zeros(work.size[::-1], np.uint8)
    if seeds_mask is not None:
        labels[...] = sitk.GetArrayViewFromImage(seeds_mask)[work.slices_zyx()]
    _paint_balls(labels, work, foreground, parameters.seed_radius_mm, spacing, FOREGROUND)
    _paint_balls(labels, work, background, parameters.background_seed_radius_mm, spacing, BACKGROUND)
    if not (labels == FOREGROUND).any():
        raise InputError("grow-from-seeds needs foreground seeds: --seed X,Y,Z or label 1 in --seeds-mask")
    sources = ["points"] if background else []
    if seeds_mask is not None and (sitk.GetArrayViewFromImage(seeds_mask) == BACKGROUND).any():
        sources.append("seeds mask")
    if shell is not None:
        _paint_shell(labels, shell, spacing)
        sources.append(f"protocol rule: shell {shell:g} mm around the foreground seeds")
    if not (labels == BACKGROUND).any():
        raise InputError("grow-from-seeds needs background seeds around the lesion: --background-seed X,Y,Z, "
                         "label 2 in --seeds-mask, or the parameter background_shell_mm")

    hits = np.argwhere(labels > 0)[:, ::-1] + np.asarray(work.start)  # x, y, z on the image grid
    low, high = hits.min(axis=0), hits.max(axis=0)
    if box is None:
        margin = np.maximum(MINIMUM_MARGIN_VOXELS, parameters.extent_growth_ratio * (high - low)).astype(int)
        start, stop = np.maximum(low - margin, 0), np.minimum(high + margin + 1, size)
        voi = VOI(tuple(int(v) for v in start), tuple(int(v) for v in stop - start))
        rule = (f"seed bounding box + max({MINIMUM_MARGIN_VOXELS} voxels, {parameters.extent_growth_ratio:g} x its "
                "size) per axis, clipped to the image (Slicer's Grow from seeds effect)")
    else:
        voi, rule = box, "the user's VOI box"
    crop = _paste(labels, work, voi)
    counts = np.bincount(crop.ravel(), minlength=3)
    for label, role in ((FOREGROUND, "foreground"), (BACKGROUND, "background")):
        if counts[label] == 0:
            raise InputError(f"grow-from-seeds: no {role} seed lies inside the VOI {voi.describe(image)}")
    crop_image = sitk.GetImageFromArray(crop)
    crop_image.CopyInformation(voi.crop(image))
    details = {"extent_rule": rule, "seed_box_index": [low.tolist(), high.tolist()],
               "seed_voxels": {"foreground": int(counts[FOREGROUND]), "background": int(counts[BACKGROUND])},
               "background_seeds_from": sources, "implementation": implementation(),
               "post_processing": "none in Slicer's effect; the engine's steps below are recorded as applied"}
    return SeedImage(voi, crop_image, details)


def run_grow_from_seeds(data: MethodInput, parameters: GrowFromSeedsParameters) -> MethodOutput:
    labels = grow_cut(sitk.GetArrayViewFromImage(data.image), sitk.GetArrayViewFromImage(data.seed_labels),
                      data.image.GetSpacing(), parameters.seed_locality)
    mask = sitk.GetImageFromArray((labels == FOREGROUND).astype(np.uint8))
    mask.CopyInformation(data.image)
    return MethodOutput(mask)


def _longest_step(spacing: np.ndarray) -> float:
    """Length of the longest of the 26 neighbour steps (the voxel diagonal)."""
    return float(np.sqrt(np.sum(spacing ** 2)))


def _work_box(image: sitk.Image, foreground: Sequence["Index"], background: Sequence["Index"],
              seeds_mask: Optional[sitk.Image], ball_mm: float, shell_mm: float) -> VOI:
    """A box holding every seed voxel to be painted (points' balls, painted labels, the shell), clipped."""
    size = np.asarray(image.GetSize())
    spacing = np.asarray(image.GetSpacing(), float)
    boxes = []
    points = np.asarray(list(foreground) + list(background), int).reshape(-1, 3)
    if len(points):
        reach = np.ceil(ball_mm / spacing - 1e-9).astype(int)
        boxes += [points.min(axis=0) - reach, points.max(axis=0) + reach]
    if seeds_mask is not None:
        painted = np.argwhere(sitk.GetArrayViewFromImage(seeds_mask) > 0)[:, ::-1]
        if len(painted):
            boxes += [painted.min(axis=0), painted.max(axis=0)]
    if not boxes:
        raise InputError("grow-from-seeds needs seeds: --seed X,Y,Z (and background seeds) or --seeds-mask FILE")
    corners = np.asarray(boxes)
    shell = np.ceil(shell_mm / spacing - 1e-9).astype(int)
    start = np.maximum(corners.min(axis=0) - shell, 0)
    stop = np.minimum(corners.max(axis=0) + shell + 1, size)
    return VOI(tuple(int(v) for v in start), tuple(int(v) for v in stop - start))


def _paint_balls(labels: np.ndarray, work: VOI, centres: Sequence["Index"], radius_mm: float,
                 spacing: np.ndarray, value: int) -> None:
    """Label the voxels whose centres lie within ``radius_mm`` of each seed voxel's centre (the voxel itself
    for 0); a voxel already holding the other label is an InputError."""
    reach = np.floor(radius_mm / spacing + 1e-9).astype(int)
    offsets = np.argwhere(np.ones(2 * reach + 1, bool)) - reach  # x, y, z offsets in the bounding cube
    offsets = offsets[np.sum((offsets * spacing) ** 2, axis=1) <= radius_mm ** 2 * (1 + 1e-9)]
    for centre in centres:
        voxels = np.asarray(centre) + offsets - np.asarray(work.start)
        voxels = voxels[np.all((voxels >= 0) & (voxels < np.asarray(work.size)), axis=1)]
        x, y, z = voxels.T
        clash = labels[z, y, x] == (BACKGROUND if value == FOREGROUND else FOREGROUND)
        if clash.any():
            where = tuple(int(v) for v in voxels[np.argmax(clash)] + np.asarray(work.start))
            raise InputError(f"grow-from-seeds: voxel {where} is both a foreground and a background seed")
        labels[z, y, x] = value


def _paint_shell(labels: np.ndarray, distance_mm: float, spacing: np.ndarray) -> None:
    """Background on the unlabelled voxels at distance (d, d + longest step] mm from the foreground seeds."""
    foreground = sitk.GetImageFromArray((labels == FOREGROUND).astype(np.uint8))
    foreground.SetSpacing(tuple(float(s) for s in spacing))
    distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
        foreground, insideIsPositive=False, squaredDistance=False, useImageSpacing=True, backgroundValue=0))
    shell = (distance > distance_mm) & (distance <= distance_mm + _longest_step(spacing)) & (labels == 0)
    labels[shell] = BACKGROUND


def _paste(labels: np.ndarray, work: VOI, voi: VOI) -> np.ndarray:
    """The part of ``labels`` (on ``work``) that lies in ``voi``, as an array of ``voi``'s size."""
    crop = np.zeros(voi.size[::-1], np.uint8)
    low = np.maximum(work.start, voi.start)
    high = np.minimum(work.stop, voi.stop)
    if (high > low).all():
        source = tuple(slice(a - s, b - s) for a, b, s in zip(low[::-1], high[::-1], work.start[::-1]))
        target = tuple(slice(a - s, b - s) for a, b, s in zip(low[::-1], high[::-1], voi.start[::-1]))
        crop[target] = labels[source]
    return crop


METHODS = (
    Method("grow-from-seeds", "grow from seeds (3D Slicer GrowCut)", GrowFromSeedsParameters, run_grow_from_seeds,
           seed_image=seed_image, default_options={"keep_connected": False, "fill_holes": False},
           source="3D Slicer Segment Editor 'Grow from seeds': vtkImageGrowCutSegment from slicer-core (Zhu et al., "
                  "Fast GrowCut, MICCAI IMIC 2014); extent rule of Slicer's auto-complete effects"),
)
