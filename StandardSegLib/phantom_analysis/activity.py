"""The true sphere activity concentration a recovery coefficient divides by: given, from a filling ratio, or
fitted - and which of the three it was (``source``), never taken from SUV tags.

Fitted: the radial profile of the largest sphere is fitted with a hot sphere inside a cold glass wall in a warm
background, blurred by a 3D Gaussian point-spread function (the model pynemaiqpet fits; the blurred ball has a
closed form, e.g. Hofheinz et al., Phys Med Biol 2010). The background is fixed at the measured background mean,
the radius at the nominal inner radius and the wall at 1.5 mm (IEC phantom glass, as pynemaiqpet assumes); the
sphere concentration S (linear, solved exactly) and the FWHM (golden-section search) are fitted to the voxels
within radius + 15 mm, weighted by 1/r as pynemaiqpet weights them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.phantom_analysis.locate import box_around, voxel_points

GLASS_WALL_MM = 1.5
FIT_MARGIN_MM = 15.0
FWHM_SEARCH_MM = (1.0, 25.0)
_erf = np.frompyfunc(math.erf, 1, 1)


@dataclass(frozen=True)
class TrueActivity:
    value: float
    source: str  # "given", "ratio" or "fitted"
    detail: str
    uncertainty: Optional[float] = None
    fwhm_mm: Optional[float] = None

    def to_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "detail": self.detail, "uncertainty": self.uncertainty,
                "fitted_fwhm_mm": self.fwhm_mm}


def blurred_ball(r: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """A uniform ball of value 1 and ``radius`` convolved with a 3D Gaussian of ``sigma``, at distance r."""
    z, big = np.asarray(r, dtype=np.float64) / (sigma * math.sqrt(2.0)), radius / (sigma * math.sqrt(2.0))
    centre = math.erf(big) - 2.0 * big * math.exp(-big ** 2) / math.sqrt(math.pi)
    safe = np.where(z > 0, z, 1.0)
    erfs = (_erf(safe + big) - _erf(safe - big)).astype(np.float64)
    tails = (np.exp(-(safe - big) ** 2) - np.exp(-(safe + big) ** 2)) / safe
    return np.where(z > 0, 0.5 * erfs - 0.5 / math.sqrt(math.pi) * tails, centre)


def check_activity_arguments(sphere: Optional[float], background: Optional[float], ratio: Optional[float]) -> None:
    """One-line InputError for an inconsistent set of activity arguments (checked before any analysis)."""
    if ratio is not None and (sphere is not None or background is not None):
        raise InputError("phantom: give either --sphere-to-background or --sphere-activity with "
                         "--background-activity, not both")
    if ratio is not None and not ratio > 1:
        raise InputError(f"phantom: --sphere-to-background must be > 1, found {ratio:g}")
    if (sphere is None) != (background is None):
        raise InputError("phantom: --sphere-activity and --background-activity go together (both in the image's "
                         "units at scan time)")
    if sphere is not None and not sphere > background > 0:
        raise InputError(f"phantom: expected sphere activity > background activity > 0, found {sphere:g} and "
                         f"{background:g}")


def given_activity(sphere: Optional[float], background: Optional[float], ratio: Optional[float],
                   measured_background: float) -> Optional[TrueActivity]:
    """The activity from the command line, or None when none was given (then it is fitted)."""
    check_activity_arguments(sphere, background, ratio)
    if ratio is not None:
        return TrueActivity(ratio * measured_background, "ratio",
                            f"{ratio:g} x the measured background mean {measured_background:.6g}")
    if sphere is None:
        return None
    return TrueActivity(float(sphere), "given", f"sphere {sphere:g}, background {background:g} (arguments)")


def fitted_activity(image: sitk.Image, centre: tuple[float, float, float], diameter_mm: float,
                    background: float) -> TrueActivity:
    """S of the glass-wall sphere model fitted to the sphere at ``centre`` (see the module docstring)."""
    radius = diameter_mm / 2.0
    reach = radius + FIT_MARGIN_MM
    box = box_around(image, centre, reach)
    r = np.sqrt(np.sum((voxel_points(image, box) - np.asarray(centre)) ** 2, axis=-1))
    inside = (r <= reach) & (r > 0)
    r, data = r[inside], sitk.GetArrayViewFromImage(image)[box][inside].astype(np.float64)
    weights = 1.0 / r

    def solve(fwhm: float) -> tuple[float, float, np.ndarray]:
        sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        model = blurred_ball(r, radius, sigma)
        target = data - background + background * blurred_ball(r, radius + GLASS_WALL_MM, sigma)
        s = float(np.sum(weights * model * target) / np.sum(weights * model ** 2))
        residual = target - s * model
        return s, float(np.sum(weights * residual ** 2)), model

    low, high = FWHM_SEARCH_MM
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):
        a, b = high - golden * (high - low), low + golden * (high - low)
        if solve(a)[1] < solve(b)[1]:
            high = b
        else:
            low = a
    fwhm = 0.5 * (low + high)
    s, cost, model = solve(fwhm)
    dof = max(1, data.size - 2)
    uncertainty = math.sqrt(cost / dof / float(np.sum(weights * model ** 2)))
    return TrueActivity(s, "fitted", f"fitted to the {diameter_mm:g} mm sphere (glass-wall sphere model, wall "
                        f"{GLASS_WALL_MM:g} mm, background fixed at {background:.6g}, FWHM {fwhm:.2f} mm)",
                        uncertainty, fwhm)
