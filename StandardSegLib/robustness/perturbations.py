"""Image and mask perturbations for feature robustness, after Zwanenburg et al., Sci Rep 2019;9:614
("Assessing robustness of radiomic features by image perturbation", doi 10.1038/s41598-018-36938-4).

Each repetition draws one instance of every enabled perturbation from a seeded generator and applies them in
the paper's order:

- ``rotation`` (R): rotation about the mask's centroid by an angle uniform in ``±rotation_deg`` around the
  image's slice normal (in-plane, as in the paper);
- ``translation`` (T): a shift uniform in ``±translation_fraction`` of a voxel along each axis (sub-voxel
  shifts change the interpolation grid, the paper's "translation" perturbation);
- ``noise`` (N): Gaussian noise of the image's own noise level, estimated once from the finest diagonal
  wavelet sub-band with Donoho's median absolute deviation (σ = median|d| / 0.6745; Donoho & Johnstone,
  Biometrika 1994), as the paper does;
- ``volume`` (V): the mask grown or shrunk to a volume change uniform in ``±volume_fraction``, by thresholding
  its signed distance map at the distance that gives that voxel count (the paper's volume adaptation);
- ``contour`` (C): contour randomisation, here noise-based instead of the paper's supervoxels (simpler, and
  documented): the signed distance map plus a Gaussian-smoothed random field of ``contour_sd_voxels`` voxels
  standard deviation along the boundary (its boundary mean removed, so the lesion's size is left to V),
  thresholded half a voxel out, so the boundary moves locally by about that much.

R and T are applied together as one rigid transform: the image is resampled linearly and the mask by linear
interpolation of its indicator thresholded at 0.5 (as in the paper). Everything happens on a crop around the
mask (``CROP_MARGIN_MM``), so a perturbation costs milliseconds, and is pasted back onto the whole image
(``paste_back``): pyradiomics then resamples as the protocol says, on the same grid as the unperturbed image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError

#: Perturbation names, in the order they are applied, with the paper's letter.
PERTURBATIONS = {"rotation": "R", "translation": "T", "noise": "N", "volume": "V", "contour": "C"}
#: Margin around the mask kept for perturbing (rotation and translation need context outside the mask).
CROP_MARGIN_MM = 20.0


@dataclass(frozen=True)
class PerturbationSettings:
    """What to perturb and by how much (protocol ``radiomics.robustness``; defaults: Zwanenburg 2019)."""

    perturbations: tuple[str, ...] = ("rotation", "translation", "noise", "volume", "contour")
    rotation_deg: float = 15.0
    translation_fraction: float = 0.5
    volume_fraction: float = 0.1
    contour_sd_voxels: float = 1.0
    contour_smoothing_voxels: float = 2.0

    @classmethod
    def from_spec(cls, spec: str | Sequence[str], **values: float) -> "PerturbationSettings":
        """Settings from names (``"rotation,noise"``) or the paper's letters (``"RNCV"``); InputError naming
        the unknown one."""
        if isinstance(spec, str):
            parts = [part.strip() for part in spec.split(",") if part.strip()]
            if len(parts) == 1 and parts[0].isupper() and len(parts[0]) > 1:
                parts = list(parts[0])
        else:
            parts = list(spec)
        letters = {letter: name for name, letter in PERTURBATIONS.items()}
        names = []
        for part in parts:
            name = letters.get(part, part.lower())
            if name not in PERTURBATIONS:
                raise InputError(f"perturbation {part!r}: expected one of {', '.join(PERTURBATIONS)} "
                                 f"(or the letters {''.join(PERTURBATIONS.values())})")
            names.append(name)
        if not names:
            raise InputError("perturbations: expected at least one of " + ", ".join(PERTURBATIONS))
        ordered = tuple(name for name in PERTURBATIONS if name in names)
        return cls(perturbations=ordered, **values)

    @property
    def code(self) -> str:
        """The paper's letter code of the enabled perturbations (e.g. ``RTNVC``)."""
        return "".join(PERTURBATIONS[name] for name in self.perturbations)

    def to_dict(self) -> dict[str, object]:
        return dict(asdict(self), perturbations=list(self.perturbations), code=self.code)


@dataclass(frozen=True)
class Perturbed:
    """One perturbed image and mask (uint8, 0/1) on the crop grid, and what was drawn."""

    image: sitk.Image
    mask: sitk.Image
    drawn: Mapping[str, float]


def crop_to_mask(image: sitk.Image, mask: sitk.Image, margin_mm: float = CROP_MARGIN_MM
                 ) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cut to the mask's bounding box plus ``margin_mm`` (clipped to the image)."""
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(sitk.Cast(mask > 0, sitk.sitkUInt8))
    if not statistics.HasLabel(1):
        raise InputError("robustness: the mask is empty (no voxel > 0)")
    box = statistics.GetBoundingBox(1)
    dimension = image.GetDimension()
    margin = [int(np.ceil(margin_mm / spacing)) for spacing in image.GetSpacing()]
    start = [max(0, box[axis] - margin[axis]) for axis in range(dimension)]
    stop = [min(image.GetSize()[axis], box[axis] + box[dimension + axis] + margin[axis]) for axis in range(dimension)]
    size = [stop[axis] - start[axis] for axis in range(dimension)]
    return sitk.RegionOfInterest(image, size, start), sitk.RegionOfInterest(mask, size, start)


def paste_back(perturbed: Perturbed, image: sitk.Image) -> Perturbed:
    """The perturbed crop put back on the whole image's grid (uint8 mask): pyradiomics anchors its
    resampling grid at the image's first voxel, so a crop would shift it and change every feature a little even
    without any perturbation; on the whole grid, a zero perturbation gives the unperturbed features exactly."""
    start = image.TransformPhysicalPointToIndex(perturbed.image.GetOrigin())
    size = perturbed.image.GetSize()
    whole = sitk.Paste(sitk.Cast(image, perturbed.image.GetPixelID()), perturbed.image, size, [0] * len(size), start)
    empty = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(image)
    return Perturbed(whole, sitk.Paste(empty, perturbed.mask, size, [0] * len(size), start), perturbed.drawn)


def estimate_noise_sd(image: sitk.Image) -> float:
    """Image noise SD from the finest diagonal wavelet detail (Donoho's MAD estimator, as Zwanenburg 2019)."""
    import pywt

    values = sitk.GetArrayFromImage(image).astype(np.float64)
    # Periodic extension keeps the transform orthonormal, so white noise of SD s gives coefficients of SD s
    # (symmetric extension correlates the border coefficients and underestimates s by ~5 %).
    detail = pywt.dwtn(values, "coif1", mode="periodization")["d" * values.ndim]
    return float(np.median(np.abs(detail)) / 0.6745)


def perturb(image: sitk.Image, mask: sitk.Image, settings: PerturbationSettings, rng: np.random.Generator,
            noise_sd: Optional[float] = None) -> Perturbed:
    """One draw of ``settings``' perturbations of a (cropped) image and its 0/1 mask; the image comes back as
    float64 if it was, else float32."""
    drawn: dict[str, float] = {}
    enabled = set(settings.perturbations)
    image = sitk.Cast(image, sitk.sitkFloat64 if image.GetPixelID() == sitk.sitkFloat64 else sitk.sitkFloat32)
    binary = sitk.Cast(mask > 0, sitk.sitkUInt8)
    if enabled & {"rotation", "translation"}:
        transform = _rigid(image, binary, settings, rng, drawn)
        image = sitk.Resample(image, image, transform, sitk.sitkLinear, _edge_value(image))
        moved = sitk.Resample(sitk.Cast(binary, sitk.sitkFloat32), binary, transform, sitk.sitkLinear, 0.0)
        binary = sitk.Cast(moved >= 0.5, sitk.sitkUInt8)
    if "noise" in enabled:
        sd = estimate_noise_sd(image) if noise_sd is None else noise_sd
        noise = rng.normal(0.0, sd, size=image.GetSize()[::-1]).astype(sitk.GetArrayViewFromImage(image).dtype)
        noisy = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image) + noise)
        noisy.CopyInformation(image)
        image, drawn["noise_sd"] = noisy, sd
    if "volume" in enabled:
        change = float(rng.uniform(-settings.volume_fraction, settings.volume_fraction))
        binary, drawn["volume_change"] = _adapt_volume(binary, change, rng), change
    if "contour" in enabled:
        binary = _randomise_contour(binary, settings, rng)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise InputError("robustness: a perturbation emptied the mask (lesion too small for these settings)")
    return Perturbed(image, binary, drawn)


def _rigid(image: sitk.Image, mask: sitk.Image, settings: PerturbationSettings, rng: np.random.Generator,
           drawn: dict[str, float]) -> sitk.Euler3DTransform:
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(mask)
    transform = sitk.Euler3DTransform()
    transform.SetCenter(statistics.GetCentroid(1))
    if "rotation" in settings.perturbations:
        angle = float(rng.uniform(-settings.rotation_deg, settings.rotation_deg))
        normal = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
        rotation = sitk.VersorTransform(tuple(float(value) for value in normal), np.deg2rad(angle))
        transform.SetMatrix(rotation.GetMatrix())
        drawn["rotation_deg"] = angle
    if "translation" in settings.perturbations:
        fractions = rng.uniform(-settings.translation_fraction, settings.translation_fraction, size=3)
        direction = np.array(image.GetDirection()).reshape(3, 3)
        shift = direction @ (fractions * np.array(image.GetSpacing()))
        transform.SetTranslation(tuple(float(value) for value in shift))
        drawn.update({f"translation_{axis}_voxels": float(value) for axis, value in zip("ijk", fractions)})
    return transform


def _edge_value(image: sitk.Image) -> float:
    """Value for voxels rotated in from outside the crop: the crop's minimum (background, not zero)."""
    return float(sitk.GetArrayViewFromImage(image).min())


def _signed_distance(mask: sitk.Image) -> np.ndarray:
    """Signed distance (mm, negative inside) of each voxel to the mask boundary."""
    distance = sitk.SignedMaurerDistanceMap(mask, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return sitk.GetArrayFromImage(distance)


def _adapt_volume(mask: sitk.Image, change: float, rng: np.random.Generator) -> sitk.Image:
    """The mask grown/shrunk to ``round(n * (1 + change))`` voxels: the voxels of smallest signed distance,
    ties (a whole shell shares one distance on a voxel grid) broken at random."""
    distance = _signed_distance(mask)
    count = int(sitk.GetArrayViewFromImage(mask).sum())
    target = int(np.clip(round(count * (1.0 + change)), 1, distance.size))
    jittered = distance.ravel() + rng.uniform(0.0, 1e-3 * min(mask.GetSpacing()), distance.size)
    chosen = np.zeros(distance.size, dtype=bool)
    chosen[np.argpartition(jittered, target - 1)[:target]] = True
    return _from_array(chosen.reshape(distance.shape), mask)


def _randomise_contour(mask: sitk.Image, settings: PerturbationSettings, rng: np.random.Generator) -> sitk.Image:
    """Signed distance plus a smoothed random field (SD ``contour_sd_voxels`` voxels), thresholded half a
    voxel out: Maurer's map is 0 on the mask's border voxels and one spacing on their outer neighbours, so a zero
    field gives the mask back unchanged and the field moves the boundary both ways alike."""
    distance = _signed_distance(mask)
    field = sitk.GetImageFromArray(rng.standard_normal(distance.shape))
    field = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(field, settings.contour_smoothing_voxels))
    step = min(mask.GetSpacing())
    near = np.abs(distance) <= step  # the boundary: a smooth field's mean there would shift it as a whole,
    field -= field[near].mean()        # which is volume adaptation's job; only the shape is randomised here
    field *= settings.contour_sd_voxels * step / max(float(field[near].std()), 1e-12)
    return _from_array(distance + field <= 0.5 * step, mask)


def _from_array(values: np.ndarray, reference: sitk.Image) -> sitk.Image:
    result = sitk.GetImageFromArray(values.astype(np.uint8))
    result.CopyInformation(reference)
    return result
