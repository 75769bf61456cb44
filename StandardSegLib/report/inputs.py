"""What a report is built from: the loaded image, the protocol and gate, the operator and each lesion.

The report modules (JSON, CSV, HTML, DICOM) all read one ``ReportInputs`` so the numbers in every output
come from the same objects; nothing is re-measured while writing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import SimpleITK as sitk

from StandardSegLib.lesion_measurements import LesionMeasurements, ReferenceRatios
from StandardSegLib.segmentation import Segment

#: ``ImageRecord.source_format`` values read from DICOM files.
DICOM_SOURCE_FORMATS = ("dicom-series", "dicom-file")


@dataclass(frozen=True)
class LesionReport:
    """One segmented lesion: its mask and provenance, and what was measured on it.

    ``radiomics`` is a ``StandardSegLib.radiomics.RadiomicsResult`` (features with their settings), or None
    when no radiomics were extracted.
    """

    name: str
    segment: Segment
    measurements: LesionMeasurements
    reference_ratios: Optional[ReferenceRatios] = None
    radiomics: Any = None


@dataclass(frozen=True)
class Anatomy:
    """A CT or MR in the frame of reference of the measured image (any grid), shown in grey under the measured
    image in the report's figures (PET/CT fusion). It is never measured."""

    image: sitk.Image
    modality: str


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report bundle states.

    ``values_image`` is the image the lesions were measured on (SUV for PET), on the grid of ``loaded``;
    ``input_files`` maps the path written into the report (relative, never absolute) to the file hashed.
    ``operator`` is a ``StandardSegLib.operators.Operator`` and ``training`` its ``TrainingStatus`` (or None).
    ``input_sha256`` holds hashes a caller has just taken (a session records them), so large inputs are read
    once; any input file missing from it is hashed when the report is built.
    """

    loaded: Any  # StandardSegLib.imaging.LoadedImage
    values_image: sitk.Image
    units: str
    protocol: Any  # StandardSegLib.protocols.Protocol
    gate: Any  # StandardSegLib.gate.GateEvaluation
    lesions: tuple[LesionReport, ...]
    input_files: Mapping[str, Path]
    started_at: dt.datetime
    operator: Any = None
    training: Any = None
    window_deviations: tuple[Mapping[str, Any], ...] = ()
    window_preset_organ: Optional[str] = None  # the preset the reader worked with; None: the protocol default
    input_sha256: Mapping[str, str] = field(default_factory=dict)  # report path -> SHA-256 already computed
    context: Mapping[str, Any] = field(default_factory=dict)  # e.g. the demo's truth and pipeline steps
    anatomy: Optional[Anatomy] = None  # a CT/MR to fuse under a PET in the figures
    #: Lesions that failed: ``{"name", "stage": "segment"|"measure"|"radiomics", "reason"}`` (report.json failures).
    failures: tuple[Mapping[str, str], ...] = ()

    @property
    def is_dicom(self) -> bool:
        """DICOM SEG and SR are drawn on the source's DICOM frames: a DICOM series or file, not an NRRD/NIfTI
        whose JSON sidecar gives a header but no frames (no ImagePositionPatient, Rows, SOP instances)."""
        return self.loaded.record.source_format in DICOM_SOURCE_FORMATS and bool(self.loaded.datasets)
