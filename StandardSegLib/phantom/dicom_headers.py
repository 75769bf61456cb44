"""Realistic DICOM headers for the synthetic study (fake patient, FDG PET/CT scanner "StandardSeg synthetic").

The patient identifiers are fake but present on purpose, so de-identification can be tested. The PET
header carries every tag the SUV computation needs (design/standards.md §2) and the numbers are the very
ones the stored Bq/mL values were computed from (``PetAcquisition``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from StandardSegLib import __version__
from StandardSegLib.phantom.dicom_writer import decimal_string
from StandardSegLib.phantom.synthetic_study import PetAcquisition, StudyOptions

#: Fake identifiers (for de-identification tests).
DEMO_PATIENT = {
    "PatientName": "Demo^Synthetic",
    "PatientID": "DEMO-0001",
    "PatientBirthDate": "19600101",
    "PatientSex": "M",
    "PatientAge": "064Y",
    "AccessionNumber": "DEMOACC0001",
    "ReferringPhysicianName": "Referrer^Fake",
    "InstitutionName": "StandardSeg Demo Hospital",
    "StationName": "DEMO-PETCT",
}
#: F-18 positron branching fraction (NUDAT 0.9686; verify before using it for anything but the header).
F18_POSITRON_FRACTION = 0.9686
#: CT series starts this long before the PET series (CT first on a PET/CT).
CT_LEAD_TIME = dt.timedelta(minutes=8)


def dicom_date(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d")


def dicom_time(value: dt.datetime) -> str:
    return value.strftime("%H%M%S.%f")


def dicom_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S.%f")


def common_header(study_uid: str, frame_of_reference_uid: str, acquisition: PetAcquisition) -> dict[str, Any]:
    """Patient, study, frame of reference and equipment: identical in the CT and the PET series."""
    study_start = acquisition.series_datetime - CT_LEAD_TIME - dt.timedelta(minutes=2)
    return {
        "SpecificCharacterSet": "ISO_IR 100",
        **DEMO_PATIENT,
        "PatientWeight": decimal_string(acquisition.patient_weight_kg),
        "PatientSize": decimal_string(acquisition.patient_height_m),
        "StudyInstanceUID": study_uid,
        "StudyDate": dicom_date(study_start),
        "StudyTime": dicom_time(study_start),
        "StudyID": "1",
        "StudyDescription": "StandardSeg synthetic FDG PET/CT",
        "FrameOfReferenceUID": frame_of_reference_uid,
        "PositionReferenceIndicator": "",
        "Manufacturer": "StandardSeg synthetic",
        "ManufacturerModelName": "StandardSeg synthetic PET/CT",
        "DeviceSerialNumber": "0000",
        "SoftwareVersions": f"StandardSeg {__version__}",
        "PatientPosition": "HFS",
        "BodyPartExamined": "CHEST",
    }


def ct_header(common: dict[str, Any], options: StudyOptions, acquisition: PetAcquisition) -> dict[str, Any]:
    """CT series: 120 kV, STANDARD kernel, helical, soft-tissue window."""
    start = acquisition.series_datetime - CT_LEAD_TIME
    return {
        **common,
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "SeriesNumber": 2,
        "SeriesDescription": f"CT {options.ct_slice_thickness_mm:g} mm STANDARD",
        "SeriesDate": dicom_date(start), "SeriesTime": dicom_time(start),
        "AcquisitionDate": dicom_date(start), "AcquisitionTime": dicom_time(start),
        "ContentDate": dicom_date(start), "ContentTime": dicom_time(start),
        "KVP": decimal_string(120),
        "ConvolutionKernel": "STANDARD",
        "XRayTubeCurrent": 200,
        "ExposureTime": 500,
        "Exposure": 100,
        "CTDIvol": 8.5,
        "ReconstructionDiameter": decimal_string(300),
        "ScanOptions": "HELICAL MODE",
        "RescaleType": "HU",
        "WindowCenter": decimal_string(40),
        "WindowWidth": decimal_string(400),
    }


def pet_header(common: dict[str, Any], options: StudyOptions, acquisition: PetAcquisition) -> dict[str, Any]:
    """Static whole-body FDG PET, Units BQML, decay-corrected to the series start (DecayCorrection START).

    FrameReferenceTime is the decay-weighted mean time of the frame, t = ln(lambda T / (1 - e^-lambda T)) /
    lambda, and DecayFactor = e^(lambda t), the factor that corrected the frame's decay back to its start.
    """
    start = acquisition.series_datetime
    decay_constant = math.log(2.0) / acquisition.half_life_s
    duration_s = acquisition.frame_duration_s
    reference_s = math.log(decay_constant * duration_s / -math.expm1(-decay_constant * duration_s)) / decay_constant
    isotope = Dataset()
    isotope.Radiopharmaceutical = "Fluorodeoxyglucose"
    isotope.RadiopharmaceuticalStartTime = dicom_time(acquisition.injection_datetime)
    isotope.RadiopharmaceuticalStartDateTime = dicom_datetime(acquisition.injection_datetime)
    isotope.RadionuclideTotalDose = decimal_string(acquisition.injected_dose_bq)
    isotope.RadionuclideHalfLife = decimal_string(acquisition.half_life_s)
    isotope.RadionuclidePositronFraction = decimal_string(F18_POSITRON_FRACTION)
    nuclide = Dataset()
    nuclide.CodeValue = "77004003"  # SNOMED CT concept for F-18 (DICOM CID 4020; legacy SRT code C-111A1)
    nuclide.CodingSchemeDesignator = "SCT"
    nuclide.CodeMeaning = "^18^Fluorine"
    isotope.RadionuclideCodeSequence = Sequence([nuclide])
    return {
        **common,
        "ImageType": ["ORIGINAL", "PRIMARY"],
        "SeriesNumber": 3,
        "SeriesDescription": "PET AC OSEM",
        "SeriesDate": dicom_date(start), "SeriesTime": dicom_time(start),
        "AcquisitionDate": dicom_date(start), "AcquisitionTime": dicom_time(start),
        "ContentDate": dicom_date(start), "ContentTime": dicom_time(start),
        "SeriesType": ["WHOLE BODY", "IMAGE"],
        "Units": "BQML",
        "CountsSource": "EMISSION",
        "DecayCorrection": "START",
        "CorrectedImage": ["ATTN", "DECY", "SCAT", "DTIM", "RAN", "NORM"],
        "ReconstructionMethod": "OSEM 3i21s",
        "ConvolutionKernel": f"Gaussian {options.pet_fwhm_mm:g} mm",
        "AttenuationCorrectionMethod": "CT-based",
        "ScatterCorrectionMethod": "Model-based single scatter simulation",
        "RandomsCorrectionMethod": "DLYD",
        "DecayFactor": decimal_string(math.exp(decay_constant * reference_s)),
        "FrameReferenceTime": decimal_string(reference_s * 1000.0),
        "ActualFrameDuration": int(round(duration_s * 1000.0)),
        "SliceSensitivityFactor": decimal_string(1.0),
        "CollimatorType": "NONE",
        "RadiopharmaceuticalInformationSequence": Sequence([isotope]),
    }
