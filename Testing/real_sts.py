"""Test/benchmark helper: the three vendored soft-tissue-sarcoma patients as segmentation cases.

Per case: the image in working units (PET in SUVbw), the expert GTV from the RTSTRUCT on the image grid,
a seed and, for PET, a background measured in a shell 20-40 mm outside the GTV (the patients' crops hold
no liver). Seeds: PET, the hottest GTV voxel (what a reader clicks); CT/MR, the GTV voxel deepest inside
the contour (largest distance to its border), since these images have no "hottest" lesion voxel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.gate import GateVerdict
from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
from StandardSegLib.imaging import load_image
from StandardSegLib.rtstruct import read_rtstruct_mask
from StandardSegLib.suv import apply_suv, suv_conversion


STS = Path(__file__).parent / "Data" / "real" / "sts"
PATIENTS = ("STS_001", "STS_002", "STS_003")
ROI_NAMES = {"PET": "GTV_Mass_PET", "CT": "GTV_Mass_CT", "MR_T1": "GTV_Mass_MR_T1"}
#: Built-in protocol per modality and the methods run on it (grow-from-seeds needs painted background seeds).
PROTOCOLS = {"PET": "fdg-pet-ct-oncology", "CT": "ct-soft-tissue-lymph-node", "MR_T1": "mr-liver"}


@dataclass(frozen=True)
class Case:
    patient: str
    modality: str
    image: sitk.Image
    units: str
    gtv: sitk.Image
    seed_lps: tuple[float, float, float]
    background: Optional[ReferenceMeasurement]

    @property
    def gtv_ml(self) -> float:
        return float(sitk.GetArrayViewFromImage(self.gtv).sum() * np.prod(self.gtv.GetSpacing()) / 1000.0)


@lru_cache(maxsize=None)
def load_case(patient: str, modality: str) -> Case:
    folder = STS / patient / modality
    loaded = load_image(folder / "image")
    image, units = loaded.image, loaded.record.units or ("HU" if modality == "CT" else "raw")
    if modality == "PET":
        conversion = suv_conversion(loaded.datasets)
        image, units = apply_suv(image, conversion), conversion.suv_type
    gtv = read_rtstruct_mask(folder / "mask" / "RS.dcm", image, ROI_NAMES[modality])
    values, inside = sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(gtv) > 0
    if modality == "PET":
        index = np.unravel_index(int(np.argmax(np.where(inside, values, -np.inf))), values.shape)
    else:
        depth = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(gtv, insideIsPositive=True, squaredDistance=False,
                                                                     useImageSpacing=True))
        index = np.unravel_index(int(np.argmax(np.where(inside, depth, -np.inf))), values.shape)
    seed = image.TransformIndexToPhysicalPoint(tuple(int(i) for i in index[::-1]))
    background = _shell_background(image, gtv, units) if modality == "PET" else None
    return Case(patient, modality, image, units, gtv, tuple(seed), background)


def _shell_background(image: sitk.Image, gtv: sitk.Image, units: str) -> ReferenceMeasurement:
    distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(gtv, insideIsPositive=False, squaredDistance=False,
                                                                   useImageSpacing=True))
    shell = (distance > 20.0) & (distance < 40.0)
    values = sitk.GetArrayViewFromImage(image)[shell].astype(float)
    return ReferenceMeasurement("gtv-shell-20-40mm", "shell 20-40 mm outside the GTV", units, int(values.size),
                                values.size * float(np.prod(image.GetSpacing())) / 1000.0, float(values.mean()),
                                float(values.std()), float(np.median(values)))


def passing_verdict(protocol) -> GateVerdict:
    """A gate verdict without items (the tests exercise segmentation, not the gate)."""
    return GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())


def dice(a: sitk.Image, b: sitk.Image) -> float:
    x, y = sitk.GetArrayViewFromImage(a) > 0, sitk.GetArrayViewFromImage(b) > 0
    return float(2.0 * np.count_nonzero(x & y) / (np.count_nonzero(x) + np.count_nonzero(y)))
