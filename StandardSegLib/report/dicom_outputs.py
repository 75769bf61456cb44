"""DICOM SEG and SR TID 1500 of the segmented lesions, with highdicom (standards.md section 10).

The SEG holds one binary segment per lesion on the source series' frames; the SR (Comprehensive 3D SR,
TID 1500 Measurement Report) holds one TID 1411 volumetric group per lesion referencing its SEG segment, with
coded measurements taken from pydicom's code dictionary:

- volume by voxel counting: SCT 118565006 "Volume", UCUM mm3;
- SUVmax / SUVmean: DCM 126400 "Standardized Uptake Value" with derivation SCT "Maximum" / "Mean", unit
  UCUM g/ml{SUVbw} (or g/ml{SUVibw}), method DCM 126410 / 126413 (SUV body-weight / ideal-body-weight);
- MTV: DCM 126032 "Metabolic Volume", UCUM cm3 (= mL);
- TLG: DCM 126033 "Total Lesion Glycolysis", UCUM g (SUVmean in g/mL x MTV in mL). pydicom's dictionary has
  no gram code, so the UCUM unit "g" is written as a coded concept directly (UCUM is a grammar; "g" is valid).

SUVpeak has no code in pydicom's dictionary and SUVlbm / SUVbsa no UCUM unit independent of the formula, so
they are reported in report.json / measurements.csv only. ``ReferencedSegment`` is built directly: in
highdicom 0.28.2 ``ReferencedSegment.from_segmentation`` fails on a freshly built SEG (known pitfall).
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom import config
from pydicom.sr.codedict import codes
from pydicom.valuerep import MAX_VALUE_LEN, validate_value

from StandardSegLib import __version__
from StandardSegLib.errors import InputError
from StandardSegLib.report.inputs import LesionReport, ReportInputs

MANUFACTURER = "StandardSeg"
MODEL_NAME = "StandardSeg report bundle"
SEG_SERIES_NUMBER = 9901
SR_SERIES_NUMBER = 9902
GRAM = hd.sr.CodedConcept(value="g", scheme_designator="UCUM", meaning="gram")
#: SUV type -> (UCUM unit, calculation method) for the SUV types whose unit is g/mL with a coded suffix.
SUV_CODES = {
    "SUVbw": (codes.UCUM.StandardizedUptakeValueBodyWeight, codes.DCM.SUVBodyWeightCalculationMethod),
    "SUVibw": (codes.UCUM.StandardizedUptakeValueIdealBodyWeight, codes.DCM.SUVIdealBodyWeightCalculationMethod),
}
#: StandardSeg method id -> CID 7162 segmentation algorithm family (thresholds are histogram analysis).
_REGION_GROWING = ("region-grow", "confidence-connected", "grow-from-seeds")
_PROCEDURES = {"PT": codes.DCM.PositronEmissionTomography, "CT": codes.DCM.ComputedTomography,
               "MR": codes.DCM.MagneticResonance}


#: Type 2 attributes of the Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1) that highdicom copies
#: from the first source image into the SEG and SR (it reads them as attributes, so a missing one fails).
PATIENT_STUDY_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                       "StudyDate", "StudyTime", "ReferringPhysicianName")
#: Every source value the three outputs copy as it is: highdicom copies each attribute of the Patient, General
#: Study and Patient Study modules (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2) the source has, rt-utils 1.2.7 the study
#: and series dates, times and descriptions, ``build_rtstruct`` the Frame of Reference's indicator.
COPIED_KEYWORDS = (*PATIENT_STUDY_TYPE2, "IssuerOfPatientID", "PatientBirthTime", "OtherPatientNames",
                   "PatientComments", "StudyDescription", "ConsultingPhysicianName", "PhysiciansOfRecord",
                   "NameOfPhysiciansReadingStudy", "RequestingService", "AdmittingDiagnosesDescription", "PatientAge",
                   "PatientSize", "PatientWeight", "Occupation", "AdditionalPatientHistory", "MedicalAlerts",
                   "Allergies", "SeriesDate", "SeriesTime", "PositionReferenceIndicator")
#: The longest PN component group (PS3.5 Table 6.2-1; pydicom's MAX_VALUE_LEN has no PN entry).
_PN_GROUP_CHARS = 64


def output_headers(datasets: Sequence[pydicom.Dataset]) -> tuple[list[pydicom.Dataset], tuple[str, ...]]:
    """The source headers the SEG, SR and RTSTRUCT are built from (one place for all three), and a warning
    per source attribute changed on the way.

    Absent Type 2 patient/study attributes are made present and empty ("unknown", PS3.5 7.4), e.g. a series
    without AccessionNumber (the OncoRay SUV DROs). A copied value its VR does not allow (PS3.5 Table 6.2-1),
    e.g. the 18-20 character StudyID (VR SH, at most 16) of the IBSI STS series, is left empty too: copied, it
    makes every output invalid (dciodvfy), and cut short, an identifier could name another study; every one of
    these attributes may be empty (Type 2 or 3). The warning names the attribute and what is wrong, never the
    value (it may identify the patient). Headers that need no change are reused; the others are copied (the
    loaded headers are never changed).
    """
    result: list[pydicom.Dataset] = []
    notes: dict[str, str] = {}  # keyword -> warning, once for the series
    for dataset in datasets:
        missing = [keyword for keyword in PATIENT_STUDY_TYPE2 if keyword not in dataset]
        invalid = {keyword: problem for keyword in COPIED_KEYWORDS
                   if keyword in dataset and (problem := _vr_problem(dataset[keyword])) is not None}
        if missing or invalid:
            dataset = copy.deepcopy(dataset)
            for keyword in (*missing, *invalid):
                setattr(dataset, keyword, "")
        for keyword, problem in invalid.items():
            notes.setdefault(keyword, f"{keyword} {dataset[keyword].tag}: {problem}; left empty in the DICOM SEG, "
                                         "SR and RTSTRUCT")
        result.append(dataset)
    return result, tuple(notes.values())


def _vr_problem(element: pydicom.DataElement) -> Optional[str]:
    """What makes ``element``'s value invalid for its VR (pydicom's validation), without the value; None when
    it is valid or empty."""
    values = element.value if element.VM > 1 else [element.value]
    for value in values:
        if value is None or isinstance(value, bytes):
            continue
        text = str(value)
        try:
            validate_value(element.VR, text, config.RAISE)
        except ValueError:
            if element.VR == "PN":
                longest = max(len(group) for group in text.split("="))
                return (f"a name component group of {longest} characters, VR PN allows {_PN_GROUP_CHARS}"
                        if longest > _PN_GROUP_CHARS else "not a valid VR PN value")
            limit = MAX_VALUE_LEN.get(element.VR)
            if limit is not None and len(text) > limit:
                return f"{len(text)} characters, VR {element.VR} allows at most {limit}"
            return f"characters or format that VR {element.VR} does not allow"
    return None


def build_seg(inputs: ReportInputs, datasets: Sequence[pydicom.Dataset]) -> hd.seg.Segmentation:
    """One binary SEG segment per lesion (numbered as in report.json) on the frames of ``datasets``.

    ``datasets`` are the source headers (possibly de-identified copies) in the order of ``inputs.loaded``,
    made ready by ``output_headers``.
    """
    frames = _frame_indices(inputs.values_image, datasets)
    stack = np.stack([sitk.GetArrayViewFromImage(lesion.segment.mask)[frames] > 0 for lesion in inputs.lesions],
                     axis=-1).astype(np.uint8)
    descriptions = [_segment_description(number, lesion) for number, lesion in enumerate(inputs.lesions, start=1)]
    return hd.seg.Segmentation(
        source_images=list(datasets), pixel_array=stack, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME, software_versions=f"StandardSeg {__version__}",
        device_serial_number="none", content_label="LESIONS", series_description="StandardSeg lesions",
        omit_empty_frames=False)


def build_sr(inputs: ReportInputs, seg: hd.seg.Segmentation, datasets: Sequence[pydicom.Dataset],
             observer: str) -> hd.sr.Comprehensive3DSR:
    """TID 1500 report with one volumetric measurement group per lesion, referencing its SEG segment."""
    source_images = [hd.sr.SourceImageForSegmentation(ds.SOPClassUID, ds.SOPInstanceUID) for ds in datasets]
    groups = []
    for number, lesion in enumerate(inputs.lesions, start=1):
        referenced = hd.sr.ReferencedSegment(sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
                                             segment_number=number, source_images=source_images)
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=lesion.name),
            referenced_segment=referenced, finding_type=codes.SCT.Lesion,
            measurements=sr_measurements(lesion)))
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=person_name(observer))))
    modality = str(datasets[0].Modality)
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=_PROCEDURES.get(modality, codes.SCT.ImagingProcedure),
                                     imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=[*datasets, seg], content=report, series_instance_uid=hd.UID(), series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER, is_complete=True,
        series_description="StandardSeg measurements")


def sr_measurements(lesion: LesionReport) -> list[hd.sr.Measurement]:
    """The coded measurements of one lesion (see the module docstring for codes and units)."""
    measured = lesion.measurements
    result = [hd.sr.Measurement(name=codes.SCT.Volume, value=measured.volume_voxels_mm3,
                                unit=codes.UCUM.CubicMillimeter)]
    uptake = measured.uptake
    if uptake is not None and uptake.units in SUV_CODES:
        unit, method = SUV_CODES[uptake.units]
        result += [
            hd.sr.Measurement(name=codes.DCM.StandardizedUptakeValue, value=uptake.suv_max, unit=unit,
                              derivation=codes.SCT.Maximum, method=method),
            hd.sr.Measurement(name=codes.DCM.StandardizedUptakeValue, value=uptake.suv_mean, unit=unit,
                              derivation=codes.SCT.Mean, method=method),
            hd.sr.Measurement(name=codes.DCM.MetabolicVolume, value=uptake.mtv_ml, unit=codes.UCUM.CubicCentimeter),
            hd.sr.Measurement(name=codes.DCM.TotalLesionGlycolysis, value=uptake.tlg_suv_ml, unit=GRAM),
        ]
    return result


def _segment_description(number: int, lesion: LesionReport) -> hd.seg.SegmentDescription:
    provenance = lesion.segment.provenance
    algorithm_type = provenance.algorithm_type
    identification = None
    if algorithm_type != "MANUAL":
        family = (codes.cid7162.NeighborhoodAnalysis if provenance.method in _REGION_GROWING
                  else codes.cid7162.HistogramAnalysis)
        identification = hd.AlgorithmIdentificationSequence(
            name=provenance.algorithm_name, family=family, version=__version__,
            parameters={key: str(value) for key, value in provenance.parameters.items()})
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=lesion.name,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion, algorithm_type=algorithm_type,
        algorithm_identification=identification, tracking_uid=hd.UID(), tracking_id=lesion.name)


def person_name(name: str) -> str:
    """A free-text operator name as a DICOM PN: without components it is all family name (trailing caret)."""
    return name if "^" in name else f"{name}^"


def _frame_indices(image: sitk.Image, datasets: Sequence[pydicom.Dataset]) -> list[int]:
    """Slice index (k) of each source header in ``image``, found from its ImagePositionPatient."""
    indices = []
    for dataset in datasets:
        position = [float(value) for value in dataset.ImagePositionPatient]
        i, j, k = image.TransformPhysicalPointToIndex(position)
        inside = 0 <= k < image.GetSize()[2]
        if (i, j) != (0, 0) or not inside or (int(dataset.Rows), int(dataset.Columns)) != image.GetSize()[1::-1]:
            raise InputError(f"DICOM SEG: source slice {dataset.get('InstanceNumber', '?')}: expected its "
                             f"ImagePositionPatient (0020,0032) and Rows/Columns on the measured image grid, found "
                             f"{position} ({dataset.Rows}x{dataset.Columns}) outside it")
        indices.append(int(k))
    return indices
