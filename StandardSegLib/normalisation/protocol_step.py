"""The normalisation a protocol selects (``radiomics.normalisation``), applied to an MR image before radiomics.

Quantitative maps are refused first (``quantitative``). ``zscore`` uses the body (``region: body``, default) or
the reference tissue; ``reference-scaling`` the reference tissue (a mask, or the statistics the gate measured
in the session's reference ROI); ``whitestripe`` the voxels > 0 (a skull-stripped brain, as the paper's input);
``nyul`` the landmarks file named by the protocol, relative to the protocol file, within the body. The returned
record goes into the provenance (report.json ``segments[].radiomics.normalisation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from StandardSegLib.errors import InputError, ProtocolError
from StandardSegLib.normalisation.methods import (Normalisation, body_mask, reference_scaling, reference_scaling_with,
                                                  refuse_quantitative_map, whitestripe, zscore, zscore_with)

if TYPE_CHECKING:
    import pydicom
    import SimpleITK as sitk

    from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
    from StandardSegLib.protocols.model import Protocol
    from StandardSegLib.session import CheckedImage


def normalise(image: sitk.Image, settings: Mapping[str, Any], *, headers: Sequence[pydicom.Dataset] = (),
              reference: Optional[sitk.Image] = None, reference_name: str = "reference tissue",
              measured: Optional[ReferenceMeasurement] = None, base_dir: Path = Path("."),
              what: str = "image") -> tuple[sitk.Image, Normalisation]:
    """``image`` normalised as ``settings`` (a protocol's ``radiomics.normalisation``) say, and the record.
    The reference tissue is ``reference`` (a mask on the image grid) or, failing that, ``measured`` (the
    gate's statistics of the reference ROI)."""
    refuse_quantitative_map(headers, what)
    method = settings["method"]
    if method == "zscore" and settings.get("region", "body") == "body":
        return zscore(image, body_mask(image), "body")
    if method in ("zscore", "reference-scaling"):
        if reference is not None:
            return (zscore(image, reference, reference_name) if method == "zscore"
                    else reference_scaling(image, reference, reference_name))
        if measured is None:
            raise InputError(f"{what}: {method} normalisation needs the protocol's reference tissue (a reference "
                             f"ROI or mask); none was given")
        name = f"reference tissue {measured.name} ({measured.roi})"
        return (zscore_with(image, measured.mean, measured.sd, name, measured.voxel_count) if method == "zscore"
                else reference_scaling_with(image, measured.mean, name, measured.voxel_count))
    if method == "whitestripe":
        return whitestripe(image, settings.get("contrast", "T1"), float(settings.get("width", 0.05)))
    if method == "nyul":
        from StandardSegLib.normalisation.nyul import apply_landmarks, read_landmarks

        if not settings.get("landmarks"):
            raise InputError(f"{what}: nyul normalisation needs radiomics.normalisation.landmarks (a landmarks file)")
        landmarks, digest = read_landmarks(base_dir / settings["landmarks"])
        return apply_landmarks(image, landmarks, body_mask(image), digest)
    raise InputError(f"{what}: unknown normalisation method {method!r}")


def protocol_normalisation(protocol: Protocol) -> Optional[dict[str, Any]]:
    """The protocol's ``radiomics.normalisation`` (None when it selects none); ProtocolError when pyradiomics'
    own ``normalize`` is on as well (a second normalisation would silently redo the first)."""
    settings = protocol.radiomics_normalisation
    if settings and protocol.radiomics.get("setting", {}).get("normalize"):
        raise ProtocolError(f"protocol {protocol.id}: radiomics.normalisation ({settings['method']}) and "
                            f"pyradiomics' setting normalize: true both normalise; keep one")
    return settings


def values_for_radiomics(checked: CheckedImage) -> tuple[sitk.Image, Optional[Normalisation]]:
    """The image radiomics are extracted from in a session: the measured values, normalised when the protocol
    says so (with the gate's reference-tissue statistics for reference-based methods)."""
    settings = protocol_normalisation(checked.protocol)
    if not settings:
        return checked.values_image, None
    return normalise(checked.values_image, settings, headers=checked.loaded.datasets, measured=checked.gate.reference,
                     base_dir=checked.protocol.source_path.parent, what=f"protocol {checked.protocol.id} radiomics")
