"""Body-size normalisers checked against hand-computed values of the published formulas."""

from __future__ import annotations

import pytest

from StandardSegLib.errors import SUVError
from StandardSegLib.suv import body_size

# 70 kg, 175 cm: (W/H)^2 = (70/175)^2 = 0.16 exactly; BMI = 70 / 1.75^2 = 22.857142...
W, H_CM, H_M = 70.0, 175.0, 1.75
BMI = 70.0 / 1.75 ** 2


@pytest.mark.parametrize("function, sex, expected_kg", [
    (body_size.lbm_morgan_kg, "M", 77.0 - 19.2),            # 1.10*70 - 120*0.16
    (body_size.lbm_morgan_kg, "F", 74.9 - 23.68),           # 1.07*70 - 148*0.16
    (body_size.lbm_james128_kg, "M", 77.0 - 20.48),         # 1.10*70 - 128*0.16
    (body_size.lbm_james128_kg, "F", 74.9 - 23.68),
    (body_size.lbm_james128_kg, "O", (56.52 + 51.22) / 2),
    (body_size.lbm_janmahasatian_kg, "M", 648900.0 / (6680.0 + 216.0 * BMI)),
    (body_size.lbm_janmahasatian_kg, "F", 648900.0 / (8780.0 + 244.0 * BMI)),
])
def test_lean_body_mass_formulas(function, sex, expected_kg):
    assert function(W, H_CM, sex) == pytest.approx(expected_kg, rel=1e-12)


def test_janmahasatian_uses_bmi_in_kg_per_m2():
    # Janmahasatian 2005, a 70 kg 175 cm man: LBM about 55.9 kg (a BMI in kg/cm^2 would give ~97 kg).
    assert body_size.lbm_janmahasatian_kg(W, H_CM, "M") == pytest.approx(55.86, abs=0.01)


def test_ideal_body_weight_and_sex_other_is_mean():
    male, female = 48.0 + 1.06 * 23.0, 45.5 + 0.91 * 23.0   # 72.38, 66.43
    assert body_size.ibw_kg(H_CM, "M") == pytest.approx(male)
    assert body_size.ibw_kg(H_CM, "F") == pytest.approx(female)
    assert body_size.ibw_kg(H_CM, "O") == pytest.approx(69.405)


def test_du_bois_body_surface_area_matches_published_value():
    # Du Bois & Du Bois 1916 nomogram value for 70 kg / 175 cm: 1.85 m^2.
    assert body_size.bsa_dubois_m2(W, H_CM) == pytest.approx(1.85, abs=0.005)
    assert body_size.bsa_dubois_m2(W, H_CM) == pytest.approx(0.007184 * 175 ** 0.725 * 70 ** 0.425)


def test_normaliser_units():
    assert body_size.normaliser("BW", W, None, None, "SUVbw") == 70000.0
    assert body_size.normaliser("BSA", W, H_M, None, "SUVbsa") == pytest.approx(
        0.007184 * 175 ** 0.725 * 70 ** 0.425 * 1e4)
    assert body_size.normaliser("IBW", None, H_M, "M", "SUVibw") == pytest.approx(72380.0)


@pytest.mark.parametrize("kind, weight, height, sex, tag", [
    ("BW", None, H_M, "M", "PatientWeight (0010,1030)"),
    ("BW", 0.0, H_M, "M", "PatientWeight (0010,1030)"),
    ("BSA", W, None, "M", "PatientSize (0010,1020)"),
    ("LBMJANMA", W, H_M, None, "PatientSex (0010,0040)"),
    ("IBW", W, H_M, "X", "PatientSex (0010,0040)"),
])
def test_missing_inputs_name_the_tag(kind, weight, height, sex, tag):
    with pytest.raises(SUVError, match=rf"^{tag.replace('(', '[(]').replace(')', '[)]')}"):
        body_size.normaliser(kind, weight, height, sex, "SUVtest")


def test_non_positive_lean_body_mass_is_refused():
    # Morgan LBM for 200 kg at 150 cm: 1.10*200 - 120*(200/150)^2 = 220 - 213.3 = 6.7 kg; at 140 cm negative.
    with pytest.raises(SUVError, match="not positive"):
        body_size.normaliser("LBM", 200.0, 1.40, "M", "SUVlbm")
