"""A second image (e.g. CT or MR for a poorly defined PET lesion, ESR/EORTC consensus rec. 5) on the
primary image's grid, so a ROI defined on either image is a mask of the primary grid.

Same FrameOfReferenceUID (e.g. PET and CT of one PET/CT acquisition): the scanner already put both in one
patient coordinate system, so the second image is only resampled (linear). Otherwise, or when a UID is
unknown: rigid registration (Euler 3D, six parameters) maximising Mattes mutual information (works across
modalities; Mattes et al. 2003) by regular-step gradient descent over three resolution levels,
initialised by aligning the image centres.
The transform parameters and the final metric are recorded: a poor metric is visible in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import SimpleITK as sitk

from StandardSegLib.progress import ProgressCallback, report

#: Mattes MI histogram bins, sampling fraction and the fixed sampling seed (deterministic results).
HISTOGRAM_BINS = 50
SAMPLING_FRACTION = 0.25
SAMPLING_SEED = 20240115
SHRINK_FACTORS = (4, 2, 1)
SMOOTHING_SIGMAS_VOXELS = (2.0, 1.0, 0.0)


@dataclass(frozen=True)
class Alignment:
    """How the second image was brought onto the primary grid.

    ``translation_mm`` / ``rotation_rad`` (Euler angles about x, y, z) map a primary-grid point to the
    matching point of the second image (ITK's fixed-to-moving convention); identity for a resample.
    """

    method: str  # "resample (same frame of reference)" or "rigid registration (Mattes MI)"
    same_frame_of_reference: bool
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    center_lps: Optional[tuple[float, float, float]] = None
    final_metric: Optional[float] = None
    metric: Optional[str] = None
    iterations: Optional[int] = None
    stop_condition: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "same_frame_of_reference": self.same_frame_of_reference,
                "transform": "Euler3DTransform", "translation_mm": list(self.translation_mm),
                "rotation_rad": list(self.rotation_rad),
                "center_lps": list(self.center_lps) if self.center_lps else None,
                "final_metric": self.final_metric, "metric": self.metric, "iterations": self.iterations,
                "stop_condition": self.stop_condition}


def onto_primary_grid(second: sitk.Image, primary: sitk.Image, second_frame_uid: Optional[str],
                      primary_frame_uid: Optional[str],
                      progress: Optional[ProgressCallback] = None) -> tuple[sitk.Image, Alignment]:
    """``second`` resampled onto ``primary``'s grid (float32, linear; 0 outside its extent) and how."""
    if second_frame_uid and primary_frame_uid and second_frame_uid == primary_frame_uid:
        transform = sitk.Euler3DTransform()
        alignment = Alignment("resample (same frame of reference)", True)
    else:
        transform, alignment = register_rigid(primary, second, progress)
    resampled = sitk.Resample(sitk.Cast(second, sitk.sitkFloat32), primary, transform, sitk.sitkLinear, 0.0,
                              sitk.sitkFloat32)
    report(progress, 1.0, "second image on the primary grid")
    return resampled, alignment


def register_rigid(fixed: sitk.Image, moving: sitk.Image,
                   progress: Optional[ProgressCallback] = None) -> tuple[sitk.Euler3DTransform, Alignment]:
    """Rigid registration of ``moving`` to ``fixed`` (Mattes MI, multi-resolution gradient descent)."""
    fixed32, moving32 = sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed32, moving32, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, SAMPLING_SEED)
    method.SetInterpolator(sitk.sitkLinear)
    # Regular-step descent: plain gradient descent with a fixed learning rate diverged on the synthetic
    # CT/PET pair (Testing/test_segmentation_multimodality.py); the step here starts at 2 mm and halves.
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=0.01, numberOfIterations=200)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_SIGMAS_VOXELS))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    if progress is not None:
        method.AddCommand(sitk.sitkMultiResolutionIterationEvent,
                          lambda: report(progress, (method.GetCurrentLevel() + 1) / (len(SHRINK_FACTORS) + 1),
                                         "rigid registration"))
    result = method.Execute(fixed32, moving32)
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(result).GetBackTransform()
                                  if isinstance(result, sitk.CompositeTransform) else result)
    alignment = Alignment(
        "rigid registration (Mattes MI)", False,
        translation_mm=tuple(float(v) for v in euler.GetTranslation()),
        rotation_rad=(euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()),
        center_lps=tuple(float(v) for v in euler.GetCenter()),
        final_metric=float(method.GetMetricValue()), metric=f"Mattes mutual information ({HISTOGRAM_BINS} bins)",
        iterations=int(method.GetOptimizerIteration()), stop_condition=method.GetOptimizerStopConditionDescription())
    return euler, alignment
