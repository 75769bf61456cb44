"""The lesion mesh (``lesion_measurements.mesh_shape``: scikit-image's marching cubes, diameter on the convex
hull) against pyradiomics' own mesh code (``radiomics.cShape``, the second implementation) on the nine expert
GTVs of the real sarcoma patients, and against the IBSI digital phantom's consensus values."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import cShape

from StandardSegLib.lesion_measurements import mesh_shape
from real_sts import PATIENTS, load_case

IBSI = Path(__file__).parent / "Data" / "ibsi_digital_phantom"


@pytest.mark.parametrize("patient", PATIENTS)
@pytest.mark.parametrize("modality", ["PET", "CT", "MR_T1"])
def test_mesh_equals_pyradiomics_on_the_real_gtvs(patient, modality):
    case = load_case(patient, modality)
    lesion = sitk.GetArrayFromImage(case.gtv).astype(bool)
    spacing_zyx = np.asarray(case.image.GetSpacing()[::-1], dtype=float)
    surface, volume, diameters = cShape.calculate_coefficients(np.pad(lesion, 1), spacing_zyx)
    assert mesh_shape(lesion, spacing_zyx) == pytest.approx((surface, volume, diameters[3]), rel=1e-9)


def test_ibsi_digital_phantom_mesh_values():
    mask = sitk.ReadImage(str(IBSI / "mask.nii.gz"))
    lesion = sitk.GetArrayFromImage(mask) > 0
    surface, volume, diameter = mesh_shape(lesion, np.asarray(mask.GetSpacing()[::-1], dtype=float))
    with open(IBSI / "reference_values.csv", newline="") as handle:
        reference = {row[1]: (float(row[2]), float(row[3])) for row in csv.reader(handle)
                     if row and row[0] == "Morphological features"}
    for name, found in (("volume (mesh)", volume), ("surface area (mesh)", surface),
                        ("maximum 3D diameter", diameter)):
        value, tolerance = reference[name]
        assert abs(found - value) <= tolerance, (name, found, value)


def test_one_voxel_is_an_octahedron():
    """The mesh of one 2 x 3 x 4 mm voxel joins its six face centres: an octahedron of half the voxel's
    volume whose longest diagonal is the longest edge."""
    surface, volume, diameter = mesh_shape(np.ones((1, 1, 1), dtype=bool), np.array([4.0, 3.0, 2.0]))
    assert volume == pytest.approx(4.0 * 3.0 * 2.0 / 6.0)
    assert diameter == pytest.approx(4.0)
    half = np.array([2.0, 1.5, 1.0])
    face = np.linalg.norm(np.cross([-half[0], half[1], 0.0], [-half[0], 0.0, half[2]])) / 2.0
    assert surface == pytest.approx(8 * face)
