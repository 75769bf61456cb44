"""The normalisation a protocol selects (``radiomics.normalisation``), applied to an MR image before radiomics.

Quantitative maps are refused first (``quantitative``). ``zscore`` uses the body (``region: body``, default) or
the reference tissue mask; ``reference-scaling`` the reference tissue mask; ``whitestripe`` the voxels > 0 (a
skull-stripped brain, as the paper's input); ``nyul`` the landmarks file named by the protocol, relative to the
protocol file, within the body. The returned record goes into the provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from StandardSegLib.errors import InputError
from StandardSegLib.normalisation.methods import (Normalisation, body_mask, reference_scaling,
                                                  refuse_quantitative_map, whitestripe, zscore)

if TYPE_CHECKING:
    import pydicom
    import SimpleITK as sitk


def normalise(image: sitk.Image, settings: Mapping[str, Any], *, headers: Sequence[pydicom.Dataset] = (),
              reference: Optional[sitk.Image] = None, reference_name: str = "reference tissue",
              base_dir: Path = Path("."), what: str = "image") -> tuple[sitk.Image, Normalisation]:
    """``image`` normalised as ``settings`` (a protocol's ``radiomics.normalisation``) say, and the record."""
    refuse_quantitative_map(headers, what)
    method = settings["method"]
    if method == "zscore" and settings.get("region", "body") == "body":
        return zscore(image, body_mask(image), "body")
    if method in ("zscore", "reference-scaling"):
        if reference is None:
            raise InputError(f"{what}: {method} normalisation needs a reference tissue mask (the protocol's "
                             f"reference_tissue), none was given")
        if method == "zscore":
            return zscore(image, reference, reference_name)
        return reference_scaling(image, reference, reference_name)
    if method == "whitestripe":
        return whitestripe(image, settings.get("contrast", "T1"), float(settings.get("width", 0.05)))
    if method == "nyul":
        from StandardSegLib.normalisation.nyul import apply_landmarks, read_landmarks

        if not settings.get("landmarks"):
            raise InputError(f"{what}: nyul normalisation needs radiomics.normalisation.landmarks (a landmarks file)")
        landmarks, digest = read_landmarks(base_dir / settings["landmarks"])
        return apply_landmarks(image, landmarks, body_mask(image), digest)
    raise InputError(f"{what}: unknown normalisation method {method!r}")
