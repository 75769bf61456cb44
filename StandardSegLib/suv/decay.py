"""Times and radioactive decay for SUV: injection time, scan reference time, decay of the dose.

Rules from the SUV manual (Vácha et al., "Radiopharmaceutical dose", "Radiopharmaceutical start time")
and QIBA:

- Injection: RadiopharmaceuticalStartDateTime (0018,1078) is preferred. Otherwise
  RadiopharmaceuticalStartTime (0018,1072) is put on the scan's date; if that lies after the scan, the
  injection may have been before midnight and the scan after (the manual's "over midnight" DRO): it is moved
  to the previous day, with a warning, only when that makes the uptake at most ``MIDNIGHT_MAX_UPTAKE_S``
  (6 h). Otherwise the time contradicts the scan (an injection 30 min *after* the scan is not 23.5 h
  before it) and is refused: without a date nothing says which day was meant.
- RadionuclideHalfLife (0018,1075) must be positive and, when RadionuclideCodeSequence (0054,0300) names a
  known nuclide, agree with its half-life within ``HALF_LIFE_TOLERANCE`` (1 %: scanners write F-18 as
  6586-6588 s, Ga-68 as 4057 s against 4062.6 s; C-11's 1223 s on an F-18 code is an error, not a variant).
- Reference time for DecayCorrection START, default ``"qiba"`` (QIBA's order, with the manual's option B
  where QIBA falls back):
  1. SeriesDate/SeriesTime, unless later than the earliest acquisition (then the series time was
     rewritten by post-processing) or missing;
  2. back-computed from every slice (the manual's option B, its DRO "DC = START but SeriesTime after
     AcquisitionTime"): t_ref = t_acq + T_ave - FrameReferenceTime, T_ave = ln(lambda T / (1 - exp(-lambda
     T))) / lambda, with T = ActualFrameDuration;
  3. only when those attributes are missing, with a warning: GE private PET scan_datetime (0009,100D, creator
     GEMS_PETD_01), else the earliest AcquisitionDate/AcquisitionTime.
  ``"frame"`` always back-computes (option B as the manual proposes it); a series missing the attributes
  is then refused.
- Decay: D(t) = D_adm 2^(-(t - t_adm) / T_half).
- DecayCorrection NONE: each frame is scaled to the injection time with the factor
  lambda T / (1 - exp(-lambda T)) x exp(lambda (t_acq - t_adm)) (manual, "Decay correction = NONE").
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import median
from typing import Optional, Sequence

import pydicom

from StandardSegLib.errors import SUVError
from StandardSegLib.suv import tags
from StandardSegLib.suv.radionuclides import radionuclide_from_code

REFERENCE_TIME_METHODS = ("qiba", "frame")

#: GE private PET scan_datetime (0009,100D): creator and element offset in its block.
GE_CREATOR = "GEMS_PETD_01"
GE_SCAN_DATETIME_OFFSET = 0x0D

#: Back-computed reference times of the slices of one START series should coincide; a spread beyond this
#: means the frames were not corrected to one time point (warned, the median is used).
FRAME_REFERENCE_SPREAD_S = 1.0
#: Longest uptake for which a time-only injection later than the scan is read as "the previous day".
MIDNIGHT_MAX_UPTAKE_S = 6 * 3600.0
#: Largest relative difference between RadionuclideHalfLife and the half-life of the coded nuclide.
HALF_LIFE_TOLERANCE = 0.01
_FRAME_KEYWORDS = ("AcquisitionTime", "ActualFrameDuration", "FrameReferenceTime")


def decay_fraction(elapsed_s: float, half_life_s: float) -> float:
    """Fraction of activity left after ``elapsed_s``: 2^(-t / T_half)."""
    return 2.0 ** (-elapsed_s / half_life_s)


def frame_average_factor(decay_constant_per_s: float, frame_duration_s: float) -> float:
    """lambda T / (1 - exp(-lambda T)): activity at frame start over the frame's mean activity."""
    x = decay_constant_per_s * frame_duration_s
    return x / -math.expm1(-x) if x > 0 else 1.0


def average_count_time_s(decay_constant_per_s: float, frame_duration_s: float) -> float:
    """T_ave: time after frame start at which the activity equals its frame average."""
    return math.log(frame_average_factor(decay_constant_per_s, frame_duration_s)) / decay_constant_per_s


def half_life_s(item: Optional[pydicom.Dataset], warnings: list[str]) -> float:
    """RadionuclideHalfLife (0018,1075), else from RadionuclideCodeSequence (0054,0300)."""
    if item is None:
        raise SUVError("RadiopharmaceuticalInformationSequence (0054,0016) is missing: the radionuclide "
                       "half-life and dose are unknown")
    value = tags.read_float(item, "RadionuclideHalfLife")
    nuclide = radionuclide_from_code(item)
    if value is not None:
        if value <= 0:
            raise SUVError(f"RadionuclideHalfLife (0018,1075) is {value:g}; expected a positive number of seconds")
        if nuclide is not None and abs(value - nuclide.half_life_s) > HALF_LIFE_TOLERANCE * nuclide.half_life_s:
            raise SUVError(f"RadionuclideHalfLife (0018,1075) is {value:g} s but RadionuclideCodeSequence (0054,0300) "
                           f"names {nuclide.name} (half-life {nuclide.half_life_s:g} s): they disagree by more than "
                           f"{HALF_LIFE_TOLERANCE:.0%}")
        return value
    if nuclide is None:
        raise SUVError("RadionuclideHalfLife (0018,1075) is missing and RadionuclideCodeSequence (0054,0300) "
                       "names no known radionuclide: the dose cannot be decay-corrected")
    warnings.append(f"RadionuclideHalfLife (0018,1075) missing; used {nuclide.half_life_s} s for "
                    f"{nuclide.name} from RadionuclideCodeSequence")
    return nuclide.half_life_s


def acquisition_datetimes(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> list[Optional[dt.datetime]]:
    """Per slice: AcquisitionDateTime, else AcquisitionDate (or SeriesDate) + AcquisitionTime."""
    result = []
    for ds in datasets:
        value = tags.read_datetime(ds, "AcquisitionDateTime", warnings)
        if value is None:
            date = tags.read_date(ds, "AcquisitionDate") or tags.read_date(ds, "SeriesDate")
            value = tags.combine(date, tags.read_time(ds, "AcquisitionTime"))
        result.append(value)
    return result


def reference_time(datasets: Sequence[pydicom.Dataset], half_life: float, method: str,
                   warnings: list[str]) -> tuple[dt.datetime, str]:
    """The time the images were decay-corrected to (DecayCorrection START) and how it was found."""
    if method == "frame":
        return _back_computed_reference(datasets, half_life, warnings)
    if method != "qiba":
        raise SUVError(f"reference-time method {method!r} is not one of {', '.join(REFERENCE_TIME_METHODS)}")
    acquisitions = [value for value in acquisition_datetimes(datasets, warnings) if value is not None]
    earliest = min(acquisitions) if acquisitions else None
    series = tags.combine(
        tags.series_value(datasets, lambda ds: tags.read_date(ds, "SeriesDate"), tags.tag_name("SeriesDate")),
        tags.series_value(datasets, lambda ds: tags.read_time(ds, "SeriesTime"), tags.tag_name("SeriesTime")))
    if series is not None and earliest is None:
        warnings.append("AcquisitionTime (0008,0032) missing: SeriesTime used as reference without the QIBA "
                        "check against acquisition time")
        return series, "SeriesDate/SeriesTime (QIBA option 1, unchecked)"
    if series is not None and series <= earliest:
        return series, "SeriesDate/SeriesTime (QIBA option 1)"
    reason = "SeriesTime later than AcquisitionTime" if series is not None else "SeriesDate/Time missing"
    if _has_frame_times(datasets):
        reference, how = _back_computed_reference(datasets, half_life, warnings)
        return reference, f"{how}; {reason}"
    missing = ("AcquisitionTime (0008,0032), ActualFrameDuration (0018,1242) or FrameReferenceTime (0054,1300) "
               "missing, so the reference time cannot be back-computed (SUV manual option B)")
    ge_text = tags.private_text(datasets[0], 0x0009, GE_CREATOR, GE_SCAN_DATETIME_OFFSET, warnings, "GE")
    if ge_text is not None:
        warnings.append(f"{reason} and {missing}: GE private PET scan_datetime (0009,100D) used")
        return (tags.parse_datetime(ge_text, "GE PET scan_datetime (0009,100D)", warnings),
                f"GE private PET scan_datetime (0009,100D) (QIBA option 2; {reason})")
    if earliest is None:
        raise SUVError("SeriesDate (0008,0021)/SeriesTime (0008,0031) and AcquisitionTime (0008,0032) are "
                       "missing: the time the images were decay-corrected to is unknown")
    warnings.append(f"{reason} (series re-written after the scan?) and {missing}: earliest acquisition time "
                    "used as reference")
    return earliest, "earliest AcquisitionDate/AcquisitionTime (QIBA option 3)"


def _has_frame_times(datasets: Sequence[pydicom.Dataset]) -> bool:
    """Whether every slice has what the back-computed reference time needs."""
    return all(ds.get(keyword) not in (None, "") for ds in datasets for keyword in _FRAME_KEYWORDS)


def _back_computed_reference(datasets: Sequence[pydicom.Dataset], half_life: float,
                             warnings: list[str]) -> tuple[dt.datetime, str]:
    decay_constant = math.log(2.0) / half_life
    times = []
    for index, (ds, acquired) in enumerate(zip(datasets, acquisition_datetimes(datasets, warnings))):
        duration_ms = tags.read_float(ds, "ActualFrameDuration")
        frame_reference_ms = tags.read_float(ds, "FrameReferenceTime")
        missing = [name for name, value in (("AcquisitionTime", acquired), ("ActualFrameDuration", duration_ms),
                                            ("FrameReferenceTime", frame_reference_ms)) if value is None]
        if missing:
            raise SUVError(f"{tags.tag_name(missing[0])} is missing in slice {index}: the frame-based reference "
                           "time (SUV manual option B) needs AcquisitionTime, ActualFrameDuration and "
                           "FrameReferenceTime in every slice")
        offset_s = average_count_time_s(decay_constant, duration_ms / 1000.0) - frame_reference_ms / 1000.0
        times.append(acquired + dt.timedelta(seconds=offset_s))
    spread_s = (max(times) - min(times)).total_seconds()
    if spread_s > FRAME_REFERENCE_SPREAD_S:
        warnings.append(f"back-computed reference times differ by {spread_s:.1f} s between slices; "
                        "their median is used")
    seconds = median((value - times[0]).total_seconds() for value in times)
    return (times[0] + dt.timedelta(seconds=seconds),
            "back-computed from AcquisitionTime, ActualFrameDuration and FrameReferenceTime (SUV manual "
            "option B)")


def injection_time(item: pydicom.Dataset, scan_time: dt.datetime, warnings: list[str]) -> tuple[dt.datetime, str]:
    """Administration time of the radiopharmaceutical, and which attribute gave it."""
    full = tags.read_datetime(item, "RadiopharmaceuticalStartDateTime", warnings)
    if full is not None:
        return full, "RadiopharmaceuticalStartDateTime"
    time_only = tags.read_time(item, "RadiopharmaceuticalStartTime")
    if time_only is None:
        raise SUVError("RadiopharmaceuticalStartDateTime (0018,1078) and RadiopharmaceuticalStartTime "
                       "(0018,1072) are missing: the injection time is unknown, so the dose cannot be "
                       "decay-corrected")
    injected = dt.datetime.combine(scan_time.date(), time_only)
    if injected > scan_time:
        uptake_s = (scan_time - (injected - dt.timedelta(days=1))).total_seconds()
        if uptake_s > MIDNIGHT_MAX_UPTAKE_S:
            raise SUVError(f"RadiopharmaceuticalStartTime (0018,1072) {time_only.isoformat()} is after the scan "
                           f"({scan_time.time().isoformat()}) and RadiopharmaceuticalStartDateTime (0018,1078) is "
                           f"missing; the previous day would mean {uptake_s / 3600.0:.1f} h of uptake (more than "
                           f"{MIDNIGHT_MAX_UPTAKE_S / 3600.0:g} h): the injection time is wrong or needs its date")
        injected -= dt.timedelta(days=1)
        warnings.append("RadiopharmaceuticalStartTime is later than the scan time on the same date: "
                        "injection taken to be on the previous day (over midnight)")
        return injected, "RadiopharmaceuticalStartTime on the previous day (midnight crossing)"
    return injected, "RadiopharmaceuticalStartTime on the scan date"
