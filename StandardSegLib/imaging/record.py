"""The image record: what the ESR/EORTC consensus asks a quantitative study to report about an image.

deSouza et al. 2022 (Insights Imaging 13:159) recommend specifying the images used (acquisition and
reconstruction) and reporting the post-reconstruction algorithms; IBSI adds in-plane resolution, slice
thickness, slice spacing, convolution kernel and reconstruction algorithm. The record gathers those items
from the headers into one immutable value, with ``None`` where the header does not say.

Patient identifiers are kept apart in ``identifiers`` and only leave the record when explicitly asked for
(``to_dict(include_identifiers=True)``). Station name is not recorded at all (it identifies a site). Age,
sex, weight and height are not treated as identifiers here because SUV needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

Text = Optional[str]
Number = Optional[float]
Texts = Optional[tuple[str, ...]]

#: Order in which ``standardseg inspect`` shows the groups.
GROUPS = ("source", "acquisition", "geometry", "patient", "CT", "MR", "PET", "checks")


def _f(group: str, default: Any = None) -> Any:
    return field(default=default, metadata={"group": group})


@dataclass(frozen=True)
class ImageRecord:
    """Header facts about one image; every field is ``None`` when the source does not provide it."""

    source_format: str = _f("source", "unknown")  # dicom-series, dicom-file, nifti, nrrd, metaimage
    # acquisition
    modality: Text = _f("acquisition")
    manufacturer: Text = _f("acquisition")
    manufacturer_model_name: Text = _f("acquisition")
    software_versions: Texts = _f("acquisition")
    image_type: Texts = _f("acquisition")
    study_datetime: Text = _f("acquisition")  # ISO 8601
    series_datetime: Text = _f("acquisition")
    acquisition_datetime: Text = _f("acquisition")  # earliest over the slices
    study_instance_uid: Text = _f("acquisition")
    series_instance_uid: Text = _f("acquisition")
    frame_of_reference_uid: Text = _f("acquisition")
    series_description: Text = _f("acquisition")
    # geometry
    matrix: Optional[tuple[int, int, int]] = _f("geometry")  # rows, columns, slices
    number_of_slices: Optional[int] = _f("geometry")
    pixel_spacing_mm: Optional[tuple[float, float]] = _f("geometry")  # row spacing, column spacing
    slice_thickness_mm: Number = _f("geometry")
    spacing_between_slices_mm: Number = _f("geometry")  # measured from slice positions
    spacing_between_slices_tag_mm: Number = _f("geometry")  # SpacingBetweenSlices (0018,0088) as stored
    orientation: Optional[tuple[float, ...]] = _f("geometry")  # ImageOrientationPatient (row, column cosines)
    image_position_first: Optional[tuple[float, float, float]] = _f("geometry")  # mm, LPS
    origin: Optional[tuple[float, float, float]] = _f("geometry")  # mm, LPS, centre of voxel (0, 0, 0)
    spacing: Optional[tuple[float, float, float]] = _f("geometry")  # mm, x, y, z as ITK
    direction: Optional[tuple[tuple[float, float, float], ...]] = _f("geometry")  # 3x3, columns = axes
    # patient (not identifiers: needed for SUV)
    patient_sex: Text = _f("patient")
    patient_age: Text = _f("patient")
    patient_weight_kg: Number = _f("patient")
    patient_size_m: Number = _f("patient")
    # CT
    kvp: Number = _f("CT")
    tube_current_ma: Number = _f("CT")
    exposure_mas: Number = _f("CT")
    ctdi_vol_mgy: Number = _f("CT")
    convolution_kernel: Texts = _f("CT")
    reconstruction_diameter_mm: Number = _f("CT")
    spiral_pitch_factor: Number = _f("CT")
    # MR
    magnetic_field_strength_t: Number = _f("MR")
    mr_acquisition_type: Text = _f("MR")
    scanning_sequence: Texts = _f("MR")
    sequence_variant: Texts = _f("MR")
    scan_options: Texts = _f("MR")
    sequence_name: Text = _f("MR")
    repetition_time_ms: Number = _f("MR")
    echo_time_ms: Number = _f("MR")
    inversion_time_ms: Number = _f("MR")
    flip_angle_deg: Number = _f("MR")
    b_values: Optional[tuple[float, ...]] = _f("MR")  # s/mm², distinct values over the slices
    # PET
    radiopharmaceutical: Text = _f("PET")
    radionuclide: Text = _f("PET")
    half_life_s: Number = _f("PET")
    total_dose_bq: Number = _f("PET")  # as stored in RadionuclideTotalDose (0018,1074)
    total_dose_note: Text = _f("PET")
    injection_datetime: Text = _f("PET")  # RadiopharmaceuticalStartDateTime (0018,1078), ISO
    injection_time: Text = _f("PET")  # RadiopharmaceuticalStartTime (0018,1072), ISO (no date)
    units: Text = _f("PET")
    decay_correction: Text = _f("PET")
    corrected_image: Texts = _f("PET")
    reconstruction_method: Text = _f("PET")
    reconstruction_iterations: Optional[int] = _f("PET")
    reconstruction_subsets: Optional[int] = _f("PET")
    reconstruction_filter: Texts = _f("PET")  # ConvolutionKernel (0018,1210) of the PET series
    reconstruction_filter_fwhm_mm: Number = _f("PET")  # Gaussian FWHM when the filter text carries it
    attenuation_correction_method: Text = _f("PET")
    scatter_correction_method: Text = _f("PET")
    randoms_correction_method: Text = _f("PET")
    series_type: Texts = _f("PET")
    frame_reference_time_ms: Number = _f("PET")
    actual_frame_duration_ms: Number = _f("PET")
    suv_type: Text = _f("PET")
    # checks
    varies_across_slices: tuple[str, ...] = _f("checks", ())  # record fields whose header value differs
    warnings: tuple[str, ...] = _f("checks", ())
    identifiers: tuple[tuple[str, str], ...] = field(default=(), metadata={"group": "identifiers"}, repr=False)

    def to_dict(self, include_identifiers: bool = False) -> dict[str, Any]:
        """All fields in declaration order (stable JSON keys); identifiers only on request."""
        result: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "identifiers":
                if include_identifiers:
                    result["identifiers"] = dict(value)
                continue
            result[item.name] = _plain(value)
        return result

    @staticmethod
    def field_groups() -> dict[str, tuple[str, ...]]:
        """Field names per display group, in ``GROUPS`` order (identifiers excluded)."""
        grouped = {group: tuple(item.name for item in fields(ImageRecord) if item.metadata["group"] == group)
                   for group in GROUPS}
        return grouped


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value
