"""MR intensity normalisation before radiomics: MR signal has no absolute scale, so grey-level features are
only comparable across scans after the intensities are put on a common one (IBSI 1 reference manual,
"image processing: intensity normalisation"; Carré et al., Sci Rep 2020;10:12340 compare the methods below).

- ``zscore``: (x - mean) / SD within a region: the body (Li-threshold foreground, largest component) or a reference
  tissue mask;
- ``reference-scaling``: x / mean of a reference tissue (fat or muscle; e.g. tumour-to-muscle signal ratio);
- ``whitestripe``: z-score on normal-appearing white matter found as the last (T1) or largest (T2) histogram
  mode (Shinohara et al., NeuroImage Clin 2014;6:9), computed by intensity-normalization's
  ``WhiteStripeNormalizer``;
- ``nyul``: piecewise-linear histogram standardisation onto landmarks learnt from a training set (Nyúl &
  Udupa, Magn Reson Med 1999;42:1072; Nyúl, Udupa & Zhang, IEEE TMI 2000;19:143), see ``nyul``.

Each returns the normalised float image and a ``Normalisation`` record (method, the statistics used, the
region's voxel count, the library and citation) for the report's provenance. Quantitative maps are refused
(``quantitative``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.normalisation.quantitative import quantitative_map_reason

if TYPE_CHECKING:
    import pydicom

METHODS = ("zscore", "reference-scaling", "whitestripe", "nyul")
CITATIONS = {
    "zscore": "z-score normalisation (IBSI reference manual, intensity normalisation; Carre et al. Sci Rep 2020)",
    "reference-scaling": "reference-tissue signal ratio (fat or muscle), e.g. tumour-to-muscle ratio",
    "whitestripe": "Shinohara et al., NeuroImage Clin 2014;6:9 (intensity-normalization WhiteStripeNormalizer)",
    "nyul": "Nyul & Udupa, Magn Reson Med 1999;42:1072; Nyul, Udupa & Zhang, IEEE TMI 2000;19:143",
}


@dataclass(frozen=True)
class Normalisation:
    """What was done to the intensities, for provenance (``to_dict``)."""

    method: str
    region: str
    voxels: int
    statistics: Mapping[str, float]
    citation: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "region": self.region, "voxels": self.voxels,
                "statistics": dict(self.statistics), "citation": self.citation, **dict(self.details)}


def refuse_quantitative_map(headers: Sequence[pydicom.Dataset], what: str) -> None:
    """InputError when ``headers`` describe a quantitative map (values are physical: never normalised)."""
    reason = quantitative_map_reason(headers)
    if reason is not None:
        raise InputError(f"{what}: a quantitative map is not intensity-normalised, its values are physical "
                         f"({reason}); use it as it is")


def body_mask(image: sitk.Image) -> sitk.Image:
    """The body: minimum cross-entropy foreground (Li & Tam, Pattern Recognit Lett 1998; Otsu's threshold falls
    between tissues when air is most of the image), its largest connected component, holes filled."""
    foreground = sitk.LiThreshold(sitk.Cast(image, sitk.sitkFloat32), 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    return sitk.BinaryFillhole(sitk.Cast(components == 1, sitk.sitkUInt8))


def zscore(image: sitk.Image, region: sitk.Image, region_name: str) -> tuple[sitk.Image, Normalisation]:
    """(x - mean) / SD, mean and (population) SD of the voxels in ``region`` (> 0)."""
    values = _region_values(image, region, region_name)
    return zscore_with(image, float(values.mean()), float(values.std()), region_name, values.size)


def zscore_with(image: sitk.Image, mean: float, sd: float, region_name: str, voxels: int
                ) -> tuple[sitk.Image, Normalisation]:
    """(x - mean) / SD with a region's statistics measured elsewhere (e.g. the gate's reference tissue)."""
    if not sd > 0:
        raise InputError(f"z-score normalisation: {region_name} has SD {sd:.4g}; expected > 0")
    return _scaled(image, mean, sd), Normalisation("zscore", region_name, voxels, {"mean": mean, "sd": sd},
                                                   CITATIONS["zscore"])


def reference_scaling(image: sitk.Image, reference: sitk.Image, tissue: str) -> tuple[sitk.Image, Normalisation]:
    """x / mean of the reference tissue (``tissue``: its name, e.g. muscle or fat)."""
    values = _region_values(image, reference, f"reference tissue {tissue}")
    return reference_scaling_with(image, float(values.mean()), tissue, values.size)


def reference_scaling_with(image: sitk.Image, mean: float, tissue: str, voxels: int
                           ) -> tuple[sitk.Image, Normalisation]:
    """x / the reference tissue's mean measured elsewhere (e.g. the gate's reference tissue)."""
    if not mean > 0:
        raise InputError(f"reference scaling: the {tissue} reference has mean {mean:.4g}; expected > 0")
    return _scaled(image, 0.0, mean), Normalisation("reference-scaling", f"reference tissue {tissue}", voxels,
                                                    {"mean": mean}, CITATIONS["reference-scaling"])


def whitestripe(image: sitk.Image, contrast: str = "T1", width: float = 0.05,
                brain: Optional[sitk.Image] = None) -> tuple[sitk.Image, Normalisation]:
    """WhiteStripe of a brain T1 or T2 image (within ``brain`` if given, else voxels > 0, as the paper's
    skull-stripped input)."""
    from intensity_normalization import Modality, WhiteStripeNormalizer
    from intensity_normalization.adapters.images import NumpyImageAdapter
    from intensity_normalization.domain.exceptions import NormalizationError

    modality = {"T1": Modality.T1, "T2": Modality.T2}[contrast]
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    mask = NumpyImageAdapter(sitk.GetArrayFromImage(brain) > 0) if brain is not None else None
    normalizer = WhiteStripeNormalizer(width=width, modality=modality)
    try:
        normalizer.fit(NumpyImageAdapter(values), mask)
    except NormalizationError as error:
        raise InputError(f"WhiteStripe normalisation failed: {error}") from None
    stripe = int(np.count_nonzero(normalizer.whitestripe_mask))
    record = Normalisation("whitestripe", "brain" if brain is not None else "voxels > 0", stripe,
                           {"mean": normalizer.mean, "sd": normalizer.std}, CITATIONS["whitestripe"],
                           {"contrast": contrast, "width": width})
    return _scaled(image, normalizer.mean, normalizer.std), record


def _region_values(image: sitk.Image, region: sitk.Image, name: str) -> np.ndarray:
    inside = sitk.GetArrayViewFromImage(region) > 0
    if inside.shape != sitk.GetArrayViewFromImage(image).shape:
        raise InputError(f"normalisation: {name} is not on the image grid ({region.GetSize()} vs {image.GetSize()})")
    values = sitk.GetArrayViewFromImage(image)[inside].astype(np.float64)
    if values.size < 2:
        raise InputError(f"normalisation: {name} holds {values.size} voxel(s); expected at least 2")
    return values


def _scaled(image: sitk.Image, offset: float, scale: float) -> sitk.Image:
    result = sitk.GetImageFromArray(((sitk.GetArrayViewFromImage(image).astype(np.float64) - offset) / scale)
                                    .astype(np.float32))
    result.CopyInformation(image)
    return result
