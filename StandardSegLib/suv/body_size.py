"""Body-size normalisers for SUV: body weight, lean body mass, ideal body weight, body surface area.

Formulas as the DICOM SUV Type (0054,1006) defined terms and the SUV manual (Vácha et al., "Units =
GML", after Sugawara et al., Radiology 1999;213:521) give them; W in kg, H in cm unless stated:

- ``LBM`` (Morgan):        male 1.10 W - 120 (W/H)^2,  female 1.07 W - 148 (W/H)^2
- ``LBMJAMES128`` (James): male 1.10 W - 128 (W/H)^2,  female 1.07 W - 148 (W/H)^2
- ``LBMJANMA`` (Janmahasatian, Clin Pharmacokinet 2005;44:1051): male 9270 W / (6680 + 216 BMI),
  female 9270 W / (8780 + 244 BMI), BMI = W / H^2 with H in **metres** (kg/m^2, as in the paper)
- ``IBW``:                 male 48.0 + 1.06 (H - 152), female 45.5 + 0.91 (H - 152)
- ``BSA`` (Du Bois):       0.007184 H^0.725 W^0.425 in m^2

PatientSex "O" has no consensus formula; the manual suggests the mean of the male and female values,
which is what is used. Mass normalisers are returned in grams and BSA in cm^2, the units in which
SUV = activity concentration (Bq/mL) x normaliser / dose (Bq) is g/mL or cm^2/mL.
"""

from __future__ import annotations

from typing import Callable, Optional

from StandardSegLib.errors import SUVError

#: DICOM SUVType defined terms this module computes.
NORMALISER_KINDS = ("BW", "LBM", "LBMJAMES128", "LBMJANMA", "IBW", "BSA")
SEXES = ("M", "F", "O")
#: The normalisers in words, for rule texts.
NORMALISER_NAMES = {"BW": "body weight", "LBM": "lean body mass (Morgan, LBM)",
                    "LBMJAMES128": "lean body mass (James, LBMJAMES128)",
                    "LBMJANMA": "lean body mass (Janmahasatian, LBMJANMA)", "IBW": "ideal body weight",
                    "BSA": "body surface area"}


def lbm_morgan_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    return _by_sex(sex, lambda: 1.10 * weight_kg - 120.0 * (weight_kg / height_cm) ** 2,
                   lambda: 1.07 * weight_kg - 148.0 * (weight_kg / height_cm) ** 2)


def lbm_james128_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    return _by_sex(sex, lambda: 1.10 * weight_kg - 128.0 * (weight_kg / height_cm) ** 2,
                   lambda: 1.07 * weight_kg - 148.0 * (weight_kg / height_cm) ** 2)


def lbm_janmahasatian_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    bmi = weight_kg / (height_cm / 100.0) ** 2
    return _by_sex(sex, lambda: 9270.0 * weight_kg / (6680.0 + 216.0 * bmi),
                   lambda: 9270.0 * weight_kg / (8780.0 + 244.0 * bmi))


def ibw_kg(height_cm: float, sex: str) -> float:
    return _by_sex(sex, lambda: 48.0 + 1.06 * (height_cm - 152.0), lambda: 45.5 + 0.91 * (height_cm - 152.0))


def bsa_dubois_m2(weight_kg: float, height_cm: float) -> float:
    return 0.007184 * height_cm ** 0.725 * weight_kg ** 0.425


def _by_sex(sex: str, male: Callable[[], float], female: Callable[[], float]) -> float:
    if sex == "M":
        return male()
    if sex == "F":
        return female()
    return 0.5 * (male() + female())  # "O": mean of the sex-specific values (SUV manual)


def normaliser(kind: str, weight_kg: Optional[float], height_m: Optional[float], sex: Optional[str],
               purpose: str) -> float:
    """The SUV normaliser for a DICOM SUVType ``kind``: grams, or cm^2 for ``BSA``.

    ``purpose`` ends the error message ("SUVlbm needs ...") so the user learns why a tag is required.
    Raises ``SUVError`` naming the missing tag, or when a formula gives a non-positive value (Morgan's
    LBM turns negative for very high W/H).
    """
    if kind not in NORMALISER_KINDS:
        raise SUVError(f"SUVType (0054,1006) {kind!r} is not one of {', '.join(NORMALISER_KINDS)}")
    needs_weight = kind != "IBW"
    needs_height = kind != "BW"
    needs_sex = kind not in ("BW", "BSA")
    if needs_weight and not weight_kg:
        raise SUVError(f"PatientWeight (0010,1030) is missing or zero: {purpose} needs the patient's weight")
    if needs_height and not height_m:
        raise SUVError(f"PatientSize (0010,1020) is missing or zero: {purpose} needs the patient's height")
    if needs_sex and sex not in SEXES:
        raise SUVError(f"PatientSex (0010,0040) is {sex or 'missing'}, expected M, F or O: "
                       f"{purpose} needs the patient's sex")
    height_cm = height_m * 100.0 if height_m else 0.0
    if kind == "BW":
        value = weight_kg * 1000.0
    elif kind == "BSA":
        value = bsa_dubois_m2(weight_kg, height_cm) * 1e4
    elif kind == "IBW":
        value = ibw_kg(height_cm, sex) * 1000.0
    else:
        formula = {"LBM": lbm_morgan_kg, "LBMJAMES128": lbm_james128_kg, "LBMJANMA": lbm_janmahasatian_kg}[kind]
        value = formula(weight_kg, height_cm, sex) * 1000.0
    if value <= 0:
        raise SUVError(f"{kind} from PatientWeight {weight_kg} kg and PatientSize {height_m} m is not positive "
                       f"({value / 1000.0:.1f}); {purpose} cannot be computed")
    return value
