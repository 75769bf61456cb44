"""PET threshold segmentation in SUV (design/standards.md §3). Every threshold is a lower SUV bound; the
engine keeps the component(s) connected to the seed, so other hot structures in the VOI are dropped.

| id              | threshold                                             | source                           |
|-----------------|-------------------------------------------------------|----------------------------------|
| pet-suv         | SUV >= suv (2.5)                                      | fixed-SUV convention             |
| pet-percent-max | SUV >= percent/100 x SUVmax in the VOI (41 %)         | EANM guideline v2 (verify)       |
| pet-a50p        | BG + percent/100 x (SUVpeak - BG); 50 %: 0.5 (peak+BG)| EARL A50P (verify)               |
| pet-percist     | 1.5 x liver mean + 2 x liver SD                       | PERCIST 1.0 (Wahl 2009)          |
| pet-contrast    | a x mean(SUV >= 70 % max) + b x BG                    | Schaefer 2008 form (verify)      |
| pet-vote        | voxel kept when >= min_votes member methods keep it   | majority vote MV2/MV3            |

SUVpeak is the PERCIST/QIBA 1 mL sphere mean (``StandardSegLib.measure``), searched over the VOI. BG is the
mean of the background/reference ROI measured for the gate (for PERCIST the liver, where PERCIST asks for
SUL; StandardSeg uses the image's SUV type and records it - the mask is the same either way, since SUL =
SUVbw x LBM/weight scales voxels, liver mean and SD by one factor; only the threshold's stated value differs).
Contrast-oriented coefficients are scanner-specific (phantom calibration), so pet-contrast has no defaults: the protocol must give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.measure import region_statistics
from StandardSegLib.segmentation.method_types import (Method, MethodInput, MethodOutput, background_value,
                                                      binary)
from StandardSegLib.segmentation.parameters import build_parameters, split_parameters
from StandardSegLib.segmentation.thresholds import range_mask


@dataclass(frozen=True)
class FixedSUVParameters:
    suv: float = 2.5

    def __post_init__(self) -> None:
        _positive("pet-suv", "suv", self.suv)


@dataclass(frozen=True)
class PercentMaxParameters:
    percent: float = 41.0

    def __post_init__(self) -> None:
        _percent("pet-percent-max", self.percent)


@dataclass(frozen=True)
class A50PParameters:
    percent: float = 50.0

    def __post_init__(self) -> None:
        _percent("pet-a50p", self.percent)


@dataclass(frozen=True)
class PercistParameters:
    liver_mean_factor: float = 1.5
    liver_sd_factor: float = 2.0


@dataclass(frozen=True)
class ContrastParameters:
    a: float
    b: float
    lesion_percent: float = 70.0

    def __post_init__(self) -> None:
        _percent("pet-contrast", self.lesion_percent)


@dataclass(frozen=True)
class VoteParameters:
    methods: tuple[str, ...] = ()
    min_votes: Optional[int] = None  # default: a strict majority

    def __post_init__(self) -> None:
        if not self.methods:
            raise InputError("pet-vote: parameter methods must list the member methods, e.g. "
                             "methods=pet-percent-max,pet-suv,pet-a50p")
        if self.min_votes is not None and not 1 <= self.min_votes <= len(self.methods):
            raise InputError(f"pet-vote: min_votes must be 1..{len(self.methods)}, found {self.min_votes}")

    @property
    def votes_needed(self) -> int:
        return self.min_votes if self.min_votes is not None else len(self.methods) // 2 + 1


def _percent(method: str, value: float) -> None:
    if not 0 < value <= 100:
        raise InputError(f"{method}: percent must be in (0, 100], found {value:g}")


def _positive(method: str, name: str, value: float) -> None:
    if not value > 0:
        raise InputError(f"{method}: {name} must be > 0, found {value:g}")


def _suv_max(image: sitk.Image) -> float:
    return float(np.max(sitk.GetArrayViewFromImage(image)))


def _threshold_output(image: sitk.Image, threshold: float, **details: float) -> MethodOutput:
    return MethodOutput(range_mask(image, threshold), {"lower": threshold}, details)


def run_fixed_suv(data: MethodInput, parameters: FixedSUVParameters) -> MethodOutput:
    return _threshold_output(data.image, parameters.suv)


def run_percent_max(data: MethodInput, parameters: PercentMaxParameters) -> MethodOutput:
    suv_max = _suv_max(data.image)
    return _threshold_output(data.image, parameters.percent / 100.0 * suv_max, suv_max=suv_max)


def run_a50p(data: MethodInput, parameters: A50PParameters) -> MethodOutput:
    background = background_value("pet-a50p", data.background, data.units).mean
    whole = sitk.Image(data.image.GetSize(), sitk.sitkUInt8) + 1
    whole.CopyInformation(data.image)
    peak = region_statistics(data.image, whole, with_peak=True).peak
    threshold = background + parameters.percent / 100.0 * (peak - background)
    return _threshold_output(data.image, threshold, suv_peak=peak, background_mean=background)


def run_percist(data: MethodInput, parameters: PercistParameters) -> MethodOutput:
    liver = background_value("pet-percist", data.background, data.units)
    threshold = parameters.liver_mean_factor * liver.mean + parameters.liver_sd_factor * liver.sd
    return _threshold_output(data.image, threshold, liver_mean=liver.mean, liver_sd=liver.sd)


def run_contrast(data: MethodInput, parameters: ContrastParameters) -> MethodOutput:
    background = background_value("pet-contrast", data.background, data.units).mean
    values = sitk.GetArrayViewFromImage(data.image)
    suv_max = float(values.max())
    lesion_mean = float(values[values >= parameters.lesion_percent / 100.0 * suv_max].mean())
    threshold = parameters.a * lesion_mean + parameters.b * background
    return _threshold_output(data.image, threshold, suv_max=suv_max, lesion_mean=lesion_mean,
                             background_mean=background)


def run_vote(data: MethodInput, parameters: VoteParameters) -> MethodOutput:
    votes = None
    thresholds, details = {}, {}
    for member in parameters.methods:
        method = _VOTERS.get(member)
        if method is None:
            raise InputError(f"pet-vote: member '{member}' is not a PET threshold method (allowed: "
                             f"{', '.join(_VOTERS)})")
        values, _ = split_parameters(member, method.parameters, data.protocol_parameters.get(member, {}))
        output = method.run(data, build_parameters(method.parameters, member, values))
        votes = binary(output.mask) if votes is None else votes + binary(output.mask)
        thresholds.update({f"{member}.{key}": value for key, value in output.thresholds.items()})
        details.update({f"{member}.{key}": value for key, value in output.details.items()})
    details["votes_needed"] = parameters.votes_needed
    return MethodOutput(binary(votes >= parameters.votes_needed), thresholds, details)


_THRESHOLD_METHODS = (
    Method("pet-suv", "fixed SUV threshold", FixedSUVParameters, run_fixed_suv, needs_suv=True, seedless=True,
           source="SUV >= 2.5 (fixed-SUV convention; 3.0 and 4.0 also used)"),
    Method("pet-percent-max", "percentage of SUVmax threshold", PercentMaxParameters, run_percent_max,
           needs_suv=True, source="41 % of SUVmax in the VOI (EANM procedure guideline v2, Boellaard 2015; verify)"),
    Method("pet-a50p", "background-corrected 50 % of SUVpeak (A50P)", A50PParameters, run_a50p, needs_suv=True,
           needs_background=True, source="0.5 x (SUVpeak + background), EARL A50P (verify)"),
    Method("pet-percist", "PERCIST minimum measurable uptake threshold", PercistParameters, run_percist,
           needs_suv=True, needs_background=True, seedless=True,
           source="1.5 x liver mean + 2 x liver SD (PERCIST 1.0, Wahl et al., J Nucl Med 2009)"),
    Method("pet-contrast", "contrast-oriented adaptive threshold", ContrastParameters, run_contrast,
           needs_suv=True, needs_background=True,
           source="a x mean(SUV >= 70 % SUVmax) + b x background (Schaefer et al. 2008 form; scanner-specific "
                  "coefficients from phantom calibration)"),
)
_VOTERS = {method.id: method for method in _THRESHOLD_METHODS}

METHODS = _THRESHOLD_METHODS + (
    Method("pet-vote", "majority vote of PET threshold methods", VoteParameters, run_vote, needs_suv=True,
           needs_background=False, source="majority vote of several threshold methods (MV2/MV3)"),
)
