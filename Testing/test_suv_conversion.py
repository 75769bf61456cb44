"""SUV factors for every case of the SUV manual, against the manual's formulas evaluated in the test.

Expected values are written out here from the formulas (exp(-ln2 t / T_half), W/LBM, ...), never by
calling the library, with headers built by ``pet_factory``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from pet_factory import F18_CODE, add_ge_scan_datetime, add_philips_factors, pet_series
from StandardSegLib.errors import SUVError
from StandardSegLib.suv import apply_suv, suv_conversion

LN2 = math.log(2.0)
F18 = 6586.2
DOSE = 370e6
WEIGHT_G = 70000.0


def decayed(dose, seconds, half_life=F18):
    return dose * math.exp(-LN2 * seconds / half_life)


BW_ONE_HOUR = WEIGHT_G / decayed(DOSE, 3600.0)   # default headers: injection 10:00, series 11:00


def assert_factors(conversion, expected, rel=1e-9):
    expected = np.atleast_1d(np.asarray(expected, dtype=float))
    assert len(conversion.factors) == len(expected)
    np.testing.assert_allclose(conversion.factors, expected, rtol=rel)


# --- Units BQML, decay correction -----------------------------------------------------------------

def test_bqml_start_happy_path():
    conversion = suv_conversion(pet_series())
    assert_factors(conversion, BW_ONE_HOUR)
    assert conversion.decay_factor == pytest.approx(math.exp(-LN2 * 3600.0 / F18))
    assert conversion.reference_time == "2025-01-01T11:00:00"
    assert conversion.injection_time == "2025-01-01T10:00:00"
    assert "QIBA option 1" in conversion.rule and "3600.0 s" in conversion.rule
    assert conversion.normaliser == {"weight_g": 70000.0}
    assert conversion.warnings == ()
    assert conversion.to_dict()["factors"] == list(conversion.factors)


def test_dose_in_mbq_is_detected():
    conversion = suv_conversion(pet_series(radiopharmaceutical={"RadionuclideTotalDose": "370"}))
    assert_factors(conversion, BW_ONE_HOUR)
    assert any("370 interpreted as MBq" in warning for warning in conversion.warnings)


def test_weight_in_grams_is_detected():
    conversion = suv_conversion(pet_series(PatientWeight="70000"))
    assert_factors(conversion, BW_ONE_HOUR)
    assert any("grams" in warning for warning in conversion.warnings)


def test_admin_means_no_dose_decay():
    conversion = suv_conversion(pet_series(DecayCorrection="ADMIN"))
    assert_factors(conversion, WEIGHT_G / DOSE)
    assert conversion.decay_factor == 1.0


GA68_CODE = {"CodeValue": "C-131A3", "CodingSchemeDesignator": "SRT", "CodeMeaning": "^68^Gallium"}
C11_CODE = {"CodeValue": "C-105A1", "CodingSchemeDesignator": "SRT", "CodeMeaning": "^11^Carbon"}


@pytest.mark.parametrize("half_life, code, series_time, elapsed_s", [
    (4057.7, GA68_CODE, "104500", 2700.0),    # Ga-68 as scanners write it (4062.6 s evaluated), 45 min
    (1223.0, C11_CODE, "102000", 1200.0),     # C-11, 20 min
    (6588.0, F18_CODE, "113000", 5400.0),     # F-18 (other vendor value), 90 min
])
def test_other_radionuclides(half_life, code, series_time, elapsed_s):
    datasets = pet_series(SeriesTime=series_time, AcquisitionTime=series_time, radionuclide_code=code,
                          radiopharmaceutical={"RadionuclideHalfLife": str(half_life)})
    assert_factors(suv_conversion(datasets), WEIGHT_G / decayed(DOSE, elapsed_s, half_life))


@pytest.mark.parametrize("half_life, named", [("1223", "C-11's"), ("1e308", "absurd"), ("4062.6", "Ga-68's"),
                                              ("109.77", "F-18's in minutes")])
def test_half_life_contradicting_the_radionuclide_code_is_refused(half_life, named):
    with pytest.raises(SUVError, match=r"RadionuclideHalfLife \(0018,1075\) is .* but RadionuclideCodeSequence "
                                       r"\(0054,0300\) names F-18 \(half-life 6586.2 s\)"):
        suv_conversion(pet_series(radiopharmaceutical={"RadionuclideHalfLife": half_life}))


def test_half_life_without_a_known_code_is_used_as_stored():
    datasets = pet_series(radionuclide_code=None, radiopharmaceutical={"RadionuclideHalfLife": "1223"})
    assert_factors(suv_conversion(datasets), WEIGHT_G / decayed(DOSE, 3600.0, 1223.0))


@pytest.mark.parametrize("half_life", ["0", "-6586.2"])
def test_non_positive_half_life_is_refused(half_life):
    with pytest.raises(SUVError, match=r"RadionuclideHalfLife \(0018,1075\) is -?[0-9.]+; expected a positive"):
        suv_conversion(pet_series(radiopharmaceutical={"RadionuclideHalfLife": half_life}))


def test_half_life_missing_is_taken_from_the_radionuclide_code():
    code = {"CodeValue": "C-131A3", "CodingSchemeDesignator": "SRT", "CodeMeaning": "^68^Gallium"}
    datasets = pet_series(radiopharmaceutical={"RadionuclideHalfLife": None}, radionuclide_code=code)
    conversion = suv_conversion(datasets)
    # Ga-68: 67.71 min (NNDC NuDat) = 4062.6 s
    assert_factors(conversion, WEIGHT_G / decayed(DOSE, 3600.0, 67.71 * 60.0))
    assert any("Ga-68" in warning for warning in conversion.warnings)


def test_half_life_missing_and_unknown_nuclide_is_refused():
    code = {"CodeValue": "X-0000", "CodingSchemeDesignator": "99X", "CodeMeaning": "mystery"}
    with pytest.raises(SUVError, match=r"RadionuclideHalfLife \(0018,1075\) is missing"):
        suv_conversion(pet_series(radiopharmaceutical={"RadionuclideHalfLife": None}, radionuclide_code=code))


def test_injection_time_only_and_datetime_only_agree():
    time_only = pet_series(radiopharmaceutical={"RadiopharmaceuticalStartDateTime": None})
    datetime_only = pet_series(radiopharmaceutical={"RadiopharmaceuticalStartTime": None})
    assert_factors(suv_conversion(time_only), BW_ONE_HOUR)
    assert_factors(suv_conversion(datetime_only), BW_ONE_HOUR)
    assert "RadiopharmaceuticalStartTime" in suv_conversion(time_only).rule


def test_datetime_preferred_over_time():
    # DateTime says 10:30, Time says 10:00: the DateTime (30 min before the scan) wins.
    datasets = pet_series(radiopharmaceutical={"RadiopharmaceuticalStartDateTime": "20250101103000"})
    assert_factors(suv_conversion(datasets), WEIGHT_G / decayed(DOSE, 1800.0))


def test_infinite_dose_in_one_slice_is_refused():
    # was: _same(x, inf) held, so one slice's inf dose passed the "slices agree" check
    datasets = pet_series(3)
    datasets[1].RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = "1e400"   # DS read as inf
    with pytest.raises(SUVError, match=r"RadionuclideTotalDose \(0018,1074\) is inf"):
        suv_conversion(datasets)


def test_dose_with_a_binary_vr_is_refused():
    datasets = pet_series(3)
    for ds in datasets:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        item.add_new(0x00181074, "US", 29824)   # the bytes of a DS read as an unsigned short
    with pytest.raises(SUVError, match=r"RadionuclideTotalDose \(0018,1074\) is stored with VR US, expected DS"):
        suv_conversion(datasets)


def test_midnight_crossing_with_start_time_only():
    datasets = pet_series(SeriesDate="20250102", SeriesTime="003000", AcquisitionDate="20250102",
                          AcquisitionTime="003000",
                          radiopharmaceutical={"RadiopharmaceuticalStartDateTime": None,
                                               "RadiopharmaceuticalStartTime": "233000"})
    conversion = suv_conversion(datasets)
    assert_factors(conversion, BW_ONE_HOUR)
    assert conversion.injection_time == "2025-01-01T23:30:00"
    assert any("midnight" in warning for warning in conversion.warnings)


def test_series_time_after_acquisition_time_back_computes_the_reference_time():
    # SUV manual option B (its DRO "DC = START but SeriesTime after AcquisitionTime"): series re-written at
    # 12:00; bed positions acquired 11:00, 11:05, 11:10 (T = 300 s), each frame referenced to the series start
    # 11:00 -> FrameReferenceTime = T_ave + offset, t_ref = t_acq + T_ave - FrameReferenceTime = 11:00.
    lam, frame_s = LN2 / F18, 300.0
    t_ave = math.log(lam * frame_s / (1.0 - math.exp(-lam * frame_s))) / lam
    datasets = pet_series(SeriesTime="120000",
                          per_slice={"AcquisitionTime": ["110500", "110000", "111000"],
                                     "FrameReferenceTime": [f"{(t_ave + offset) * 1000.0:.3f}"
                                                            for offset in (300.0, 0.0, 600.0)]})
    conversion = suv_conversion(datasets)
    assert_factors(conversion, BW_ONE_HOUR, rel=1e-7)
    assert "option B" in conversion.rule and "SeriesTime later than AcquisitionTime" in conversion.rule
    assert conversion.warnings == ()
    # the earliest acquisition (QIBA option 3) would have been wrong by T_ave - T/2 ~ 0.4 s here, and by the
    # whole offset when the earliest slice is cropped away:
    cropped = suv_conversion(datasets[::2])
    assert_factors(cropped, BW_ONE_HOUR, rel=1e-7)


def test_series_time_after_acquisition_time_without_frame_times_uses_earliest_acquisition():
    # Series re-written at 12:00; slices acquired 11:00, 11:02, 11:04, no FrameReferenceTime -> reference 11:00
    # (QIBA option 3), with a warning saying why.
    datasets = pet_series(SeriesTime="120000", FrameReferenceTime=None,
                          per_slice={"AcquisitionTime": ["110400", "110000", "110200"]})
    conversion = suv_conversion(datasets)
    assert_factors(conversion, BW_ONE_HOUR)
    assert conversion.reference_time == "2025-01-01T11:00:00"
    assert "QIBA option 3" in conversion.rule
    assert any("SeriesTime" in warning and "FrameReferenceTime" in warning for warning in conversion.warnings)


def test_series_time_after_acquisition_time_uses_ge_private_scan_datetime():
    datasets = pet_series(SeriesTime="120000", AcquisitionTime="110500", Manufacturer="GE MEDICAL SYSTEMS",
                          FrameReferenceTime=None)
    for ds in datasets:
        add_ge_scan_datetime(ds, "20250101110100")
    conversion = suv_conversion(datasets)
    assert_factors(conversion, WEIGHT_G / decayed(DOSE, 3660.0))
    assert "(0009,100D)" in conversion.rule


def test_ge_tag_without_creator_is_read_only_for_ge():
    datasets = pet_series(SeriesTime="120000", AcquisitionTime="110500", Manufacturer="GE MEDICAL SYSTEMS",
                          FrameReferenceTime=None)
    for ds in datasets:
        add_ge_scan_datetime(ds, "20250101110100", creator=None)
    assert_factors(suv_conversion(datasets), WEIGHT_G / decayed(DOSE, 3660.0))
    others = pet_series(SeriesTime="120000", AcquisitionTime="110500", Manufacturer="SIEMENS",
                        FrameReferenceTime=None)
    for ds in others:
        add_ge_scan_datetime(ds, "20250101110100", creator=None)
    assert_factors(suv_conversion(others), WEIGHT_G / decayed(DOSE, 3900.0))   # earliest acquisition 11:05


def test_frame_back_computed_reference_time():
    # Option B: t_ref = t_acq + T_ave - FrameReferenceTime, T_ave = ln(lT / (1 - exp(-lT))) / l.
    # Bed positions acquired at 11:00 and 11:05 (T = 300 s), each frame referenced to 11:00.
    lam, frame_s = LN2 / F18, 300.0
    t_ave = math.log(lam * frame_s / (1.0 - math.exp(-lam * frame_s))) / lam
    frame_reference_ms = [(t_ave + offset) * 1000.0 for offset in (0.0, 300.0)]
    datasets = pet_series(2, SeriesTime="120000",
                          per_slice={"AcquisitionTime": ["110000", "110500"],
                                     "FrameReferenceTime": [f"{value:.3f}" for value in frame_reference_ms]})
    conversion = suv_conversion(datasets, reference_time_method="frame")
    assert_factors(conversion, BW_ONE_HOUR, rel=1e-7)
    assert "option B" in conversion.rule
    # the DRO-style default (FrameReferenceTime = T/2) gives t_ref = 11:00 + (T_ave - 150 s) ~ 10:59:59.6
    default = suv_conversion(pet_series(), reference_time_method="frame")
    assert_factors(default, WEIGHT_G / decayed(DOSE, 3600.0 + t_ave - 150.0), rel=1e-7)


def test_frame_method_refuses_missing_frame_reference_time():
    with pytest.raises(SUVError, match=r"FrameReferenceTime \(0054,1300\) is missing in slice 0"):
        suv_conversion(pet_series(FrameReferenceTime=None), reference_time_method="frame")


def test_decay_correction_none_is_corrected_per_slice():
    # SUV = m P W / D_adm * lT / (1 - exp(-lT)) * exp(l (t_acq - t_adm))  (manual, DC = NONE)
    lam = LN2 / F18
    acquisition_s = [3600.0, 3900.0, 4200.0]
    durations_s = [300.0, 300.0, 180.0]
    datasets = pet_series(DecayCorrection="NONE", CorrectedImage=["NORM", "ATTN", "SCAT"],
                          per_slice={"AcquisitionTime": ["110000", "110500", "111000"],
                                     "ActualFrameDuration": ["300000", "300000", "180000"]})
    expected = [WEIGHT_G / DOSE * lam * T / (1.0 - math.exp(-lam * T)) * math.exp(lam * t)
                for t, T in zip(acquisition_s, durations_s)]
    conversion = suv_conversion(datasets)
    assert_factors(conversion, expected)
    assert conversion.warnings == ()   # DECY is not expected when DecayCorrection is NONE


def test_decay_correction_none_needs_frame_duration():
    with pytest.raises(SUVError, match=r"ActualFrameDuration \(0018,1242\) is missing"):
        suv_conversion(pet_series(DecayCorrection="NONE", ActualFrameDuration=None, CorrectedImage=["ATTN"]))


def test_decay_correction_none_contradicting_decy_is_refused():
    with pytest.raises(SUVError, match=r"DecayCorrection \(0054,1102\) is NONE but CorrectedImage \(0028,0051\) "
                                       r"lists DECY"):
        suv_conversion(pet_series(DecayCorrection="NONE"))


# --- SUV types from activity ----------------------------------------------------------------------

def test_suv_lbm_bsa_ibw_from_bqml():
    datasets = pet_series(PatientSex="F")
    dose = decayed(DOSE, 3600.0)
    bmi = 70.0 / 1.75 ** 2
    lbm_janma_g = 9270.0 * 70.0 / (8780.0 + 244.0 * bmi) * 1000.0
    assert_factors(suv_conversion(datasets, "SUVlbm"), lbm_janma_g / dose)
    lbm_james_g = (1.07 * 70.0 - 148.0 * (70.0 / 175.0) ** 2) * 1000.0
    assert_factors(suv_conversion(datasets, "SUVlbm", lbm_formula="LBMJAMES128"), lbm_james_g / dose)
    bsa_cm2 = 0.007184 * 175.0 ** 0.725 * 70.0 ** 0.425 * 1e4
    assert_factors(suv_conversion(datasets, "SUVbsa"), bsa_cm2 / dose)
    ibw_g = (45.5 + 0.91 * (175.0 - 152.0)) * 1000.0
    assert_factors(suv_conversion(datasets, "SUVibw"), ibw_g / dose)


def test_suv_ibw_does_not_need_weight():
    conversion = suv_conversion(pet_series(PatientWeight=None), "SUVibw")
    assert_factors(conversion, (48.0 + 1.06 * 23.0) * 1000.0 / decayed(DOSE, 3600.0))


# --- Units GML / CM2ML (stored SUV) ---------------------------------------------------------------

def test_gml_with_empty_suv_type_is_body_weight():
    conversion = suv_conversion(pet_series(Units="GML", RadionuclideTotalDose=None, PatientWeight=None))
    assert_factors(conversion, 1.0)


def test_gml_lbmjames128_converted_back_to_bw_and_to_other_lbm():
    datasets = pet_series(Units="GML", SUVType="LBMJAMES128", PatientSex="M")
    lbm_james_kg = 1.10 * 70.0 - 128.0 * (70.0 / 175.0) ** 2   # 56.52
    assert_factors(suv_conversion(datasets, "SUVbw"), 70.0 / lbm_james_kg)
    assert_factors(suv_conversion(datasets, "SUVlbm", lbm_formula="LBMJAMES128"), 1.0)
    lbm_janma_kg = 9270.0 * 70.0 / (6680.0 + 216.0 * 70.0 / 1.75 ** 2)
    to_janma = suv_conversion(datasets, "SUVlbm")
    assert_factors(to_janma, lbm_janma_kg / lbm_james_kg)
    # the rule says in words which lean body masses are divided, and the record keeps both
    assert ("SUVlbm = stored SUV x lean body mass (Janmahasatian, LBMJANMA) / lean body mass (James, "
            "LBMJAMES128)") in to_janma.rule
    assert to_janma.normaliser["lbm_g"] == pytest.approx(lbm_janma_kg * 1000.0)
    assert to_janma.normaliser["stored_lbm_g"] == pytest.approx(lbm_james_kg * 1000.0)


def test_gml_lbm_morgan_and_janma():
    morgan = pet_series(Units="GML", SUVType="LBM", PatientSex="F")
    assert_factors(suv_conversion(morgan, "SUVbw"), 70.0 / (1.07 * 70.0 - 148.0 * 0.16))
    janma = pet_series(Units="GML", SUVType="LBMJANMA", PatientSex="F")
    assert_factors(suv_conversion(janma, "SUVbw"), 70.0 / (9270.0 * 70.0 / (8780.0 + 244.0 * 70.0 / 1.75 ** 2)))


def test_gml_ibw_with_sex_other_uses_mean_of_sexes():
    datasets = pet_series(Units="GML", SUVType="IBW", PatientSex="O")
    ibw_kg = ((48.0 + 1.06 * 23.0) + (45.5 + 0.91 * 23.0)) / 2.0   # 69.405
    assert_factors(suv_conversion(datasets, "SUVbw"), 70.0 / ibw_kg)


def test_cm2ml_is_bsa():
    datasets = pet_series(Units="CM2ML", SUVType="BSA")
    bsa_cm2 = 0.007184 * 175.0 ** 0.725 * 70.0 ** 0.425 * 1e4
    assert_factors(suv_conversion(datasets, "SUVbw"), 70000.0 / bsa_cm2)
    assert_factors(suv_conversion(pet_series(Units="CM2ML"), "SUVbsa"), 1.0)


@pytest.mark.parametrize("units, suv_type", [("GML", "BSA"), ("CM2ML", "LBM"), ("CM2ML", "BW")])
def test_contradictory_units_and_suv_type(units, suv_type):
    with pytest.raises(SUVError, match=rf"Units \(0054,1001\) {units} contradicts SUVType \(0054,1006\) {suv_type}"):
        suv_conversion(pet_series(Units=units, SUVType=suv_type))


# --- Units CNTS (Philips) and CPS -----------------------------------------------------------------

def test_cnts_with_philips_suv_scale_factor_per_slice():
    datasets = pet_series(Units="CNTS", Manufacturer="Philips Medical Systems")
    for ds, factor in zip(datasets, (0.000211, 0.000212, 0.000213)):
        add_philips_factors(ds, suv_factor=factor)
    conversion = suv_conversion(datasets)
    assert_factors(conversion, [0.000211, 0.000212, 0.000213])
    assert "(7053,1000)" in conversion.rule
    # SUVlbm from the vendor's SUVbw: x LBM / W
    lbm_janma_kg = 9270.0 * 70.0 / (6680.0 + 216.0 * 70.0 / 1.75 ** 2)
    assert_factors(suv_conversion(datasets, "SUVlbm"), np.array([0.000211, 0.000212, 0.000213]) * lbm_janma_kg / 70.0)


def test_cnts_with_philips_activity_scale_factor():
    datasets = pet_series(Units="CNTS", Manufacturer="Philips Medical Systems")
    for ds in datasets:
        add_philips_factors(ds, activity_factor=3.5, suv_factor=0.0)   # SUV factor 0.0 = "cannot convert"
    conversion = suv_conversion(datasets)
    assert_factors(conversion, 3.5 * BW_ONE_HOUR)
    assert "(7053,1009)" in conversion.rule


def test_cnts_private_tag_without_creator_read_for_philips_only():
    datasets = pet_series(Units="CNTS", Manufacturer="Philips Medical Systems")
    for ds in datasets:
        add_philips_factors(ds, suv_factor=0.0005, creator=None)
    conversion = suv_conversion(datasets)
    assert_factors(conversion, 0.0005)
    assert any("private creator" in warning for warning in conversion.warnings)
    others = pet_series(Units="CNTS", Manufacturer="ACME")
    for ds in others:
        add_philips_factors(ds, suv_factor=0.0005, creator=None)
    with pytest.raises(SUVError, match=r"CNTS but neither Philips SUV Scale Factor \(7053,1000\)"):
        suv_conversion(others)


def test_cnts_without_factors_is_refused():
    with pytest.raises(SUVError, match=r"Units \(0054,1001\) is CNTS but neither"):
        suv_conversion(pet_series(Units="CNTS"))


@pytest.mark.parametrize("units", ["PROPCNTS", "PROPCPS", "1CM", "MGMINML"])
def test_units_without_conversion_are_refused(units):
    with pytest.raises(SUVError, match=rf"Units \(0054,1001\) is {units}"):
        suv_conversion(pet_series(Units=units))


def test_cps_dose_calibrated_divides_by_voxel_volume():
    datasets = pet_series(Units="CPS", CorrectedImage=["NORM", "ATTN", "DECY", "DCAL"],
                          PixelSpacing=["2", "2.5"], SliceThickness="3")
    voxel_ml = 2.0 * 2.5 * 3.0 / 1000.0
    assert_factors(suv_conversion(datasets), BW_ONE_HOUR / voxel_ml)


def test_cps_not_calibrated_uses_dose_calibration_factor_or_refuses():
    datasets = pet_series(Units="CPS", CorrectedImage=["NORM", "ATTN", "DECY"], DoseCalibrationFactor="1.7")
    assert_factors(suv_conversion(datasets), 1.7 * BW_ONE_HOUR / (4.0 * 4.0 * 4.0 / 1000.0))
    with pytest.raises(SUVError, match=r"lacks DCAL and DoseCalibrationFactor \(0054,1322\) is missing"):
        suv_conversion(pet_series(Units="CPS", CorrectedImage=["NORM", "ATTN", "DECY"]))
    with pytest.raises(SUVError, match="lacks ATTN"):
        suv_conversion(pet_series(Units="CPS", CorrectedImage=["NORM", "DECY", "DCAL"]))


# --- refusals and warnings ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"PatientWeight": None}, r"^PatientWeight \(0010,1030\) is missing or zero: SUVbw needs the patient's weight"),
    ({"PatientWeight": "0"}, r"^PatientWeight \(0010,1030\) is missing or zero"),
    ({"radiopharmaceutical": {"RadionuclideTotalDose": None}}, r"^RadionuclideTotalDose \(0018,1074\) is missing"),
    ({"radiopharmaceutical": {"RadiopharmaceuticalStartDateTime": None, "RadiopharmaceuticalStartTime": None}},
     r"RadiopharmaceuticalStartTime \(0018,1072\) are missing"),
    ({"SeriesTime": None, "AcquisitionTime": None}, r"SeriesTime \(0008,0031\) and AcquisitionTime"),
    ({"DecayCorrection": None}, r"^DecayCorrection \(0054,1102\) is missing"),
    ({"Units": None}, r"^Units \(0054,1001\) is missing"),
    ({"RescaleIntercept": "-5"}, r"^slice 0: RescaleIntercept \(0028,1052\) is -5, expected 0"),
    ({"PatientSize": "175"}, r"^PatientSize \(0010,1020\) is 175"),
    ({"radiopharmaceutical": {"RadiopharmaceuticalStartDateTime": "20250101113000"}}, "is after the reference"),
    ({"RadiopharmaceuticalInformationSequence": None}, r"RadionuclideTotalDose \(0018,1074\) is missing"),
    # numbers that are not one finite number
    ({"radiopharmaceutical": {"RadionuclideTotalDose": "inf"}}, r"RadionuclideTotalDose \(0018,1074\) is inf"),
    ({"radiopharmaceutical": {"RadionuclideTotalDose": ["370", "400"]}}, r"has 2 values \(370\\400\)"),
    ({"PatientWeight": "nan"}, r"PatientWeight \(0010,1030\) is nan; expected a finite number"),
    # magnitudes no patient or injection has
    ({"radiopharmaceutical": {"RadionuclideTotalDose": "0.37"}}, r"gives 370000 Bq, outside 1e\+06-2e\+10 Bq"),
    ({"radiopharmaceutical": {"RadionuclideTotalDose": "3.7e14"}}, r"gives 3.7e\+14 Bq, outside"),
    ({"PatientWeight": "0.0001"}, r"PatientWeight \(0010,1030\) gives 0.0001 kg, outside 0.01-1000 kg"),
    ({"PatientWeight": "1e308"}, r"PatientWeight \(0010,1030\) gives 1e\+305 kg"),
    # a time-only injection after the scan is not silently moved a day back (23.5 h of uptake)
    ({"radiopharmaceutical": {"RadiopharmaceuticalStartDateTime": None, "RadiopharmaceuticalStartTime": "113000"}},
     r"RadiopharmaceuticalStartTime \(0018,1072\) 11:30:00 is after the scan \(11:00:00\).* 23.5 h of uptake"),
    # ADMIN needs no decay, but an injection after the scan contradicts the header
    ({"DecayCorrection": "ADMIN", "radiopharmaceutical": {"RadiopharmaceuticalStartDateTime": "20250102100000"}},
     r"injection \(RadiopharmaceuticalStartDateTime, 2025-01-02T10:00:00\) is after the scan"),
])
def test_bad_headers_are_refused_naming_the_tag(kwargs, message):
    with pytest.raises(SUVError, match=message):
        suv_conversion(pet_series(**kwargs))


@pytest.mark.parametrize("suv_type, kwargs, tag", [
    ("SUVbsa", {"PatientSize": None}, "PatientSize (0010,1020)"),
    ("SUVlbm", {"PatientSex": None}, "PatientSex (0010,0040)"),
    ("SUVibw", {"PatientSize": "0"}, "PatientSize (0010,1020)"),
])
def test_body_size_types_need_height_and_sex(suv_type, kwargs, tag):
    with pytest.raises(SUVError) as error:
        suv_conversion(pet_series(**kwargs), suv_type)
    assert str(error.value).startswith(tag) and suv_type in str(error.value)


@pytest.mark.parametrize("per_slice, tag", [
    ({"PatientWeight": ["70", "70", "80"]}, "PatientWeight (0010,1030) differs between slices"),
    ({"Units": ["BQML", "BQML", "GML"]}, "Units (0054,1001) differs between slices"),
])
def test_contradictory_slices_are_refused(per_slice, tag):
    with pytest.raises(SUVError, match=tag.replace("(", r"\(").replace(")", r"\)")):
        suv_conversion(pet_series(per_slice=per_slice))


def test_dose_differing_between_slices_is_refused():
    datasets = pet_series()
    datasets[1].RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = "185000000"
    with pytest.raises(SUVError, match=r"RadionuclideTotalDose \(0018,1074\) differs between slices"):
        suv_conversion(datasets)


def test_corrected_image_without_decy_or_attn_warns():
    conversion = suv_conversion(pet_series(CorrectedImage=["NORM", "SCAT"]))
    assert any("lacks ATTN and DECY" in warning for warning in conversion.warnings)
    assert_factors(conversion, BW_ONE_HOUR)


def test_unknown_suv_type_is_refused():
    with pytest.raises(SUVError, match="SUV type 'SUVxyz'"):
        suv_conversion(pet_series(), "SUVxyz")


def test_headers_are_not_modified():
    datasets = pet_series(radiopharmaceutical={"RadionuclideTotalDose": "370"}, PatientWeight="70000")
    before = [ds.to_json() for ds in datasets]
    suv_conversion(datasets)
    assert [ds.to_json() for ds in datasets] == before


# --- apply_suv ------------------------------------------------------------------------------------

def test_apply_suv_multiplies_each_slice_by_its_factor():
    image = sitk.GetImageFromArray(np.full((3, 2, 2), 10.0, dtype=np.float32))
    image.SetSpacing((2.0, 2.0, 3.0))
    conversion = suv_conversion(pet_series(DecayCorrection="NONE", CorrectedImage=["ATTN"],
                                           per_slice={"AcquisitionTime": ["110000", "110500", "111000"]}))
    result = apply_suv(image, conversion)
    assert result.GetPixelID() == sitk.sitkFloat64 and result.GetSpacing() == (2.0, 2.0, 3.0)
    array = sitk.GetArrayFromImage(result)
    for k in range(3):
        np.testing.assert_allclose(array[k], 10.0 * conversion.factors[k])
    with pytest.raises(SUVError, match="3 slice factors"):
        apply_suv(sitk.GetImageFromArray(np.ones((4, 2, 2))), conversion)
