"""How many grey levels pyradiomics will make of a ROI, refused before extraction when far too many.

pyradiomics discretises the ROI's values with a fixed bin width W into
N_g = floor(max / W) - floor(min / W) + 1 levels (``radiomics.imageoperations.getBinEdges``), or into
``binCount`` levels. Its texture matrices are allocated for every level up to N_g before empty levels are
dropped: the GLCM alone is N_g x N_g x 13 directions of float64 in 3D. A bin width meant for SUV (0.25)
applied to a PET in Bq/mL (values near 1e4-1e5) asks for ~4e5 levels, i.e. terabytes, and ends in a
MemoryError after minutes. ``MAX_GREY_LEVELS`` = 1000 keeps one GLCM at 1000^2 x 13 x 8 B = 104 MB; IBSI
guidance uses 16-256 levels (Zwanenburg et al., Radiology 2020; IBSI reference manual, "Discretisation"),
and the protocols' bin widths give ~100-400 levels on real images (SUV 0.25 up to SUV 40-100; CT 25 HU over
-1000..3000; MR 5 over 0..2000), so a count beyond the cap means the values are not in the units the bin
width was chosen for.

The estimate uses the ROI's values on the given image (before pyradiomics' optional resampling, which moves
the range only by interpolation overshoot). Normalised images (``normalize: true``) are not estimated.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError

MAX_GREY_LEVELS = 1000
#: pyradiomics feature classes that build a matrix over grey levels (first order only histograms them).
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


def check_grey_levels(settings: Mapping[str, Any], feature_classes: Mapping[str, Any], image: sitk.Image,
                      mask: sitk.Image, label: int, mask_name: str, source: str) -> None:
    """InputError when the texture classes enabled would discretise label ``label`` into more than
    ``MAX_GREY_LEVELS`` grey levels; quiet when no texture class is enabled or the count is fine."""
    if not any(name in feature_classes for name in TEXTURE_CLASSES) or settings.get("normalize"):
        return
    if settings.get("binCount"):
        levels, how = int(settings["binCount"]), f"binCount {settings['binCount']}"
    else:
        if image.GetSize() != mask.GetSize():
            return  # pyradiomics refuses the geometry itself, with its own message
        values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == label]
        if values.size == 0 or not np.isfinite(values).all():
            return  # pyradiomics (or the finite-value rules of the image loader) name that case
        width = float(settings.get("binWidth", 25))
        low, high = float(values.min()), float(values.max())
        levels = math.floor(high / width) - math.floor(low / width) + 1
        how = f"values {low:.6g} to {high:.6g} at binWidth {width:g}"
    if levels > MAX_GREY_LEVELS:
        raise InputError(f"radiomics of label {label} of {mask_name} with {source}: {how} give {levels} grey "
                         f"levels, more than {MAX_GREY_LEVELS} (texture matrices grow with the square): are the "
                         "values in the units the bin width was set for (e.g. SUV, not Bq/mL)?")
