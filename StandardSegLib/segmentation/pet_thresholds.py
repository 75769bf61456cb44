"""PET threshold segmentation (design/standards.md §3). Every threshold is a lower bound; the engine keeps
the component(s) connected to the seed, so other hot structures in the VOI are dropped.

| id              | threshold                                             | source                           |
|-----------------|-------------------------------------------------------|----------------------------------|
| pet-suv         | SUV >= suv (2.5)                                      | fixed-SUV convention             |
| pet-percent-max | >= percent/100 x max (41 %)                           | EANM guideline v2 (verify)       |
| pet-a50         | BG + percent/100 x (max - BG) (50 %)                  | EARL accreditation A50 (verify)  |
| pet-a50p        | BG + percent/100 x (peak - BG); 50 %: 0.5 (peak+BG)   | EARL A50P (verify)               |
| pet-percist     | 1.5 x liver mean + 2 x liver SD                       | PERCIST 1.0 (Wahl 2009)          |
| pet-contrast    | a x mean(SUV >= 70 % max) + b x BG                    | Schaefer 2008 form (verify)      |
| pet-vote        | voxel kept when >= min_votes member methods keep it   | majority vote MV2/MV3            |

Max and peak are taken over ``MethodInput.region``: the seed's hot region, then the segment itself, so
that the SUVpeak a method used is the SUVpeak reported for its segment (:mod:`...engine`). Each is
recorded with where it was found (``max_lps``, ``peak_lps``), so a refusal can say where a number came
from. Peak is the PERCIST/QIBA 1 mL sphere mean (``StandardSegLib.measure``). BG is the mean of the
background/reference ROI measured for the gate (for PERCIST the liver, where PERCIST asks for SUL;
StandardSeg uses the image's SUV type and records it - the mask is the same either way, since SUL =
SUVbw x LBM/weight scales voxels, liver mean and SD by one factor; only the threshold's stated value differs).
Percent of max, A50 and A50P are ratios of the image's own values, so they also run on PET that cannot be
converted to SUV (a phantom in Bq/mL) and state its units; fixed-SUV and PERCIST thresholds need SUV.
Contrast-oriented coefficients are scanner-specific (phantom calibration), so pet-contrast has no defaults:
the protocol must give them.
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

Point = tuple[float, float, float]


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
class A50Parameters:
    percent: float = 50.0

    def __post_init__(self) -> None:
        _percent("pet-a50", self.percent)


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


def _statistics_region(data: MethodInput) -> sitk.Image:
    if data.region is not None:
        return data.region
    whole = sitk.Image(data.image.GetSize(), sitk.sitkUInt8) + 1
    whole.CopyInformation(data.image)
    return whole


def _region_max(data: MethodInput) -> tuple[float, Point]:
    """The highest value in the statistics region and the centre (LPS mm) of the first voxel holding it."""
    values = sitk.GetArrayViewFromImage(data.image)
    inside = sitk.GetArrayFromImage(_statistics_region(data)) != 0
    candidates = np.where(inside, values, -np.inf)
    index = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
    where = data.image.TransformIndexToPhysicalPoint(tuple(int(i) for i in index[::-1]))
    return float(candidates[index]), tuple(float(v) for v in where)


def _region_peak(data: MethodInput) -> tuple[float, Point]:
    """SUVpeak (1 mL sphere) over the statistics region and its sphere centre (LPS mm)."""
    statistics = region_statistics(data.image, _statistics_region(data), with_peak=True, units=data.units,
                                   mask_name="the statistics region")
    return statistics.peak, statistics.peak_center_lps


def _threshold_output(image: sitk.Image, threshold: float, **details: object) -> MethodOutput:
    return MethodOutput(range_mask(image, threshold), {"lower": threshold}, details)


def run_fixed_suv(data: MethodInput, parameters: FixedSUVParameters) -> MethodOutput:
    return _threshold_output(data.image, parameters.suv)


def run_percent_max(data: MethodInput, parameters: PercentMaxParameters) -> MethodOutput:
    top, where = _region_max(data)
    return _threshold_output(data.image, parameters.percent / 100.0 * top, max=top, max_lps=where)


def run_a50(data: MethodInput, parameters: A50Parameters) -> MethodOutput:
    background = background_value("pet-a50", data.background, data.units).mean
    top, where = _region_max(data)
    threshold = background + parameters.percent / 100.0 * (top - background)
    return _threshold_output(data.image, threshold, max=top, max_lps=where, background_mean=background)


def run_a50p(data: MethodInput, parameters: A50PParameters) -> MethodOutput:
    background = background_value("pet-a50p", data.background, data.units).mean
    peak, where = _region_peak(data)
    threshold = background + parameters.percent / 100.0 * (peak - background)
    return _threshold_output(data.image, threshold, peak=peak, peak_lps=where, background_mean=background)


def run_percist(data: MethodInput, parameters: PercistParameters) -> MethodOutput:
    liver = background_value("pet-percist", data.background, data.units)
    threshold = parameters.liver_mean_factor * liver.mean + parameters.liver_sd_factor * liver.sd
    return _threshold_output(data.image, threshold, liver_mean=liver.mean, liver_sd=liver.sd)


def run_contrast(data: MethodInput, parameters: ContrastParameters) -> MethodOutput:
    background = background_value("pet-contrast", data.background, data.units).mean
    top, where = _region_max(data)
    values = sitk.GetArrayViewFromImage(data.image)
    inside = sitk.GetArrayFromImage(_statistics_region(data)) != 0
    lesion_mean = float(values[inside & (values >= parameters.lesion_percent / 100.0 * top)].mean())
    threshold = parameters.a * lesion_mean + parameters.b * background
    return _threshold_output(data.image, threshold, max=top, max_lps=where, lesion_mean=lesion_mean,
                             background_mean=background)


def run_vote(data: MethodInput, parameters: VoteParameters) -> MethodOutput:
    votes = None
    thresholds, details = {}, {}
    for member in parameters.methods:
        method = _VOTERS.get(member)
        if method is None:
            raise InputError(f"pet-vote: member '{member}' is not a PET threshold method (allowed: "
                             f"{', '.join(_VOTERS)})")
        if method.needs_suv and not data.units.upper().startswith("SUV"):
            raise InputError(f"pet-vote: member {member} works in SUV and the image is in {data.units}")
        values, _ = split_parameters(member, method.parameters, data.protocol_parameters.get(member, {}))
        output = method.run(data, build_parameters(method.parameters, member, values))
        votes = binary(output.mask) if votes is None else votes + binary(output.mask)
        thresholds.update({f"{member}.{key}": value for key, value in output.thresholds.items()})
        details.update({f"{member}.{key}": value for key, value in output.details.items()})
    details["votes_needed"] = parameters.votes_needed
    return MethodOutput(binary(votes >= parameters.votes_needed), thresholds, details)


_THRESHOLD_METHODS = (
    Method("pet-suv", "fixed SUV threshold", FixedSUVParameters, run_fixed_suv, needs_suv=True, seedless=True,
           uptake=True, source="SUV >= 2.5 (fixed-SUV convention; 3.0 and 4.0 also used)"),
    Method("pet-percent-max", "percentage of maximum threshold", PercentMaxParameters, run_percent_max,
           uptake=True, region_statistics=True,
           source="41 % of the maximum of the seed's hot region (EANM procedure guideline v2, Boellaard 2015; verify)"),
    Method("pet-a50", "background-corrected 50 % of maximum (A50)", A50Parameters, run_a50, needs_background=True,
           uptake=True, region_statistics=True,
           source="background + 0.5 x (max - background), EARL accreditation A50 isocontour (verify)"),
    Method("pet-a50p", "background-corrected 50 % of SUVpeak (A50P)", A50PParameters, run_a50p,
           needs_background=True, uptake=True, region_statistics=True,
           source="0.5 x (SUVpeak + background), EARL A50P (verify)"),
    Method("pet-percist", "PERCIST minimum measurable uptake threshold", PercistParameters, run_percist,
           needs_suv=True, needs_background=True, seedless=True, uptake=True,
           source="1.5 x liver mean + 2 x liver SD (PERCIST 1.0, Wahl et al., J Nucl Med 2009)"),
    Method("pet-contrast", "contrast-oriented adaptive threshold", ContrastParameters, run_contrast,
           needs_suv=True, needs_background=True, uptake=True, region_statistics=True,
           source="a x mean(SUV >= 70 % SUVmax) + b x background (Schaefer et al. 2008 form; scanner-specific "
                  "coefficients from phantom calibration)"),
)
_VOTERS = {method.id: method for method in _THRESHOLD_METHODS}

METHODS = _THRESHOLD_METHODS + (
    Method("pet-vote", "majority vote of PET threshold methods", VoteParameters, run_vote, uptake=True,
           region_statistics=True,
           source="majority vote of several threshold methods (MV2/MV3); members needing SUV refuse other units"),
)
