"""Post-processing of a raw mask, each step recorded (name, parameters, voxels after the step).

Order: keep the component(s) touching a seed, fill holes, grow/shrink by a margin, smooth. Margins use an
exact Euclidean distance map in mm (SimpleITK SignedMaurerDistanceMap with image spacing), so a 2 mm
margin is 2 mm on anisotropic voxels too. Smoothing is a Gaussian of the mask re-thresholded at 0.5 (the
idea of the Segment Editor's Gaussian smoothing), sigma in mm.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.segmentation.method_types import binary
from StandardSegLib.segmentation.parameters import CommonOptions
from StandardSegLib.segmentation.provenance import SEMIAUTOMATIC, ProcessingStep

Index = tuple[int, int, int]


def voxel_count(mask: sitk.Image) -> int:
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))


def keep_connected(mask: sitk.Image, seeds: Sequence[Index]) -> sitk.Image:
    """The face-connected components of ``mask`` that contain a seed voxel."""
    components = sitk.ConnectedComponent(mask, False)
    array = sitk.GetArrayViewFromImage(components)
    labels = sorted({int(array[index[::-1]]) for index in seeds} - {0})
    if not labels:
        return binary(components * 0)
    kept = np.isin(array, labels).astype(np.uint8)
    image = sitk.GetImageFromArray(kept)
    image.CopyInformation(mask)
    return image


def fill_holes(mask: sitk.Image) -> sitk.Image:
    """Fill background regions not connected to the image border (3D, face connectivity)."""
    return binary(sitk.BinaryFillhole(mask, fullyConnected=False, foregroundValue=1))


def margin(mask: sitk.Image, margin_mm: float) -> sitk.Image:
    """Grow (> 0) or shrink (< 0) by ``margin_mm``: a Euclidean ball dilation/erosion in mm.

    Growing adds the voxels whose centre lies within ``margin_mm`` of an object voxel centre (the outside
    part of SimpleITK's signed Maurer distance map with image spacing); shrinking is the same growth applied
    to the background, removed from the mask.
    """
    if margin_mm < 0:
        return binary(1 - margin(binary(1 - mask), -margin_mm))
    distance = sitk.SignedMaurerDistanceMap(mask, insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True, backgroundValue=0)
    return binary(distance <= margin_mm * (1 + 1e-9))


def smooth(mask: sitk.Image, sigma_mm: float) -> sitk.Image:
    smoothed = sitk.SmoothingRecursiveGaussian(sitk.Cast(mask, sitk.sitkFloat32), sigma_mm)
    return binary(smoothed >= 0.5)


def postprocess(mask: sitk.Image, seeds: Sequence[Index],
                options: CommonOptions) -> tuple[sitk.Image, list[ProcessingStep]]:
    """Apply the chain ``options`` selects; returns the mask and one step per operation applied."""
    steps: list[ProcessingStep] = []

    def record(name: str, result: sitk.Image, **parameters) -> sitk.Image:
        steps.append(ProcessingStep(name, SEMIAUTOMATIC, parameters, voxel_count(result)))
        return result

    if options.keep_connected and seeds:
        mask = record("keep components connected to seeds", keep_connected(mask, seeds), connectivity="face")
    if options.fill_holes:
        mask = record("fill holes", fill_holes(mask), connectivity="face")
    if options.margin_mm:
        mask = record("margin", margin(mask, options.margin_mm), margin_mm=options.margin_mm)
    if options.smoothing_mm:
        mask = record("gaussian smoothing", smooth(mask, options.smoothing_mm), sigma_mm=options.smoothing_mm)
    return mask, steps
